package main

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

func startIngest(t *testing.T, env map[string]string) *procs.Service {
	t.Helper()
	return procs.Start(t, run, env)
}

// analyticsIDs reads the analytics stream: how many messages carry each id.
func analyticsIDs(t *testing.T, natsURL, ns string) (map[string]int, map[string]events.Event) {
	t.Helper()
	evs, ids := streams.StreamEvents(t, natsURL, events.NewNames(ns).AnalyticsStream)
	return ids, evs
}

// waitAnalytics polls until the analytics stream holds n messages.
func waitAnalytics(t *testing.T, natsURL, ns string, n int, within time.Duration) {
	t.Helper()
	streams.WaitStreamEvents(t, natsURL, events.NewNames(ns).AnalyticsStream, n, within)
}

// dedupWindow is JetStream's message-id window in the tests that resend:
// the shortest the services accept, so that a resend after it reaches
// ingest's own dedup in Redis instead of being dropped by JetStream.
const dedupWindow = time.Second

func TestPostEvents(t *testing.T) {
	env := procs.ServiceEnv(t)
	env["FLAGSTREAM_STREAM_DEDUP_WINDOW"] = dedupWindow.String()
	in := startIngest(t, env)
	// One clock reading for the whole test: the events' ts and the day the
	// counters are read for stay the same day across midnight.
	start := time.Now().UTC()
	now, today := start.Format(time.RFC3339), start.Format(time.DateOnly)
	batch := []any{
		map[string]any{"id": "ev-1", "type": "exposure", "experiment": "pricing", "variant": "control", "user_id": "alice", "ts": now},
		map[string]any{"type": "exposure", "experiment": "pricing", "variant": "b", "user_id": "bob", "ts": now}, // id assigned
		map[string]any{"type": "exposure", "experiment": "pricing", "user_id": "carol", "ts": now},               // no variant
		map[string]any{"type": "conversion", "experiment": "pricing", "user_id": "alice", "conversion_type": "purchase", "value": 12.5, "ts": now},
		map[string]any{"type": "conversion", "user_id": "bob", "conversion_type": "signup", "ts": now}, // no experiment, value 1
		map[string]any{"type": "conversion", "user_id": strings.Repeat("x", 300), "conversion_type": "signup", "ts": now},
		map[string]any{"type": "click", "user_id": "z", "ts": now},
		map[string]any{"type": "conversion", "user_id": "z", "conversion_type": "purchase", "value": "12", "ts": now},
		map[string]any{"type": "exposure", "experiment": "bad:name", "variant": "a", "user_id": "z", "ts": now},
		map[string]any{"type": "exposure", "experiment": "pricing", "variant": "a", "user_id": "z", "ts": "2001-01-01T00:00:00Z"},
	}
	got := in.Expect(t, 202, "POST", "/v1/events", batch)
	if got["accepted"].(float64) != 4 {
		t.Errorf("accepted = %v, want 4: %v", got["accepted"], got)
	}
	wantInvalid := map[float64]string{2: "variant", 5: "user_id", 6: "type", 7: "value", 8: "experiment", 9: "ts"}
	inv := got["invalid"].([]any)
	if len(inv) != len(wantInvalid) {
		t.Fatalf("invalid = %v", inv)
	}
	for _, x := range inv {
		m := x.(map[string]any)
		if wantInvalid[m["index"].(float64)] != m["field"] || m["reason"] == "" {
			t.Errorf("invalid entry %v, want field %q at that index", m, wantInvalid[m["index"].(float64)])
		}
	}
	firstIDs := got["ids"]
	if ids := got["ids"].([]any); len(ids) != 4 || ids[0] != "ev-1" || ids[1] == "" {
		t.Errorf("ids = %v", got["ids"])
	}

	// NDJSON, with a malformed line and a NaN (not JSON) among good ones.
	nd := `{"type":"exposure","experiment":"pricing","variant":"control","user_id":"dave","ts":"` + now + `"}` + "\n" +
		`{"type":"exposure", "experiment":` + "\n" +
		`{"type":"conversion","experiment":"pricing","user_id":"dave","conversion_type":"purchase","value":NaN,"ts":"` + now + `"}` + "\n\n"
	got = in.Expect(t, 202, "POST", "/v1/events", nd, "Content-Type", "application/x-ndjson")
	if got["accepted"].(float64) != 1 || len(got["invalid"].([]any)) != 2 {
		t.Errorf("NDJSON = %v", got)
	}

	// Nothing valid: 400; not JSON at all: 400; over the limit: 413; too many: 400.
	in.Expect(t, 400, "POST", "/v1/events", []any{map[string]any{"type": "exposure"}})
	in.Expect(t, 400, "POST", "/v1/events", `"just a string"`)
	in.Expect(t, 413, "POST", "/v1/events", `[{"type":"exposure","user_id":"`+strings.Repeat("u", 9<<20)+`"}]`)
	many := make([]any, maxBatch+1)
	for i := range many {
		many[i] = batch[0]
	}
	in.Expect(t, 400, "POST", "/v1/events", many)

	// Counted and forwarded: alice control + purchase 12.5; bob b + signup (by attribution); dave control.
	waitAnalytics(t, env["FLAGSTREAM_NATS_URL"], env["FLAGSTREAM_NATS_NAMESPACE"], 5, 15*time.Second)
	live := in.Expect(t, 200, "GET", "/v1/experiments/pricing/live?date="+today, nil)
	res := live["results"].(map[string]any)
	control := res["control"].(map[string]any)
	purchase := control["conversions"].(map[string]any)["purchase"].(map[string]any)
	if control["exposures"].(float64) != 2 || purchase["count"].(float64) != 1 || purchase["value"].(float64) != 12.5 {
		t.Errorf("control = %v", control)
	}
	b := res["b"].(map[string]any)
	if s := b["conversions"].(map[string]any)["signup"].(map[string]any); s["count"].(float64) != 1 || s["value"].(float64) != 1 {
		t.Errorf("b signup (attributed without experiment) = %v", s)
	}
	if !strings.Contains(live["note"].(string), "estimates") {
		t.Errorf("live results do not say which figures are estimates: %v", live["note"])
	}
	in.Expect(t, 400, "GET", "/v1/experiments/pricing/live?date=24-11-2026", nil)
	in.Expect(t, 400, "GET", "/v1/experiments/bad:key/live", nil)
	exps := in.Expect(t, 200, "GET", "/v1/experiments", nil)
	if l := exps["experiments"].([]any); len(l) != 1 || l[0] != "pricing" {
		t.Errorf("experiments = %v", exps)
	}

	// The same body sent again (as after a lost answer) changes nothing: events
	// without ids get the same ids from their place and content. It is sent
	// after JetStream's dedup window, so the copies reach the raw stream and
	// only ingest's dedup in Redis stands between them and the counters.
	raw := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"]).RawStream
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], raw, events.RawConsumer, 30*time.Second)
	hitsBefore := in.Metric(t, "flagstream_ingest_dedup_hits_total")
	resent := resendPastWindow(t, env, func() ([]any, int) {
		again := in.Expect(t, 202, "POST", "/v1/events", batch)
		if fmt.Sprint(again["ids"]) != fmt.Sprint(firstIDs) {
			t.Errorf("resend got ids %v, first send %v", again["ids"], firstIDs)
		}
		return again["ids"].([]any), 2 // one batch message per event type
	})
	// Barrier: ingest has acknowledged every raw message, the copies included,
	// so whatever they were going to change in Redis has changed.
	streams.WaitAcked(t, env["FLAGSTREAM_NATS_URL"], raw, events.RawConsumer, 30*time.Second)
	if hits := in.Metric(t, "flagstream_ingest_dedup_hits_total") - hitsBefore; hits != float64(resent) {
		t.Errorf("%v dedup hits for the %d resent events, want one each", hits, resent)
	}
	live = in.Expect(t, 200, "GET", "/v1/experiments/pricing/live?date="+today, nil)
	res = live["results"].(map[string]any)
	if e := res["control"].(map[string]any)["exposures"].(float64); e != 2 {
		t.Errorf("control exposures after the resend = %v, want 2", e)
	}
	if e := res["b"].(map[string]any)["exposures"].(float64); e != 1 {
		t.Errorf("b exposures after resending bob's id-less exposure = %v, want 1", e)
	}
}

// resendPastWindow waits out JetStream's dedup window (dedupWindow, which
// the streams of env must have), then calls send, which resends events and
// returns their ids and how many raw messages ingest packs them into, until
// one resend put every one of those messages on the raw stream (the server
// forgets ids on a timer, so an id may outlive the window a little; an id
// it still knew would take no sequence number). It returns how many events
// were resent.
func resendPastWindow(t *testing.T, env map[string]string, send func() (ids []any, messages int)) int {
	t.Helper()
	natsURL, raw := env["FLAGSTREAM_NATS_URL"], events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"]).RawStream
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(dedupWindow + dedupWindow/2)
		before := streams.StreamLastSeq(t, natsURL, raw)
		ids, messages := send()
		stored := streams.StreamLastSeq(t, natsURL, raw) - before
		if stored == uint64(messages) {
			return len(ids)
		}
		if time.Now().After(deadline) {
			t.Fatalf("a resend of %d events in %d messages stored %d on the raw stream: JetStream's window is not %v", len(ids), messages, stored, dedupWindow)
		}
	}
}

// publishRaw publishes events straight to the raw stream (as flagd or an app
// would), each as its own message; withID false leaves out the JetStream
// message id so that JetStream's own dedup cannot catch a duplicate.
func publishRaw(t *testing.T, js jetstream.JetStream, names events.Names, evs []events.Event, withID bool) {
	t.Helper()
	var msgID func(*events.Event) string
	if withID {
		msgID = func(e *events.Event) string { return e.ID }
	}
	streams.PublishEach(t, js, names.RawSubject, evs, msgID)
}

// workload is a reproducible experiment: users exposed to one of three
// variants, a quarter converting with a value in cents; expected counters.
type workload struct {
	events     []events.Event
	exposures  map[string]int64
	purchases  map[string]int64
	valueCents map[string]int64
}

func newWorkload(users int, day time.Time) *workload {
	w := &workload{exposures: map[string]int64{}, purchases: map[string]int64{}, valueCents: map[string]int64{}}
	variants := []string{"control", "a", "b"}
	for u := range users {
		v := variants[u%3]
		user := fmt.Sprintf("user_%d", u)
		w.events = append(w.events, events.Event{ID: fmt.Sprintf("x%07d", u), Type: events.TypeExposure,
			Experiment: "exp", Variant: v, UserID: user, TS: day})
		w.exposures[v]++
		if u%4 == 0 {
			cents := int64(u*37%100000 + 1)
			val := float64(cents) / 100
			w.events = append(w.events, events.Event{ID: fmt.Sprintf("y%07d", u), Type: events.TypeConversion,
				Experiment: "exp", UserID: user, ConversionType: "purchase", Value: &val, TS: day.Add(time.Minute)})
			w.purchases[v]++
			w.valueCents[v] += cents
		}
	}
	return w
}

// check compares the live counters with the workload, exactly.
func (w *workload) check(t *testing.T, c *live.Counters, day time.Time) {
	t.Helper()
	res, err := c.Results(context.Background(), "exp", day.Format(time.DateOnly))
	if err != nil {
		t.Fatal(err)
	}
	for v, n := range w.exposures {
		p := res[v].Conversions["purchase"]
		if res[v].Exposures != n || p.Count != w.purchases[v] || int64(math.Round(p.Value*100)) != w.valueCents[v] {
			t.Errorf("%s: exposures %d purchases %d value %.2f; want %d %d %.2f", v, res[v].Exposures, p.Count, p.Value,
				n, w.purchases[v], float64(w.valueCents[v])/100)
		}
	}
}
