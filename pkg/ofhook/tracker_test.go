package ofhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/oklog/ulid/v2"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/pkg/ofhook"
)

// sentTrack is a POST /v1/track body as flagd reads it.
type sentTrack struct {
	Name    string         `json:"trackingEventName"`
	Context map[string]any `json:"context"`
	Details struct {
		Value      *float64 `json:"value"`
		ID         string   `json:"id"`
		Experiment string   `json:"experiment"`
	} `json:"trackingEventDetails"`
}

func (f *fakeFlagd) nextTrack(t *testing.T) sentTrack {
	t.Helper()
	var got sentTrack
	body := <-f.requests
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	return got
}

func trackAccepted(_ int, body []byte, w http.ResponseWriter) {
	var r sentTrack
	_ = json.Unmarshal(body, &r)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(map[string]string{"id": r.Details.ID})
}

func newTracker(t *testing.T, o ofhook.Options) *ofhook.Tracker {
	t.Helper()
	tr, err := ofhook.NewTracker(o)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// The SDK's client.Track reaches POST /v1/track through WithTracking, with
// the name, the merged context, the value, the experiment attribute and an
// id of its own; evaluation still goes to the wrapped provider.
func TestTrackThroughTheSDK(t *testing.T) {
	flagd := newFakeFlagd(t, trackAccepted)
	tr := newTracker(t, ofhook.Options{URL: flagd.URL, Token: "tok"})
	c := newClient(t, ofhook.WithTracking(fakeProvider{variants: map[string]string{"checkout": "treatment"}, version: float64(1)}, tr))
	c.SetEvaluationContext(openfeature.NewTargetlessEvaluationContext(map[string]any{"app": "shop"}))
	ctx := context.Background()
	if v := c.String(ctx, "checkout", "off", user(1)); v != "treatment" {
		t.Fatalf("evaluation through the wrapper = %q, want the provider's treatment", v)
	}
	c.Track(ctx, "purchase", user(1), openfeature.NewTrackingEventDetails(99.99).Add("experiment", "checkout").Add("color", "red"))
	c.Track(ctx, "purchase", user(2), openfeature.NewTrackingEventDetails(5))

	first, second := flagd.nextTrack(t), flagd.nextTrack(t)
	if first.Name != "purchase" || first.Context["targetingKey"] != "user_1" || first.Context["app"] != "shop" ||
		first.Details.Value == nil || *first.Details.Value != 99.99 || first.Details.Experiment != "checkout" {
		t.Errorf("first event %+v", first)
	}
	if second.Details.Experiment != "" || second.Context["targetingKey"] != "user_2" {
		t.Errorf("second event %+v", second)
	}
	for _, e := range []sentTrack{first, second} {
		if _, err := ulid.ParseStrict(e.Details.ID); err != nil {
			t.Errorf("id %q is not a ULID: %v", e.Details.ID, err)
		}
	}
	if first.Details.ID == second.Details.ID {
		t.Errorf("two Track calls share the id %s", first.Details.ID)
	}
	if hdr := <-flagd.headers; hdr.Get("Authorization") != "Bearer tok" {
		t.Errorf("Authorization %q", hdr.Get("Authorization"))
	}
	if st := tr.Stats(); st != (ofhook.TrackerStats{Sent: 2}) {
		t.Errorf("Stats() = %+v", st)
	}
}

// Transient failures are retried with the same id, so flagd's dedup makes
// a retry after a lost answer count once; a caller's own id is kept.
func TestTrackRetriesWithTheSameID(t *testing.T) {
	flagd := newFakeFlagd(t, func(n int, body []byte, w http.ResponseWriter) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			trackAccepted(n, body, w)
		}
	})
	tr := newTracker(t, ofhook.Options{URL: flagd.URL, MaxAttempts: 3})
	id, err := tr.Send(context.Background(), "purchase", user(1), openfeature.NewTrackingEventDetails(1).Add("id", "order-17"))
	if err != nil || id != "order-17" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	for i := range 3 {
		if got := flagd.nextTrack(t); got.Details.ID != "order-17" {
			t.Errorf("attempt %d sent id %q", i+1, got.Details.ID)
		}
	}
	if flagd.count() != 3 {
		t.Errorf("%d requests, want 3", flagd.count())
	}
}

// A refusal is not retried and reaches OnError through Track with flagd's
// message; a still-failing flagd is given up on after MaxAttempts.
func TestTrackFailures(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   int
		requests int
	}{
		{"refused", http.StatusBadRequest, 1},
		{"unavailable", http.StatusServiceUnavailable, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			flagd := newFakeFlagd(t, func(_ int, _ []byte, w http.ResponseWriter) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"error":"invalid","message":"trackingEventName must match [a-z0-9_.-]"}`))
			})
			var mu sync.Mutex
			var errs []error
			tr := newTracker(t, ofhook.Options{URL: flagd.URL, MaxAttempts: 2, OnError: func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}})
			c := newClient(t, ofhook.WithTracking(fakeProvider{}, tr))
			c.Track(context.Background(), "Purchase!", user(1), openfeature.NewTrackingEventDetails(1))
			var he *ofhook.HTTPError
			if len(errs) != 1 || !errors.As(errs[0], &he) || he.Status != tt.status || !strings.Contains(errs[0].Error(), "trackingEventName must match") {
				t.Errorf("OnError got %v, want flagd's %d and message", errs, tt.status)
			}
			if flagd.count() != tt.requests || tr.Stats() != (ofhook.TrackerStats{Failed: 1}) {
				t.Errorf("%d requests, stats %+v; want %d requests, 1 failed", flagd.count(), tr.Stats(), tt.requests)
			}
		})
	}
}

// Input flagd would refuse is refused before any request, by field name.
func TestTrackRefusesBadInput(t *testing.T) {
	flagd := newFakeFlagd(t, trackAccepted)
	tr := newTracker(t, ofhook.Options{URL: flagd.URL})
	for _, tt := range []struct {
		name  string
		event string
		ec    openfeature.EvaluationContext
		d     openfeature.TrackingEventDetails
		field string
	}{
		{"no name", "", user(1), openfeature.NewTrackingEventDetails(1), "trackingEventName"},
		{"no user", "purchase", openfeature.NewTargetlessEvaluationContext(nil), openfeature.NewTrackingEventDetails(1), "context.targetingKey"},
		{"NaN", "purchase", user(1), openfeature.NewTrackingEventDetails(math.NaN()), "trackingEventDetails.value"},
		{"numeric id", "purchase", user(1), openfeature.NewTrackingEventDetails(1).Add("id", 17), "trackingEventDetails.id"},
		{"experiment list", "purchase", user(1), openfeature.NewTrackingEventDetails(1).Add("experiment", []string{"a"}), "trackingEventDetails.experiment"},
		{"context not JSON", "purchase", openfeature.NewEvaluationContext("u", map[string]any{"f": func() {}}), openfeature.NewTrackingEventDetails(1), "context"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tr.Send(context.Background(), tt.event, tt.ec, tt.d)
			var fe *ofhook.FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ofhook.ErrInvalid) {
				t.Errorf("Send = %v, want an error naming %s", err, tt.field)
			}
		})
	}
	if flagd.count() != 0 {
		t.Errorf("%d requests for bad input", flagd.count())
	}
}

// lifecycleProvider has the optional abilities the SDK looks for.
type lifecycleProvider struct {
	fakeProvider
	inits, shutdowns int
	events           chan openfeature.Event
}

func (p *lifecycleProvider) Init(openfeature.EvaluationContext) error { p.inits++; return nil }
func (p *lifecycleProvider) Shutdown()                                { p.shutdowns++ }
func (p *lifecycleProvider) EventChannel() <-chan openfeature.Event   { return p.events }

// The wrapper keeps the wrapped provider's lifecycle and events, and adds
// no events to a provider that has none.
func TestWithTrackingKeepsTheProvidersAbilities(t *testing.T) {
	tr := newTracker(t, ofhook.Options{URL: "http://127.0.0.1:1"})
	inner := &lifecycleProvider{events: make(chan openfeature.Event, 1)}
	p := ofhook.WithTracking(inner, tr)
	sh, ok := p.(openfeature.StateHandler)
	eh, ok2 := p.(openfeature.EventHandler)
	if !ok || !ok2 {
		t.Fatalf("the wrapper is StateHandler %v, EventHandler %v; want both", ok, ok2)
	}
	_ = sh.Init(openfeature.EvaluationContext{})
	sh.Shutdown()
	inner.events <- openfeature.Event{ProviderName: "fake"}
	if e := <-eh.EventChannel(); e.ProviderName != "fake" || inner.inits != 1 || inner.shutdowns != 1 {
		t.Errorf("event %+v, %d inits, %d shutdowns", e, inner.inits, inner.shutdowns)
	}
	if _, ok := ofhook.WithTracking(fakeProvider{}, tr).(openfeature.EventHandler); ok {
		t.Error("a provider without events became an EventHandler")
	}
	if _, ok := p.(openfeature.Tracker); !ok {
		t.Error("the wrapper is no Tracker")
	}
}
