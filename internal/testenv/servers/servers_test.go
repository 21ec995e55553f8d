package servers

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/connect"
)

// Outage tests stop a server and start it again under a running service:
// each private server comes back on its address with what it stored.

func TestPrivateRedisKeepsDataAcrossRestart(t *testing.T) {
	s := PrivateRedis(t)
	rdb := redisClient(t, s.URL())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "kept", "yes", 0).Err(); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := rdb.Ping(ctx).Err(); err == nil {
		t.Fatal("PING answered while the server was stopped")
	}
	s.Start()
	if got, err := rdb.Get(ctx, "kept").Result(); err != nil || got != "yes" {
		t.Errorf("GET after the restart = %q, %v; want yes", got, err)
	}
	s.Stop()
	s.Stop() // stopping twice is fine
}

// redisClient connects to url as the services do (connect.Redis); the
// client closes when the test ends.
func redisClient(t *testing.T, url string) redis.UniversalClient {
	t.Helper()
	rdb, err := connect.Redis(url)
	if err != nil {
		t.Fatalf("connect.Redis: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

func TestEmbeddedNATSKeepsStreamAcrossRestart(t *testing.T) {
	s := EmbeddedNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	publish := func() *jetstream.StreamInfo {
		t.Helper()
		js := s.JetStream() // a new connection each time, to the server as it is now
		st, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "KEPT", Subjects: []string{"kept"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, "kept", []byte("x")); err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return info
	}
	if n := publish().State.Msgs; n != 1 {
		t.Fatalf("stream holds %d messages, want 1", n)
	}
	s.Stop()
	s.Start()
	if n := publish().State.Msgs; n != 2 {
		t.Errorf("after the restart the stream holds %d messages, want 2 (the first kept)", n)
	}
}

func TestPrivateClickHouseKeepsDataAcrossRestart(t *testing.T) {
	s := PrivateClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, err := chconn.Open(s.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.Exec(ctx, "CREATE TABLE kept (x UInt8) ENGINE = TinyLog"); err != nil {
		t.Fatal(err)
	}
	if err := conn.Exec(ctx, "INSERT INTO kept SELECT 7"); err != nil {
		t.Fatal(err)
	}
	s.Stop()
	if err := conn.Ping(ctx); err == nil {
		t.Fatal("PING answered while the server was stopped")
	}
	s.Start()
	var x uint8
	if err := conn.QueryRow(ctx, "SELECT x FROM kept").Scan(&x); err != nil || x != 7 {
		t.Errorf("SELECT after the restart = %d, %v; want 7", x, err)
	}
}

// A sentinel's master refuses a client without its password: the URL's
// password is what lets connect.Redis through (see TestSentinel).
func TestPrivateSentinelMasterWantsPassword(t *testing.T) {
	s := PrivateSentinel(t)
	rdb := redis.NewClient(&redis.Options{Addr: s.MasterAddr()})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := rdb.Set(ctx, "k", "v", 0).Err(); err == nil {
		t.Error("SET on the master without its password succeeded")
	}
}
