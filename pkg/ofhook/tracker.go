package ofhook

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync/atomic"

	"github.com/oklog/ulid/v2"
	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/internal/retry"
)

// Tracker sends OpenFeature tracking events to flagd's POST /v1/track, where
// each becomes a conversion. It implements openfeature.Tracker; give it to
// the SDK through [WithTracking]. It is safe for concurrent use.
type Tracker struct {
	s              *sender
	sent, failures atomic.Uint64
}

// TrackerStats are a tracker's counters since it was made.
type TrackerStats struct {
	Sent   uint64 // stored by flagd in the raw stream
	Failed uint64 // refused, or still failing after MaxAttempts
}

// NewTracker checks the options; the batching options do not apply.
func NewTracker(o Options) (*Tracker, error) {
	_, s, err := o.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("ofhook: %w", err)
	}
	return &Tracker{s: s}, nil
}

// Stats returns the counters.
func (t *Tracker) Stats() TrackerStats {
	return TrackerStats{Sent: t.sent.Load(), Failed: t.failures.Load()}
}

// trackRequest is the body of POST /v1/track.
type trackRequest struct {
	Name    string         `json:"trackingEventName"`
	Context map[string]any `json:"context"`
	Details trackDetails   `json:"trackingEventDetails"`
}

type trackDetails struct {
	Value      float64 `json:"value"`
	ID         string  `json:"id"`
	Experiment string  `json:"experiment,omitempty"`
}

// Track is openfeature.Tracker's method: the SDK's client.Track calls it.
// It waits for flagd (retries included; ctx bounds the wait) and reports a
// failure to Options.OnError, since the SDK's Track returns nothing.
func (t *Tracker) Track(ctx context.Context, name string, ec openfeature.EvaluationContext, d openfeature.TrackingEventDetails) {
	if _, err := t.Send(ctx, name, ec, d); err != nil {
		t.s.onError(err)
	}
}

// Send is Track returning the event's id or the error. The conversion is
// the tracking event name as conversion_type, the context's targetingKey as
// user_id and the details' value; the details' string attributes
// "experiment" (attribute the conversion to one experiment only) and "id"
// (your own idempotency key) are passed on, other attributes are not.
// Without an "id", Send makes one, used by every attempt of this call, so
// a retry after a lost answer counts once.
func (t *Tracker) Send(ctx context.Context, name string, ec openfeature.EvaluationContext, d openfeature.TrackingEventDetails) (string, error) {
	body, err := trackBody(name, ec, d)
	if err == nil {
		err = t.post(ctx, body)
	}
	if err != nil {
		t.failures.Add(1)
		return "", fmt.Errorf("ofhook: track %q: %w", name, err)
	}
	t.sent.Add(1)
	return body.Details.ID, nil
}

func trackBody(name string, ec openfeature.EvaluationContext, d openfeature.TrackingEventDetails) (trackRequest, error) {
	r := trackRequest{Name: name, Context: flatten(ec.TargetingKey(), ec.Attributes()), Details: trackDetails{Value: d.Value()}}
	switch {
	case name == "":
		return r, &FieldError{"trackingEventName", "is empty"}
	case ec.TargetingKey() == "":
		return r, &FieldError{"context.targetingKey", "is empty: a conversion needs the user's id"}
	case math.IsNaN(d.Value()) || math.IsInf(d.Value(), 0):
		return r, &FieldError{"trackingEventDetails.value", fmt.Sprintf("%v is not a number JSON can carry", d.Value())}
	}
	for _, f := range []struct {
		attr string
		dst  *string
	}{{"id", &r.Details.ID}, {"experiment", &r.Details.Experiment}} {
		switch v := d.Attribute(f.attr).(type) {
		case nil:
		case string:
			*f.dst = v
		default:
			return r, &FieldError{"trackingEventDetails." + f.attr, fmt.Sprintf("must be a string, not %T", v)}
		}
	}
	if r.Details.ID == "" {
		r.Details.ID = ulid.Make().String()
	}
	return r, nil
}

func (t *Tracker) post(ctx context.Context, r trackRequest) error {
	body, err := json.Marshal(r)
	if err != nil {
		return &FieldError{"context", "cannot be encoded as JSON: " + err.Error()}
	}
	for attempt := 1; ; attempt++ {
		var ans struct {
			ID string `json:"id"`
		}
		wait, err := t.s.post(ctx, "/v1/track", body, &ans)
		if err == nil {
			return nil
		}
		if !retryable(ctx, err) || attempt >= t.s.maxAttempts || !retry.Sleep(ctx, backoff(attempt, wait)) {
			if attempt > 1 {
				return fmt.Errorf("%d attempts: %w", attempt, err)
			}
			return err
		}
	}
}

var _ openfeature.Tracker = (*Tracker)(nil)
