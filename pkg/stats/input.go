package stats

import (
	"errors"
	"fmt"
	"math"
)

// Defaults for the corresponding zero fields of [Input].
const (
	DefaultConfidence       = 0.95
	DefaultSequentialTuning = 5000
	DefaultPower            = 0.8
)

// Input is one metric's counts per variant: the body of POST /v1/stats, and
// what the aggregator's report fills from ClickHouse.
type Input struct {
	// Confidence is 1 − alpha for every test and interval; 0 means 0.95.
	Confidence float64 `json:"confidence,omitempty"`
	// Power is the probability of detecting the minimum detectable effect
	// (mde_rel, mde_abs) and the 10% lift of users_per_arm_10pct; 0 means
	// 0.8.
	Power float64 `json:"power,omitempty"`
	// SequentialTuning is N*, the total sample size at which the sequential
	// test is tuned to be most powerful; 0 means 5000.
	SequentialTuning float64 `json:"sequential_tuning,omitempty"`
	// Weights are the flag's variant weights, in the order of Variants, for
	// the sample-ratio-mismatch check; without them the check is skipped.
	Weights []float64 `json:"weights,omitempty"`
	// Variants holds the counts; the first is the control.
	Variants []Counts `json:"variants"`
}

// Counts are one variant's figures for one metric over a date range.
type Counts struct {
	Variant     string `json:"variant"`
	Users       int64  `json:"users"`       // exposed users
	Converters  int64  `json:"converters"`  // users with at least one conversion
	Conversions int64  `json:"conversions"` // conversion events
	// ValueSum is Σ over users of each user's total value.
	ValueSum float64 `json:"value_sum"`
	// ValueSumSq is Σ over users of the square of each user's total value
	// over the whole range (users who never converted count as 0). Daily
	// sums of squares do not add up to it: (a+b)² ≠ a² + b².
	ValueSumSq float64 `json:"value_sumsq"`
}

var (
	// ErrInvalid is the family of every error [Input.Validate] returns.
	ErrInvalid = errors.New("invalid statistics input")
)

// FieldError names the field of an [Input] at fault and why.
type FieldError struct {
	Field  string // JSON path, e.g. "variants[1].converters"
	Reason string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Reason }

// Unwrap makes every FieldError an [ErrInvalid].
func (e *FieldError) Unwrap() error { return ErrInvalid }

// Validate reports every impossible or malformed field, joined; nil means
// the input is consistent. [Compare] does not require it (it answers any
// input, with warnings), but an API should refuse what Validate refuses.
func (in Input) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Reason: fmt.Sprintf(format, args...)})
	}
	if c := in.Confidence; c != 0 && !(c > 0 && c < 1) {
		bad("confidence", "is %v, want a number between 0 and 1 (0 for the default %v)", c, DefaultConfidence)
	}
	if p := in.Power; p != 0 {
		// A bad confidence has its own error: the default's stands in.
		if err := CheckPower(p, in.Confidence); err != nil {
			bad("power", "%v (0 for the default %v)", err, DefaultPower)
		}
	}
	if t := in.SequentialTuning; t != 0 && !(t > 0 && !math.IsInf(t, 1)) {
		bad("sequential_tuning", "is %v, want a positive number (0 for the default %v)", t, DefaultSequentialTuning)
	}
	if len(in.Variants) == 0 {
		bad("variants", "is empty")
	}
	if reason := weightsProblem(in.Weights, len(in.Variants)); reason != "" {
		bad("weights", "%s", reason)
	}
	seen := make(map[string]int, len(in.Variants))
	for i, c := range in.Variants {
		path := fmt.Sprintf("variants[%d]", i)
		switch j, dup := seen[c.Variant]; {
		case c.Variant == "":
			bad(path+".variant", "is empty")
		case dup:
			bad(path+".variant", "%q repeats variants[%d]", c.Variant, j)
		default:
			seen[c.Variant] = i
		}
		if field, reason := countsProblem(c); field != "" {
			bad(path+"."+field, "%s", reason)
		}
	}
	return errors.Join(errs...)
}

// weightsProblem explains why weights cannot serve the SRM check of n
// variants, or returns "". No weights at all is not a problem.
func weightsProblem(w []float64, n int) string {
	if len(w) == 0 {
		return ""
	}
	if len(w) != n {
		return fmt.Sprintf("has %d entries for %d variants", len(w), n)
	}
	sum := 0.0
	for i, x := range w {
		if !(x >= 0) || math.IsInf(x, 1) {
			return fmt.Sprintf("entry %d is %v, want a non-negative number", i, x)
		}
		sum += x
	}
	if !(sum > 0) || math.IsInf(sum, 1) {
		return "must have a positive, finite sum"
	}
	return ""
}

// relTolSumSq is how far below value_sum²/users value_sumsq may fall from
// rounding in the sums before the pair is called impossible.
const relTolSumSq = 1e-9

// countsProblem returns the first impossible field of c and why, or "", "".
func countsProblem(c Counts) (field, reason string) {
	switch {
	case c.Users < 0:
		return "users", "is negative"
	case c.Converters < 0:
		return "converters", "is negative"
	case c.Converters > c.Users:
		return "converters", fmt.Sprintf("%d exceeds users (%d)", c.Converters, c.Users)
	case c.Conversions < 0:
		return "conversions", "is negative"
	case math.IsNaN(c.ValueSum) || math.IsInf(c.ValueSum, 0):
		return "value_sum", "is not a finite number"
	case !(c.ValueSumSq >= 0) || math.IsInf(c.ValueSumSq, 1):
		return "value_sumsq", "is not a finite, non-negative number"
	case c.Users == 0 && (c.ValueSum != 0 || c.ValueSumSq != 0):
		return "value_sum", "must be 0 when there are no users"
	case c.Users > 0 && c.ValueSumSq < c.ValueSum*(c.ValueSum/float64(c.Users))*(1-relTolSumSq):
		// Σx² ≥ (Σx)²/n for any n numbers (Cauchy–Schwarz).
		return "value_sumsq", "is below value_sum²/users, which no set of per-user values allows; it must be the sum of each user's squared total"
	}
	return "", ""
}
