package main

import (
	"fmt"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// streamEvents reads the raw stream of a namespace (see streams.StreamEvents).
func streamEvents(t *testing.T, natsURL, ns string) (map[string]events.Event, map[string]int) {
	t.Helper()
	return streams.StreamEvents(t, natsURL, events.NewNames(ns).RawStream)
}

// barrierCount numbers the barrier users of a test process.
var barrierCount atomic.Int64

// exposureBarrier shows that everything flagd enqueued so far has been
// published, without waiting for "long enough": it evaluates flag (which must
// have variants) for a user no other evaluation used, waits until that
// exposure is on the stream, then until the publisher holds nothing
// (flagstream_flagd_exposures_buffered 0), and returns the stream's events.
// The publisher takes events in the order they were enqueued, so once the
// barrier's own exposure is acknowledged every earlier one was either
// acknowledged (it is on the stream) or kept for a retry (then the buffer is
// not empty); the barrier was the last enqueued, so the buffer only shrinks.
// Every exposure that is not on the stream now, never will be. Check the
// drop counter separately. The barrier's event is among those returned.
func exposureBarrier(t *testing.T, in *instance, natsURL, ns, flag string) (map[string]events.Event, map[string]int) {
	t.Helper()
	user := fmt.Sprintf("barrier_%d", barrierCount.Add(1))
	got := in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/"+flag, map[string]any{"context": map[string]any{"targetingKey": user}})
	if got["reason"] != "SPLIT" {
		t.Fatalf("barrier evaluation of %s = %v, want a variant by SPLIT (an exposure)", flag, got)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs, _ := streamEvents(t, natsURL, ns)
		found := false
		for _, ev := range evs {
			found = found || ev.UserID == user
		}
		if found {
			in.WaitMetric(t, "flagstream_flagd_exposures_buffered", 10*time.Second, func(v float64) bool { return v == 0 })
			return streamEvents(t, natsURL, ns)
		}
		if time.Now().After(deadline) {
			t.Fatalf("barrier exposure of %s not on the stream within 30 s (%d events there)", user, len(evs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// N evaluations that assign a variant give exactly N exposures, with the
// fields the pipeline needs; evaluations without a variant give none.
func TestExposuresPublished(t *testing.T) {
	e := newEnv(t)
	natsURL, ns := e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]
	in := start(t, e, nil)
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	in.expect(t, 200, "PUT", "/v1/flags/plain", map[string]any{"status": "enabled"})
	in.waitServed(t, "plain", 1)
	in.waitServed(t, "pricing_page_experiment", 1) // probe evaluations expose user "probe"
	before, _ := exposureBarrier(t, in, natsURL, ns, "pricing_page_experiment")
	probes := len(before)

	const n = 300
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += 4 {
				user := fmt.Sprintf("user_%d", i)
				body := map[string]any{"context": map[string]any{"targetingKey": user}}
				if r := in.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", body); r.Status != 200 {
					t.Errorf("evaluate: %d %s", r.Status, r.Body)
				}
				in.do(t, "POST", "/ofrep/v1/evaluate/flags/plain", body)                                                          // no variants: no exposure
				in.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", map[string]any{"context": map[string]any{}}) // no user: no exposure
			}
		}()
	}
	wg.Wait()
	// Every exposure of the evaluations above was enqueued before their
	// answers; the barrier shows each of them published, and nothing else.
	got, seen := exposureBarrier(t, in, natsURL, ns, "pricing_page_experiment")
	if d := in.Metric(t, "flagstream_flagd_exposures_dropped_total"); d != 0 {
		t.Errorf("%v exposures dropped", d)
	}
	users := map[string]bool{}
	for id, ev := range got {
		if seen[id] != 1 {
			t.Errorf("event %s on the stream %d times", id, seen[id])
		}
		if ev.UserID == "probe" || strings.HasPrefix(ev.UserID, "barrier_") {
			continue
		}
		users[ev.UserID] = true
		if ev.Type != events.TypeExposure || ev.Experiment != "pricing_page_experiment" || ev.FlagVersion != 1 ||
			(ev.Variant != "control" && ev.Variant != "variant_a" && ev.Variant != "variant_b") || ev.TS.IsZero() ||
			!maps.Equal(ev.Weights, map[string]float64{"control": 50, "variant_a": 25, "variant_b": 25}) {
			t.Errorf("exposure %+v", ev)
		}
		if ev.UserID == "user_789" && ev.Variant != "control" {
			t.Errorf("user_789 exposed to %s, evaluated control", ev.Variant)
		}
	}
	if want := probes + n + 1; len(got) != want || len(users) != n { // + 1: the second barrier
		t.Errorf("stream holds %d exposures for %d users, want %d for %d", len(got), len(users), want, n)
	}
}

// A write through one flagd is served by another within a second.
func TestTwoFlagdOnOneRedis(t *testing.T) {
	e := newEnv(t)
	a := start(t, e, nil)
	b := start(t, e, nil)
	a.expect(t, 200, "PUT", "/v1/flags/shared", map[string]any{"status": "enabled"})
	b.waitServed(t, "shared", 1)
	a.expect(t, 200, "PUT", "/v1/flags/shared", map[string]any{"status": "disabled"})
	b.waitServed(t, "shared", 2)
	got := b.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "shared", "context": map[string]any{}})
	if got["enabled"] != false || got["reason"] != "DISABLED" {
		t.Errorf("b serves %v after a's write", got)
	}
	a.expect(t, 204, "DELETE", "/v1/flags/shared", nil)
	deadline := time.Now().Add(time.Second)
	for b.do(t, "POST", "/v1/evaluate", map[string]any{"flag": "shared", "context": map[string]any{}}).Status != 404 {
		if time.Now().After(deadline) {
			t.Fatal("delete through a not seen by b within a second")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var _ = testenv.NATSURLVar

// With --exposures=false (apps that report exposures themselves), variant
// evaluations publish nothing. No barrier exposure can come from this flagd,
// so the publisher's own counters are the barrier: an exposure is enqueued
// before its evaluation is answered, and from then on it is buffered,
// published or dropped, so after the answers all three must read 0.
func TestExposuresOff(t *testing.T) {
	e := newEnv(t)
	in := start(t, e, map[string]string{"FLAGSTREAM_EXPOSURES": "false"})
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	for i := range 50 {
		body := map[string]any{"context": map[string]any{"targetingKey": fmt.Sprintf("user_%d", i)}}
		if r := in.do(t, "POST", "/ofrep/v1/evaluate/flags/pricing_page_experiment", body); r.Status != 200 || r.JSON(t)["reason"] != "SPLIT" {
			t.Fatalf("evaluate: %d %s", r.Status, r.Body)
		}
	}
	for _, m := range []string{"flagstream_flagd_exposures_buffered", "flagstream_flagd_exposures_published_total", "flagstream_flagd_exposures_dropped_total"} {
		if v := in.Metric(t, m); v != 0 {
			t.Errorf("%s = %v with --exposures=false, want 0", m, v)
		}
	}
	if got, _ := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]); len(got) != 0 {
		t.Errorf("%d exposures published with --exposures=false", len(got))
	}
}
