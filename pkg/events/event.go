package events

import (
	"encoding/json"
	"time"
)

// Type is the kind of an event.
type Type string

// The event types.
const (
	TypeExposure   Type = "exposure"
	TypeConversion Type = "conversion"
)

// Types lists every event type, in a fixed order.
var Types = [...]Type{TypeExposure, TypeConversion}

// Valid reports whether t is a known event type.
func (t Type) Valid() bool { return t == TypeExposure || t == TypeConversion }

// DefaultValue is a conversion's value when it carries none (as in the seed).
const DefaultValue = 1.0

// Event is one exposure or conversion, JSON exactly as DESIGN.md shows:
//
//	{"id": "01J...", "type": "exposure", "experiment": "pricing_page_experiment", "variant": "control",
//	 "user_id": "user_789", "ts": "2026-11-24T10:00:00Z", "flag_version": 3}
//	{"id": "01J...", "type": "conversion", "experiment": "pricing_page_experiment", "user_id": "user_789",
//	 "conversion_type": "purchase", "value": 99.99, "ts": "2026-11-24T10:05:00Z"}
//
// Decoding (json.Unmarshal) reads ts as an RFC 3339 time and keeps it in UTC,
// since days are UTC calendar days of ts; it names the field at fault in a
// [*FieldError] for a ts that is not a time.
type Event struct {
	ID             string    `json:"id"`
	Type           Type      `json:"type"`
	Experiment     string    `json:"experiment,omitempty"`
	Variant        string    `json:"variant,omitempty"`
	UserID         string    `json:"user_id"`
	ConversionType string    `json:"conversion_type,omitempty"`
	Value          *float64  `json:"value,omitempty"` // conversions; nil means DefaultValue (see ValueOrDefault)
	TS             time.Time `json:"ts"`
	FlagVersion    int64     `json:"flag_version,omitempty"`
	// Weights (exposures, optional) are the flag's traffic weights when the
	// user was exposed, variant → weight; flagd sends them, so that reports
	// check the split against what the flag asked for without being told.
	Weights map[string]float64 `json:"weights,omitempty"`
	// Control (exposures, optional) is the flag's first variant, the arm a
	// report compares the others against unless the request names one;
	// flagd sends it. Without it a report has to guess the control.
	Control string `json:"control,omitempty"`
}

// ValueOrDefault is the conversion's value, or [DefaultValue] when it has none.
func (e *Event) ValueOrDefault() float64 {
	if e.Value == nil {
		return DefaultValue
	}
	return *e.Value
}

// UnmarshalJSON decodes an event and keeps its time in UTC. Its errors are
// [*FieldError]s (Index -1) naming the field at fault: a value of the wrong
// type, a ts that is not an RFC 3339 time. It does not validate: see
// [Event.Validate].
func (e *Event) UnmarshalJSON(b []byte) error {
	type plain Event
	var w struct {
		*plain
		TS *string `json:"ts"` // shadows plain.TS: parsed here, so an error can name the field
	}
	*e = Event{}
	w.plain = (*plain)(e)
	if err := json.Unmarshal(b, &w); err != nil {
		return decodeError(err)
	}
	if w.TS == nil {
		return nil // missing: Validate says so
	}
	var t time.Time
	if err := t.UnmarshalText([]byte(*w.TS)); err != nil {
		return &FieldError{Index: -1, Field: "ts", Reason: "is not an RFC 3339 time such as 2026-11-24T10:00:00Z"}
	}
	e.TS = t.UTC()
	return nil
}
