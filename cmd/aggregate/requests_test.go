package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/pkg/stats"
)

// Bad requests get a 4xx naming what is wrong; parameters reach SQL only as
// bound parameters, after validation.
func TestBadRequests(t *testing.T) {
	p := newPipeline(t, "")
	all := chstoretest.Workload(rand.New(rand.NewPCG(3, 3)), 30, day0, "b-")
	p.publish(t, all, byID)
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)
	d := func(n int) string { return day0.AddDate(0, 0, n).Format(time.DateOnly) }
	cases := []struct {
		name, method, path string
		body               any
		status             int
		want               string
	}{
		{"unknown experiment", "GET", "/v1/experiments/nope/report", nil, 404, "nope"},
		{"unknown experiment csv", "GET", "/v1/experiments/nope/report.csv", nil, 404, "nope"},
		{"unknown experiment daily", "GET", "/v1/experiments/nope/daily", nil, 404, "nope"},
		{"invalid key", "GET", "/v1/experiments/" + url.PathEscape("x' OR 1=1 --") + "/report", nil, 400, "experiment"},
		{"bad from", "GET", "/v1/experiments/exp_a/report?from=2026-13-01", nil, 400, "from"},
		{"bad to", "GET", "/v1/experiments/exp_a/report?to=yesterday", nil, 400, "to"},
		{"reversed", "GET", "/v1/experiments/exp_a/report?from=" + d(3) + "&to=" + d(1), nil, 400, "after to"},
		{"too long", "GET", "/v1/experiments/exp_a/report?from=2024-01-01&to=2026-01-01", nil, 400, "366"},
		{"metric not a name", "GET", "/v1/experiments/exp_a/report?metric=" + url.QueryEscape("re fund"), nil, 400, "metric"},
		{"metric injection", "GET", "/v1/experiments/exp_a/report?metric=" + url.QueryEscape("a' OR '1'='1"), nil, 400, "metric"},
		{"bad confidence", "GET", "/v1/experiments/exp_a/report?confidence=95", nil, 400, "confidence"},
		{"weights count", "GET", "/v1/experiments/exp_a/report?weights=50,25,25", nil, 400, "weights"},
		{"bad weights", "GET", "/v1/experiments/exp_a/report?weights=a,b", nil, 400, "weights"},
		{"unknown control", "GET", "/v1/experiments/exp_a/report?control=zzz", nil, 400, "control"},
		{"unknown parameter", "GET", "/v1/experiments/exp_a/report?metrc=purchase", nil, 400, "metrc"},
		{"daily bad dates", "GET", "/v1/experiments/exp_a/daily?from=" + d(3) + "&to=" + d(1), nil, 400, "from"},
		{"csv metric not a name", "GET", "/v1/experiments/exp_a/report.csv?metric=a:b", nil, 400, "metric"},
		{"daily metric not a name", "GET", "/v1/experiments/exp_a/daily?metric=a:b", nil, 400, "metric"},
		{"power above 1", "GET", "/v1/experiments/exp_a/report?power=80", nil, 400, "power"},
		{"power 0", "GET", "/v1/experiments/exp_a/report?power=0", nil, 400, "power"},
		{"power not a number", "GET", "/v1/experiments/exp_a/report?power=high", nil, 400, "power"},
		{"power below alpha/2", "GET", "/v1/experiments/exp_a/report?power=0.02", nil, 400, "(1 − confidence)/2"},
		{"csv bad power", "GET", "/v1/experiments/exp_a/report.csv?power=1", nil, 400, "power"},
		{"daily bad power", "GET", "/v1/experiments/exp_a/daily?power=-0.5", nil, 400, "power"},
		{"stats bad power", "POST", "/v1/stats", `{"power":1.5,"variants":[{"variant":"a","users":10},{"variant":"b","users":10}]}`, 400, "power"},
		{"stats empty body", "POST", "/v1/stats", "", 400, "body"},
		{"stats converters", "POST", "/v1/stats", `{"variants":[{"variant":"a","users":10,"converters":11},{"variant":"b","users":10}]}`, 400, "variants[0].converters"},
		{"stats sumsq", "POST", "/v1/stats", `{"variants":[{"variant":"a","users":10,"converters":1,"conversions":1,"value_sum":100,"value_sumsq":1},{"variant":"b","users":10}]}`, 400, "value_sumsq"},
		{"stats confidence", "POST", "/v1/stats", `{"confidence":2,"variants":[{"variant":"a","users":10},{"variant":"b","users":10}]}`, 400, "confidence"},
		{"stats not json", "POST", "/v1/stats", `{"variants":`, 400, ""},
		{"good", "GET", "/v1/experiments/exp_a/report?metric=signup&from=" + d(0) + "&to=" + d(6) + "&confidence=0.9&weights=50,50", nil, 200, `"confidence":0.9`},
		{"good control", "GET", "/v1/experiments/exp_a/report?control=treatment", nil, 200, `"control":"treatment"`},
		{"default power", "GET", "/v1/experiments/exp_a/report", nil, 200, `"power":0.8`},
		{"good power", "GET", "/v1/experiments/exp_a/report?power=0.9", nil, 200, `"power":0.9`},
		{"good power daily", "GET", "/v1/experiments/exp_a/daily?power=0.9", nil, 200, `"power":0.9`},
		{"good power csv", "GET", "/v1/experiments/exp_a/report.csv?power=0.9", nil, 200, `,0.95,0.9,`},
		{"stats good power", "POST", "/v1/stats", `{"power":0.9,"variants":[{"variant":"a","users":100,"converters":10},{"variant":"b","users":100,"converters":20}]}`, 200, `"power":0.9`},
		// A valid name no conversion has used yet: zeros and a warning, on
		// every route (day one of an experiment is not a bad request).
		{"metric without conversions", "GET", "/v1/experiments/exp_a/report?metric=refund", nil, 200, `"code":"metric_without_conversions"`},
		{"metric without conversions lists", "GET", "/v1/experiments/exp_a/report?metric=refund", nil, 200, "purchase"},
		{"csv metric without conversions", "GET", "/v1/experiments/exp_a/report.csv?metric=refund", nil, 200, "metric_without_conversions"},
		{"daily metric without conversions", "GET", "/v1/experiments/exp_a/daily?metric=refund", nil, 200, "metric_without_conversions"},
		{"good stats", "POST", "/v1/stats", `{"variants":[{"variant":"a","users":100,"converters":10},{"variant":"b","users":100,"converters":20}]}`, 200, `"vs_control"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := svc.Do(t, tc.method, tc.path, tc.body)
			if r.Status != tc.status || !strings.Contains(string(r.Body), tc.want) {
				t.Errorf("%s %s = %d %s; want %d with %q", tc.method, tc.path, r.Status, r.Body, tc.status, tc.want)
			}
			if tc.status >= 400 && !strings.Contains(string(r.Body), `"error"`) {
				t.Errorf("error body %s is not {error, message}", r.Body)
			}
		})
	}
	// The default metric is the one with the most converters; the default
	// range runs from the first exposure to today.
	// "Today" is the server's, read between two readings of ours (which
	// differ only across midnight UTC).
	before := time.Now().UTC().Format(time.DateOnly)
	rep, _ := getReport(t, svc, "exp_a", url.Values{})
	after := time.Now().UTC().Format(time.DateOnly)
	if rep.Metric == "" || rep.From != d(0) && rep.From > d(6) || rep.To != before && rep.To != after {
		t.Errorf("defaults: metric %q from %s to %s", rep.Metric, rep.From, rep.To)
	}
}

func TestCLIErrors(t *testing.T) {
	env := map[string]string{"FLAGSTREAM_CLICKHOUSE_DSN": "clickhouse://127.0.0.1:1/default"}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"report"}, "usage"},
		{[]string{"report", "exp", "--format", "xml"}, "format"},
		{[]string{"report", "exp", "--from", "2026-02-30"}, "from"},
		{[]string{"report", "bad key!"}, "experiment"},
		{[]string{"report", "exp", "--bogus"}, "bogus"},
		{[]string{"serve", "extra"}, "extra"},
		{[]string{"stats", "--format", "xml"}, "usage"},
		{[]string{"report", "exp", "--power", "1.2"}, "power"},
		{[]string{"report", "exp", "--power", "0.01"}, "power"},
		{[]string{"stats", "--power", "0"}, "power"},
	} {
		var out bytes.Buffer
		if err := run(context.Background(), tc.args, envFunc(env), &out); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("aggregate %v = %v, want an error naming %q", tc.args, err, tc.want)
		}
	}
	// ClickHouse unreachable: the error names it, without a password.
	env["FLAGSTREAM_CLICKHOUSE_DSN"] = "clickhouse://u:s3cret@127.0.0.1:1/default"
	for _, args := range [][]string{{"report", "exp"}, {"migrate"}} {
		var out bytes.Buffer
		err := run(context.Background(), args, envFunc(env), &out)
		if err == nil || !strings.Contains(err.Error(), "clickhouse") || strings.Contains(err.Error(), "s3cret") {
			t.Errorf("%s with ClickHouse away: %v", args[0], err)
		}
	}
}

func TestStatsCommand(t *testing.T) {
	body := `{"confidence": 0.95, "weights": [50, 50], "variants": [
	  {"variant": "control", "users": 1000, "converters": 100, "conversions": 104, "value_sum": 2500, "value_sumsq": 87169},
	  {"variant": "treatment", "users": 1000, "converters": 130, "conversions": 140, "value_sum": 3000, "value_sumsq": 99000}]}`
	for _, format := range []string{"table", "json"} {
		var out bytes.Buffer
		stdin = strings.NewReader(body)
		if err := run(context.Background(), []string{"stats", "--format", format}, envFunc(nil), &out); err != nil {
			t.Fatalf("stats --format %s: %v", format, err)
		}
		if !strings.Contains(out.String(), "treatment") || (format == "json") != strings.Contains(out.String(), `"vs_control"`) {
			t.Errorf("stats --format %s:\n%s", format, out.String())
		}
	}
	// --power stands for the body's: the MDE at 90% (hand-checked in
	// pkg/stats TestPowerInput: control 100 of 1000, 1000 treated).
	var out bytes.Buffer
	stdin = strings.NewReader(body)
	if err := run(context.Background(), []string{"stats", "--power", "0.9", "--format", "json"}, envFunc(nil), &out); err != nil {
		t.Fatal(err)
	}
	var res stats.Result
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if m := res.Variants[1].VsControl.Rate.MDEAbs; res.Power != 0.9 || math.Abs(m.Value-0.0434894947) > 1e-10 {
		t.Errorf("stats --power 0.9: power %v, mde_abs %v, want 0.0434894947", res.Power, m)
	}
	out.Reset()
	stdin = strings.NewReader(body)
	if err := run(context.Background(), []string{"stats", "--power", "0.9"}, envFunc(nil), &out); err != nil || !strings.Contains(out.String(), "power 0.9") {
		t.Errorf("stats --power 0.9 table (%v):\n%s", err, out.String())
	}
	stdin = strings.NewReader(`{"variants": [{"variant": "a", "users": 1, "converters": 2}]}`)
	err := run(context.Background(), []string{"stats"}, envFunc(nil), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "variants[0].converters") {
		t.Errorf("stats with impossible counts: %v", err)
	}
}

// Report routes and POST /v1/stats need a token with the read scope once
// tokens are configured; health and metrics do not.
func TestAuth(t *testing.T) {
	p := newPipeline(t, "")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("read rrrrrrrrrrrrrrrr1\nevaluate eeeeeeeeeeeeeeee1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env["FLAGSTREAM_TOKENS_FILE"] = tokens
	svc := startAggregate(t, p.env)
	for _, path := range []string{"/v1/experiments", "/v1/experiments/x/report", "/v1/experiments/x/report.csv", "/v1/experiments/x/daily"} {
		if r := svc.Do(t, "GET", path, nil); r.Status != 401 {
			t.Errorf("GET %s without a token = %d", path, r.Status)
		}
		if r := svc.Do(t, "GET", path, nil, "Authorization", "Bearer eeeeeeeeeeeeeeee1"); r.Status != 403 {
			t.Errorf("GET %s with an evaluate token = %d", path, r.Status)
		}
	}
	if r := svc.Do(t, "GET", "/v1/experiments", nil, "Authorization", "Bearer rrrrrrrrrrrrrrrr1"); r.Status != 200 {
		t.Errorf("GET /v1/experiments with a read token = %d %s", r.Status, r.Body)
	}
	if r := svc.Do(t, "GET", "/v1/experiments/x/report", nil, "Authorization", "Bearer rrrrrrrrrrrrrrrr1"); r.Status != 404 {
		t.Errorf("unknown experiment with a read token = %d %s", r.Status, r.Body)
	}
	body := `{"variants":[{"variant":"a","users":100,"converters":10},{"variant":"b","users":100,"converters":20}]}`
	if r := svc.Do(t, "POST", "/v1/stats", body); r.Status != 401 {
		t.Errorf("POST /v1/stats without a token = %d", r.Status)
	}
	if r := svc.Do(t, "POST", "/v1/stats", body, "Authorization", "Bearer rrrrrrrrrrrrrrrr1"); r.Status != 200 {
		t.Errorf("POST /v1/stats with a read token = %d %s", r.Status, r.Body)
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if r := svc.Do(t, "GET", path, nil); r.Status != 200 {
			t.Errorf("GET %s = %d", path, r.Status)
		}
	}
}

// A message no aggregate can read is dropped (terminated, counted), not
// redelivered forever; an event without an id is identified by its bytes,
// so a resend of it counts once.
func TestUnreadableAndIDLess(t *testing.T) {
	p := newPipeline(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ts := day0.Add(36 * time.Hour).Format(time.RFC3339)
	msgs := []struct{ subject, id, data string }{
		{"exposure", "m1", `{"id":"n1","type":"exposure","experiment":"exp_n","variant":"control","user_id":"nora","ts":"` + ts + `"}`},
		{"exposure", "m2", `not json at all`},
		{"conversion", "m3", `{"type":"conversion","experiment":"exp_n","user_id":"nora","conversion_type":"buy","value":5,"ts":"` + ts + `"}`},
		{"conversion", "m4", `{"type":"conversion","experiment":"exp_n","user_id":"nora","conversion_type":"buy","value":5,"ts":"` + ts + `"}`},
		{"conversion", "m5", `{"id":"n5","type":"conversion","experiment":"bad key!","user_id":"nora","conversion_type":"buy","ts":"` + ts + `"}`},
	}
	for _, m := range msgs {
		if _, err := p.js.Publish(ctx, strings.TrimSuffix(p.names.AnalyticsSubjects, ">")+m.subject, []byte(m.data), jetstream.WithMsgID(m.id)); err != nil {
			t.Fatal(err)
		}
	}
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)
	rep, body := getReport(t, svc, "exp_n", url.Values{"metric": {"buy"}, "from": {day0.Format(time.DateOnly)}, "to": {day0.AddDate(0, 0, 3).Format(time.DateOnly)}})
	if len(rep.Variants) != 1 || rep.Variants[0].Users != 1 || rep.Variants[0].Conversions != 1 || deref(rep.Variants[0].ValueSum) != 5 {
		t.Errorf("report = %s, want nora converting once for 5", body)
	}
	if m := svc.Do(t, "GET", "/metrics", nil); !contains(m.Body, "flagstream_aggregate_events_invalid_total 2") {
		t.Errorf("invalid messages not counted 2:\n%s", grepLines(m.Body, "invalid"))
	}
}

func grepLines(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
