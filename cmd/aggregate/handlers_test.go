package main

// Handler tests: the routes of http.go and dashboard.go over a fake of the
// ClickHouse store, so they run without servers and without any
// FLAGSTREAM_TEST_* variable. The figures ClickHouse computes are for the
// integration tests (aggregate_test.go, requests_test.go).

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/httpapi/httpapitest"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/pkg/stats"
)

// The tokens of the handler tests: the scope the routes need, and another.
const (
	handlerReadToken   = "handler-test-read-token"
	handlerIngestToken = "handler-test-ingest-token"
)

// handlerNow is the handlers' clock: reports default to end on its day.
var handlerNow = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

// fakeStore holds one experiment, "pricing", and records what it is asked.
// With err set, every call fails with it.
type fakeStore struct {
	err     error
	summary chstore.Summary
	counts  []chstore.VariantCounts
	deltas  []chstore.DayDelta
	list    []chstore.Summary
	calls   []string
}

func (f *fakeStore) Experiment(_ context.Context, key string) (chstore.Summary, error) {
	f.calls = append(f.calls, "Experiment "+key)
	if f.err != nil {
		return chstore.Summary{}, f.err
	}
	if key != f.summary.Key {
		// As chstore says it: the handler shows this message.
		return chstore.Summary{}, fmt.Errorf("%w: no exposures recorded for %q", chstore.ErrNotFound, key)
	}
	return f.summary, nil
}

func (f *fakeStore) Counts(_ context.Context, key, metric string, from, to time.Time) ([]chstore.VariantCounts, error) {
	f.calls = append(f.calls, fmt.Sprintf("Counts %s %s %s %s", key, metric, from.Format(time.DateOnly), to.Format(time.DateOnly)))
	return f.counts, f.err
}

func (f *fakeStore) Daily(_ context.Context, key, metric string, from, to time.Time) ([]chstore.DayDelta, error) {
	f.calls = append(f.calls, fmt.Sprintf("Daily %s %s %s %s", key, metric, from.Format(time.DateOnly), to.Format(time.DateOnly)))
	return f.deltas, f.err
}

func (f *fakeStore) Experiments(context.Context) ([]chstore.Summary, error) {
	f.calls = append(f.calls, "Experiments")
	return f.list, f.err
}

// pricingStore is the experiment of most tests: exposures from March 1st to
// 5th, purchases as its only metric, the flag's control and weights known.
func pricingStore() *fakeStore {
	return &fakeStore{
		summary: chstore.Summary{Key: "pricing", Users: 2000, Variants: []string{"b", "control"},
			FirstDay: "2026-03-01", LastDay: "2026-03-05", Metrics: []chstore.Metric{{Name: "purchase", Converters: 230}},
			Weights: map[string]float64{"control": 50, "b": 50}, Control: "control"},
		counts: []chstore.VariantCounts{
			{Variant: "b", Users: 1000, Converters: 130, Conversions: 140, ValueSum: 1500, ValueSumSq: 30000},
			{Variant: "control", Users: 1000, Converters: 100, Conversions: 110, ValueSum: 1100, ValueSumSq: 20000},
		},
		deltas: []chstore.DayDelta{
			{Day: "2026-03-01", Variant: "control", Users: 500, Converters: 40, Conversions: 44, ValueSum: 400, ValueSumSq: 8000},
			{Day: "2026-03-01", Variant: "b", Users: 500, Converters: 60, Conversions: 66, ValueSum: 700, ValueSumSq: 14000},
			{Day: "2026-03-02", Variant: "control", Users: 500, Converters: 60, Conversions: 66, ValueSum: 700, ValueSumSq: 12000},
			{Day: "2026-03-02", Variant: "b", Users: 500, Converters: 70, Conversions: 74, ValueSum: 800, ValueSumSq: 16000},
		},
	}
}

// aggregateHandler is aggregate's HTTP handler over a fake store, with
// tokens configured as a deployment beyond loopback has them.
type aggregateHandler struct {
	store *fakeStore
	http.Handler
}

func newAggregateHandler(t *testing.T, store *fakeStore) *aggregateHandler {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	lines := fmt.Sprintf("read %s\ningest %s\n", handlerReadToken, handlerIngestToken)
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := httpapi.LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	m := newMetrics()
	a := &api{store: store, tokens: tokens, metrics: m, now: func() time.Time { return handlerNow }}
	return &aggregateHandler{store: store, Handler: a.handler(httpapi.NewHealth(context.Background()), m.registry)}
}

// do sends one request; token "" sends none; headers are name, value pairs.
func (h *aggregateHandler) do(method, path, token, body string, headers ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestAggregateRouting(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"POST", "/v1/experiments", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/v1/experiments/pricing/report", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"POST", "/v1/experiments/pricing/report.csv", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"PUT", "/v1/experiments/pricing/daily", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/v1/stats", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/v1/experiments/pricing", http.StatusNotFound, ""},
		{"GET", "/v1/experiments/pricing/report.json", http.StatusNotFound, ""},
		{"GET", "/index.html", http.StatusNotFound, ""},
		{"GET", "/healthz", http.StatusOK, ""},
		{"GET", "/metrics", http.StatusOK, ""},
	} {
		w := h.do(c.method, c.path, handlerReadToken, "")
		if w.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, w.Code, c.status)
		}
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	if len(h.store.calls) != 0 {
		t.Errorf("a request the mux refused reached the store: %v", h.store.calls)
	}
}

// The /v1 routes need the read scope: 401 without a known token (with the
// challenge), 403 with a token of another scope, both in the error shape and
// before the store is asked. The dashboard, health and metrics need none.
func TestAggregateAuth(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	statsBody := `{"variants":[{"variant":"a","users":100,"converters":10},{"variant":"b","users":100,"converters":20}]}`
	routes := []struct{ method, path, body string }{
		{"GET", "/v1/experiments", ""},
		{"GET", "/v1/experiments/pricing/report", ""},
		{"GET", "/v1/experiments/pricing/report.csv", ""},
		{"GET", "/v1/experiments/pricing/daily", ""},
		{"POST", "/v1/stats", statsBody},
	}
	for _, r := range routes {
		for _, c := range []struct {
			token  string
			status int
			code   string
		}{
			{"", http.StatusUnauthorized, "unauthorized"},
			{"not-a-token-of-this-service", http.StatusUnauthorized, "unauthorized"},
			{handlerIngestToken, http.StatusForbidden, "forbidden"},
		} {
			w := h.do(r.method, r.path, c.token, r.body)
			httpapitest.CheckError(t, w, c.status, c.code)
			challenge := w.Header().Get("WWW-Authenticate")
			if (c.status == http.StatusUnauthorized) != (challenge != "") {
				t.Errorf("%s %s: WWW-Authenticate %q on a %d", r.method, r.path, challenge, c.status)
			}
		}
	}
	if len(h.store.calls) != 0 {
		t.Errorf("a refused request reached the store: %v", h.store.calls)
	}
	for _, r := range routes {
		if w := h.do(r.method, r.path, handlerReadToken, r.body); w.Code != http.StatusOK {
			t.Errorf("%s %s with a read token = %d %s", r.method, r.path, w.Code, w.Body)
		}
	}
	for _, path := range []string{"/", "/assets/app.js", "/assets/app.css", "/healthz", "/readyz", "/metrics"} {
		if w := h.do("GET", path, "", ""); w.Code != http.StatusOK {
			t.Errorf("GET %s without a token = %d", path, w.Code)
		}
	}
}

// Every report route refuses a bad parameter with a 400 naming it, before
// the store is asked.
func TestReportParametersRefused(t *testing.T) {
	for _, c := range []struct{ name, query, param string }{
		{"metric not a name", "metric=" + url.QueryEscape("re fund"), "metric"},
		{"metric with a colon", "metric=a:b", "metric"},
		{"from not a date", "from=2026-13-01", "from"},
		{"to not a date", "to=yesterday", "to"},
		{"date out of range", "from=1999-12-31", "from"},
		{"reversed range", "from=2026-03-05&to=2026-03-01", "from"},
		{"range too long", "from=2024-01-01&to=2026-01-01", "to"},
		{"confidence as percent", "confidence=95", "confidence"},
		{"confidence not a number", "confidence=high", "confidence"},
		{"confidence 1", "confidence=1", "confidence"},
		{"power above 1", "power=80", "power"},
		{"power below alpha/2", "power=0.02", "power"},
		{"sequential tuning 0", "sequential_tuning=0", "sequential_tuning"},
		{"weights not numbers", "weights=a,b", "weights"},
		{"control not a name", "control=a:b", "control"},
		{"unknown parameter", "metrc=purchase", "metrc"},
		// The CSV is its own route, not a format parameter.
		{"format parameter", "format=csv", "format"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newAggregateHandler(t, pricingStore())
			for _, route := range []string{"report", "report.csv", "daily"} {
				w := h.do("GET", "/v1/experiments/pricing/"+route+"?"+c.query, handlerReadToken, "")
				e := httpapitest.CheckError(t, w, http.StatusBadRequest, "invalid")
				if !strings.Contains(e.Message, c.param+": ") {
					t.Errorf("%s?%s: message %q does not name the parameter %q", route, c.query, e.Message, c.param)
				}
			}
			if len(h.store.calls) != 0 {
				t.Errorf("the store was asked for a refused request: %v", h.store.calls)
			}
		})
	}

	// An invalid experiment key is refused the same way.
	h := newAggregateHandler(t, pricingStore())
	httpapitest.CheckError(t, h.do("GET", "/v1/experiments/"+url.PathEscape("x' OR 1=1 --")+"/report", handlerReadToken, ""),
		http.StatusBadRequest, "invalid", "experiment: ")

	// What only the experiment can tell is refused once it is read, in
	// the same shape: a control it has no variant of, weights of another
	// number of variants.
	for _, c := range []struct{ query, param string }{{"control=zzz", "control"}, {"weights=50,25,25", "weights"}} {
		httpapitest.CheckError(t, h.do("GET", "/v1/experiments/pricing/report?"+c.query, handlerReadToken, ""), http.StatusBadRequest, "invalid", c.param)
	}
}

func TestReportJSON(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	rep := httpapitest.DecodeAnswer[report.Report](t, h.do("GET", "/v1/experiments/pricing/report?metric=purchase&from=2026-03-01&to=2026-03-05&confidence=0.9", handlerReadToken, ""), http.StatusOK)
	if rep.Experiment != "pricing" || rep.Metric != "purchase" || rep.From != "2026-03-01" || rep.To != "2026-03-05" ||
		rep.Confidence != 0.9 || rep.Power != 0.8 || rep.Control != "control" {
		t.Errorf("report %s %s %s..%s confidence %v power %v control %q, want pricing purchase 2026-03-01..2026-03-05 0.9 0.8 control",
			rep.Experiment, rep.Metric, rep.From, rep.To, rep.Confidence, rep.Power, rep.Control)
	}
	checkPricingVariants(t, rep.Variants)
	if want := []string{"Experiment pricing", "Counts pricing purchase 2026-03-01 2026-03-05"}; !slices.Equal(h.store.calls, want) {
		t.Errorf("store asked %q, want %q", h.store.calls, want)
	}

	// Defaults: the metric with most converters, from the first exposure to
	// today (the handler's clock).
	h.store.calls = nil
	rep = httpapitest.DecodeAnswer[report.Report](t, h.do("GET", "/v1/experiments/pricing/report", handlerReadToken, ""), http.StatusOK)
	if rep.Metric != "purchase" || rep.From != "2026-03-01" || rep.To != "2026-03-10" || rep.Confidence != 0.95 {
		t.Errorf("default report %s %s..%s confidence %v, want purchase 2026-03-01..2026-03-10 0.95", rep.Metric, rep.From, rep.To, rep.Confidence)
	}
	if want := "Counts pricing purchase 2026-03-01 2026-03-10"; !slices.Contains(h.store.calls, want) {
		t.Errorf("store asked %q, want %q among them", h.store.calls, want)
	}

	// The JSON route answers JSON whatever the client accepts.
	httpapitest.DecodeAnswer[report.Report](t, h.do("GET", "/v1/experiments/pricing/report", handlerReadToken, "", "Accept", "text/csv"), http.StatusOK)
}

// checkPricingVariants checks the figures of pricingStore's counts: control
// first, then b compared with it.
func checkPricingVariants(t *testing.T, vs []stats.VariantResult) {
	t.Helper()
	if len(vs) != 2 || vs[0].Variant != "control" || vs[1].Variant != "b" {
		t.Fatalf("variants %+v, want control then b", vs)
	}
	if c := vs[0]; c.Users != 1000 || c.Converters != 100 || c.Conversions != 110 || c.Rate != stats.Num(0.1) || c.VsControl != nil {
		t.Errorf("control %+v, want 1000 users, 100 converters, 110 conversions, rate 0.1, no comparison", c)
	}
	if b := vs[1]; b.Users != 1000 || b.Converters != 130 || b.Rate != stats.Num(0.13) || b.VsControl == nil || !b.VsControl.Rate.AbsLift.Valid {
		t.Errorf("b %+v, want 1000 users, 130 converters, rate 0.13, compared with control", b)
	}
}

// The CSV holds the JSON report's figures, as report.WriteCSV writes them,
// named for the experiment, metric and range.
func TestReportCSV(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	query := "?metric=purchase&from=2026-03-01&to=2026-03-05"
	rep := httpapitest.DecodeAnswer[report.Report](t, h.do("GET", "/v1/experiments/pricing/report"+query, handlerReadToken, ""), http.StatusOK)
	w := h.do("GET", "/v1/experiments/pricing/report.csv"+query, handlerReadToken, "")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); ct != "text/csv; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if cd, want := w.Header().Get("Content-Disposition"), `attachment; filename="pricing_purchase_2026-03-01_2026-03-05.csv"`; cd != want {
		t.Errorf("Content-Disposition %q, want %q", cd, want)
	}
	rows, err := csv.NewReader(bytes.NewReader(w.Body.Bytes())).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 3 || !slices.Equal(rows[0], report.CSVHeader) {
		t.Fatalf("CSV of %d rows, want the header and 2 variants:\n%s", len(rows), w.Body)
	}
	col := func(row []string, name string) string { return row[slices.Index(report.CSVHeader, name)] }
	if col(rows[1], "variant") != "control" || col(rows[1], "users") != "1000" || col(rows[2], "variant") != "b" || col(rows[2], "converters") != "130" {
		t.Errorf("rows %q, want control with 1000 users, then b with 130 converters", rows[1:])
	}
	var want bytes.Buffer
	if err := report.WriteCSV(&want, rep); err != nil {
		t.Fatal(err)
	}
	if w.Body.String() != want.String() {
		t.Errorf("CSV differs from the JSON report's:\n%s\nwant\n%s", w.Body, &want)
	}
}

// The daily series sums the store's per-day changes: day 2 holds both days.
func TestDaily(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	d := httpapitest.DecodeAnswer[report.Daily](t, h.do("GET", "/v1/experiments/pricing/daily?from=2026-03-01&to=2026-03-02&power=0.9", handlerReadToken, ""), http.StatusOK)
	if d.Experiment != "pricing" || d.Metric != "purchase" || d.From != "2026-03-01" || d.To != "2026-03-02" ||
		d.Control != "control" || d.Confidence != 0.95 || d.Power != 0.9 || d.SequentialTuning == 0 {
		t.Errorf("daily %+v, want pricing purchase 2026-03-01..2026-03-02, control, confidence 0.95, power 0.9", d)
	}
	if len(d.Days) != 2 || d.Days[0].Date != "2026-03-01" || d.Days[1].Date != "2026-03-02" {
		t.Fatalf("days %+v, want 2026-03-01 and 2026-03-02", d.Days)
	}
	first := d.Days[0].Variants
	if len(first) != 2 || first[0].Variant != "control" || first[0].Users != 500 || first[0].Converters != 40 || first[1].Converters != 60 {
		t.Errorf("day 1 %+v, want control 500 users 40 converters, b 60", first)
	}
	checkPricingVariants(t, d.Days[1].Variants)
	if want := "Daily pricing purchase 2026-03-01 2026-03-02"; !slices.Contains(h.store.calls, want) {
		t.Errorf("store asked %q, want %q among them", h.store.calls, want)
	}
}

func TestExperimentsList(t *testing.T) {
	store := pricingStore()
	store.list = []chstore.Summary{store.summary, {Key: "checkout", Users: 10, Variants: []string{"a", "b"},
		FirstDay: "2026-02-01", LastDay: "2026-02-02", Metrics: []chstore.Metric{}}}
	h := newAggregateHandler(t, store)
	got := httpapitest.DecodeAnswer[experimentsResponse](t, h.do("GET", "/v1/experiments", handlerReadToken, ""), http.StatusOK)
	if !reflect.DeepEqual(got.Experiments, store.list) {
		t.Errorf("experiments %+v, want %+v", got.Experiments, store.list)
	}

	// None yet: an empty list, not null.
	store.list = nil
	got = httpapitest.DecodeAnswer[experimentsResponse](t, h.do("GET", "/v1/experiments", handlerReadToken, ""), http.StatusOK)
	if got.Experiments == nil || len(got.Experiments) != 0 {
		t.Errorf("experiments %+v, want []", got.Experiments)
	}
}

// The store's failures, by kind: an unknown experiment is 404 naming it;
// ClickHouse unreachable or too slow is 503 with Retry-After; a query
// ClickHouse refused is the server's own bug, 500. A 5xx names no internals.
func TestStoreFailures(t *testing.T) {
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"unreachable", errors.New("dial tcp 10.0.0.9:9000: connect: connection refused"), http.StatusServiceUnavailable, "unavailable"},
		{"too slow", fmt.Errorf("read: %w", context.DeadlineExceeded), http.StatusServiceUnavailable, "unavailable"},
		{"query refused", &clickhouse.Exception{Code: 62, Name: "DB::Exception", Message: "Syntax error at 10.0.0.9"}, http.StatusInternalServerError, "internal"},
	} {
		t.Run(c.name, func(t *testing.T) {
			store := pricingStore()
			store.err = c.err
			h := newAggregateHandler(t, store)
			for _, path := range []string{"/v1/experiments", "/v1/experiments/pricing/report", "/v1/experiments/pricing/report.csv", "/v1/experiments/pricing/daily"} {
				w := h.do("GET", path, handlerReadToken, "")
				e := httpapitest.CheckError(t, w, c.status, c.code)
				if strings.Contains(e.Message, "10.0.0.9") {
					t.Errorf("GET %s: message %q names internals", path, e.Message)
				}
				if ra := w.Header().Get("Retry-After"); (c.status == http.StatusServiceUnavailable) != (ra != "") {
					t.Errorf("GET %s: Retry-After %q on a %d", path, ra, c.status)
				}
			}
		})
	}

	h := newAggregateHandler(t, pricingStore())
	for _, route := range []string{"report", "report.csv", "daily"} {
		httpapitest.CheckError(t, h.do("GET", "/v1/experiments/nope/"+route, handlerReadToken, ""), http.StatusNotFound, "not_found", `"nope"`)
	}
}

// POST /v1/stats: counts from elsewhere through the report's statistics;
// what stats refuses, too many variants and too big a body are refused in
// the error shape.
func TestStats(t *testing.T) {
	h := newAggregateHandler(t, pricingStore())
	body := `{"confidence":0.9,"variants":[{"variant":"control","users":1000,"converters":100,"conversions":110,"value_sum":1100,"value_sumsq":20000},` +
		`{"variant":"b","users":1000,"converters":130,"conversions":140,"value_sum":1500,"value_sumsq":30000}]}`
	res := httpapitest.DecodeAnswer[stats.Result](t, h.do("POST", "/v1/stats", handlerReadToken, body), http.StatusOK)
	if res.Confidence != 0.9 {
		t.Errorf("confidence %v, want 0.9", res.Confidence)
	}
	checkPricingVariants(t, res.Variants)

	many := make([]stats.Counts, maxVariants+1)
	for i := range many {
		many[i] = stats.Counts{Variant: fmt.Sprintf("v%d", i), Users: 10}
	}
	tooMany, err := json.Marshal(stats.Input{Variants: many})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, body string
		status     int
		code       string
		messageHas string
	}{
		{"too many variants", string(tooMany), http.StatusBadRequest, "invalid", "variants"},
		{"impossible counts", `{"variants":[{"variant":"a","users":10,"converters":11},{"variant":"b","users":10}]}`, http.StatusBadRequest, "invalid", "variants[0].converters"},
		{"not JSON", `{"variants":`, http.StatusBadRequest, "invalid", "JSON"},
		{"trailing data", `{"variants":[]} {}`, http.StatusBadRequest, "invalid", "trailing"},
		{"over the body limit", `{"variants":[` + strings.Repeat(" ", statsBodyLimit) + `]}`, http.StatusRequestEntityTooLarge, "too_large", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			httpapitest.CheckError(t, h.do("POST", "/v1/stats", handlerReadToken, c.body), c.status, c.code, c.messageHas)
		})
	}
}

// The dashboard is served from the binary without a token: the page always
// revalidated and under its CSP, the assets it links cached for good under
// their versioned URLs, and anything else under /assets/ a 404.
func TestDashboardServed(t *testing.T) {
	h := newAggregateHandler(t, &fakeStore{})
	page := h.do("GET", "/", "", "")
	if page.Code != http.StatusOK {
		t.Fatalf("GET / = %d", page.Code)
	}
	for name, want := range map[string]string{
		"Content-Type":            "text/html; charset=utf-8",
		"Cache-Control":           "no-cache",
		"Content-Security-Policy": dashboardCSP,
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := page.Header().Get(name); got != want {
			t.Errorf("GET / %s: %q, want %q", name, got, want)
		}
	}
	for _, c := range []struct{ file, contentType string }{{"app.js", "text/javascript; charset=utf-8"}, {"app.css", "text/css; charset=utf-8"}} {
		link := regexp.MustCompile(`"(/assets/` + regexp.QuoteMeta(c.file) + `\?v=[0-9a-f]+)"`).FindStringSubmatch(page.Body.String())
		if link == nil {
			t.Errorf("the page links no versioned %s", c.file)
			continue
		}
		embedded, err := webFiles.ReadFile("web/" + c.file)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []struct{ url, cache string }{
			{link[1], "public, max-age=31536000, immutable"},
			{"/assets/" + c.file, "no-cache"},
			{"/assets/" + c.file + "?v=old", "no-cache"},
		} {
			w := h.do("GET", v.url, "", "")
			if w.Code != http.StatusOK || !bytes.Equal(w.Body.Bytes(), embedded) {
				t.Errorf("GET %s = %d, %d bytes; want 200 and the embedded %d", v.url, w.Code, w.Body.Len(), len(embedded))
			}
			if ct, cc := w.Header().Get("Content-Type"), w.Header().Get("Cache-Control"); ct != c.contentType || cc != v.cache {
				t.Errorf("GET %s: Content-Type %q Cache-Control %q, want %q and %q", v.url, ct, cc, c.contentType, v.cache)
			}
			if w.Header().Get("Content-Security-Policy") != "" {
				t.Errorf("GET %s carries the page's CSP", v.url)
			}
		}
		w := h.do("GET", link[1], "", "")
		if again := h.do("GET", link[1], "", "", "If-None-Match", w.Header().Get("ETag")); again.Code != http.StatusNotModified {
			t.Errorf("GET %s with its ETag = %d, want 304", link[1], again.Code)
		}
	}
	if again := h.do("GET", "/", "", "", "If-None-Match", page.Header().Get("ETag")); again.Code != http.StatusNotModified {
		t.Errorf("GET / with its ETag = %d, want 304", again.Code)
	}
	if head := h.do("HEAD", "/", "", ""); head.Code != http.StatusOK || head.Body.Len() != 0 {
		t.Errorf("HEAD / = %d with %d bytes, want 200 and no body", head.Code, head.Body.Len())
	}
	for _, path := range []string{"/assets/", "/assets/index.html", "/assets/app.js.map", "/assets/web/app.js"} {
		httpapitest.CheckError(t, h.do("GET", path, "", ""), http.StatusNotFound, "not_found")
	}
}
