package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/stats"
)

// scenario holds hand-written events whose effect is easy to state:
// alice converts once before her exposure (not counted) and once without
// naming an experiment (counted in both experiments she saw, at 12.34).
func scenario() []events.Event {
	at := func(d, h int) time.Time { return day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	v := func(x float64) *float64 { return &x }
	return []events.Event{
		{ID: "s-1", Type: events.TypeExposure, Experiment: "exp_c", Variant: "control", UserID: "alice", TS: at(1, 10)},
		{ID: "s-2", Type: events.TypeConversion, Experiment: "exp_c", UserID: "alice", ConversionType: "purchase", Value: v(20), TS: at(1, 9)},
		{ID: "s-3", Type: events.TypeConversion, UserID: "alice", ConversionType: "purchase", Value: v(12.34), TS: at(1, 11)},
		{ID: "s-4", Type: events.TypeExposure, Experiment: "exp_d", Variant: "b", UserID: "alice", TS: at(1, 10)},
		{ID: "s-5", Type: events.TypeExposure, Experiment: "exp_c", Variant: "treatment", UserID: "bob", TS: at(2, 10)},
		{ID: "s-6", Type: events.TypeExposure, Experiment: "exp_d", Variant: "a", UserID: "bob", TS: at(2, 10)},
	}
}

// Events in, report out: exact against what was sent, through a redelivered
// batch; the report, its CSV, the CLI and /daily agree; POST /v1/stats on
// the report's counts answers the report's statistics.
func TestReportExact(t *testing.T) {
	p := newPipeline(t, "")
	p.env["FLAGSTREAM_BATCH"] = "700"
	rng := rand.New(rand.NewPCG(11, 12))
	all := append(chstoretest.Workload(rng, 500, day0, "w-"), scenario()...)
	rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] }) // conversions overtake exposures
	p.publish(t, all, byID)
	svc := startAggregate(t, p.env)
	p.drained(t, 2*time.Minute)

	last := day0.AddDate(0, 0, 7)
	check := func() {
		t.Helper()
		checkWorkload(t, svc, all)
		checkExact(t, svc, all, "exp_a", "purchase", day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 4))
		checkExact(t, svc, all, "exp_c", "purchase", day0, last)
		checkExact(t, svc, all, "exp_d", "purchase", day0, last)
	}
	check()
	// The hand-written facts, spelled out.
	q := url.Values{"metric": {"purchase"}, "from": {day0.Format(time.DateOnly)}, "to": {last.Format(time.DateOnly)}}
	for _, exp := range []string{"exp_c", "exp_d"} {
		rep, body := getReport(t, svc, exp, q)
		var found bool
		for _, v := range rep.Variants {
			if v.Converters == 1 {
				found = true
				if v.Conversions != 1 || deref(v.ValueSum) != 12.34 {
					t.Errorf("%s: alice's variant %+v, want one conversion of 12.34 (the one before her exposure not counted)", exp, v)
				}
			}
		}
		if !found {
			t.Errorf("%s: the conversion without an experiment was not attributed: %s", exp, body)
		}
	}

	// Every event again, as new messages (new message ids, so JetStream's
	// own dedup does not catch them): nothing changes.
	q = url.Values{"metric": {"purchase"}, "from": {day0.Format(time.DateOnly)}, "to": {last.Format(time.DateOnly)}}
	_, before := getReport(t, svc, "exp_a", q)
	p.publish(t, all[:len(all)/2], func(e *events.Event) string { return "again-" + e.ID })
	p.drained(t, 2*time.Minute)
	_, after := getReport(t, svc, "exp_a", q)
	if !jsonEqual(t, before, after) {
		t.Errorf("report changed after a redelivered batch:\nbefore %s\nafter  %s", before, after)
	}
	check()

	// JSON, CSV and the CLI agree.
	agree(t, svc, "exp_a", q)
	// /daily's last day is the report; p-values only go down.
	daily(t, svc, "exp_a", q)
	// POST /v1/stats on the report's counts gives the report's statistics.
	statsAgree(t, svc, all, "exp_a", q)

	m := svc.Do(t, "GET", "/metrics", nil)
	for _, name := range []string{"flagstream_aggregate_events_acked_total", "flagstream_aggregate_refresh_seconds", "flagstream_aggregate_rows_inserted_total"} {
		if !contains(m.Body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	list := svc.Expect(t, 200, "GET", "/v1/experiments", nil)
	if exps, _ := list["experiments"].([]any); len(exps) != 4 {
		t.Errorf("/v1/experiments = %v, want 4 experiments", list)
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}

// agree checks that the report's JSON, its CSV and the CLI's JSON, CSV and
// table say the same.
func agree(t *testing.T, svc *procs.Service, exp string, q url.Values) {
	t.Helper()
	_, body := getReport(t, svc, exp, q)
	var rep report.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	r := svc.Do(t, "GET", "/v1/experiments/"+exp+"/report.csv?"+q.Encode(), nil)
	if r.Status != 200 || r.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("report.csv = %d %s %s", r.Status, r.Header.Get("Content-Type"), r.Body)
	}
	var want bytes.Buffer
	if err := report.WriteCSV(&want, rep); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(r.Body, want.Bytes()) {
		t.Errorf("report.csv differs from the JSON report:\n%s\nwant\n%s", r.Body, want.Bytes())
	}
	rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
	if err != nil || len(rows) != 1+len(rep.Variants) || !reflect.DeepEqual(rows[0], report.CSVHeader) {
		t.Fatalf("report.csv: %d rows, %v", len(rows), err)
	}
	col := func(name string) int { return slices.Index(report.CSVHeader, name) }
	for i, v := range rep.Variants {
		row := rows[i+1]
		if row[col("variant")] != v.Variant || row[col("users")] != strconv.FormatInt(v.Users, 10) || row[col("control")] != rep.Control {
			t.Errorf("csv row %d = %v, want variant %s with %d users, control %s", i+1, row[:9], v.Variant, v.Users, rep.Control)
		}
		if v.Rate.Valid {
			if got, _ := strconv.ParseFloat(row[col("rate")], 64); got != v.Rate.Value {
				t.Errorf("csv rate %s, json %v", row[col("rate")], v.Rate.Value)
			}
		}
	}

	cli := func(format string) []byte {
		t.Helper()
		var out bytes.Buffer
		args := []string{"report", exp, "--format", format}
		for _, name := range report.Known { // every parameter the request has, as a flag
			if v := q.Get(name); v != "" {
				args = append(args, "--"+strings.ReplaceAll(name, "_", "-"), v)
			}
		}
		if err := run(context.Background(), args, envFunc(svc.Env), &out); err != nil {
			t.Fatalf("aggregate %v: %v", args, err)
		}
		return out.Bytes()
	}
	if got := cli("json"); !jsonEqual(t, got, body) {
		t.Errorf("CLI json differs from the service's:\n%s\nwant\n%s", got, body)
	}
	if got := cli("csv"); !bytes.Equal(got, r.Body) {
		t.Errorf("CLI csv differs from the service's:\n%s\nwant\n%s", got, r.Body)
	}
	table := cli("table")
	for _, v := range rep.Variants {
		if !contains(table, v.Variant) || !contains(table, strconv.FormatInt(v.Users, 10)) {
			t.Errorf("CLI table lacks %s with %d users:\n%s", v.Variant, v.Users, table)
		}
	}
}

// daily checks /daily against the report: its last day is the report's
// figures, and the sequential p-values never rise.
func daily(t *testing.T, svc *procs.Service, exp string, q url.Values) {
	t.Helper()
	_, body := getReport(t, svc, exp, q)
	var rep report.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	r := svc.Do(t, "GET", "/v1/experiments/"+exp+"/daily?"+q.Encode(), nil)
	if r.Status != 200 {
		t.Fatalf("daily = %d %s", r.Status, r.Body)
	}
	var d report.Daily
	if err := json.Unmarshal(r.Body, &d); err != nil {
		t.Fatal(err)
	}
	from, _ := time.Parse(time.DateOnly, q.Get("from"))
	to, _ := time.Parse(time.DateOnly, q.Get("to"))
	if len(d.Days) != int(to.Sub(from).Hours()/24)+1 || d.Days[0].Date != q.Get("from") {
		t.Fatalf("daily has %d days from %s", len(d.Days), d.Days[0].Date)
	}
	lastDay := d.Days[len(d.Days)-1]
	if lastDay.MultipleExposures != rep.MultipleExposures || len(lastDay.Variants) != len(rep.Variants) {
		t.Fatalf("daily's last day %+v, report %+v", lastDay, rep.Result)
	}
	for i, v := range lastDay.Variants {
		w := rep.Variants[i]
		if v.Variant != w.Variant || v.Users != w.Users || v.Converters != w.Converters || v.Conversions != w.Conversions ||
			!approx(v.ValueSum, w.ValueSum) || !approx(v.ValueVariance, w.ValueVariance) || !approx(v.Rate, w.Rate) {
			t.Errorf("daily's last day %+v, report %+v", v, w)
		}
	}
	prev := map[string]float64{}
	for _, day := range d.Days {
		var users int64
		for _, v := range day.Variants {
			users += v.Users
			if v.VsControl == nil || !v.VsControl.Rate.SequentialPValue.Valid {
				continue
			}
			p := v.VsControl.Rate.SequentialPValue.Value
			if old, ok := prev[v.Variant]; ok && p > old {
				t.Errorf("%s: sequential p-value rose from %v to %v", day.Date, old, p)
			}
			prev[v.Variant] = p
		}
		if day.Date > q.Get("from") && users == 0 {
			t.Errorf("%s: no users", day.Date)
		}
	}
}

func approx(a, b stats.Number) bool {
	if a.Valid != b.Valid {
		return false
	}
	return !a.Valid || math.Abs(a.Value-b.Value) <= 1e-9*math.Max(1, math.Abs(b.Value))
}

// statsAgree posts the report's counts (from the reference) to /v1/stats:
// the answer is stats.Compare's, and the report's figures.
func statsAgree(t *testing.T, svc *procs.Service, all []events.Event, exp string, q url.Values) {
	t.Helper()
	from, _ := time.Parse(time.DateOnly, q.Get("from"))
	to, _ := time.Parse(time.DateOnly, q.Get("to"))
	want := chstoretest.Expected(all, exp, q.Get("metric"), from, to)
	in := stats.Input{Confidence: 0.95, Weights: make([]float64, len(want))}
	for i, c := range want { // control first: "control" sorts before "treatment"
		in.Variants = append(in.Variants, stats.Counts{Variant: c.Variant, Users: c.Users, Converters: c.Converters,
			Conversions: c.Conversions, ValueSum: c.ValueSum, ValueSumSq: c.ValueSumSq})
		in.Weights[i] = 50
	}
	r := svc.Do(t, "POST", "/v1/stats", in)
	if r.Status != 200 {
		t.Fatalf("POST /v1/stats = %d %s", r.Status, r.Body)
	}
	local, _ := json.Marshal(stats.Compare(in))
	if !jsonEqual(t, r.Body, local) {
		t.Errorf("POST /v1/stats differs from stats.Compare:\n%s\nwant\n%s", r.Body, local)
	}
	var res stats.Result
	if err := json.Unmarshal(r.Body, &res); err != nil {
		t.Fatal(err)
	}
	_, body := getReport(t, svc, exp, q)
	var rep report.Report
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if len(res.Variants) != len(rep.Variants) {
		t.Fatalf("stats %d variants, report %d", len(res.Variants), len(rep.Variants))
	}
	for i := range res.Variants {
		a, b := res.Variants[i], rep.Variants[i]
		if a.Users != b.Users || !approx(a.Rate, b.Rate) || !approx(a.ValueVariance, b.ValueVariance) {
			t.Errorf("stats %+v, report %+v", a, b)
		}
		if a.VsControl != nil && (!approx(a.VsControl.Rate.PValue, b.VsControl.Rate.PValue) || !approx(a.VsControl.Value.PValue, b.VsControl.Value.PValue)) {
			t.Errorf("stats p-values %v %v, report %v %v", a.VsControl.Rate.PValue, a.VsControl.Value.PValue, b.VsControl.Rate.PValue, b.VsControl.Value.PValue)
		}
	}
	if !approx(res.SRM.PValue, rep.SRM.PValue) {
		t.Errorf("stats srm %v, report %v", res.SRM.PValue, rep.SRM.PValue)
	}
}

// oldNew is a flag [old, new] as flagd exposes it: every exposure carries
// the flag's first variant, old, as its control ("new" sorts first). new
// converts 10 of 20, old 5 of 20. legacy is the same experiment as stored
// before exposures carried a control.
func oldNew() []events.Event {
	at := func(i int) time.Time { return day0.Add(time.Duration(10+i) * time.Hour) }
	var evs []events.Event
	for _, exp := range []string{"redesign", "legacy"} {
		for i := range 40 {
			user := fmt.Sprintf("%s-u%02d", exp, i)
			variant := []string{"old", "new"}[i%2]
			e := events.Event{ID: user + "-x", Type: events.TypeExposure, Experiment: exp, Variant: variant, UserID: user,
				TS: at(i), FlagVersion: 2, Weights: map[string]float64{"old": 50, "new": 50}}
			if exp == "redesign" {
				e.Control = "old"
			}
			evs = append(evs, e)
			if variant == "new" && i%4 == 1 || variant == "old" && i%8 == 0 {
				evs = append(evs, events.Event{ID: user + "-c", Type: events.TypeConversion, Experiment: exp, UserID: user,
					ConversionType: "purchase", TS: at(i).Add(time.Hour)})
			}
		}
	}
	return evs
}

// Over HTTP, the CSV, /daily and the CLI: the control is the flag's first
// variant (old), not the first by name; without one known the old rule
// stands with control_assumed; a metric nobody converted on yet answers
// zeros with metric_without_conversions; power reaches the MDE and is
// echoed.
func TestControlDayOneAndPower(t *testing.T) {
	p := newPipeline(t, "")
	all := oldNew()
	p.publish(t, all, byID)
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)
	q := url.Values{"metric": {"purchase"}, "from": {day0.Format(time.DateOnly)}, "to": {day0.AddDate(0, 0, 3).Format(time.DateOnly)}}

	var rep report.Report
	_, body := getReport(t, svc, "redesign", q)
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Control != "old" || rep.Variants[0].Variant != "old" || hasCode(rep.Warnings, report.CodeControlAssumed) {
		t.Fatalf("flag [old, new]: control %q, warnings %+v: %s", rep.Control, rep.Warnings, body)
	}
	if c := rep.Variants[1].VsControl; c == nil || c.Rate.AbsLift.Value != 0.25 || rep.Variants[1].Converters != 10 {
		t.Errorf("new against old: %+v, want +0.25 (0.5 − 0.25)", rep.Variants[1])
	}
	agree(t, svc, "redesign", q) // CSV and CLI: the same control
	daily(t, svc, "redesign", q)
	d := svc.Expect(t, 200, "GET", "/v1/experiments/redesign/daily?"+q.Encode(), nil)
	if d["control"] != "old" {
		t.Errorf("daily control %v", d["control"])
	}
	legacy, body := getReport(t, svc, "legacy", q)
	if legacy.Control != "new" || !hasCodeJSON(legacy.Warnings, report.CodeControlAssumed) {
		t.Errorf("no control carried: control %q, want new (the first by name) with %s: %s", legacy.Control, report.CodeControlAssumed, body)
	}

	// Day one of a metric: zeros, a warning, everywhere.
	refund := url.Values{"metric": {"refund"}, "from": q["from"], "to": q["to"]}
	zero, body := getReport(t, svc, "redesign", refund)
	if len(zero.Variants) != 2 || !hasCodeJSON(zero.Warnings, report.CodeMetricWithoutConversions) {
		t.Fatalf("metric without conversions: %s", body)
	}
	for _, v := range zero.Variants {
		if v.Users != 20 || v.Converters != 0 || v.Conversions != 0 {
			t.Errorf("metric without conversions, %s: %+v, want 20 users, 0 converters", v.Variant, v)
		}
	}
	agree(t, svc, "redesign", refund)
	daily(t, svc, "redesign", refund)
	if r := svc.Do(t, "GET", "/v1/experiments/redesign/report.csv?"+refund.Encode(), nil); r.Status != 200 || !contains(r.Body, report.CodeMetricWithoutConversions) {
		t.Errorf("report.csv for a metric without conversions: %d %s", r.Status, r.Body)
	}
	var out bytes.Buffer
	if err := run(context.Background(), []string{"report", "redesign", "--metric", "refund"}, envFunc(svc.Env), &out); err != nil ||
		!contains(out.Bytes(), report.CodeMetricWithoutConversions) {
		t.Errorf("CLI table for a metric without conversions (%v):\n%s", err, out.String())
	}
	out.Reset() // the experiment after the flags works too
	if err := run(context.Background(), []string{"report", "--metric", "refund", "redesign"}, envFunc(svc.Env), &out); err != nil ||
		!contains(out.Bytes(), report.CodeMetricWithoutConversions) {
		t.Errorf("CLI with the experiment after the flags (%v):\n%s", err, out.String())
	}

	// Power 0.9: old converts 5 of 20 (σ² = 0.1875), new has 20 users:
	// mde_abs = 3.2415155500846544 × √(0.1875 × (1/20 + 1/20)) = 3.2415155500846544 × 0.13693063937629152 = 0.4438627968…
	q9 := url.Values{"power": {"0.9"}, "metric": q["metric"], "from": q["from"], "to": q["to"]}
	_, body = getReport(t, svc, "redesign", q9)
	var rep9 report.Report
	if err := json.Unmarshal(body, &rep9); err != nil {
		t.Fatal(err)
	}
	if m := rep9.Variants[1].VsControl.Rate.MDEAbs; rep9.Power != 0.9 || math.Abs(m.Value-0.4438627968) > 1e-9 {
		t.Errorf("power 0.9: power %v, mde_abs %v, want 0.4438627968", rep9.Power, m)
	}
	if rep.Power != 0.8 || rep.Variants[1].VsControl.Rate.MDEAbs.Value >= rep9.Variants[1].VsControl.Rate.MDEAbs.Value {
		t.Errorf("default power %v: mde %v not below power 0.9's", rep.Power, rep.Variants[1].VsControl.Rate.MDEAbs)
	}
	agree(t, svc, "redesign", q9) // the CSV's power column, the CLI's --power
	daily(t, svc, "redesign", q9)
	if d := svc.Expect(t, 200, "GET", "/v1/experiments/redesign/daily?"+q9.Encode(), nil); d["power"] != 0.9 {
		t.Errorf("daily power %v", d["power"])
	}
	// POST /v1/stats takes power too (hand-checked in pkg/stats TestPowerInput).
	res := svc.Expect(t, 200, "POST", "/v1/stats", `{"power":0.9,"variants":[{"variant":"a","users":1000,"converters":100},{"variant":"b","users":1000,"converters":120}]}`)
	var sr stats.Result
	b, _ := json.Marshal(res)
	if err := json.Unmarshal(b, &sr); err != nil {
		t.Fatal(err)
	}
	if m := sr.Variants[1].VsControl.Rate.MDEAbs; sr.Power != 0.9 || math.Abs(m.Value-0.0434894947) > 1e-10 {
		t.Errorf("POST /v1/stats power 0.9: power %v, mde_abs %v, want 0.0434894947", sr.Power, m)
	}
}

func hasCode(ws []stats.Warning, code string) bool {
	return slices.ContainsFunc(ws, func(w stats.Warning) bool { return w.Code == code })
}

func hasCodeJSON(ws []struct {
	Code string `json:"code"`
}, code string) bool {
	for _, w := range ws {
		if w.Code == code {
			return true
		}
	}
	return false
}
