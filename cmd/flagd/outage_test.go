package main

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
)

// NATS away for a while: evaluations keep answering, exposures wait in the
// buffer, and once NATS is back every one arrives, none twice.
func TestExposuresSurviveNATSOutage(t *testing.T) {
	nats := testenv.EmbeddedNATS(t)
	e := newEnv(t)
	e["FLAGSTREAM_NATS_URL"] = nats.URL()
	e["FLAGSTREAM_NATS_NAMESPACE"] = ""
	in := start(t, e, nil)
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)
	probes, _ := streamEventsSettled(t, e)

	client := &http.Client{Timeout: 2 * time.Second} // an evaluation blocked on NATS would fail here
	evaluate := func(from, to int) {
		for i := from; i < to; i++ {
			resp, err := client.Post(in.URL+"/ofrep/v1/evaluate/flags/exp", "application/json",
				strings.NewReader(fmt.Sprintf(`{"context":{"targetingKey":"user_%d"}}`, i)))
			if err != nil {
				t.Fatalf("evaluation %d: %v", i, err)
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("evaluation %d: %d", i, resp.StatusCode)
			}
		}
	}
	evaluate(0, 200)
	nats.Stop()
	evaluate(200, 700)
	if r := in.do(t, "GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz with NATS away = %d, want 503", r.Status)
	}
	time.Sleep(time.Second)
	nats.Start()
	waitStream(t, nats.URL(), "", probes+700, 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	got, seen := streamEvents(t, nats.URL(), "")
	users := map[string]int{}
	for id, ev := range got {
		if seen[id] != 1 {
			t.Errorf("event %s stored %d times", id, seen[id])
		}
		users[ev.UserID]++
	}
	for i := range 700 {
		if users[fmt.Sprintf("user_%d", i)] != 1 {
			t.Fatalf("user_%d has %d exposures, want 1", i, users[fmt.Sprintf("user_%d", i)])
		}
	}
}

// The real binary under SIGTERM: it exits 0 and every exposure of the
// evaluations it answered is on the stream.
func TestSIGTERMFlushesExposures(t *testing.T) {
	e := newEnv(t)
	proc := testenv.StartProcess(t, testenv.Build(t, "./cmd/flagd"), e)
	in := &instance{proc.Service}
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)
	const n = 2000
	for i := range n {
		in.do(t, "POST", "/ofrep/v1/evaluate/flags/exp", map[string]any{"context": map[string]any{"targetingKey": fmt.Sprintf("u%d", i)}})
	}
	if err := proc.Stop(); err != nil { // SIGTERM, then wait for the exit
		t.Fatalf("flagd exited with %v:\n%s", err, proc.Logs.String())
	}
	got, _ := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"])
	users := map[string]bool{}
	for _, ev := range got {
		users[ev.UserID] = true
	}
	for i := range n {
		if !users[fmt.Sprintf("u%d", i)] {
			t.Fatalf("exposure of u%d missing after SIGTERM (%d events on the stream)", i, len(got))
		}
	}
}
