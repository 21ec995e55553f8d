package service

import (
	"io"
	"strings"
	"testing"

	"github.com/flagstream/flagstream/internal/config"
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
