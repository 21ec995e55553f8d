package service

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/httpapi"
)

// Setup refuses bad settings with the setting's name, and does not need NATS
// to be up: the connection keeps trying in the background.
func TestSetup(t *testing.T) {
	parse := func(env map[string]string) config.Config {
		t.Helper()
		cfg, err := config.Parse("ingest", nil, func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	down := map[string]string{"FLAGSTREAM_NATS_URL": "nats://127.0.0.1:1"} // nothing listens on port 1
	b, err := Setup("ingest", parse(down), io.Discard)
	if err != nil {
		t.Fatalf("Setup with NATS away: %v", err)
	}
	if b.Names.RawStream != "FLAGSTREAM_RAW" || b.Tokens.Enabled() {
		t.Errorf("base %+v", b)
	}
	b.Close()

	for name, tc := range map[string]struct {
		env  map[string]string
		want string
	}{
		"bad namespace":          {map[string]string{"FLAGSTREAM_NATS_NAMESPACE": "a b"}, "nats-namespace"},
		"open address, no token": {map[string]string{"FLAGSTREAM_HTTP_ADDR": "0.0.0.0:8081"}, "tokens"},
	} {
		env := map[string]string{"FLAGSTREAM_NATS_URL": "nats://127.0.0.1:1"}
		for k, v := range tc.env {
			env[k] = v
		}
		if _, err := Setup("ingest", parse(env), io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Setup = %v, want an error about %s", name, err, tc.want)
		}
	}
}

// SetupRedis adds a client for the Redis URL without Redis being up, and
// Close closes it with the NATS connection.
func TestSetupRedis(t *testing.T) {
	env := map[string]string{"FLAGSTREAM_NATS_URL": "nats://127.0.0.1:1", "FLAGSTREAM_REDIS_URL": "redis://127.0.0.1:1/0"} // nothing listens on port 1
	cfg, err := config.Parse("ingest", nil, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, rdb, err := SetupRedis("ingest", cfg, io.Discard)
	if err != nil {
		t.Fatalf("SetupRedis with Redis and NATS away: %v", err)
	}
	b.Close()
	if err := rdb.Ping(context.Background()).Err(); !errors.Is(err, redis.ErrClosed) {
		t.Errorf("PING after Close = %v, want %v", err, redis.ErrClosed)
	}
	if !b.NC.IsClosed() {
		t.Error("the NATS connection is open after Close")
	}
}

// A service facing the network refuses the committed example tokens and the
// compose file's demo passwords, naming the setting; on loopback (the demo,
// tests) both are fine.
func TestSetupRefusesExampleCredentials(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	example := write("example", "admin change-me-admin-token\n")
	real := write("real", "admin "+strings.Repeat("k", 40)+"\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		want string // "" for accepted
	}{
		"example token, open":      {map[string]string{"FLAGSTREAM_TOKENS_FILE": example, "FLAGSTREAM_HTTP_ADDR": "0.0.0.0:8081"}, "example token"},
		"example token, loopback":  {map[string]string{"FLAGSTREAM_TOKENS_FILE": example}, ""},
		"real token, open":         {map[string]string{"FLAGSTREAM_TOKENS_FILE": real, "FLAGSTREAM_HTTP_ADDR": "0.0.0.0:8081"}, ""},
		"demo redis pass, open":    {map[string]string{"FLAGSTREAM_TOKENS_FILE": real, "FLAGSTREAM_HTTP_ADDR": ":8081", "FLAGSTREAM_REDIS_URL": "redis://:demo-redis-change-me@redis:6379/0"}, "redis-url"},
		"demo nats pass, open":     {map[string]string{"FLAGSTREAM_TOKENS_FILE": real, "FLAGSTREAM_HTTP_ADDR": ":8081", "FLAGSTREAM_NATS_URL": "nats://flagstream:demo-nats-change-me@127.0.0.1:1"}, "nats-url"},
		"demo clickhouse, open":    {map[string]string{"FLAGSTREAM_TOKENS_FILE": real, "FLAGSTREAM_HTTP_ADDR": ":8081", "FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://flagstream:demo-only-change-me@clickhouse:9000/default"}, "clickhouse-dsn"},
		"demo passwords, loopback": {map[string]string{"FLAGSTREAM_NATS_URL": "nats://flagstream:demo-nats-change-me@127.0.0.1:1", "FLAGSTREAM_REDIS_URL": "redis://:demo-redis-change-me@redis:6379/0"}, ""},
	} {
		env := map[string]string{"FLAGSTREAM_NATS_URL": "nats://127.0.0.1:1"}
		for k, v := range tc.env {
			env[k] = v
		}
		cfg, err := config.Parse("ingest", nil, func(k string) string { return env[k] }, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Setup("ingest", cfg, io.Discard)
		if b != nil {
			b.Close()
		}
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: Setup = %v, want it accepted", name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "example")):
			t.Errorf("%s: Setup = %v, want a refusal naming %s as an example", name, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "change-me"):
			t.Errorf("%s: the refusal echoes the credential: %v", name, err)
		}
	}
}

// Base.Health shows the checks' messages by the service's tokens: with
// tokens, only to a read token.
func TestBaseHealth(t *testing.T) {
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte("read "+strings.Repeat("r", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"FLAGSTREAM_NATS_URL": "nats://127.0.0.1:1", "FLAGSTREAM_TOKENS_FILE": p}
	cfg, err := config.Parse("ingest", nil, func(k string) string { return env[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Setup("ingest", cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	mux := http.NewServeMux()
	b.Health(context.Background(), httpapi.Check{Name: "redis", Fn: func(context.Context) error {
		return errors.New("dial tcp 10.1.2.3:6379: refused")
	}}).Register(mux)
	for token, want := range map[string]string{"": `"redis":"unavailable"`, strings.Repeat("r", 32): "10.1.2.3"} {
		req := httptest.NewRequest("GET", "/readyz", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 503 || !strings.Contains(w.Body.String(), want) {
			t.Errorf("token %q: %d %s, want 503 with %s", token, w.Code, w.Body, want)
		}
	}
}
