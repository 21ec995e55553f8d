package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// A backlog larger than the streams: the aggregator is away and the streams
// hold 40 messages each (a batch posted is two: its exposures and its conversions). ingest keeps taking events until both streams are
// full, then refuses (503 with Retry-After and the batch's ids), and no
// limit removes anything a consumer has yet to take. Once the aggregator is
// back, the refused batches are resent (and a few accepted ones again, past
// JetStream's one-second dedup window, so that Redis's and ClickHouse's own
// dedup is what keeps them from counting twice): every event is counted
// exactly once in the live counters and in the report, and the loss metric
// reads 0 throughout.
func TestFullStreamsPushBackAndLoseNothing(t *testing.T) {
	env := stackEnv(t, map[string]string{"FLAGSTREAM_STREAM_MAX_MESSAGES": "40", "FLAGSTREAM_STREAM_DEDUP_WINDOW": "1s"})
	ingest := procs.StartProcess(t, procs.Build(t, "./cmd/ingest"), env, "--workers", "2")

	const experiment, perBatch = "backpressure", 52
	now := time.Now().UTC().Truncate(time.Millisecond) // one time for the whole test
	day := now.Format(time.DateOnly)
	value := 1.5
	makeBatch := func(b int) []events.Event {
		var evs []events.Event
		for u := range perBatch / 2 {
			user := fmt.Sprintf("b%d-u%d", b, u)
			variant := []string{"control", "treatment"}[u%2]
			evs = append(evs,
				events.Event{ID: user + "-x", Type: events.TypeExposure, Experiment: experiment, Variant: variant, UserID: user, TS: now},
				events.Event{ID: user + "-c", Type: events.TypeConversion, Experiment: experiment, UserID: user,
					ConversionType: "purchase", Value: &value, TS: now.Add(time.Second)})
		}
		return evs
	}
	post := func(evs []events.Event) procs.Response {
		return ingest.Do(t, http.MethodPost, "/v1/events", evs)
	}
	type answer struct {
		Error    string   `json:"error"`
		Accepted int      `json:"accepted"`
		IDs      []string `json:"ids"`
	}
	analytics := env["FLAGSTREAM_NATS_NAMESPACE"] + "FLAGSTREAM_ANALYTICS"
	analyticsFull := func() bool { return streams.StreamLastSeq(t, env["FLAGSTREAM_NATS_URL"], analytics) == 40 }
	var accepted, refused [][]events.Event
	// Until ingest has filled the analytics stream and the raw stream is
	// full behind it: refusals come while ingest still forwards, too.
	for b := 0; b < 200 && (len(refused) < 3 || !analyticsFull()); b++ {
		evs := makeBatch(b)
		r := post(evs)
		var a answer
		if err := json.Unmarshal(r.Body, &a); err != nil {
			t.Fatalf("batch %d: %d %s", b, r.Status, r.Body)
		}
		ids := make([]string, len(evs))
		for i := range evs {
			ids[i] = evs[i].ID
		}
		switch r.Status {
		case http.StatusAccepted:
			accepted = append(accepted, evs)
		case http.StatusServiceUnavailable:
			if r.Header.Get("Retry-After") == "" || a.Error != "unavailable" || a.Accepted != 0 || !slices.Equal(a.IDs, ids) {
				t.Errorf("batch %d refused with Retry-After %q, body %s; want the batch's ids", b, r.Header.Get("Retry-After"), r.Body)
			}
			refused = append(refused, evs)
			time.Sleep(50 * time.Millisecond) // a sender's pause before its next batch
		default:
			t.Fatalf("batch %d: %d %s", b, r.Status, r.Body)
		}
	}
	if len(refused) == 0 {
		t.Fatalf("all %d batches accepted: the streams never filled", len(accepted))
	}
	// What the streams hold: full, and nothing removed before its consumer took it.
	if !analyticsFull() {
		t.Errorf("the analytics stream never filled")
	}
	if v := ingest.Metric(t, "flagstream_ingest_batches_refused_full_total"); v < 1 {
		t.Errorf("refusals for a full stream counted: %v", v)
	}
	t.Logf("%d batches accepted, %d refused before the aggregator came back", len(accepted), len(refused))

	aggregate := procs.StartProcess(t, procs.Build(t, "./cmd/aggregate"), env, "serve", "--batch", "200")
	time.Sleep(1100 * time.Millisecond) // past JetStream's dedup window: resends reach our own dedup
	resend := append(append([][]events.Event(nil), refused...), accepted[:3]...)
	for i, evs := range resend {
		deadline := time.Now().Add(90 * time.Second)
		for {
			r := post(evs)
			if r.Status == http.StatusAccepted {
				break
			}
			if r.Status != http.StatusServiceUnavailable || time.Now().After(deadline) {
				t.Fatalf("resend %d: %d %s", i, r.Status, r.Body)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}

	// Every batch is in now, each exactly once.
	batches := len(accepted) + len(refused)
	wantUsers := batches * perBatch / 4 // per variant
	wantValue := float64(wantUsers) * value
	type variant struct {
		Variant     string   `json:"variant"`
		Users       int      `json:"users"`
		Converters  int      `json:"converters"`
		Conversions int      `json:"conversions"`
		ValueSum    *float64 `json:"value_sum"`
	}
	var rep struct {
		Variants []variant `json:"variants"`
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		r := aggregate.Do(t, http.MethodGet, "/v1/experiments/"+experiment+"/report?metric=purchase", nil)
		if r.Status == http.StatusOK {
			if err := json.Unmarshal(r.Body, &rep); err != nil {
				t.Fatal(err)
			}
			done := len(rep.Variants) == 2
			for _, v := range rep.Variants {
				done = done && v.Users == wantUsers && v.Conversions == wantUsers
			}
			if done {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the report never held every event: %d %s", r.Status, r.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, v := range rep.Variants {
		if v.Users != wantUsers || v.Converters != wantUsers || v.Conversions != wantUsers || v.ValueSum == nil || math.Abs(*v.ValueSum-wantValue) > 1e-6 {
			t.Errorf("report %s: %+v, want %d users, converters and conversions, value %.1f", v.Variant, v, wantUsers, wantValue)
		}
	}
	var live struct {
		Results map[string]struct {
			Exposures   int `json:"exposures"`
			Conversions map[string]struct {
				Count int     `json:"count"`
				Value float64 `json:"value"`
			} `json:"conversions"`
		} `json:"results"`
	}
	r := ingest.Do(t, http.MethodGet, "/v1/experiments/"+experiment+"/live?date="+day, nil)
	if err := json.Unmarshal(r.Body, &live); err != nil || len(live.Results) != 2 {
		t.Fatalf("live: %d %s", r.Status, r.Body)
	}
	for name, v := range live.Results {
		p := v.Conversions["purchase"]
		if v.Exposures != wantUsers || p.Count != wantUsers || math.Abs(p.Value-wantValue) > 1e-6 {
			t.Errorf("live %s: %d exposures, %d purchases worth %.1f; want %d, %d, %.1f", name, v.Exposures, p.Count, p.Value, wantUsers, wantUsers, wantValue)
		}
	}
	for _, s := range []*procs.Process{ingest, aggregate} {
		if v := s.Metric(t, "flagstream_events_lost"); v != 0 {
			t.Errorf("%s: flagstream_events_lost = %v", s.URL, v)
		}
	}
}
