package main

import (
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

// streamEvents reads the raw stream of a namespace (see testenv.StreamEvents).
func streamEvents(t *testing.T, natsURL, ns string) (map[string]events.Event, map[string]int) {
	t.Helper()
	return testenv.StreamEvents(t, natsURL, events.NewNames(ns).RawStream)
}

// waitStream polls until the raw stream of a namespace holds n messages.
func waitStream(t *testing.T, natsURL, ns string, n int, within time.Duration) {
	t.Helper()
	testenv.WaitStream(t, natsURL, events.NewNames(ns).RawStream, n, within)
}

// N evaluations that assign a variant give exactly N exposures, with the
// fields the pipeline needs; evaluations without a variant give none.
func TestExposuresPublished(t *testing.T) {
	e := newEnv(t)
	in := start(t, e, nil)
	in.expect(t, 200, "PUT", "/v1/flags/pricing_page_experiment", threeWay)
	in.expect(t, 200, "PUT", "/v1/flags/plain", map[string]any{"status": "enabled"})
	in.waitServed(t, "plain", 1)
	in.waitServed(t, "pricing_page_experiment", 1) // probe evaluations expose user "probe"
	probes, _ := streamEventsSettled(t, e)

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
	waitStream(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"], probes+n, 10*time.Second)
	time.Sleep(200 * time.Millisecond) // nothing more may arrive
	got, seen := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"])
	users := map[string]bool{}
	for id, ev := range got {
		if seen[id] != 1 {
			t.Errorf("event %s on the stream %d times", id, seen[id])
		}
		if ev.UserID == "probe" {
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
	if len(got) != probes+n || len(users) != n {
		t.Errorf("stream holds %d exposures for %d users, want %d for %d", len(got), len(users), probes+n, n)
	}
}

// streamEventsSettled waits until the stream stops growing and returns its size.
func streamEventsSettled(t *testing.T, e env) (int, map[string]events.Event) {
	t.Helper()
	last := -1
	for range 50 {
		got, _ := streamEventsOrEmpty(t, e)
		if len(got) == last {
			return last, got
		}
		last = len(got)
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("stream never settled")
	return 0, nil
}

func streamEventsOrEmpty(t *testing.T, e env) (map[string]events.Event, map[string]int) {
	return streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"])
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
// evaluations publish nothing.
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
	time.Sleep(300 * time.Millisecond) // the publisher sends within milliseconds when on
	if got, _ := streamEvents(t, e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]); len(got) != 0 {
		t.Errorf("%d exposures published with --exposures=false", len(got))
	}
}
