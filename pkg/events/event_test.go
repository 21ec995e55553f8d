package events_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

// The two events of DESIGN.md, in its key order.
const (
	designExposure = `{"id": "01J...", "type": "exposure", "experiment": "pricing_page_experiment", "variant": "control",
 "user_id": "user_789", "ts": "2026-11-24T10:00:00Z", "flag_version": 3}`
	designConversion = `{"id": "01J...", "type": "conversion", "experiment": "pricing_page_experiment", "user_id": "user_789",
 "conversion_type": "purchase", "value": 99.99, "ts": "2026-11-24T10:05:00Z"}`
)

func TestEventJSONMatchesDesign(t *testing.T) {
	value := 99.99
	tests := []struct {
		name string
		doc  string
		want events.Event
	}{
		{"exposure", designExposure, events.Event{ID: "01J...", Type: events.TypeExposure, Experiment: "pricing_page_experiment",
			Variant: "control", UserID: "user_789", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), FlagVersion: 3}},
		{"conversion", designConversion, events.Event{ID: "01J...", Type: events.TypeConversion, Experiment: "pricing_page_experiment",
			UserID: "user_789", ConversionType: "purchase", Value: &value, TS: time.Date(2026, 11, 24, 10, 5, 0, 0, time.UTC)}},
		// What flagd sends: the flag's weights and its first variant, the
		// control (optional fields an app may send too).
		{"exposure from flagd", `{"id": "01J...", "type": "exposure", "experiment": "redesign", "variant": "new",
 "user_id": "user_789", "ts": "2026-11-24T10:00:00Z", "flag_version": 3, "weights": {"new": 50, "old": 50}, "control": "old"}`,
			events.Event{ID: "01J...", Type: events.TypeExposure, Experiment: "redesign", Variant: "new", UserID: "user_789",
				TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), FlagVersion: 3, Weights: map[string]float64{"old": 50, "new": 50}, Control: "old"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got events.Event
			if err := json.Unmarshal([]byte(tt.doc), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !equalEvents(got, tt.want) {
				t.Errorf("Unmarshal = %+v, want %+v", got, tt.want)
			}
			out, err := json.Marshal(got)
			if err != nil {
				t.Fatalf("Marshal: %v", err)
			}
			var compact bytes.Buffer
			if err := json.Compact(&compact, []byte(tt.doc)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out, compact.Bytes()) { // same fields, same order, same values
				t.Errorf("Marshal =\n%s\nwant\n%s", out, compact.Bytes())
			}
		})
	}
}

func TestEventUnmarshalKeepsUTC(t *testing.T) {
	var e events.Event
	if err := json.Unmarshal([]byte(`{"ts":"2026-11-24T01:30:00+02:00"}`), &e); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 23, 23, 30, 0, 0, time.UTC); !e.TS.Equal(want) || e.TS.Location() != time.UTC {
		t.Errorf("TS = %v, want %v in UTC", e.TS, want)
	}
}

func TestEventUnmarshalErrorsNameTheField(t *testing.T) {
	tests := []struct{ doc, field string }{
		{`{"value":"12"}`, "value"},
		{`{"value":1e400}`, "value"},
		{`{"flag_version":1.5}`, "flag_version"},
		{`{"flag_version":"3"}`, "flag_version"},
		{`{"user_id":42}`, "user_id"},
		{`{"control":1}`, "control"},
		{`{"type":["exposure"]}`, "type"},
		{`{"ts":1764000000}`, "ts"},
		{`{"ts":"yesterday"}`, "ts"},
		{`{"ts":"2026-11-24 10:00:00"}`, "ts"},
	}
	for _, tt := range tests {
		var e events.Event
		err := json.Unmarshal([]byte(tt.doc), &e)
		var fe *events.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, events.ErrInvalid) {
			t.Errorf("Unmarshal(%s) = %v, want a FieldError for %q", tt.doc, err, tt.field)
		}
	}
}

func TestValueOrDefault(t *testing.T) {
	v, zero := 12.5, 0.0
	tests := []struct {
		value *float64
		want  float64
	}{{nil, 1}, {&v, 12.5}, {&zero, 0}}
	for _, tt := range tests {
		e := events.Event{Type: events.TypeConversion, Value: tt.value}
		if got := e.ValueOrDefault(); got != tt.want {
			t.Errorf("ValueOrDefault(%v) = %v, want %v", tt.value, got, tt.want)
		}
	}
}

func equalEvents(a, b events.Event) bool {
	if (a.Value == nil) != (b.Value == nil) || a.Value != nil && *a.Value != *b.Value {
		return false
	}
	if !maps.Equal(a.Weights, b.Weights) {
		return false
	}
	a.Value, b.Value, a.Weights, b.Weights = nil, nil, nil, nil
	return a.TS.Equal(b.TS) && a.TS.Location() == b.TS.Location() && func() bool { a.TS, b.TS = time.Time{}, time.Time{}; return reflect.DeepEqual(a, b) }()
}
