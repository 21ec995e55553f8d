package main

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/servers"
)

// NATS away for a while: evaluations keep answering, exposures wait in the
// buffer, and once NATS is back every one arrives, none twice.
func TestExposuresSurviveNATSOutage(t *testing.T) {
	nats := servers.EmbeddedNATS(t)
	e := newEnv(t)
	e["FLAGSTREAM_NATS_URL"] = nats.URL()
	e["FLAGSTREAM_NATS_NAMESPACE"] = ""
	in := start(t, e, nil)
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)
	before, _ := exposureBarrier(t, in, nats.URL(), "", "exp")
	probes := len(before) // the waitServed probes and the barrier

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
	// The outage met work: the 500 exposures of the evaluations answered
	// while NATS was away are held in the buffer (the first 200 may have gone
	// out before), and the publisher has found NATS away.
	if b := in.Metric(t, "flagstream_flagd_exposures_buffered"); b < 500 {
		t.Fatalf("%v exposures buffered with NATS away, want at least the 500 answered during the outage", b)
	}
	if r := in.do(t, "GET", "/readyz", nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("readyz with NATS away = %d, want 503", r.Status)
	}
	in.WaitLog(t, 10*time.Second, `"dependency":"nats"`, "publishing events failing")
	nats.Start()
	got, seen := exposureBarrier(t, in, nats.URL(), "", "exp")
	if d := in.Metric(t, "flagstream_flagd_exposures_dropped_total"); d != 0 {
		t.Errorf("%v exposures dropped", d)
	}
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
	if want := probes + 700 + 1; len(got) != want { // + 1: the second barrier
		t.Errorf("%d exposures on the stream, want %d", len(got), want)
	}
}

// The real binary under SIGTERM while evaluations keep coming: it exits 0
// and every exposure of the evaluations it answered is on the stream. The
// signal is sent once the publisher holds exposures (its buffer above 0 with
// the load still running), so the flush at shutdown has work to do.
func TestSIGTERMFlushesExposures(t *testing.T) {
	e := newEnv(t)
	proc := procs.StartProcess(t, procs.Build(t, "./cmd/flagd"), e)
	in := &instance{proc.Service}
	in.expect(t, 200, "PUT", "/v1/flags/exp", map[string]any{"status": "enabled", "variants": map[string]any{"a": 50, "b": 50}})
	in.waitServed(t, "exp", 1)

	var mu sync.Mutex
	var answered []string
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				user := fmt.Sprintf("u%d_%d", w, i)
				r, err := request("POST", in.URL+"/ofrep/v1/evaluate/flags/exp", []byte(`{"context":{"targetingKey":"`+user+`"}}`))
				if err != nil {
					return // the server has gone away: this one was not answered
				}
				if r.status == 200 {
					mu.Lock()
					answered = append(answered, user)
					mu.Unlock()
				}
			}
		})
	}
	in.WaitMetric(t, "flagstream_flagd_exposures_published_total", 30*time.Second, func(v float64) bool { return v >= 1000 })
	held := in.WaitMetric(t, "flagstream_flagd_exposures_buffered", 10*time.Second, func(v float64) bool { return v > 0 })
	err := proc.Stop() // SIGTERM, then wait for the exit
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("flagd exited with %v:\n%s", err, proc.Logs.String())
	}
	got, _ := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"])
	users := map[string]bool{}
	for _, ev := range got {
		users[ev.UserID] = true
	}
	for _, u := range answered {
		if !users[u] {
			t.Fatalf("exposure of %s missing after SIGTERM (%d answered, %d events on the stream, %v buffered at the signal)",
				u, len(answered), len(got), held)
		}
	}
	t.Logf("%d evaluations answered, %v exposures buffered at SIGTERM, %d on the stream", len(answered), held, len(got))
}
