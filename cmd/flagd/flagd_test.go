package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
)

// instance is a flagd started in-process with run().
type instance struct {
	*procs.Service
}

type env map[string]string

// newEnv is a test's namespace on the shared services; several flagd
// instances started with the same env share flags and streams.
func newEnv(t *testing.T) env { return procs.ServiceEnv(t) }

type response = procs.Response

func start(t *testing.T, e env, extra map[string]string) *instance {
	t.Helper()
	vars := map[string]string{}
	for k, v := range e {
		vars[k] = v
	}
	for k, v := range extra {
		vars[k] = v
	}
	return &instance{procs.Start(t, run, vars)}
}

func (in *instance) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	return in.Do(t, method, path, body, headers...)
}

func (in *instance) expect(t *testing.T, status int, method, path string, body any, headers ...string) map[string]any {
	t.Helper()
	return in.Expect(t, status, method, path, body, headers...)
}

// waitServed polls until the flag is served with at least the version.
func (in *instance) waitServed(t *testing.T, key string, version float64) {
	t.Helper()
	deadline := time.Now().Add(time.Second)
	for {
		r := in.do(t, "POST", "/v1/evaluate", map[string]any{"flag": key, "context": map[string]any{"user_id": "probe"}})
		if r.Status == http.StatusOK && r.JSON(t)["version"].(float64) >= version {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("flag %s version %v not served within a second (last: %d %s)", key, version, r.Status, r.Body)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeTokens(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
