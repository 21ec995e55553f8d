package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/pkg/stats"
)

// fake is a Source with fixed figures.
type fake struct {
	sum    chstore.Summary
	counts []chstore.VariantCounts
	deltas []chstore.DayDelta
	asked  [2]time.Time
}

func (f *fake) Experiment(_ context.Context, key string) (chstore.Summary, error) {
	if key != f.sum.Key {
		return chstore.Summary{}, chstore.ErrNotFound
	}
	return f.sum, nil
}

func (f *fake) Counts(_ context.Context, _, _ string, from, to time.Time) ([]chstore.VariantCounts, error) {
	f.asked = [2]time.Time{from, to}
	return f.counts, nil
}

func (f *fake) Daily(_ context.Context, _, _ string, from, to time.Time) ([]chstore.DayDelta, error) {
	f.asked = [2]time.Time{from, to}
	return f.deltas, nil
}

func summary() chstore.Summary {
	s := chstore.Summary{Key: "exp", Variants: []string{"b", "control", "a"}, FirstDay: "2026-05-01", LastDay: "2026-05-20",
		Metrics: []chstore.Metric{{Name: "purchase", Converters: 30}, {Name: "signup", Converters: 10}}}
	return s
}

var now = time.Date(2026, 5, 25, 15, 0, 0, 0, time.UTC)

func day(s string) time.Time { d, _ := time.Parse(time.DateOnly, s); return d }

func TestParseQuery(t *testing.T) {
	for _, tc := range []struct {
		q    string
		want string // "" ok, else the parameter named
	}{
		{"", ""},
		{"metric=purchase&from=2026-05-01&to=2026-05-02&confidence=0.9&weights=50,25,25&control=a", ""},
		{"from=2026-5-1", "from"},
		{"to=2026-02-30", "to"},
		{"from=2026-05-03&to=2026-05-02", "from"},
		{"from=2025-01-01&to=2026-01-02", "to"},
		{"from=2025-01-01&to=2026-01-01", ""}, // 366 days
		{"from=1999-12-31", "from"},
		{"confidence=1", "confidence"},
		{"confidence=abc", "confidence"},
		{"weights=50,-1", "weights"},
		{"metric=a:b", "metric"},
		{"control=x y", "control"},
		{"sequential_tuning=0", "sequential_tuning"},
		{"power=0.9", ""},
		{"power=0.9&confidence=0.99", ""},
		{"power=0", "power"},
		{"power=1", "power"},
		{"power=80", "power"},
		{"power=NaN", "power"},
		{"power=high", "power"},
		{"power=0.02", "power"},                // at or below (1 − 0.95)/2: the formula gives no MDE
		{"power=0.04&confidence=0.9", "power"}, // (1 − 0.9)/2 = 0.05
		{"foo=1", "foo"},
	} {
		q, _ := url.ParseQuery(tc.q)
		_, err := report.ParseQuery("exp", q)
		var pe *report.ParamError
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("ParseQuery(%q) = %v", tc.q, err)
		case tc.want != "" && (!errors.As(err, &pe) || pe.Param != tc.want || !errors.Is(err, report.ErrInvalid)):
			t.Errorf("ParseQuery(%q) = %v, want an error naming %s", tc.q, err, tc.want)
		}
	}
	if _, err := report.ParseQuery("bad key", nil); err == nil {
		t.Error("a bad experiment key was accepted")
	}
}

func TestBuildDefaultsAndOrder(t *testing.T) {
	f := &fake{sum: summary(), counts: []chstore.VariantCounts{
		{Variant: "a", Users: 100, Converters: 10, Conversions: 12, ValueSum: 50, ValueSumSq: 100, Multiple: 1},
		{Variant: "control", Users: 110, Converters: 9, Conversions: 9, ValueSum: 40, ValueSumSq: 90, Multiple: 2},
	}}
	rep, err := report.Build(context.Background(), f, report.Params{Experiment: "exp"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Metric != "purchase" || rep.From != "2026-05-01" || rep.To != "2026-05-25" || f.asked != [2]time.Time{day("2026-05-01"), day("2026-05-25")} {
		t.Errorf("defaults: metric %s %s..%s (asked %v)", rep.Metric, rep.From, rep.To, f.asked)
	}
	var order []string
	for _, v := range rep.Variants {
		order = append(order, v.Variant)
	}
	if strings.Join(order, ",") != "control,a,b" || rep.Control != "control" || rep.MultipleExposures != 3 {
		t.Errorf("variants %v, control %s, multiple %d", order, rep.Control, rep.MultipleExposures)
	}
	if rep.Variants[2].Users != 0 || rep.SRM.ExpectedShare["b"] == 0 {
		t.Errorf("a known variant without users in range: %+v, srm %+v", rep.Variants[2], rep.SRM)
	}
	if !hasWarning(rep.Warnings, report.CodeWeightsAssumed) {
		t.Errorf("no warning about assumed weights: %+v", rep.Warnings)
	}
	// Same numbers as Compare on the counts.
	want := stats.Compare(rep.Counts)
	if rep.Variants[1].VsControl.Rate.PValue != want.Variants[1].VsControl.Rate.PValue {
		t.Error("report figures are not stats.Compare's")
	}

	rep, err = report.Build(context.Background(), f, report.Params{Experiment: "exp", Control: "a", Weights: []float64{40, 40, 20}}, now)
	if err != nil || rep.Control != "a" || rep.Variants[1].Variant != "b" || hasWarning(rep.Warnings, report.CodeWeightsAssumed) {
		t.Errorf("control a: %v %+v", err, rep.Result)
	}
	for _, p := range []report.Params{
		{Experiment: "exp", Weights: []float64{50, 50}},
		{Experiment: "exp", Control: "zzz"},
	} {
		if _, err := report.Build(context.Background(), f, p, now); !errors.Is(err, report.ErrInvalid) {
			t.Errorf("Build(%+v) = %v, want ErrInvalid", p, err)
		}
	}
	if _, err := report.Build(context.Background(), f, report.Params{Experiment: "nope"}, now); !report.IsNotFound(err) {
		t.Errorf("unknown experiment: %v", err)
	}
	// A default range longer than MaxDays starts MaxDays before its end.
	old := summary()
	old.FirstDay = "2024-01-01"
	f.sum = old
	rep, err = report.Build(context.Background(), f, report.Params{Experiment: "exp"}, now)
	if err != nil || rep.From != "2025-05-25" {
		t.Errorf("long default range: from %s, %v", rep.From, err)
	}
}

// buildReport builds the report of experiment "exp" from a summary and
// counts, failing the test on an error.
func buildReport(t *testing.T, sum chstore.Summary, counts []chstore.VariantCounts, p report.Params) report.Report {
	t.Helper()
	p.Experiment = "exp"
	rep, err := report.Build(context.Background(), &fake{sum: sum, counts: counts}, p, now)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func hasWarning(ws []stats.Warning, code string) bool {
	for _, w := range ws {
		if w.Code == code {
			return true
		}
	}
	return false
}

func TestDaily(t *testing.T) {
	f := &fake{sum: summary(), deltas: []chstore.DayDelta{
		{Day: "2026-05-01", Variant: "control", Users: 100, Converters: 10, Conversions: 10, ValueSum: 10, ValueSumSq: 10},
		{Day: "2026-05-01", Variant: "a", Users: 100, Converters: 20, Conversions: 20, ValueSum: 20, ValueSumSq: 20},
		{Day: "2026-05-03", Variant: "a", Users: -1, Multiple: 1, Converters: -1, Conversions: -1, ValueSum: -1, ValueSumSq: -1},
		{Day: "2026-05-03", Variant: "control", Users: 50},
	}}
	d, err := report.BuildDaily(context.Background(), f, report.Params{Experiment: "exp", From: day("2026-05-01"), To: day("2026-05-04")}, now)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Days) != 4 || d.Days[3].Date != "2026-05-04" || d.Control != "control" {
		t.Fatalf("daily: %d days", len(d.Days))
	}
	if u := d.Days[1].Variants[0].Users; u != 100 {
		t.Errorf("day 2 control users %d, want 100 (cumulative)", u)
	}
	if v := d.Days[2].Variants[1]; v.Users != 99 || v.Converters != 19 || d.Days[2].MultipleExposures != 1 {
		t.Errorf("day 3 a: %+v, multiple %d", v, d.Days[2].MultipleExposures)
	}
	var prev stats.Number
	for _, day := range d.Days {
		p := day.Variants[1].VsControl.Rate.SequentialPValue
		if prev.Valid && p.Valid && p.Value > prev.Value {
			t.Errorf("%s: sequential p-value rose %v → %v", day.Date, prev, p)
		}
		prev = p
	}
}

// The CSV leaves the control's comparison columns empty, fills a
// treatment's, and writes a variant without users as 0 users with a null
// (empty) rate. The table's layout is pinned by TestGolden.
func TestCSVCells(t *testing.T) {
	f := &fake{sum: summary(), counts: []chstore.VariantCounts{
		{Variant: "control", Users: 1000, Converters: 100, Conversions: 120, ValueSum: 2500, ValueSumSq: 87169},
		{Variant: "a", Users: 1000, Converters: 130, Conversions: 150, ValueSum: 3000, ValueSumSq: 99000},
	}}
	rep, err := report.Build(context.Background(), f, report.Params{Experiment: "exp", From: day("2026-05-01"), To: day("2026-05-20")}, now)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 4 {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	for i, row := range rows {
		if len(row) != len(report.CSVHeader) {
			t.Errorf("row %d has %d cells, header %d", i, len(row), len(report.CSVHeader))
		}
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	if rows[1][col["variant"]] != "control" || rows[1][col["rate_p_value"]] != "" || rows[2][col["rate_p_value"]] == "" ||
		rows[3][col["users"]] != "0" || rows[3][col["rate"]] != "" {
		t.Errorf("csv rows: %v", rows[1:])
	}
}

// Without weights in the request, the weights the flag's exposures carried
// drive the sample-ratio check: a 60/20/20 split matching them is no
// mismatch; weights that do not cover the variants are not used; weights
// that changed are used with a warning; weights in the request win.
func TestFlagWeights(t *testing.T) {
	counts := []chstore.VariantCounts{{Variant: "control", Users: 6000}, {Variant: "a", Users: 2000}, {Variant: "b", Users: 2000}}
	sum := summary()
	sum.Weights = map[string]float64{"control": 60, "a": 20, "b": 20}
	rep := buildReport(t, sum, counts, report.Params{})
	if rep.SRM.Warn || rep.SRM.ExpectedShare["control"] != 0.6 || hasWarning(rep.Warnings, report.CodeWeightsAssumed) || hasWarning(rep.Warnings, report.CodeWeightsChanged) {
		t.Errorf("flag weights 60/20/20: srm %+v, warnings %+v", rep.SRM, rep.Warnings)
	}
	if rep := buildReport(t, summary(), counts, report.Params{}); !rep.SRM.Warn || !hasWarning(rep.Warnings, report.CodeWeightsAssumed) {
		t.Errorf("no flag weights: a 60/20/20 split against equal weights must warn: %+v", rep.SRM)
	}
	partial := summary()
	partial.Weights = map[string]float64{"control": 60, "a": 40}
	if rep := buildReport(t, partial, counts, report.Params{}); !hasWarning(rep.Warnings, report.CodeWeightsChanged) || !hasWarning(rep.Warnings, report.CodeWeightsAssumed) {
		t.Errorf("weights without b: warnings %+v", rep.Warnings)
	}
	changed := sum
	changed.WeightsChanged = true
	if rep := buildReport(t, changed, counts, report.Params{}); rep.SRM.Warn || !hasWarning(rep.Warnings, report.CodeWeightsChanged) {
		t.Errorf("changed weights: srm %+v, warnings %+v", rep.SRM, rep.Warnings)
	}
	if rep := buildReport(t, sum, counts, report.Params{Weights: []float64{1, 1, 1}}); !rep.SRM.Warn || rep.SRM.ExpectedShare["control"] == 0.6 {
		t.Errorf("weights in the request must win over the flag's: %+v", rep.SRM)
	}
}

// The control is the flag's first variant as the exposures carried it, not
// the variant named "control" nor the first by name: a flag [old, new]
// compares new against old. A control in the request wins; without either,
// the old rule stands with a control_assumed warning saying how it chose.
func TestFlagControl(t *testing.T) {
	counts := []chstore.VariantCounts{{Variant: "new", Users: 1000, Converters: 120}, {Variant: "old", Users: 1000, Converters: 100}}
	sum := summary()
	sum.Variants = []string{"new", "old"}
	sum.Weights = map[string]float64{"old": 90, "new": 10}
	sum.Control = "old"
	rep := buildReport(t, sum, counts, report.Params{})
	if rep.Control != "old" || rep.Variants[0].Variant != "old" || rep.Variants[1].VsControl == nil ||
		hasWarning(rep.Warnings, report.CodeControlAssumed) || hasWarning(rep.Warnings, report.CodeControlChanged) {
		t.Fatalf("flag [old, new]: control %q, variants %+v, warnings %+v", rep.Control, rep.Variants, rep.Warnings)
	}
	// new converts 12% against old's 10%: a positive lift, not a negative one.
	if l := rep.Variants[1].VsControl.Rate.AbsLift; !l.Valid || l.Value <= 0 {
		t.Errorf("new vs old: abs lift %v, want +0.02", l)
	}
	// The flag's weights follow the control's order: 90 for old.
	if rep.SRM.ExpectedShare["old"] != 0.9 {
		t.Errorf("srm expected share %v", rep.SRM.ExpectedShare)
	}
	if rep := buildReport(t, sum, counts, report.Params{Control: "new"}); rep.Control != "new" || hasWarning(rep.Warnings, report.CodeControlAssumed) {
		t.Errorf("control=new in the request: %q, %+v", rep.Control, rep.Warnings)
	}
	changed := sum
	changed.ControlChanged = true
	if rep := buildReport(t, changed, counts, report.Params{}); rep.Control != "old" || !hasWarning(rep.Warnings, report.CodeControlChanged) {
		t.Errorf("control changed between versions: %q, %+v", rep.Control, rep.Warnings)
	}
	// Exposures stored before they carried a control: the old rule, said.
	none := sum
	none.Control = ""
	rep = buildReport(t, none, counts, report.Params{})
	if w := warning(rep.Warnings, report.CodeControlAssumed); rep.Control != "new" || w == nil || !strings.Contains(w.Message, "first variant by name") {
		t.Errorf("no control known: %q, %+v", rep.Control, rep.Warnings)
	}
	named := summary() // variants b, control, a
	rep = buildReport(t, named, counts, report.Params{})
	if w := warning(rep.Warnings, report.CodeControlAssumed); rep.Control != "control" || w == nil || !strings.Contains(w.Message, "named control") {
		t.Errorf("no control known, a variant named control: %q, %+v", rep.Control, rep.Warnings)
	}
	// A control the flag names but nobody was exposed to cannot be compared
	// against: the old rule, with the reason.
	gone := sum
	gone.Control = "older"
	if w := warning(buildReport(t, gone, counts, report.Params{}).Warnings, report.CodeControlAssumed); w == nil || !strings.Contains(w.Message, `"older"`) {
		t.Errorf("control without users: %+v", w)
	}
	// /daily uses the same control.
	d, err := report.BuildDaily(context.Background(), &fake{sum: sum, deltas: []chstore.DayDelta{{Day: "2026-05-01", Variant: "new", Users: 10}, {Day: "2026-05-01", Variant: "old", Users: 10}}},
		report.Params{Experiment: "exp", From: day("2026-05-01"), To: day("2026-05-02")}, now)
	if err != nil || d.Control != "old" || d.Days[1].Variants[0].Variant != "old" {
		t.Errorf("daily: control %q, %v", d.Control, err)
	}
}

// A metric no user has converted on yet is day one of an experiment, not a
// bad request: zeros for every variant, with a warning that lists the known
// metrics (in case of a typo). Report and daily alike.
func TestMetricWithoutConversions(t *testing.T) {
	f := &fake{sum: summary(), counts: []chstore.VariantCounts{{Variant: "control", Users: 100}, {Variant: "a", Users: 90}, {Variant: "b", Users: 95}}}
	rep, err := report.Build(context.Background(), f, report.Params{Experiment: "exp", Metric: "refund"}, now)
	if err != nil {
		t.Fatalf("a metric without conversions: %v", err)
	}
	w := warning(rep.Warnings, report.CodeMetricWithoutConversions)
	if rep.Metric != "refund" || len(rep.Variants) != 3 || w == nil || !strings.Contains(w.Message, "purchase, signup") {
		t.Fatalf("report %+v", rep)
	}
	for _, v := range rep.Variants {
		if v.Users == 0 || v.Converters != 0 || v.Conversions != 0 || !v.Rate.Valid || v.Rate.Value != 0 {
			t.Errorf("%s: %+v, want its users with 0 converters", v.Variant, v)
		}
	}
	var csvOut bytes.Buffer
	if err := report.WriteCSV(&csvOut, rep); err != nil || !strings.Contains(csvOut.String(), report.CodeMetricWithoutConversions) {
		t.Errorf("csv lacks the warning (%v):\n%s", err, csvOut.String())
	}
	var table bytes.Buffer
	if err := report.WriteTable(&table, rep); err != nil || !strings.Contains(table.String(), report.CodeMetricWithoutConversions) {
		t.Errorf("table lacks the warning (%v):\n%s", err, table.String())
	}
	d, err := report.BuildDaily(context.Background(), f, report.Params{Experiment: "exp", Metric: "refund", From: day("2026-05-01"), To: day("2026-05-02")}, now)
	if err != nil || !hasWarning(d.Days[1].Warnings, report.CodeMetricWithoutConversions) {
		t.Errorf("daily: %v %+v", err, d)
	}
	// An experiment with no conversions at all says "none yet".
	f.sum.Metrics = []chstore.Metric{}
	rep, err = report.Build(context.Background(), f, report.Params{Experiment: "exp", Metric: "purchase"}, now)
	if w := warning(rep.Warnings, report.CodeMetricWithoutConversions); err != nil || w == nil || !strings.Contains(w.Message, "none yet") {
		t.Errorf("no conversions at all: %v %+v", err, rep.Warnings)
	}
}

// The power of the MDE figures comes from the request (default 0.8), is
// echoed, and reaches stats.Compare: at 0.9 the MDE is k(0.9)/k(0.8) times
// the default's (hand-checked figures in pkg/stats TestPowerInput).
func TestPower(t *testing.T) {
	f := &fake{sum: summary(), counts: []chstore.VariantCounts{
		{Variant: "control", Users: 1000, Converters: 100}, {Variant: "a", Users: 1000, Converters: 120}, {Variant: "b", Users: 1000, Converters: 110}}}
	def, err := report.Build(context.Background(), f, report.Params{Experiment: "exp", Metric: "purchase"}, now)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := report.Build(context.Background(), f, report.Params{Experiment: "exp", Metric: "purchase", Power: 0.9}, now)
	if err != nil {
		t.Fatal(err)
	}
	if def.Power != 0.8 || rep.Power != 0.9 || rep.Counts.Power != 0.9 {
		t.Errorf("power echoed: default %v, asked 0.9: %v (input %v)", def.Power, rep.Power, rep.Counts.Power)
	}
	if m := rep.Variants[1].VsControl.Rate.MDEAbs; math.Abs(m.Value-0.0434894947) > 1e-10 {
		t.Errorf("mde_abs at power 0.9 = %v, want 0.0434894947 (k = 3.2415155500846544 × √0.00018)", m)
	}
	if m := def.Variants[1].VsControl.Rate.MDEAbs; math.Abs(m.Value-0.0375872100) > 1e-10 {
		t.Errorf("mde_abs at the default power = %v, want 0.0375872100", m)
	}
	var buf bytes.Buffer
	if err := report.WriteCSV(&buf, rep); err != nil {
		t.Fatal(err)
	}
	rows, _ := csv.NewReader(&buf).ReadAll()
	if col := slices.Index(report.CSVHeader, "power"); col < 0 || rows[1][col] != "0.9" {
		t.Errorf("csv power column: %v", rows[:2])
	}
	d, err := report.BuildDaily(context.Background(), f, report.Params{Experiment: "exp", Metric: "purchase", Power: 0.9, From: day("2026-05-01"), To: day("2026-05-01")}, now)
	if err != nil || d.Power != 0.9 || d.Days[0].Power != 0.9 {
		t.Errorf("daily power: %v %v", d.Power, err)
	}
}

func warning(ws []stats.Warning, code string) *stats.Warning {
	for i := range ws {
		if ws[i].Code == code {
			return &ws[i]
		}
	}
	return nil
}
