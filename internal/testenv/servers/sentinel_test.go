package servers

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/pkg/flags"
)

// A Sentinel URL gives a client that finds the master through the sentinel:
// the URL names only the sentinel's port, which takes no SET or GET itself,
// and what is written lands on the master. The flag store and the cached
// client (pub/sub included) work through it.
func TestSentinel(t *testing.T) {
	s := PrivateSentinel(t)
	rdb := redisClient(t, s.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	if err := rdb.Set(ctx, "through-sentinel", "yes", 0).Err(); err != nil {
		t.Fatalf("SET through the sentinel client: %v", err)
	}
	if got, err := rdb.Get(ctx, "through-sentinel").Result(); err != nil || got != "yes" {
		t.Errorf("GET through the sentinel client = %q, %v", got, err)
	}
	master := redis.NewClient(&redis.Options{Addr: s.MasterAddr(), Password: s.Password})
	defer master.Close()
	if got, err := master.Get(ctx, "through-sentinel").Result(); err != nil || got != "yes" {
		t.Errorf("GET on the master = %q, %v; the write did not reach it", got, err)
	}

	store := flags.NewStore(rdb)
	if _, err := store.Put(ctx, &flags.Flag{Key: "sentinel_flag", Status: flags.StatusDisabled}); err != nil {
		t.Fatalf("flag store through the sentinel client: %v", err)
	}
	c, err := flags.NewClient(ctx, store, flags.ClientOptions{})
	if err != nil {
		t.Fatalf("flag client through the sentinel client: %v", err)
	}
	defer c.Close()
	if f := c.Flag("sentinel_flag"); f == nil || f.Status != flags.StatusDisabled {
		t.Fatalf("flag loaded = %+v", f)
	}
	// A change reaches the cached client by pub/sub through the same client.
	if _, err := store.Put(ctx, &flags.Flag{Key: "sentinel_flag", Status: flags.StatusEnabled}); err != nil {
		t.Fatal(err)
	}
	for c.Flag("sentinel_flag").Status != flags.StatusEnabled {
		if ctx.Err() != nil {
			t.Fatal("the change notice never arrived through the sentinel client")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// Without the master's password the master refuses, and the error does
	// not show the URL's secrets.
	wrong, err := connect.Redis(strings.Replace(s.URL(), "password=", "password=wrong", 1))
	if err != nil {
		t.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Ping(ctx).Err(); err == nil || strings.Contains(err.Error(), s.Password) {
		t.Errorf("PING with a wrong master password = %v, want a refusal without the password", err)
	}
}

// Bad Sentinel URLs are refused with an error that does not echo secrets.
func TestSentinelURLErrors(t *testing.T) {
	for _, raw := range []string{
		"redis://:s3cret@h:26379/0?master_name=",
		"redis://:s3cret@h:26379/0?master_name=m&bogus=1",
		"redis://h:26379/x?master_name=m&password=s3cret",
		"redis://h:1/0,redis://:s3cret@h:26379/0?master_name=m",
		"redis://:s3cret@h:26379/0?master_name=m,redis://:s3cret@h2:bad",
	} {
		c, err := connect.Redis(raw)
		if err == nil {
			c.Close()
			t.Errorf("connect.Redis(%q) accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("connect.Redis(%q) = %v: echoes the password", raw, err)
		}
	}
}
