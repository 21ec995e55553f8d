package report_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/report"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// goldenCase is one report built by report.Build from fixed counts over
// fixed dates (the clock is the package's fixed now), so its table and CSV
// are the same bytes on every run.
type goldenCase struct {
	name   string
	sum    chstore.Summary
	counts []chstore.VariantCounts
	params report.Params
}

func goldenCases() []goldenCase {
	return []goldenCase{
		{
			// 10% against 12% on 5,000 users each: the treatment wins
			// (p ≈ 0.001); control and 50/50 weights come from the flag, so
			// the only warning-free report of the set.
			name: "two_variants_significant",
			sum: chstore.Summary{Key: "checkout", Variants: []string{"control", "treatment"}, FirstDay: "2026-05-01", LastDay: "2026-05-14",
				Metrics: []chstore.Metric{{Name: "purchase", Converters: 1100}}, Weights: map[string]float64{"control": 50, "treatment": 50}, Control: "control"},
			counts: []chstore.VariantCounts{
				{Variant: "control", Users: 5000, Converters: 500, Conversions: 560, ValueSum: 500, ValueSumSq: 560, Multiple: 2},
				{Variant: "treatment", Users: 5000, Converters: 600, Conversions: 690, ValueSum: 600, ValueSumSq: 700, Multiple: 1},
			},
			params: report.Params{Experiment: "checkout", Metric: "purchase", From: day("2026-05-01"), To: day("2026-05-14")},
		},
		{
			// Four variants and one the range never saw: no control and no
			// weights known (control_assumed, srm_weights_assumed), a split
			// far from equal (sample_ratio_mismatch), an arm without users
			// (no_users) and one with a single user (too_few_users); Holm's
			// correction across three comparisons.
			name: "multi_variant_warnings",
			sum: chstore.Summary{Key: "banner", Variants: []string{"blue", "control", "green", "purple", "red"}, FirstDay: "2026-04-20", LastDay: "2026-05-10",
				Metrics: []chstore.Metric{{Name: "click", Converters: 900}}},
			counts: []chstore.VariantCounts{
				{Variant: "control", Users: 3000, Converters: 300, Conversions: 330, ValueSum: 300, ValueSumSq: 330, Multiple: 9},
				{Variant: "blue", Users: 2000, Converters: 260, Conversions: 270, ValueSum: 260, ValueSumSq: 280, Multiple: 5},
				{Variant: "green", Users: 2100, Converters: 230, Conversions: 240, ValueSum: 230, ValueSumSq: 250, Multiple: 3},
				{Variant: "red", Users: 1, Converters: 1, Conversions: 1, ValueSum: 1, ValueSumSq: 1},
			},
			params: report.Params{Experiment: "banner", From: day("2026-04-20"), To: day("2026-05-10")},
		},
		{
			// Revenue per user at confidence 0.9 and power 0.9 (both
			// echoed): the value columns carry the comparison.
			name: "value_metric",
			sum: chstore.Summary{Key: "pricing", Variants: []string{"control", "discount"}, FirstDay: "2026-05-01", LastDay: "2026-05-20",
				Metrics: []chstore.Metric{{Name: "revenue", Converters: 620}}, Weights: map[string]float64{"control": 50, "discount": 50}, Control: "control"},
			counts: []chstore.VariantCounts{
				{Variant: "control", Users: 2000, Converters: 300, Conversions: 420, ValueSum: 15000, ValueSumSq: 1.2e6},
				{Variant: "discount", Users: 2000, Converters: 320, Conversions: 450, ValueSum: 18000, ValueSumSq: 1.5e6},
			},
			params: report.Params{Experiment: "pricing", Metric: "revenue", From: day("2026-05-01"), To: day("2026-05-20"), Confidence: 0.9, Power: 0.9},
		},
		{
			// Figures that cannot be computed: a control without converters
			// or value (zero_baseline, zero_variance: relative lifts null)
			// and a variant with more converters than users (invalid_counts:
			// its rate and every comparison null). Nulls are "-" in the
			// table and empty cells in the CSV.
			name: "nulls_invalid_counts",
			sum: chstore.Summary{Key: "onboarding", Variants: []string{"broken", "control", "tour"}, FirstDay: "2026-05-01", LastDay: "2026-05-07",
				Metrics: []chstore.Metric{{Name: "signup", Converters: 25}}, Weights: map[string]float64{"control": 34, "broken": 33, "tour": 33}, Control: "control"},
			counts: []chstore.VariantCounts{
				{Variant: "control", Users: 400},
				{Variant: "broken", Users: 10, Converters: 12, Conversions: 12, ValueSum: 12, ValueSumSq: 12},
				{Variant: "tour", Users: 390, Converters: 13, Conversions: 13, ValueSum: 13, ValueSumSq: 13},
			},
			params: report.Params{Experiment: "onboarding", Metric: "signup", From: day("2026-05-01"), To: day("2026-05-07")},
		},
	}
}

// TestGolden compares the table (what `aggregate report` prints) and the
// CSV of each case with testdata/<case>.{table,csv}.golden. After a
// deliberate change of the output, `go test ./internal/report -update`
// rewrites them; review the diff before committing it.
func TestGolden(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := report.Build(context.Background(), &fake{sum: tc.sum, counts: tc.counts}, tc.params, now)
			if err != nil {
				t.Fatal(err)
			}
			var table bytes.Buffer
			if err := report.WriteTable(&table, rep); err != nil {
				t.Fatal(err)
			}
			checkGolden(t, tc.name+".table", table.Bytes())

			var out bytes.Buffer
			if err := report.WriteCSV(&out, rep); err != nil {
				t.Fatal(err)
			}
			// -update cannot bless a CSV whose rows do not fit its header.
			rows, err := csv.NewReader(bytes.NewReader(out.Bytes())).ReadAll()
			if err != nil || len(rows) != 1+len(rep.Variants) {
				t.Fatalf("csv: %d rows for %d variants, %v", len(rows), len(rep.Variants), err)
			}
			for i, row := range rows {
				if len(row) != len(report.CSVHeader) {
					t.Errorf("csv row %d has %d cells, the header %d", i, len(row), len(report.CSVHeader))
				}
			}
			checkGolden(t, tc.name+".csv", out.Bytes())
		})
	}
}

// checkGolden compares got with testdata/name.golden, or writes it there
// under -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./internal/report -update writes it)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	line := 0
	for line < len(gotLines) && line < len(wantLines) && gotLines[line] == wantLines[line] {
		line++
	}
	t.Errorf("output differs from %s from line %d on (go test ./internal/report -update rewrites it after a deliberate change)\n--- got:\n%s\n--- want:\n%s",
		path, line+1, got, want)
}
