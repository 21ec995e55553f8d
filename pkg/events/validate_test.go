package events_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/pkg/events"
)

var now = time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)

func exposure() events.Event {
	return events.Event{ID: "01JDQ0N0000000000000000000", Type: events.TypeExposure, Experiment: "pricing_page_experiment",
		Variant: "control", UserID: "user_789", TS: now.Add(-time.Hour), FlagVersion: 3}
}

func conversion() events.Event {
	v := 99.99
	return events.Event{ID: "01JDQ0N0000000000000000001", Type: events.TypeConversion, Experiment: "pricing_page_experiment",
		UserID: "user_789", ConversionType: "purchase", Value: &v, TS: now.Add(-time.Minute)}
}

func ptr(v float64) *float64 { return &v }

func TestValidate(t *testing.T) {
	tests := []struct {
		name  string
		event func() events.Event
		w     events.Window
		field string // "" means valid
	}{
		{"exposure", exposure, events.Window{}, ""},
		{"conversion", conversion, events.Window{}, ""},
		{"missing id is fine", func() events.Event { e := exposure(); e.ID = ""; return e }, events.Window{}, ""},
		{"uuid id", func() events.Event { e := exposure(); e.ID = "6f1c2d3e-0000-4000-8000-000000000000"; return e }, events.Window{}, ""},
		{"conversion without experiment", func() events.Event { e := conversion(); e.Experiment = ""; return e }, events.Window{}, ""},
		{"conversion without value", func() events.Event { e := conversion(); e.Value = nil; return e }, events.Window{}, ""},
		{"negative value", func() events.Event { e := conversion(); e.Value = ptr(-5); return e }, events.Window{}, ""},
		{"exposure without flag version", func() events.Event { e := exposure(); e.FlagVersion = 0; return e }, events.Window{}, ""},
		{"key of 128 characters", func() events.Event { e := exposure(); e.Experiment = strings.Repeat("a", 128); return e }, events.Window{}, ""},
		{"user id of 256 bytes", func() events.Event { e := exposure(); e.UserID = strings.Repeat("ü", 128); return e }, events.Window{}, ""},
		{"ts exactly 7 days back", func() events.Event { e := exposure(); e.TS = now.Add(-7 * 24 * time.Hour); return e }, events.Window{}, ""},
		{"ts exactly 10 minutes ahead", func() events.Event { e := exposure(); e.TS = now.Add(10 * time.Minute); return e }, events.Window{}, ""},

		{"id too long", func() events.Event { e := exposure(); e.ID = strings.Repeat("x", 129); return e }, events.Window{}, "id"},
		{"id with a space", func() events.Event { e := exposure(); e.ID = "a b"; return e }, events.Window{}, "id"},
		{"id with a newline", func() events.Event { e := exposure(); e.ID = "a\nb"; return e }, events.Window{}, "id"},
		{"id not ASCII", func() events.Event { e := exposure(); e.ID = "idé"; return e }, events.Window{}, "id"},
		{"missing type", func() events.Event { e := exposure(); e.Type = ""; return e }, events.Window{}, "type"},
		{"bad type", func() events.Event { e := exposure(); e.Type = "click"; return e }, events.Window{}, "type"},
		{"exposure without experiment", func() events.Event { e := exposure(); e.Experiment = ""; return e }, events.Window{}, "experiment"},
		{"experiment with a colon", func() events.Event { e := exposure(); e.Experiment = "a:b"; return e }, events.Window{}, "experiment"},
		{"experiment too long", func() events.Event { e := exposure(); e.Experiment = strings.Repeat("a", 129); return e }, events.Window{}, "experiment"},
		{"conversion with a bad experiment", func() events.Event { e := conversion(); e.Experiment = "a b"; return e }, events.Window{}, "experiment"},
		{"exposure without variant", func() events.Event { e := exposure(); e.Variant = ""; return e }, events.Window{}, "variant"},
		{"variant with a slash", func() events.Event { e := exposure(); e.Variant = "a/b"; return e }, events.Window{}, "variant"},
		{"conversion with a variant", func() events.Event { e := conversion(); e.Variant = "control"; return e }, events.Window{}, "variant"},
		{"missing user id", func() events.Event { e := exposure(); e.UserID = ""; return e }, events.Window{}, "user_id"},
		{"user id too long", func() events.Event { e := exposure(); e.UserID = strings.Repeat("u", 257); return e }, events.Window{}, "user_id"},
		{"user id with a control character", func() events.Event { e := exposure(); e.UserID = "user\x07"; return e }, events.Window{}, "user_id"},
		{"user id not UTF-8", func() events.Event { e := exposure(); e.UserID = "user\xff"; return e }, events.Window{}, "user_id"},
		{"conversion without conversion type", func() events.Event { e := conversion(); e.ConversionType = ""; return e }, events.Window{}, "conversion_type"},
		{"conversion type with a colon", func() events.Event { e := conversion(); e.ConversionType = "buy:now"; return e }, events.Window{}, "conversion_type"},
		{"exposure with conversion type", func() events.Event { e := exposure(); e.ConversionType = "purchase"; return e }, events.Window{}, "conversion_type"},
		{"exposure with value", func() events.Event { e := exposure(); e.Value = ptr(1); return e }, events.Window{}, "value"},
		{"NaN value", func() events.Event { e := conversion(); e.Value = ptr(math.NaN()); return e }, events.Window{}, "value"},
		{"+Inf value", func() events.Event { e := conversion(); e.Value = ptr(math.Inf(1)); return e }, events.Window{}, "value"},
		{"-Inf value", func() events.Event { e := conversion(); e.Value = ptr(math.Inf(-1)); return e }, events.Window{}, "value"},
		{"huge value", func() events.Event { e := conversion(); e.Value = ptr(1e13); return e }, events.Window{}, "value"},
		{"missing ts", func() events.Event { e := exposure(); e.TS = time.Time{}; return e }, events.Window{}, "ts"},
		{"ts too old", func() events.Event { e := exposure(); e.TS = now.Add(-7*24*time.Hour - time.Second); return e }, events.Window{}, "ts"},
		{"ts too far ahead", func() events.Event { e := exposure(); e.TS = now.Add(10*time.Minute + time.Second); return e }, events.Window{}, "ts"},
		{"ts outside a narrow window, back", exposure, events.Window{MaxPast: time.Minute, MaxFuture: time.Minute}, "ts"},
		{"ts outside a narrow window, ahead", func() events.Event { e := exposure(); e.TS = now.Add(2 * time.Minute); return e },
			events.Window{MaxPast: time.Hour, MaxFuture: time.Minute}, "ts"},
		{"negative flag version", func() events.Event { e := exposure(); e.FlagVersion = -1; return e }, events.Window{}, "flag_version"},
		{"conversion with flag version", func() events.Event { e := conversion(); e.FlagVersion = 3; return e }, events.Window{}, "flag_version"},
		{"exposure with weights", func() events.Event {
			e := exposure()
			e.Weights = map[string]float64{"control": 50, "variant_b": 50}
			return e
		}, events.Window{}, ""},
		{"weights with a zero", func() events.Event {
			e := exposure()
			e.Weights = map[string]float64{"control": 50, "variant_b": 50, "old": 0}
			return e
		}, events.Window{}, ""},
		{"conversion with weights", func() events.Event { e := conversion(); e.Weights = map[string]float64{"control": 1}; return e }, events.Window{}, "weights"},
		{"weights without the variant", func() events.Event {
			e := exposure()
			e.Weights = map[string]float64{"variant_a": 50, "variant_b": 50}
			return e
		}, events.Window{}, "weights"},
		{"negative weight", func() events.Event {
			e := exposure()
			e.Weights = map[string]float64{"control": -1, "variant_b": 50}
			return e
		}, events.Window{}, "weights"},
		{"NaN weight", func() events.Event { e := exposure(); e.Weights = map[string]float64{"control": math.NaN()}; return e }, events.Window{}, "weights"},
		{"weights summing to 0", func() events.Event { e := exposure(); e.Weights = map[string]float64{"control": 0}; return e }, events.Window{}, "weights"},
		{"weight for a bad name", func() events.Event {
			e := exposure()
			e.Weights = map[string]float64{"control": 50, "a b": 50}
			return e
		}, events.Window{}, "weights"},
		{"empty weights", func() events.Event { e := exposure(); e.Weights = map[string]float64{}; return e }, events.Window{}, "weights"},
		{"exposure with a control", func() events.Event { e := exposure(); e.Control = "old"; return e }, events.Window{}, ""},
		{"control among the weights", func() events.Event {
			e := exposure()
			e.Weights, e.Control = map[string]float64{"control": 50, "variant_b": 50}, "variant_b"
			return e
		}, events.Window{}, ""},
		{"conversion with a control", func() events.Event { e := conversion(); e.Control = "control"; return e }, events.Window{}, "control"},
		{"control with a colon", func() events.Event { e := exposure(); e.Control = "a:b"; return e }, events.Window{}, "control"},
		{"control too long", func() events.Event { e := exposure(); e.Control = strings.Repeat("c", 129); return e }, events.Window{}, "control"},
		{"control not among the weights", func() events.Event {
			e := exposure()
			e.Weights, e.Control = map[string]float64{"control": 50, "variant_b": 50}, "old"
			return e
		}, events.Window{}, "control"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.event()
			err := e.Validate(now, tt.w)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			var fe *events.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("Validate() = %v, want a *FieldError for %q", err, tt.field)
			}
			if fe.Field != tt.field || fe.Index != -1 || fe.Reason == "" {
				t.Errorf("Validate() = %+v, want field %q, index -1 and a reason", fe, tt.field)
			}
			if !errors.Is(err, events.ErrInvalid) {
				t.Errorf("Validate() = %v, not an ErrInvalid", err)
			}
			if !strings.HasPrefix(err.Error(), tt.field+": ") {
				t.Errorf("Error() = %q, want it to start with the field", err)
			}
		})
	}
}

func TestFieldErrorMessage(t *testing.T) {
	tests := []struct {
		err  events.FieldError
		want string
	}{
		{events.FieldError{Index: -1, Field: "ts", Reason: "is required"}, "ts: is required"},
		{events.FieldError{Index: 3, Field: "ts", Reason: "is required"}, "event 3: ts: is required"},
		{events.FieldError{Index: 0, Reason: "is not valid JSON"}, "event 0: is not valid JSON"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
}
