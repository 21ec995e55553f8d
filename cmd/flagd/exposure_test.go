package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

// streamEvents reads every message on the raw stream of a namespace, keyed by
// message id, and counts how many messages carried each id.
func streamEvents(t *testing.T, natsURL, ns string) (map[string]events.Event, map[string]int) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	names := events.NewNames(ns)
	stream, err := js.Stream(ctx, names.RawStream)
	if err != nil {
		t.Fatalf("raw stream %s: %v", names.RawStream, err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got, seen := map[string]events.Event{}, map[string]int{}
	if info.State.Msgs == 0 {
		return got, seen
	}
	cons, err := stream.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for msg := range batch.Messages() {
			n++
			var e events.Event
			if err := json.Unmarshal(msg.Data(), &e); err != nil {
				t.Fatalf("message is not an event: %s", msg.Data())
			}
			if id := msg.Headers().Get("Nats-Msg-Id"); id != e.ID {
				t.Errorf("message id header %q differs from event id %q", id, e.ID)
			}
			got[e.ID] = e
			seen[e.ID]++
		}
		if n == 0 {
			t.Fatalf("raw stream: read %d of %d messages: %v", read, info.State.Msgs, batch.Error())
		}
		read += uint64(n)
	}
	return got, seen
}

// waitStream polls until the raw stream holds n messages.
func waitStream(t *testing.T, natsURL, ns string, n int, within time.Duration) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(within)
	var have uint64
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, events.NewNames(ns).RawStream)
		if err == nil {
			if info, err := s.Info(ctx); err == nil {
				have = info.State.Msgs
			}
		}
		cancel()
		if have >= uint64(n) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("raw stream holds %d messages after %v, want %d", have, within, n)
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
			(ev.Variant != "control" && ev.Variant != "variant_a" && ev.Variant != "variant_b") || ev.TS.IsZero() {
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
	nc, err := nats.Connect(e["FLAGSTREAM_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := js.Stream(ctx, events.NewNames(e["FLAGSTREAM_NATS_NAMESPACE"]).RawStream); err != nil {
		return map[string]events.Event{}, map[string]int{}
	}
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
