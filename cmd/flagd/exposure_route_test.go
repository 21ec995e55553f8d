package main

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

// exposuresOf returns the stream's exposures by user and flag.
func exposuresOf(evs map[string]events.Event) map[string][]events.Event {
	out := map[string][]events.Event{}
	for _, e := range evs {
		if e.Type == events.TypeExposure {
			out[e.UserID+"/"+e.Experiment] = append(out[e.UserID+"/"+e.Experiment], e)
		}
	}
	return out
}

// putVariantFlags creates n flags with two variants (and a barrier flag),
// and waits until flagd serves them all.
func putVariantFlags(t *testing.T, in *instance, n int) {
	t.Helper()
	ab := map[string]any{"status": "enabled", "variants": []map[string]any{{"name": "control", "weight": 50}, {"name": "treatment", "weight": 50}}}
	in.expect(t, 200, "PUT", "/v1/flags/barrier", ab)
	for i := range n {
		in.expect(t, 200, "PUT", fmt.Sprintf("/v1/flags/f%03d", i), ab)
	}
	in.waitServed(t, "barrier", 1)
	in.waitServed(t, fmt.Sprintf("f%03d", n-1), 1)
}

// Bulk evaluation of 100 variant flags exposes nobody: the barrier's single
// evaluation is the only exposure of these users on the stream. With
// --bulk-exposures it exposes every one, as before.
func TestBulkEvaluationExposesNobody(t *testing.T) {
	for _, bulk := range []bool{false, true} {
		t.Run(fmt.Sprintf("bulk-exposures=%v", bulk), func(t *testing.T) {
			e := newEnv(t)
			natsURL, ns := e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]
			in := start(t, e, map[string]string{"FLAGSTREAM_BULK_EXPOSURES": fmt.Sprint(bulk)})
			putVariantFlags(t, in, 100)
			before, _ := exposureBarrier(t, in, natsURL, ns, "barrier")
			for u := range 5 {
				body := map[string]any{"context": map[string]any{"targetingKey": fmt.Sprintf("bulk_%d", u)}}
				if r := in.do(t, "POST", "/ofrep/v1/evaluate/flags", body); r.Status != 200 || !strings.Contains(string(r.Body), `"f099"`) {
					t.Fatalf("OFREP bulk: %d %.200s", r.Status, r.Body)
				}
				in.expect(t, 200, "POST", "/v1/evaluate/all", map[string]any{"context": map[string]any{"user_id": fmt.Sprintf("bulk_%d", u)}})
			}
			after, _ := exposureBarrier(t, in, natsURL, ns, "barrier")
			n := 0
			for _, ev := range after {
				if strings.HasPrefix(ev.UserID, "bulk_") {
					n++
				}
			}
			want := 0
			if bulk {
				want = 5 * 101 * 2 // OFREP and native bulk, each 100 flags and the barrier, five users
			}
			if n != want || len(after) != len(before)+1+n {
				t.Errorf("%d exposures of the bulk users (want %d); stream grew by %d", n, want, len(after)-len(before))
			}
		})
	}
}

// POST /v1/exposures publishes, for the flags an app used, the exposure the
// server computes: a variant the app sends is ignored (a tampered one
// included), a version the app evaluated that is no longer current publishes
// nothing (stale), and flags the app did not name publish nothing.
func TestExposureRoute(t *testing.T) {
	e := newEnv(t)
	natsURL, ns := e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]
	in := start(t, e, nil)
	putVariantFlags(t, in, 3)
	in.expect(t, 200, "PUT", "/v1/flags/off", map[string]any{"status": "disabled",
		"variants": []map[string]any{{"name": "control", "weight": 50}, {"name": "treatment", "weight": 50}}})
	in.waitServed(t, "off", 1)
	before, _ := exposureBarrier(t, in, natsURL, ns, "barrier")

	usedAt := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond) // user_2 used f002 an hour ago
	// What the server says user_1 gets for f000, and the other variant.
	server := in.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "f000", "context": map[string]any{"user_id": "user_1"}})
	variant := server["variant"].(string)
	tampered := map[string]string{"control": "treatment", "treatment": "control"}[variant]
	got := in.expect(t, 202, "POST", "/v1/exposures", []map[string]any{
		{"context": map[string]any{"targetingKey": "user_1", "plan": "pro"}, "flags": []map[string]any{
			{"key": "f000", "version": 1, "variant": tampered},
			{"key": "f001", "version": 7}, // the app evaluated another version
			{"key": "off"},
			{"key": "nope"},
		}},
		{"context": map[string]any{"targetingKey": "user_2"}, "flags": []map[string]any{{"key": "f002", "ts": usedAt.Format(time.RFC3339Nano), "id": "u2-f002-1"}}},
	})
	results := got["results"].([]any)
	want := []string{"f000 published " + variant, "f001 stale ", "off not_exposed ", "nope not_found ", "f002 published "}
	if len(results) != len(want) {
		t.Fatalf("results %v", results)
	}
	for i, r := range results {
		m := r.(map[string]any)
		v, _ := m["variant"].(string)
		line := fmt.Sprint(m["key"], " ", m["status"], " ", v)
		if i == 4 {
			line = fmt.Sprint(m["key"], " ", m["status"], " ")
		}
		if line != want[i] {
			t.Errorf("result %d = %q, want %q (%v)", i, line, want[i], m)
		}
	}
	after, _ := exposureBarrier(t, in, natsURL, ns, "barrier")
	exps := exposuresOf(after)
	if len(exps["user_1/f000"]) != 2 { // the single evaluation's and the reported one
		t.Errorf("user_1's f000 exposures: %+v, want 2", exps["user_1/f000"])
	}
	for _, ev := range exps["user_1/f000"] {
		if ev.Variant != variant || ev.FlagVersion != 1 || ev.Control != "control" || ev.Weights["treatment"] != 50 {
			t.Errorf("user_1's f000 exposure = %+v, want the server's variant %s with version, weights and control", ev, variant)
		}
	}
	if evs := exps["user_2/f002"]; len(evs) != 1 || !evs[0].TS.Equal(usedAt) || evs[0].ID != "u2-f002-1" {
		t.Errorf("user_2's f002 exposure = %+v, want one at %v (when the app used it) with the app's id", evs, usedAt)
	}
	for _, k := range []string{"user_1/f001", "user_1/off", "user_1/f002", "user_2/f000"} {
		if _, ok := exps[k]; ok {
			t.Errorf("exposure %s published; it was stale, not exposed or not used", k)
		}
	}
	if len(after) != len(before)+4 { // the single evaluation, two reported, one barrier
		t.Errorf("stream grew by %d, want 4", len(after)-len(before))
	}

	for body, want := range map[string]string{
		`{"context":{"targetingKey":"u"},"flags":[]}`:                          "flags is empty",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"bad:key"}]}`:         "flags[0].key",
		`{"context":{"targetingKey":5},"flags":[{"key":"f000"}]}`:              "targetingKey must be a string",
		`[{"context":{"targetingKey":"u"},"flags":[{"key":"f000"}]}, {"x":1}]`: "item 1",
		`{"context":`: "JSON",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"f000","ts":"2020-01-01T00:00:00Z"}]}`: "flags[0].ts",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"f000","ts":"yesterday"}]}`:            "ts",
		`{"context":{"targetingKey":"u"},"flags":[{"key":"f000","id":"bad id\u0000"}]}`:         "flags[0].id",
	} {
		r := in.do(t, "POST", "/v1/exposures", body)
		if r.Status != 400 || !strings.Contains(string(r.Body), want) {
			t.Errorf("POST %s = %d %s, want 400 naming %q", body, r.Status, r.Body, want)
		}
	}
}

// POST /v1/track stores an OpenFeature tracking event as a conversion in the
// raw stream before it answers, with the event's id (a retry counts once)
// or a new one; bad input is a 400 naming the tracking event's field.
func TestTrackRoute(t *testing.T) {
	e := newEnv(t)
	natsURL, ns := e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]
	in := start(t, e, nil)
	a := in.expect(t, 202, "POST", "/v1/track", map[string]any{"trackingEventName": "purchase",
		"context": map[string]any{"targetingKey": "user_1"}, "trackingEventDetails": map[string]any{"value": 99.99, "id": "order-17"}})
	b := in.expect(t, 202, "POST", "/v1/track", map[string]any{"trackingEventName": "signup",
		"context": map[string]any{"targetingKey": "user_2"}, "trackingEventDetails": map[string]any{"experiment": "checkout"}})
	if a["id"] != "order-17" || b["id"] == "" {
		t.Errorf("ids %v %v", a, b)
	}
	// Stored before the answer: on the stream now, no waiting.
	evs, _ := streamEvents(t, natsURL, ns)
	p, s := evs["order-17"], evs[b["id"].(string)]
	if p.Type != events.TypeConversion || p.ConversionType != "purchase" || p.UserID != "user_1" || p.ValueOrDefault() != 99.99 {
		t.Errorf("purchase = %+v", p)
	}
	if s.ConversionType != "signup" || s.Experiment != "checkout" || s.Value != nil || s.UserID != "user_2" {
		t.Errorf("signup = %+v", s)
	}
	for body, want := range map[string]string{
		`{"trackingEventName":"bad name","context":{"targetingKey":"u"}}`:                                      "trackingEventName",
		`{"trackingEventName":"purchase","context":{}}`:                                                        "context.targetingKey",
		`{"trackingEventName":"purchase","context":{"targetingKey":"u"},"trackingEventDetails":{"value":"x"}}`: "value",
	} {
		r := in.do(t, "POST", "/v1/track", body)
		if r.Status != 400 || !strings.Contains(string(r.Body), want) {
			t.Errorf("POST /v1/track %s = %d %s, want 400 naming %q", body, r.Status, r.Body, want)
		}
	}
}

// A single evaluation with "Flagstream-Exposure: on-use" publishes nothing
// (the app reports its use itself, as the Go hook does); the same evaluation
// without it publishes, so one flagd serves both kinds of app.
func TestSingleEvaluationExposureOnUseHeader(t *testing.T) {
	e := newEnv(t)
	natsURL, ns := e["FLAGSTREAM_NATS_URL"], e["FLAGSTREAM_NATS_NAMESPACE"]
	in := start(t, e, nil)
	putVariantFlags(t, in, 1)
	before, _ := exposureBarrier(t, in, natsURL, ns, "barrier")
	body := map[string]any{"context": map[string]any{"targetingKey": "quiet"}}
	in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/f000", body, "Flagstream-Exposure", "on-use")
	in.expect(t, 200, "POST", "/v1/evaluate", map[string]any{"flag": "f000", "context": map[string]any{"user_id": "quiet"}}, "Flagstream-Exposure", "on-use")
	in.expect(t, 200, "POST", "/ofrep/v1/evaluate/flags/f000", map[string]any{"context": map[string]any{"targetingKey": "loud"}})
	after, _ := exposureBarrier(t, in, natsURL, ns, "barrier")
	exps := exposuresOf(after)
	if len(exps["quiet/f000"]) != 0 || len(exps["loud/f000"]) != 1 || len(after) != len(before)+2 {
		t.Errorf("quiet %d, loud %d exposures, stream grew by %d; want 0, 1 and 2 (loud and the barrier)",
			len(exps["quiet/f000"]), len(exps["loud/f000"]), len(after)-len(before))
	}
}
