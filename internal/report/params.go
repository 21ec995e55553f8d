package report

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flagstream/flagstream/pkg/flags"
	"github.com/flagstream/flagstream/pkg/stats"
)

// ErrInvalid is the family of every parameter error: a caller's mistake.
var ErrInvalid = errors.New("invalid report request")

// ParamError names the parameter at fault and why.
type ParamError struct {
	Param  string
	Reason string
}

func (e *ParamError) Error() string { return e.Param + ": " + e.Reason }

// Unwrap makes every ParamError an ErrInvalid.
func (e *ParamError) Unwrap() error { return ErrInvalid }

// MaxDays is the longest range a report covers, in days (both ends included).
const MaxDays = 366

// Params are what a report is asked for. Zero fields take defaults once the
// experiment is known: the metric with the most converters, from the first
// exposure to today (or the last day with data, if later), confidence 0.95,
// power 0.8, the flag's first variant as the control (as the exposures
// carried it; if none did, the variant named "control", else the first by
// name, with a warning), and the flag's weights (else equal weights) for
// the sample-ratio check.
type Params struct {
	Experiment       string
	Metric           string
	From, To         time.Time // midnight UTC; zero: default
	Confidence       float64
	Power            float64 // of the MDE figures
	SequentialTuning float64
	Control          string
	Weights          []float64 // in the report's variant order (control first)
}

// Known lists the query parameters ParseQuery reads.
var Known = []string{"metric", "from", "to", "confidence", "power", "sequential_tuning", "control", "weights"}

// ParseQuery reads a report request's query parameters: metric, from, to
// (YYYY-MM-DD), confidence, power, sequential_tuning, control and weights
// (e.g. 50,50, in the report's variant order). Each error names its
// parameter.
func ParseQuery(experiment string, q url.Values) (Params, error) {
	p := Params{Experiment: experiment}
	var errs []error
	bad := func(param, format string, args ...any) {
		errs = append(errs, &ParamError{Param: param, Reason: fmt.Sprintf(format, args...)})
	}
	if err := flags.CheckKey(experiment); err != nil {
		bad("experiment", "%v", err)
	}
	for name := range q {
		if !slices.Contains(Known, name) {
			bad(name, "unknown parameter (known: %s)", strings.Join(Known, ", "))
		}
	}
	if v := q.Get("metric"); v != "" {
		if err := flags.CheckKey(v); err != nil {
			bad("metric", "%v", err)
		}
		p.Metric = v
	}
	if v := q.Get("control"); v != "" {
		if err := flags.CheckKey(v); err != nil {
			bad("control", "%v", err)
		}
		p.Control = v
	}
	var err error
	if p.From, err = ParseDay(q.Get("from")); err != nil {
		bad("from", "%v", err)
	}
	if p.To, err = ParseDay(q.Get("to")); err != nil {
		bad("to", "%v", err)
	}
	if v := q.Get("confidence"); v != "" {
		c, err := strconv.ParseFloat(v, 64)
		if err != nil || !(c > 0 && c < 1) {
			bad("confidence", "%q is not a number strictly between 0 and 1 (e.g. 0.95)", v)
		}
		p.Confidence = c
	}
	if v := q.Get("power"); v != "" {
		pw, err := strconv.ParseFloat(v, 64)
		switch {
		case err != nil || !(pw > 0 && pw < 1):
			bad("power", "%q is not a number strictly between 0 and 1 (e.g. 0.8 or 0.9)", v)
		case stats.CheckPower(pw, p.Confidence) != nil:
			// Too low for the formula at this confidence: Compare would
			// silently use the default, so say it here.
			bad("power", "%v", stats.CheckPower(pw, p.Confidence))
		}
		p.Power = pw
	}
	if v := q.Get("sequential_tuning"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || !(n > 0) || math.IsInf(n, 1) {
			bad("sequential_tuning", "%q is not a positive number", v)
		}
		p.SequentialTuning = n
	}
	if v := q.Get("weights"); v != "" {
		for _, part := range strings.Split(v, ",") {
			w, err := strconv.ParseFloat(strings.TrimSpace(part), 64)
			if err != nil || w < 0 || math.IsInf(w, 0) {
				bad("weights", "%q is not a list of non-negative numbers such as 50,50", v)
				break
			}
			p.Weights = append(p.Weights, w)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return Params{}, err
	}
	return p, p.checkRange()
}

var (
	minDay = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	maxDay = time.Date(2100, 12, 31, 0, 0, 0, 0, time.UTC)
)

// ParseDay reads a YYYY-MM-DD day (as midnight UTC); "" is the zero time.
func ParseDay(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not a date of the form YYYY-MM-DD", s)
	}
	if d.Before(minDay) || d.After(maxDay) {
		return time.Time{}, fmt.Errorf("%s is outside %s..%s", s, minDay.Format(time.DateOnly), maxDay.Format(time.DateOnly))
	}
	return d, nil
}

// checkRange refuses an explicit range that is reversed or too long.
func (p Params) checkRange() error {
	if p.From.IsZero() || p.To.IsZero() {
		return nil
	}
	if p.From.After(p.To) {
		return &ParamError{Param: "from", Reason: fmt.Sprintf("%s is after to (%s)", p.From.Format(time.DateOnly), p.To.Format(time.DateOnly))}
	}
	if days(p.From, p.To) > MaxDays {
		return &ParamError{Param: "to", Reason: fmt.Sprintf("the range %s..%s spans %d days; at most %d",
			p.From.Format(time.DateOnly), p.To.Format(time.DateOnly), days(p.From, p.To), MaxDays)}
	}
	return nil
}

// days counts the days of [from, to], both included.
func days(from, to time.Time) int { return int(to.Sub(from).Hours()/24) + 1 }
