package main

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"

	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/testenv/browser"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/pkg/events"
)

const dashToken = "dashboard-read-token-0123"

// dashArm is one variant of a simulated experiment: how many users it gets
// and each metric's conversion probability.
type dashArm struct {
	variant string
	users   int
	rates   map[string]float64
}

// dashEvents simulates experiments over the seven days before today: each
// user is exposed once on a random day and may convert, the same day, once
// per metric. Ids start with the experiment's name.
func dashEvents(rng *rand.Rand, start time.Time, exps map[string][]dashArm) []events.Event {
	var evs []events.Event
	n := 0
	for _, exp := range slices.Sorted(maps.Keys(exps)) {
		for _, arm := range exps[exp] {
			for u := range arm.users {
				user := fmt.Sprintf("%s-%s-%d", exp, arm.variant, u)
				// Hours 0..20 and conversions within two hours: every event
				// stays on its day, before today.
				at := start.AddDate(0, 0, rng.IntN(7)).Add(time.Duration(rng.IntN(21*60)) * time.Minute)
				n++
				evs = append(evs, events.Event{ID: fmt.Sprintf("%s-%d", exp, n), Type: events.TypeExposure, Experiment: exp,
					Variant: arm.variant, UserID: user, TS: at, FlagVersion: 1})
				for _, metric := range slices.Sorted(maps.Keys(arm.rates)) {
					if rng.Float64() >= arm.rates[metric] {
						continue
					}
					v := float64(10+rng.IntN(9000)) / 100
					n++
					evs = append(evs, events.Event{ID: fmt.Sprintf("%s-%d", exp, n), Type: events.TypeConversion, Experiment: exp,
						UserID: user, ConversionType: metric, Value: &v, TS: at.Add(time.Duration(1+rng.IntN(120)) * time.Minute)})
				}
			}
		}
	}
	return evs
}

// dashView is what the page shows, read from its DOM (see the contract at the
// top of web/app.js).
type dashView struct {
	State      string   `json:"state"`
	Experiment string   `json:"experiment"`
	Metric     string   `json:"metric"`
	Hash       string   `json:"hash"`
	List       []string `json:"list"`
	Current    string   `json:"current"`
	Metrics    []string `json:"metrics"`
	Rows       []struct {
		Variant   string `json:"variant"`
		Users     int64  `json:"users"`
		UsersText string `json:"usersText"`
		Rate      string `json:"rate"`
		RelLift   string `json:"relLift"`
		PValue    string `json:"pValue"`
	} `json:"rows"`
	Rate        []dashSeries `json:"rate"`
	Lift        []dashSeries `json:"lift"`
	RateBands   []string     `json:"rateBands"`
	LiftBands   []string     `json:"liftBands"`
	XLabels     []string     `json:"xLabels"`
	YLabels     []string     `json:"yLabels"`
	LiftEmpty   string       `json:"liftEmpty"`
	SRM         bool         `json:"srm"`
	SRMVisible  bool         `json:"srmVisible"`
	SRMText     string       `json:"srmText"`
	Warnings    []string     `json:"warnings"`
	AuthVisible bool         `json:"authVisible"`
	Error       string       `json:"error"`
}

type dashSeries struct {
	Variant string `json:"variant"`
	Points  int    `json:"points"`
	HasPath bool   `json:"hasPath"`
}

const dashViewJS = `(() => {
  const $ = (s) => document.querySelector(s);
  const all = (s) => [...document.querySelectorAll(s)];
  const visible = (e) => !!e && e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const text = (e) => (e ? e.textContent.trim() : "");
  const series = (chart) => all(chart + " path.series").map((p) => ({
    variant: p.dataset.variant, points: Number(p.dataset.points), hasPath: (p.getAttribute("d") || "").length > 1 }));
  const bands = (chart) => all(chart + " path.band").filter((p) => (p.getAttribute("d") || "").length > 1).map((p) => p.dataset.band);
  const srm = document.getElementById("srm-warning");
  return {
    state: document.body.dataset.state || "",
    experiment: $("#experiment").dataset.experiment || "",
    metric: $("#experiment").dataset.metric || "",
    hash: location.hash,
    list: all("#experiment-list li").map((li) => li.dataset.experiment),
    current: (($("#experiment-list a[aria-current=page]") || {}).dataset || {}).experiment || "",
    metrics: all("#metric option").map((o) => o.value),
    rows: all("#variants tbody tr").map((tr) => ({
      variant: tr.dataset.variant,
      users: Number(tr.querySelector("td.users").dataset.value),
      usersText: text(tr.querySelector("td.users")),
      rate: text(tr.querySelector("td.rate .main")),
      relLift: text(tr.querySelector("td.rel-lift .main") || tr.querySelector("td.rel-lift")),
      pValue: text(tr.querySelector("td.p-value")),
    })),
    rate: series("#rate-chart"), lift: series("#lift-chart"),
    rateBands: bands("#rate-chart"), liftBands: bands("#lift-chart"),
    xLabels: all("#rate-chart .x-axis text").map(text),
    yLabels: all("#rate-chart .grid text").map(text),
    liftEmpty: text($("#lift-chart text.empty")),
    srm: !!srm, srmVisible: visible(srm), srmText: text(srm),
    warnings: all("#warnings li").map((li) => li.dataset.code),
    authVisible: visible($("#auth")),
    error: text($("#error-message")),
  };
})()`

// The dashboard, end to end: events through the analytics stream into a real
// aggregate and ClickHouse, the page in a real headless Chromium, and what it
// draws checked against the JSON API it reads. Tokens are configured, so the
// page first asks for one.
func TestDashboard(t *testing.T) {
	started := time.Now()
	browser.Chromium(t) // skip (or fail, under make test) before building the pipeline
	p := newPipeline(t, "")
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("read "+dashToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p.env["FLAGSTREAM_TOKENS_FILE"] = tokens

	// checkout_redesign: three arms with a short one, so the sample-ratio
	// check (equal weights assumed) fails. onboarding_copy: two equal arms,
	// and a metric only the treatment has, so the relative lift is undefined.
	start := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -7)
	all := dashEvents(rand.New(rand.NewPCG(7, 7)), start, map[string][]dashArm{
		"checkout_redesign": {
			{"control", 600, map[string]float64{"purchase": 0.10, "signup": 0.20}},
			{"variant_a", 600, map[string]float64{"purchase": 0.14, "signup": 0.21}},
			{"variant_b", 450, map[string]float64{"purchase": 0.09, "signup": 0.23}},
		},
		"onboarding_copy": {
			{"control", 300, map[string]float64{"purchase": 0.12}},
			{"treatment", 300, map[string]float64{"purchase": 0.13, "upgrade": 0.02}},
		},
	})
	p.publish(t, all, byID)
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)
	auth := []string{"Authorization", "Bearer " + dashToken}

	t.Run("static files without a token", func(t *testing.T) { dashboardStatic(t, svc, auth) })

	apiReport := func(exp, query string) (report.Report, report.Daily) {
		t.Helper()
		var rep report.Report
		var daily report.Daily
		for path, into := range map[string]any{"report": &rep, "daily": &daily} {
			r := svc.Do(t, "GET", "/v1/experiments/"+exp+"/"+path+query, nil, auth...)
			if r.Status != 200 {
				t.Fatalf("%s %s: %d %s", exp, path, r.Status, r.Body)
			}
			if err := json.Unmarshal(r.Body, into); err != nil {
				t.Fatal(err)
			}
		}
		return rep, daily
	}
	checkout, checkoutDaily := apiReport("checkout_redesign", "?metric=purchase")
	onboarding, onboardingDaily := apiReport("onboarding_copy", "")
	if !checkout.SRM.Warn || onboarding.SRM.Warn {
		t.Fatalf("test data: srm.warn is %v for checkout_redesign and %v for onboarding_copy; want true, false",
			checkout.SRM.Warn, onboarding.SRM.Warn)
	}

	ctx, tab := browser.Start(t, browser.Options{Within: 60 * time.Second, Width: 1280, Height: 1000,
		LogErrors: func(e *log.Entry) bool {
			// The API's 4xx answers the test provokes (401 before the
			// token, 400 for a bad parameter) are logged as network errors;
			// anything else (a CSP violation, a failed asset) is a fault.
			return e.Source != log.EntrySourceNetwork || !strings.Contains(e.URL, "/v1/experiments")
		}})

	// No token yet: the page asks for one, and shows nothing else.
	if err := chromedp.Do(ctx, chromedp.Navigate(svc.URL+"/#/experiments/checkout_redesign?metric=purchase")); err != nil {
		t.Fatal(err)
	}
	v := waitView(t, ctx, "auth", "")
	if !v.AuthVisible {
		t.Fatalf("state auth without a visible token form: %+v", v)
	}
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.ID("token"), dashToken),
		chromedp.Click(chromedp.CSS(`#auth button[type=submit]`)),
	); err != nil {
		t.Fatal(err)
	}

	// The experiment with a sample-ratio mismatch.
	v = waitView(t, ctx, "ready", "checkout_redesign")
	checkView(t, v, checkout, checkoutDaily)
	if !slices.Equal(v.List, []string{"checkout_redesign", "onboarding_copy"}) || v.Current != "checkout_redesign" {
		t.Errorf("experiment list %v (current %q), want both experiments with checkout_redesign selected", v.List, v.Current)
	}
	if !slices.Contains(v.Metrics, "purchase") || !slices.Contains(v.Metrics, "signup") {
		t.Errorf("metric selector offers %v, want purchase and signup", v.Metrics)
	}
	if !v.SRM || !v.SRMVisible || !strings.Contains(v.SRMText, "Sample ratio mismatch") {
		t.Errorf("srm.warn is true but the warning is present=%v visible=%v: %q", v.SRM, v.SRMVisible, v.SRMText)
	}
	if !slices.Contains(v.Warnings, report.CodeWeightsAssumed) {
		t.Errorf("report warnings %v not all shown: %v", checkout.Warnings, v.Warnings)
	}
	if !slices.ContainsFunc(v.YLabels, func(s string) bool { return strings.HasSuffix(s, "%") }) ||
		!slices.ContainsFunc(v.XLabels, regexp.MustCompile(`^[A-Z][a-z]{2} \d{1,2}$`).MatchString) {
		t.Errorf("rate chart axes: x %v, y %v; want dates and percentages", v.XLabels, v.YLabels)
	}
	shot := tab.Screenshot("dashboard.png")

	// The metric selector reloads the same experiment for another metric,
	// and records it in the address.
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(() => { const s = document.getElementById("metric");
		s.value = "signup"; s.dispatchEvent(new Event("change")); return true; })()`)); err != nil {
		t.Fatal(err)
	}
	v = waitView(t, ctx, "ready", "checkout_redesign", "signup")
	signup, signupDaily := apiReport("checkout_redesign", "?metric=signup")
	checkView(t, v, signup, signupDaily)
	if !strings.Contains(v.Hash, "metric=signup") {
		t.Errorf("after choosing signup the address is %q", v.Hash)
	}

	// The list links to the balanced experiment: no mismatch warning.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#experiment-list a[data-experiment="onboarding_copy"]`))); err != nil {
		t.Fatal(err)
	}
	v = waitView(t, ctx, "ready", "onboarding_copy")
	checkView(t, v, onboarding, onboardingDaily)
	if v.SRM || v.Current != "onboarding_copy" {
		t.Errorf("balanced experiment: srm warning present=%v (srm %+v), current %q", v.SRM, onboarding.SRM, v.Current)
	}

	// Undefined figures: the control never upgrades, so the relative lift is
	// null in the JSON, "—" on the page, and the lift chart has nothing to draw.
	upgrade, upgradeDaily := apiReport("onboarding_copy", "?metric=upgrade")
	if rel := upgrade.Variants[1].VsControl.Rate.RelLift; rel.Valid {
		t.Fatalf("test data: upgrade's relative lift is %v, want null", rel.Value)
	}
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`location.hash = "#/experiments/onboarding_copy?metric=upgrade"; true`)); err != nil {
		t.Fatal(err)
	}
	v = waitView(t, ctx, "ready", "onboarding_copy", "upgrade")
	checkView(t, v, upgrade, upgradeDaily)
	if len(v.Rows) != 2 || v.Rows[1].RelLift != "—" || v.Rows[0].RelLift != "—" {
		t.Errorf("null relative lifts shown as %+v, want —", v.Rows)
	}
	if v.LiftEmpty == "" || len(v.Lift) != 0 {
		t.Errorf("lift chart with no defined lift: %d series, message %q", len(v.Lift), v.LiftEmpty)
	}
	if !slices.Contains(v.Warnings, "zero_baseline") {
		t.Errorf("warnings shown %v, want zero_baseline among them", v.Warnings)
	}

	// A parameter the API refuses: its message shown as text (this one
	// carries markup from the address), the state "error".
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](
		`location.hash = "#/experiments/onboarding_copy?metric=" + encodeURIComponent("<b id=xss>x</b>"); true`)); err != nil {
		t.Fatal(err)
	}
	v = waitView(t, ctx, "error", "")
	injected, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("xss") !== null`))
	if err != nil || injected || !strings.Contains(v.Error, "<b id=xss>") {
		t.Errorf("bad metric: error %q, markup became an element: %v (%v)", v.Error, injected, err)
	}

	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("the page logged errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("screenshot: %s (test took %v)", shot, time.Since(started).Round(time.Millisecond))
}

// dashboardStatic checks the page and its assets: served without a token
// while the API wants one, with their content types and cache headers.
func dashboardStatic(t *testing.T, svc *procs.Service, auth []string) {
	if r := svc.Do(t, "GET", "/v1/experiments", nil); r.Status != 401 {
		t.Errorf("GET /v1/experiments without a token = %d, want 401", r.Status)
	}
	if r := svc.Do(t, "GET", "/v1/experiments", nil, auth...); r.Status != 200 {
		t.Errorf("GET /v1/experiments with a token = %d %s", r.Status, r.Body)
	}
	page := svc.Do(t, "GET", "/", nil)
	if page.Status != 200 || page.Header.Get("Content-Type") != "text/html; charset=utf-8" ||
		page.Header.Get("Cache-Control") != "no-cache" || !strings.Contains(page.Header.Get("Content-Security-Policy"), "script-src 'self'") {
		t.Fatalf("GET / = %d %v", page.Status, page.Header)
	}
	js := regexp.MustCompile(`"(/assets/app\.js\?v=[0-9a-f]+)"`).FindSubmatch(page.Body)
	css := regexp.MustCompile(`"(/assets/app\.css\?v=[0-9a-f]+)"`).FindSubmatch(page.Body)
	if js == nil || css == nil {
		t.Fatalf("index.html does not link versioned assets:\n%s", page.Body)
	}
	for _, tc := range []struct{ path, ctype, cache string }{
		{string(js[1]), "text/javascript; charset=utf-8", "public, max-age=31536000, immutable"},
		{string(css[1]), "text/css; charset=utf-8", "public, max-age=31536000, immutable"},
		{"/assets/app.js", "text/javascript; charset=utf-8", "no-cache"}, // an old page's link: revalidate
	} {
		r := svc.Do(t, "GET", tc.path, nil)
		if r.Status != 200 || r.Header.Get("Content-Type") != tc.ctype || r.Header.Get("Cache-Control") != tc.cache ||
			r.Header.Get("X-Content-Type-Options") != "nosniff" || len(r.Body) == 0 {
			t.Errorf("GET %s = %d %v", tc.path, r.Status, r.Header)
			continue
		}
		if again := svc.Do(t, "GET", tc.path, nil, "If-None-Match", r.Header.Get("ETag")); again.Status != 304 {
			t.Errorf("GET %s with its ETag = %d, want 304", tc.path, again.Status)
		}
	}
	for _, path := range []string{"/assets/", "/assets/nope.js", "/assets/../main.go"} {
		if r := svc.Do(t, "GET", path, nil); r.Status != 404 {
			t.Errorf("GET %s = %d, want 404", path, r.Status)
		}
	}
}

// waitView waits until the page has drawn experiment (and metric, if given)
// in the state wanted, or has failed, and returns what it shows.
func waitView(t *testing.T, ctx context.Context, state, experiment string, metric ...string) dashView {
	t.Helper()
	cond := fmt.Sprintf(`(() => { const s = document.body.dataset.state, e = document.getElementById("experiment");
		if (s === "error") return true;
		return s === %q && (%q === "" || e.dataset.experiment === %q) && (%q === "" || e.dataset.metric === %q); })()`,
		state, experiment, experiment, strings.Join(metric, ""), strings.Join(metric, ""))
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](cond, chromedp.WithPollingInterval(25*time.Millisecond),
		chromedp.WithPollingTimeout(20*time.Second)))
	v, verr := chromedp.Run(ctx, chromedp.Evaluate[dashView](dashViewJS))
	if verr != nil {
		t.Fatalf("read the page: %v", verr)
	}
	if err != nil || v.State != state {
		t.Fatalf("waiting for %s of %q %v: %v; page state %q, error %q, showing %q/%q",
			state, experiment, metric, err, v.State, v.Error, v.Experiment, v.Metric)
	}
	return v
}

// checkView compares the page with the report and daily JSON it was drawn
// from: one row per variant with the report's users, one line per variant
// over every day of /daily with its band, and lift lines for the treatments.
func checkView(t *testing.T, v dashView, rep report.Report, daily report.Daily) {
	t.Helper()
	if v.Experiment != rep.Experiment || v.Metric != rep.Metric {
		t.Errorf("page shows %s/%s, report is %s/%s", v.Experiment, v.Metric, rep.Experiment, rep.Metric)
	}
	if len(v.Rows) != len(rep.Variants) {
		t.Fatalf("table has %d rows, report %d variants", len(v.Rows), len(rep.Variants))
	}
	for i, w := range rep.Variants {
		r := v.Rows[i]
		shown, err := strconv.ParseInt(strings.ReplaceAll(r.UsersText, ",", ""), 10, 64)
		if r.Variant != w.Variant || r.Users != w.Users || err != nil || shown != w.Users {
			t.Errorf("row %d: %s with %d users (%q), report: %s with %d", i, r.Variant, r.Users, r.UsersText, w.Variant, w.Users)
		}
		if w.Rate.Valid && r.Rate != fmt.Sprintf("%.*f%%", pctDigits(w.Rate.Value), w.Rate.Value*100) {
			t.Errorf("row %s: rate %q, report %v", r.Variant, r.Rate, w.Rate.Value)
		}
		if w.VsControl == nil && (r.RelLift != "—" || r.PValue != "—") {
			t.Errorf("control row %s shows lift %q and p %q, want —", r.Variant, r.RelLift, r.PValue)
		}
	}
	want := map[string]int{} // variant → days with a defined rate
	wantLift := map[string]int{}
	for _, d := range daily.Days {
		for _, x := range d.Variants {
			if x.Rate.Valid {
				want[x.Variant]++
			}
			if x.VsControl != nil && x.VsControl.Rate.RelLift.Valid {
				wantLift[x.Variant]++
			}
		}
	}
	checkSeries(t, "rate", v.Rate, v.RateBands, want)
	checkSeries(t, "lift", v.Lift, v.LiftBands, wantLift)
	for _, w := range rep.Variants {
		if want[w.Variant] != len(daily.Days) && w.Users > 0 {
			t.Errorf("test data: %s has a rate on %d of %d days", w.Variant, want[w.Variant], len(daily.Days))
		}
	}
	srmShown := v.SRM && v.SRMVisible
	if srmShown != rep.SRM.Warn {
		t.Errorf("srm.warn %v, warning shown %v", rep.SRM.Warn, srmShown)
	}
	if len(v.Warnings) != len(rep.Warnings) {
		t.Errorf("%d warnings shown %v, report has %d", len(v.Warnings), v.Warnings, len(rep.Warnings))
	}
}

func checkSeries(t *testing.T, chart string, got []dashSeries, bands []string, want map[string]int) {
	t.Helper()
	var names []string
	for _, s := range got {
		names = append(names, s.Variant)
		if s.Points != want[s.Variant] || !s.HasPath {
			t.Errorf("%s chart: %s has %d points (path %v), want %d (days of /daily with a figure)", chart, s.Variant, s.Points, s.HasPath, want[s.Variant])
		}
	}
	wantNames := slices.Sorted(maps.Keys(want))
	if !slices.Equal(slices.Sorted(slices.Values(names)), wantNames) {
		t.Errorf("%s chart: lines for %v, want %v", chart, names, wantNames)
	}
	if !slices.Equal(slices.Sorted(slices.Values(bands)), wantNames) {
		t.Errorf("%s chart: bands for %v, want %v", chart, bands, wantNames)
	}
}

// pctDigits is the page's precision for a percentage (fmtPct in app.js).
func pctDigits(x float64) int {
	switch p := x * 100; {
	case p >= 100 || p <= -100:
		return 0
	case p >= 10 || p <= -10:
		return 1
	}
	return 2
}
