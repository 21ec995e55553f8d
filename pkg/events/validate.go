package events

import (
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/flagstream/flagstream/pkg/flags"
)

// Limits on fields that pkg/flags does not already define (names and user
// ids follow [flags.CheckKey] and [flags.CheckUserID]).
const (
	// MaxIDLen bounds an event id: it becomes a NATS header value and part of
	// a Redis key.
	MaxIDLen = 128
	// MaxAbsValue bounds a conversion's value, so that sums over millions of
	// events stay finite and keep cents.
	MaxAbsValue = 1e12
)

// Window is how far an event's ts may lie from now. A zero field takes its
// default ([DefaultWindow]).
type Window struct {
	MaxPast   time.Duration // default 7 days: as long as the streams keep events
	MaxFuture time.Duration // default 10 minutes: clock skew of the senders
}

// DefaultWindow is 7 days back and 10 minutes ahead.
func DefaultWindow() Window {
	return Window{MaxPast: 7 * 24 * time.Hour, MaxFuture: 10 * time.Minute}
}

func (w Window) withDefaults() Window {
	d := DefaultWindow()
	if w.MaxPast <= 0 {
		w.MaxPast = d.MaxPast
	}
	if w.MaxFuture <= 0 {
		w.MaxFuture = d.MaxFuture
	}
	return w
}

// Validate checks one event as DESIGN.md defines it and returns a
// [*FieldError] (Index -1) naming the first field at fault, in JSON order, or
// nil. A missing id is fine: the edge assigns one ([DecodeBatch], [Publisher]).
func (e *Event) Validate(now time.Time, w Window) error {
	if fe := e.check(now, w.withDefaults()); fe != nil {
		fe.Index = -1
		return fe
	}
	return nil
}

func (e *Event) check(now time.Time, w Window) *FieldError {
	if e.ID != "" {
		if err := checkID(e.ID); err != nil {
			return &FieldError{Field: "id", Reason: err.Error()}
		}
	}
	exposure := e.Type == TypeExposure
	switch {
	case e.Type == "":
		return &FieldError{Field: "type", Reason: "is required: exposure or conversion"}
	case !e.Type.Valid():
		return &FieldError{Field: "type", Reason: fmt.Sprintf("%q is not exposure or conversion", truncate(string(e.Type)))}
	}
	if exposure || e.Experiment != "" { // a conversion without one is attributed to every exposure of the user
		if err := flags.CheckKey(e.Experiment); err != nil {
			return &FieldError{Field: "experiment", Reason: reason(err, exposure)}
		}
	}
	if exposure {
		if err := flags.CheckKey(e.Variant); err != nil {
			return &FieldError{Field: "variant", Reason: reason(err, true)}
		}
	} else if e.Variant != "" {
		return &FieldError{Field: "variant", Reason: "is for exposures only: a conversion counts for the variant its user was exposed to"}
	}
	if err := flags.CheckUserID(e.UserID); err != nil {
		return &FieldError{Field: "user_id", Reason: reason(err, true)}
	}
	if exposure {
		if e.ConversionType != "" {
			return &FieldError{Field: "conversion_type", Reason: "is for conversions only"}
		}
		if e.Value != nil {
			return &FieldError{Field: "value", Reason: "is for conversions only"}
		}
	} else {
		if err := flags.CheckKey(e.ConversionType); err != nil {
			return &FieldError{Field: "conversion_type", Reason: reason(err, true)}
		}
		if e.Value != nil {
			if v := *e.Value; math.IsNaN(v) || math.IsInf(v, 0) {
				return &FieldError{Field: "value", Reason: "is not a finite number"}
			} else if math.Abs(v) > MaxAbsValue {
				return &FieldError{Field: "value", Reason: fmt.Sprintf("%v is beyond ±%g", v, MaxAbsValue)}
			}
		}
	}
	switch {
	case e.TS.IsZero():
		return &FieldError{Field: "ts", Reason: "is required: an RFC 3339 time such as 2026-11-24T10:00:00Z"}
	case e.TS.Before(now.Add(-w.MaxPast)):
		return &FieldError{Field: "ts", Reason: fmt.Sprintf("%s is more than %s in the past", e.TS.UTC().Format(time.RFC3339), human(w.MaxPast))}
	case e.TS.After(now.Add(w.MaxFuture)):
		return &FieldError{Field: "ts", Reason: fmt.Sprintf("%s is more than %s in the future", e.TS.UTC().Format(time.RFC3339), human(w.MaxFuture))}
	}
	if e.FlagVersion < 0 {
		return &FieldError{Field: "flag_version", Reason: fmt.Sprintf("%d is negative", e.FlagVersion)}
	}
	if !exposure && e.FlagVersion != 0 {
		return &FieldError{Field: "flag_version", Reason: "is for exposures only"}
	}
	if e.Weights != nil {
		if !exposure {
			return &FieldError{Field: "weights", Reason: "is for exposures only"}
		}
		if reason := checkWeights(e.Weights, e.Variant); reason != "" {
			return &FieldError{Field: "weights", Reason: reason}
		}
	}
	if e.Control != "" {
		if !exposure {
			return &FieldError{Field: "control", Reason: "is for exposures only: a conversion counts for the variant its user was exposed to"}
		}
		if err := flags.CheckKey(e.Control); err != nil {
			return &FieldError{Field: "control", Reason: "variant name " + err.Error()}
		}
		// The flag's weights and its first variant come from the same flag:
		// a control the weights do not name is a sender's mistake that would
		// make the report compare against an arm nobody can be in.
		if _, ok := e.Weights[e.Control]; e.Weights != nil && !ok {
			return &FieldError{Field: "control", Reason: fmt.Sprintf("%q is not among the exposure's weights", truncate(e.Control))}
		}
	}
	return nil
}

// MaxWeights bounds an exposure's weights (a flag with more variants than
// this is no experiment a report can serve).
const MaxWeights = 100

// checkWeights says what is wrong with an exposure's weights ("" if nothing):
// variant names as flag keys, finite non-negative weights, a positive sum,
// and the exposure's own variant among them.
func checkWeights(ws map[string]float64, variant string) string {
	if len(ws) > MaxWeights {
		return fmt.Sprintf("has %d variants; at most %d", len(ws), MaxWeights)
	}
	sum := 0.0
	for name, w := range ws {
		if err := flags.CheckKey(name); err != nil {
			return fmt.Sprintf("variant %q: %v", truncate(name), err)
		}
		if math.IsNaN(w) || math.IsInf(w, 0) || w < 0 || w > MaxAbsValue {
			return fmt.Sprintf("%s: %v is not a weight (a finite number ≥ 0)", name, w)
		}
		sum += w
	}
	if !(sum > 0) {
		return "sum to 0; at least one variant needs weight"
	}
	if _, ok := ws[variant]; !ok {
		return fmt.Sprintf("do not include the exposure's variant %q", variant)
	}
	return ""
}

// checkID accepts 1–128 bytes of visible ASCII: ULIDs, UUIDs and most
// client-made ids, and nothing that could break a header or a log line.
func checkID(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxIDLen:
		return fmt.Errorf("is %d bytes long, the limit is %d", len(s), MaxIDLen)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("may only hold visible ASCII characters (byte %d is 0x%02x)", i, s[i])
		}
	}
	return nil
}

// reason turns "is empty" into "is required" for a field that must be there.
func reason(err error, required bool) string {
	if s := err.Error(); s != "is empty" || !required {
		return s
	}
	return "is required"
}

// truncate keeps an echoed value short in error messages.
func truncate(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "…"
}

// human prints whole days, hours or minutes as such ("7 days"), else as Go does.
func human(d time.Duration) string {
	unit := func(n time.Duration, name string) string {
		if n == 1 {
			return "1 " + name
		}
		return strconv.FormatInt(int64(n), 10) + " " + name + "s"
	}
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return unit(d/(24*time.Hour), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(d/time.Hour, "hour")
	case d >= time.Minute && d%time.Minute == 0:
		return unit(d/time.Minute, "minute")
	}
	return d.String()
}
