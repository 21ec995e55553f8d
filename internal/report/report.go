package report

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/pkg/stats"
)

// Source is where a report's counts come from (chstore.Store in
// production).
type Source interface {
	Experiment(ctx context.Context, key string) (chstore.Summary, error)
	Counts(ctx context.Context, key, metric string, from, to time.Time) ([]chstore.VariantCounts, error)
	Daily(ctx context.Context, key, metric string, from, to time.Time) ([]chstore.DayDelta, error)
}

// Warning codes the report adds to those of stats.Compare.
const (
	CodeWeightsAssumed = "srm_weights_assumed" // no weights given or known: equal weights over the variants seen
	CodeWeightsChanged = "srm_weights_changed" // the flag's weights changed during the experiment: the check uses the latest
	CodeNoConversions  = "no_conversions"      // the experiment has no conversions yet: no metric
	// CodeMetricWithoutConversions: the metric asked for has no conversion
	// recorded in the experiment (yet, or a misspelt name): zeros.
	CodeMetricWithoutConversions = "metric_without_conversions"
	// CodeControlAssumed: neither the request nor the exposures name the
	// control (the flag's first variant): it was chosen by name.
	CodeControlAssumed = "control_assumed"
	// CodeControlChanged: the flag's first variant changed between flag
	// versions: the report compares against the latest.
	CodeControlChanged = "control_changed"
)

// Report is the report of DESIGN.md: stats.Compare's result for one metric
// of one experiment over a range of days, with the users left out for
// having seen two variants.
type Report struct {
	Experiment string `json:"experiment"`
	Metric     string `json:"metric"`
	From       string `json:"from"`
	To         string `json:"to"`
	stats.Result
	MultipleExposures int64 `json:"multiple_exposures"`
	// Counts are the inputs Compare was given (the body POST /v1/stats
	// takes), for whoever wants to check the figures elsewhere; not in JSON.
	Counts stats.Input `json:"-"`
}

// resolved is a request with every default filled in.
type resolved struct {
	Params
	// flagWeights are the weights the experiment's exposures carried (see
	// chstore.Summary), used when the request names none.
	flagWeights        map[string]float64
	flagWeightsChanged bool
	// flagControl is the flag's first variant as the exposures carried it
	// (see chstore.Summary), the control when the request names none.
	flagControl        string
	flagControlChanged bool
	variants           []string // report order: control first
	warnings           []stats.Warning
}

// resolve fills in the defaults from what the experiment holds.
func resolve(ctx context.Context, src Source, p Params, now time.Time) (resolved, chstore.Summary, error) {
	r := resolved{Params: p}
	sum, err := src.Experiment(ctx, p.Experiment)
	if err != nil {
		return r, sum, err
	}
	r.flagWeights, r.flagWeightsChanged = sum.Weights, sum.WeightsChanged
	r.flagControl, r.flagControlChanged = sum.Control, sum.ControlChanged
	if r.Metric == "" {
		if len(sum.Metrics) == 0 {
			r.warnings = append(r.warnings, stats.Warning{Code: CodeNoConversions,
				Message: "the experiment has no conversions yet: there is no metric to report, only users"})
		} else {
			r.Metric = sum.Metrics[0].Name
		}
	} else if !slices.ContainsFunc(sum.Metrics, func(m chstore.Metric) bool { return m.Name == r.Metric }) {
		// Day one of an experiment: the metric is valid but nobody has
		// converted yet. Zeros are the true answer; the warning lists what
		// is known, in case the name is misspelt.
		known := make([]string, len(sum.Metrics))
		for i, m := range sum.Metrics {
			known[i] = m.Name
		}
		list := "none yet"
		if len(known) > 0 {
			list = strings.Join(known, ", ")
		}
		r.warnings = append(r.warnings, stats.Warning{Code: CodeMetricWithoutConversions,
			Message: fmt.Sprintf("no conversion of type %q is recorded for %q yet (conversion types with conversions: %s): every variant shows 0 converters; if some were expected, check the name",
				r.Metric, p.Experiment, list)})
	}
	today := dayOf(now)
	if r.To.IsZero() {
		r.To = today
		if sum.Last().After(r.To) {
			r.To = sum.Last()
		}
		if !r.From.IsZero() && r.From.After(r.To) {
			r.To = r.From
		}
	}
	if r.From.IsZero() {
		r.From = sum.First()
		if r.From.IsZero() || r.From.After(r.To) {
			r.From = r.To
		}
		if days(r.From, r.To) > MaxDays {
			r.From = r.To.AddDate(0, 0, -(MaxDays - 1))
		}
	}
	if err := r.checkRange(); err != nil {
		return r, sum, err
	}
	return r, sum, nil
}

// order puts the control first, then the other variants by name.
func (r *resolved) order(seen []string) error {
	set := map[string]bool{}
	for _, v := range seen {
		set[v] = true
	}
	all := make([]string, 0, len(set))
	for v := range set {
		all = append(all, v)
	}
	sort.Strings(all)
	control := r.Control
	switch {
	case control != "" && !set[control]:
		return &ParamError{Param: "control", Reason: fmt.Sprintf("%q is not a variant of %q (variants: %s)", control, r.Experiment, strings.Join(all, ", "))}
	case control != "": // the request's
	case r.flagControl != "" && set[r.flagControl]:
		// The flag's first variant, whatever its name: a flag [old, new]
		// compares new against old.
		control = r.flagControl
		if r.flagControlChanged {
			r.warnings = append(r.warnings, stats.Warning{Code: CodeControlChanged, Fields: []string{"control"},
				Message: fmt.Sprintf("the flag's first variant changed during the experiment: the report compares against the latest, %q (name another with control=)", control)})
		}
	case len(all) > 0:
		rule := "the variant named control"
		if set["control"] {
			control = "control"
		} else {
			control, rule = all[0], "the first variant by name"
		}
		why := "no exposure carried the flag's first variant (flagd sends it; an app may send it as the exposure's control)"
		if r.flagControl != "" {
			why = fmt.Sprintf("the flag's first variant %q has no users in this experiment", r.flagControl)
		}
		r.warnings = append(r.warnings, stats.Warning{Code: CodeControlAssumed, Fields: []string{"control"},
			Message: fmt.Sprintf("%s and the request names none (e.g. control=%s): the control is %q, %s", why, control, control, rule)})
	}
	r.variants = []string{}
	if control != "" {
		r.variants = append(r.variants, control)
	}
	for _, v := range all {
		if v != control {
			r.variants = append(r.variants, v)
		}
	}
	if r.Weights == nil && len(r.variants) > 0 {
		r.useFlagWeights()
	}
	switch {
	case r.Weights == nil && len(r.variants) > 0:
		r.warnings = append(r.warnings, stats.Warning{Code: CodeWeightsAssumed,
			Message: fmt.Sprintf("no weights given (e.g. weights=50,50): the sample-ratio check assumes equal weights over the %d variants seen (%s)",
				len(r.variants), strings.Join(r.variants, ", ")), Fields: []string{"srm"}})
	case r.Weights != nil && len(r.Weights) != len(r.variants):
		return &ParamError{Param: "weights", Reason: fmt.Sprintf("%d weights for %d variants (%s, in this order)",
			len(r.Weights), len(r.variants), strings.Join(r.variants, ", "))}
	}
	return nil
}

// useFlagWeights takes the weights the flag's exposures carried, in report
// order, when they cover every variant seen; a variant they lack (the flag
// changed its variants) leaves the check to the equal-weights assumption.
func (r *resolved) useFlagWeights() {
	if len(r.flagWeights) == 0 {
		return
	}
	ws := make([]float64, len(r.variants))
	var missing []string
	for i, v := range r.variants {
		w, ok := r.flagWeights[v]
		if !ok {
			missing = append(missing, v)
		}
		ws[i] = w
	}
	if len(missing) > 0 {
		r.warnings = append(r.warnings, stats.Warning{Code: CodeWeightsChanged, Fields: []string{"srm"},
			Message: fmt.Sprintf("the flag's latest weights do not name %s: they are not used", strings.Join(missing, ", "))})
		return
	}
	r.Weights = ws
	if r.flagWeightsChanged {
		r.warnings = append(r.warnings, stats.Warning{Code: CodeWeightsChanged, Fields: []string{"srm"},
			Message: "the flag's weights changed during the experiment: the sample-ratio check uses the latest, and a split that changed makes it suspect"})
	}
}

func (r *resolved) weights() []float64 {
	if r.Weights != nil {
		return r.Weights
	}
	w := make([]float64, len(r.variants))
	for i := range w {
		w[i] = 1
	}
	return w
}

// input assembles Compare's input in report order from counts by variant.
func (r *resolved) input(by map[string]chstore.VariantCounts) (stats.Input, int64) {
	in := stats.Input{Confidence: r.Confidence, Power: r.Power, SequentialTuning: r.SequentialTuning, Weights: r.weights(),
		Variants: make([]stats.Counts, len(r.variants))}
	var multiple int64
	for i, v := range r.variants {
		c := by[v]
		in.Variants[i] = stats.Counts{Variant: v, Users: c.Users, Converters: c.Converters, Conversions: c.Conversions,
			ValueSum: c.ValueSum, ValueSumSq: c.ValueSumSq}
		multiple += c.Multiple
	}
	return in, multiple
}

func (r *resolved) compare(in stats.Input) stats.Result {
	res := stats.Compare(in)
	res.Warnings = append(res.Warnings, r.warnings...)
	return res
}

// Build computes the report p asks for. Its errors are ErrInvalid (a bad
// parameter), chstore.ErrNotFound, or the source's. A metric without
// conversions in the experiment is no error: its report shows zeros, with
// a CodeMetricWithoutConversions warning.
func Build(ctx context.Context, src Source, p Params, now time.Time) (Report, error) {
	r, sum, err := resolve(ctx, src, p, now)
	if err != nil {
		return Report{}, err
	}
	counts, err := src.Counts(ctx, r.Experiment, r.Metric, r.From, r.To)
	if err != nil {
		return Report{}, err
	}
	by := map[string]chstore.VariantCounts{}
	seen := append([]string(nil), sum.Variants...)
	for _, c := range counts {
		by[c.Variant] = c
		seen = append(seen, c.Variant)
	}
	if err := r.order(seen); err != nil {
		return Report{}, err
	}
	in, multiple := r.input(by)
	return Report{Experiment: r.Experiment, Metric: r.Metric, From: r.From.Format(time.DateOnly), To: r.To.Format(time.DateOnly),
		Result: r.compare(in), MultipleExposures: multiple, Counts: in}, nil
}

// Daily is the report computed on cumulative counts for every day of the
// range: Days[i] covers [From, From+i]. Each day's sequential p-values are
// the running minimum over the days so far (always valid however often one
// looks); its other figures are that day's.
type Daily struct {
	Experiment       string  `json:"experiment"`
	Metric           string  `json:"metric"`
	From             string  `json:"from"`
	To               string  `json:"to"`
	Confidence       float64 `json:"confidence"`
	Power            float64 `json:"power"`
	Control          string  `json:"control"`
	SequentialTuning float64 `json:"sequential_tuning"`
	Days             []Day   `json:"days"`
}

// Day is one point of the series.
type Day struct {
	Date string `json:"date"`
	stats.Result
	MultipleExposures int64 `json:"multiple_exposures"`
}

// BuildDaily computes the cumulative series p asks for.
func BuildDaily(ctx context.Context, src Source, p Params, now time.Time) (Daily, error) {
	r, sum, err := resolve(ctx, src, p, now)
	if err != nil {
		return Daily{}, err
	}
	deltas, err := src.Daily(ctx, r.Experiment, r.Metric, r.From, r.To)
	if err != nil {
		return Daily{}, err
	}
	seen := append([]string(nil), sum.Variants...)
	byDay := map[string][]chstore.DayDelta{}
	for _, d := range deltas {
		seen = append(seen, d.Variant)
		byDay[d.Day] = append(byDay[d.Day], d)
	}
	if err := r.order(seen); err != nil {
		return Daily{}, err
	}
	cum := map[string]chstore.VariantCounts{}
	var results []stats.Result
	var multiples []int64
	var dates []string
	for d := r.From; !d.After(r.To); d = d.AddDate(0, 0, 1) {
		date := d.Format(time.DateOnly)
		for _, x := range byDay[date] {
			c := cum[x.Variant]
			c.Variant = x.Variant
			c.Users += x.Users
			c.Multiple += x.Multiple
			c.Converters += x.Converters
			c.Conversions += x.Conversions
			c.ValueSum += x.ValueSum
			c.ValueSumSq += x.ValueSumSq
			cum[x.Variant] = c
		}
		in, multiple := r.input(cum)
		results = append(results, r.compare(in))
		multiples = append(multiples, multiple)
		dates = append(dates, date)
	}
	stats.ApplyRunningMin(results)
	out := Daily{Experiment: r.Experiment, Metric: r.Metric, From: r.From.Format(time.DateOnly), To: r.To.Format(time.DateOnly),
		Days: make([]Day, len(results))}
	for i := range results {
		out.Days[i] = Day{Date: dates[i], Result: results[i], MultipleExposures: multiples[i]}
	}
	if len(results) > 0 {
		out.Confidence, out.Power, out.Control, out.SequentialTuning = results[0].Confidence, results[0].Power, results[0].Control, results[0].SequentialTuning
	}
	return out, nil
}

func dayOf(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// IsNotFound reports whether err means the experiment is unknown.
func IsNotFound(err error) bool { return errors.Is(err, chstore.ErrNotFound) }
