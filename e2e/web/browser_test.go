package web

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/browser"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// WebVar names the node_modules directory the browser test bundles its page
// from; `scripts/web.sh` installs it (Node.js and npm too, when missing) and
// prints it. Unset, the test skips outside `make test` and fails inside.
const WebVar = "FLAGSTREAM_TEST_WEB"

const (
	browserAdminToken = "browser-admin-token-0123456789"
	browserEvalToken  = "browser-evaluate-token-0123456789"
)

// pageState is window.flagstream of e2e/web/src/page.js.
type pageState struct {
	Ready   bool                 `json:"ready"`
	Error   string               `json:"error"`
	Shown   map[string]shownFlag `json:"shown"`
	Streams []struct {
		Opens  []int64 `json:"opens"`
		Errors []int64 `json:"errors"`
	} `json:"streams"`
	Messages []struct {
		At          int64  `json:"at"`
		Data        string `json:"data"`
		LastEventID string `json:"lastEventId"`
	} `json:"messages"`
	Requests []struct {
		At     int64  `json:"at"`
		Method string `json:"method"`
		URL    string `json:"url"`
	} `json:"requests"`
	Changes []struct {
		At           int64                `json:"at"`
		FlagsChanged []string             `json:"flagsChanged"`
		Shown        map[string]shownFlag `json:"shown"`
	} `json:"changes"`
	Exposures []struct {
		At      int64            `json:"at"`
		Results []exposureResult `json:"results"`
		Error   string           `json:"error"`
	} `json:"exposures"`
}

type shownFlag struct {
	Value     any    `json:"value"`
	Variant   string `json:"variant"`
	Version   *int64 `json:"version"`
	Reason    string `json:"reason"`
	ErrorCode string `json:"errorCode"`
}

type exposureResult struct {
	Key     string `json:"key"`
	Status  string `json:"status"`
	Variant string `json:"variant"`
	Version int64  `json:"version"`
}

// ofrepFlag is one flag of an OFREP bulk answer.
type ofrepFlag struct {
	Key      string         `json:"key"`
	Value    any            `json:"value"`
	Variant  string         `json:"variant"`
	Reason   string         `json:"reason"`
	Metadata map[string]any `json:"metadata"`
}

// proxied is one request the page made through the test's front server.
type proxied struct {
	at     time.Time
	method string
	path   string
	query  url.Values
}

// front serves the page and passes every other request to flagd, as a site's
// reverse proxy would (flagd sends no CORS headers: a page reaches it on its
// own origin). It records each request, so the test counts what the page
// asked flagd for without trusting the page.
type front struct {
	*httptest.Server
	mu   sync.Mutex
	seen []proxied
}

func newFront(t *testing.T, pageDir, flagdURL string) *front {
	t.Helper()
	target, err := url.Parse(flagdURL)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // an event stream's messages pass at once
	f := &front{}
	files := http.FileServer(http.Dir(pageDir))
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && (r.URL.Path == "/" || r.URL.Path == "/page.js") {
			files.ServeHTTP(w, r)
			return
		}
		f.mu.Lock()
		f.seen = append(f.seen, proxied{at: time.Now(), method: r.Method, path: r.URL.Path, query: r.URL.Query()})
		f.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		// The browser may still hold its event stream open: Close alone
		// would wait for it.
		f.CloseClientConnections()
		f.Close()
	})
	return f
}

// requests returns the page's requests for method and path so far.
func (f *front) requests(method, path string) []proxied {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []proxied
	for _, p := range f.seen {
		if p.method == method && p.path == path {
			out = append(out, p)
		}
	}
	return out
}

// bundlePage builds e2e/web into a directory of its own: index.html and
// page.js, bundled by esbuild from the node_modules scripts/web.sh installed
// (no network).
func bundlePage(t *testing.T) string {
	t.Helper()
	modules := testenv.Lookup(t, WebVar)
	esbuild := filepath.Join(modules, ".bin", "esbuild")
	if _, err := os.Stat(esbuild); err != nil {
		t.Fatalf("%s=%s holds no esbuild (%v): run scripts/web.sh", WebVar, modules, err)
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Fatalf("node is not on PATH (%v): scripts/web.sh installs it", err)
	}
	out := t.TempDir()
	cmd := exec.Command(esbuild, "src/page.js", "--bundle", "--format=iife", "--target=es2020", "--log-level=warning",
		"--outfile="+filepath.Join(out, "page.js"))
	// The page's source sits in the repository and its packages under .run:
	// NODE_PATH is where esbuild looks for what an import names.
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("esbuild: %v\n%s", err, b)
	}
	html, err := os.ReadFile("index.html")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "index.html"), html, 0o644); err != nil {
		t.Fatal(err)
	}
	return out
}

// readPage returns window.flagstream.
func readPage(t *testing.T, ctx context.Context) pageState {
	t.Helper()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[pageState](`JSON.parse(JSON.stringify(window.flagstream || {}))`))
	if err != nil {
		t.Fatalf("read the page: %v", err)
	}
	return s
}

// waitPage polls the page until cond (a JavaScript expression over
// window.flagstream, named s) holds, and returns the page's state; it fails
// the test after within.
func waitPage(t *testing.T, ctx context.Context, what, cond string, within time.Duration) pageState {
	t.Helper()
	expr := fmt.Sprintf(`(() => { const s = window.flagstream; return !!s && (!!s.error || (%s)); })()`, cond)
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(5*time.Millisecond),
		chromedp.WithPollingTimeout(within)))
	s := readPage(t, ctx)
	if s.Error != "" {
		t.Fatalf("waiting for %s: the page failed: %s", what, s.Error)
	}
	if err != nil {
		t.Fatalf("waiting for %s: %v; page: %+v", what, err, s)
	}
	return s
}

// The client-side pattern in a real browser: a page bundled from the
// OpenFeature web SDK and the OFREP web provider, against a real flagd built
// from this tree, fetches every flag in bulk and shows a few. It checks that
//   - the page evaluates every flag as flagd's OFREP answers it;
//   - a change made through the admin API reaches the page through flagd's
//     event stream within a second;
//   - the stream delivered it, not polling: polling is off, and each change
//     brought exactly one refetch, carrying the flagConfigEtag of the
//     stream's message (only the stream's refetch sends it);
//   - exposures (from the after hook of e2e/web/src/exposure-hook.js) are
//     published for the flags the page showed, once each, and for no other.
func TestBrowserEventStreamAndExposures(t *testing.T) {
	pageDir := bundlePage(t)
	ctx, tab := browser.Start(t, browser.Options{Within: 2 * time.Minute})

	env := procs.ServiceEnv(t)
	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("admin "+browserAdminToken+"\nevaluate "+browserEvalToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env["FLAGSTREAM_TOKENS_FILE"] = tokens
	flagd := procs.StartProcess(t, procs.Build(t, "./cmd/flagd"), env)
	admin := []string{"Authorization", "Bearer " + browserAdminToken}
	evaluate := []string{"Authorization", "Bearer " + browserEvalToken}

	// Five experiments the page fetches; it shows two of them, and banner, a
	// plain on/off flag without variants (no exposure), off at first.
	split := func(names ...string) map[string]any {
		var vs []any
		for i, n := range names {
			w := 100 / len(names)
			if i == 0 {
				w += 100 % len(names) // weights sum to 100
			}
			vs = append(vs, map[string]any{"name": n, "weight": w})
		}
		return map[string]any{"status": "enabled", "variants": vs}
	}
	flagSet := map[string]map[string]any{
		"checkout":       split("control", "treatment"),
		"pricing":        split("control", "variant_a", "variant_b"),
		"onboarding":     split("control", "treatment"),
		"search_ranking": split("control", "treatment"),
		"recs":           split("control", "treatment"),
		"banner":         {"status": "disabled"},
	}
	used := []string{"checkout", "pricing"}
	for _, key := range slices.Sorted(maps.Keys(flagSet)) {
		flagd.Expect(t, http.StatusOK, http.MethodPut, "/v1/flags/"+key, flagSet[key], admin...)
	}
	const user = "user_1"
	pageContext := map[string]any{"targetingKey": user, "plan": "pro"}
	bulk := func() map[string]ofrepFlag {
		t.Helper()
		r := flagd.Do(t, http.MethodPost, "/ofrep/v1/evaluate/flags", map[string]any{"context": pageContext}, evaluate...)
		if r.Status != http.StatusOK {
			t.Fatalf("OFREP bulk: %d %s", r.Status, r.Body)
		}
		var body struct {
			Flags []ofrepFlag `json:"flags"`
		}
		if err := json.Unmarshal(r.Body, &body); err != nil {
			t.Fatalf("OFREP bulk %s: %v", r.Body, err)
		}
		out := map[string]ofrepFlag{}
		for _, f := range body.Flags {
			out[f.Key] = f
		}
		return out
	}
	deadline := time.Now().Add(5 * time.Second)
	var want map[string]ofrepFlag
	for want = bulk(); len(want) < len(flagSet); want = bulk() {
		if time.Now().After(deadline) {
			t.Fatalf("flagd serves %d of the %d flags after 5 s", len(want), len(flagSet))
		}
		time.Sleep(5 * time.Millisecond)
	}

	site := newFront(t, pageDir, flagd.URL)
	q := url.Values{"token": {browserEvalToken}, "user": {user}, "use": {strings.Join(append(slices.Clone(used), "banner"), ",")}}
	if err := chromedp.Do(ctx, chromedp.Navigate(site.URL+"/?"+q.Encode())); err != nil {
		t.Fatal(err)
	}
	const bulkPath = "/ofrep/v1/evaluate/flags"

	// 1. It evaluates: every flag the provider holds is flagd's answer, and
	// what the page shows through the SDK has the value, variant and version
	// of that answer.
	page := waitPage(t, ctx, "the page to evaluate", "s.ready", 20*time.Second)
	cache, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]ofrepFlag](`window.flagstream.cache()`))
	if err != nil {
		t.Fatal(err)
	}
	for key, w := range want {
		got, ok := cache[key]
		if !ok || fmt.Sprint(got.Value) != fmt.Sprint(w.Value) || got.Variant != w.Variant ||
			fmt.Sprint(got.Metadata["version"]) != fmt.Sprint(w.Metadata["version"]) {
			t.Errorf("the page holds %s as %+v; flagd answers %+v", key, got, w)
		}
	}
	for _, key := range append(slices.Clone(used), "banner") {
		s, w := page.Shown[key], want[key]
		if s.ErrorCode != "" || fmt.Sprint(s.Value) != fmt.Sprint(w.Value) || s.Variant != w.Variant ||
			s.Version == nil || fmt.Sprint(*s.Version) != fmt.Sprint(w.Metadata["version"]) {
			t.Errorf("the page shows %s as %+v; flagd answers %+v", key, s, w)
		}
	}
	if v := page.Shown["banner"].Value; v != false {
		t.Fatalf("banner shows %v before the change, want false", v)
	}
	if n := len(site.requests(http.MethodPost, bulkPath)); n != 1 {
		t.Fatalf("%d bulk evaluations before any change, want 1", n)
	}

	// 2. and 3. The page's event stream is open before the change (a change
	// before it would reach no page). Each change must show on the page
	// within a second of the PUT, after a stream message, by one refetch
	// that carries the message's etag as flagConfigEtag.
	page = waitPage(t, ctx, "the event stream to open", "s.streams.length > 0 && s.streams.some((x) => x.opens.length > 0)", 10*time.Second)
	if len(page.Streams) != 1 {
		t.Errorf("the page opened %d event streams, want 1", len(page.Streams))
	}
	for i, enabled := range []bool{true, false} {
		status := map[bool]string{true: "enabled", false: "disabled"}[enabled]
		before := readPage(t, ctx)
		put := time.Now()
		flagd.Expect(t, http.StatusOK, http.MethodPut, "/v1/flags/banner", map[string]any{"status": status}, admin...)
		page = waitPage(t, ctx, "banner "+status+" on the page",
			fmt.Sprintf("s.changes.length > %d && s.changes[s.changes.length-1].shown.banner.value === %v", len(before.Changes), enabled), 10*time.Second)
		change := page.Changes[len(page.Changes)-1]
		latency := time.UnixMilli(change.At).Sub(put)
		if latency > time.Second {
			t.Errorf("banner %s reached the page %v after the PUT, want within 1 s", status, latency)
		}
		if !slices.Equal(change.FlagsChanged, []string{"banner"}) {
			t.Errorf("ConfigurationChanged names %v, want [banner]", change.FlagsChanged)
		}
		if len(page.Messages) <= len(before.Messages) {
			t.Fatalf("banner %s reached the page without a message on its event stream", status)
		}
		msg := page.Messages[len(page.Messages)-1]
		// Page times are Date.now(), the same clock as time.Now here.
		t.Logf("change %d (banner %s): stream message %v and new value on the page %v after the PUT began",
			i+1, status, time.UnixMilli(msg.At).Sub(put), latency)
		var m struct {
			Type string `json:"type"`
			ETag string `json:"etag"`
		}
		if err := json.Unmarshal([]byte(msg.Data), &m); err != nil || m.Type != "refetchEvaluation" {
			t.Errorf("stream message %q: %v; want a refetchEvaluation", msg.Data, err)
		}
		if msg.At > change.At {
			t.Errorf("the stream's message came %d ms after the change showed", msg.At-change.At)
		}
		// Exactly one refetch per change: the initial fetch and one per
		// change so far. The second change is the first one's barrier: no
		// other refetch came between them.
		refetches := site.requests(http.MethodPost, bulkPath)
		if len(refetches) != 2+i {
			t.Fatalf("after change %d the page fetched in bulk %d times, want %d (polling is off; one refetch per stream message)",
				i+1, len(refetches), 2+i)
		}
		last := refetches[len(refetches)-1]
		if got := last.query.Get("flagConfigEtag"); got == "" || got != m.ETag {
			t.Errorf("the refetch after change %d carries flagConfigEtag %q, the stream's message %q: not the stream's refetch",
				i+1, got, m.ETag)
		}
		if last.at.Before(put) {
			t.Errorf("the refetch came before the PUT")
		}
	}
	if q := site.requests(http.MethodPost, bulkPath)[0].query; len(q) != 0 {
		t.Errorf("the first bulk evaluation has query %v, want none", q)
	}

	// 4. Exposures for the flags the page showed, and no other. The hook
	// sends them in one batch; flushExposures sends anything the re-renders
	// after the changes queued (it must have queued nothing: each flag is
	// reported once per page load). Then the barrier: the used flags'
	// exposures are on the raw stream and flagd buffers nothing more, so
	// every exposure flagd enqueued (by the bulk evaluations before, too)
	// is on the stream now.
	page = waitPage(t, ctx, "flagd's answer to the exposure report", "s.exposures.length > 0", 10*time.Second)
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](`window.flagstream.flushExposures()`, chromedp.EvalAwaitPromise)); err != nil {
		t.Fatal(err)
	}
	page = readPage(t, ctx)
	if n := len(site.requests(http.MethodPost, "/v1/exposures")); n != 1 || len(page.Exposures) != 1 {
		t.Fatalf("%d exposure reports (%d answers on the page: %+v), want 1", n, len(page.Exposures), page.Exposures)
	}
	var reported []string
	for _, r := range page.Exposures[0].Results {
		reported = append(reported, r.Key)
		if s := page.Shown[r.Key]; r.Status != "published" || r.Variant != s.Variant || s.Version == nil || r.Version != *s.Version {
			t.Errorf("exposure report of %s answered %+v; the page showed %+v", r.Key, r, s)
		}
	}
	if slices.Sort(reported); !slices.Equal(reported, used) {
		t.Errorf("the hook reported %v, want the variant flags the page showed, %v", reported, used)
	}
	raw := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"]).RawStream
	streams.WaitStreamEvents(t, env["FLAGSTREAM_NATS_URL"], raw, len(used), 10*time.Second)
	flagd.WaitMetric(t, "flagstream_flagd_exposures_buffered", 10*time.Second, func(v float64) bool { return v == 0 })
	got, seen := streams.StreamEvents(t, env["FLAGSTREAM_NATS_URL"], raw)
	exposed := map[string]int{}
	for id, ev := range got {
		if ev.Type != events.TypeExposure || ev.UserID != user {
			t.Errorf("raw stream holds %+v", ev)
			continue
		}
		exposed[ev.Experiment] += seen[id]
		// (A flag the page did not show is counted below.)
		if s, ok := page.Shown[ev.Experiment]; ok && (ev.Variant != s.Variant || s.Version == nil || ev.FlagVersion != *s.Version) {
			t.Errorf("exposure %+v; the page showed %+v", ev, s)
		}
	}
	if wantExposed := map[string]int{"checkout": 1, "pricing": 1}; !maps.Equal(exposed, wantExposed) {
		t.Errorf("exposures on the raw stream by flag: %v, want %v (only the flags the page showed, once)", exposed, wantExposed)
	}
	if d := flagd.Metric(t, "flagstream_flagd_exposures_dropped_total"); d != 0 {
		t.Errorf("flagd dropped %v exposures", d)
	}

	// EventSource sends no headers, so the stream's URL authenticates
	// itself; it must not carry the token (URLs end up in access logs), and
	// flagd must not log the token either.
	streams := site.requests(http.MethodGet, "/ofrep/v1/event-stream")
	if len(streams) == 0 {
		t.Errorf("the page never requested /ofrep/v1/event-stream")
	}
	for _, r := range streams {
		if strings.Contains(r.query.Encode(), browserEvalToken) {
			t.Errorf("the event stream's URL carries the evaluate token: %v", r.query)
		}
	}
	if strings.Contains(flagd.Logs.String(), browserEvalToken) {
		t.Errorf("flagd logged the evaluate token:\n%s", flagd.Logs.String())
	}
	if errs := tab.Errors(); len(errs) > 0 {
		t.Errorf("the page logged errors: %q", errs)
	}
}

// The exposure hook the README quotes, alone: its unit tests
// (src/exposure-hook.test.js) under Node's test runner, with fetch replaced
// by a recorder: once per flag and user, nothing without a variant, stale,
// dropped and failed reports sent again on the next use, batching.
func TestExposureHookSnippet(t *testing.T) {
	testenv.Lookup(t, WebVar) // scripts/web.sh installed node; unset, skip or fail as every browser test
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not on PATH (%v): scripts/web.sh installs it", err)
	}
	out, err := exec.Command(node, "--test", "src/exposure-hook.test.js").CombinedOutput()
	if err != nil {
		t.Fatalf("node --test src/exposure-hook.test.js: %v\n%s", err, out)
	}
	// A file that failed to load reports no test at all, and passes.
	if strings.Contains(string(out), "# pass 0") || !strings.Contains(string(out), "# fail 0") {
		t.Fatalf("node --test src/exposure-hook.test.js ran no test or failed one:\n%s", out)
	}
}
