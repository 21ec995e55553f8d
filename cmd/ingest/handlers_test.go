package main

// Handler tests: the routes of http.go over fakes of the raw stream and the
// live counters, so they run without NATS or Redis and without any
// FLAGSTREAM_TEST_* variable. What the servers do with the events is for the
// integration tests (ingest_test.go, exact_test.go).

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/httpapi/httpapitest"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/pkg/events"
)

// The tokens of the handler tests: one per scope the routes need, and one
// that holds neither.
const (
	ingestToken   = "handler-test-ingest-token"
	readToken     = "handler-test-read-token"
	evaluateToken = "handler-test-evaluate-token"
)

// fakeRaw records the batches the handler stores and fails them with err.
type fakeRaw struct {
	err     error
	batches [][]events.Event
}

func (f *fakeRaw) StoreRaw(_ context.Context, evs []events.Event) error {
	f.batches = append(f.batches, evs)
	return f.err
}

// fakeLive answers the read routes from fixed figures, or fails with err.
type fakeLive struct {
	err     error
	results map[string]live.VariantStats
	names   []string
	asked   []string // "experiment day" of each Results call
}

func (f *fakeLive) Results(_ context.Context, experiment, day string) (map[string]live.VariantStats, error) {
	f.asked = append(f.asked, experiment+" "+day)
	return f.results, f.err
}

func (f *fakeLive) Experiments(context.Context) ([]string, error) {
	f.asked = append(f.asked, "experiments")
	return f.names, f.err
}

// ingestHandler is ingest's HTTP handler over fakes, with tokens configured
// as a deployment beyond loopback has them.
type ingestHandler struct {
	raw     *fakeRaw
	live    *fakeLive
	metrics *metrics
	http.Handler
}

func newIngestHandler(t *testing.T) *ingestHandler {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	lines := fmt.Sprintf("ingest %s\nread %s\nevaluate %s\n", ingestToken, readToken, evaluateToken)
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	tokens, err := httpapi.LoadTokens(file)
	if err != nil {
		t.Fatal(err)
	}
	h := &ingestHandler{raw: &fakeRaw{}, live: &fakeLive{}, metrics: newMetrics()}
	a := &api{raw: h.raw, counters: h.live, tokens: tokens, metrics: h.metrics}
	h.Handler = a.handler(httpapi.NewHealth(context.Background()), h.metrics.registry)
	return h
}

// do sends one request; token "" sends none.
func (h *ingestHandler) do(method, path, token, contentType, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		r.Header.Set("Content-Type", contentType)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// counter sums a counter of the handler's registry over its labels.
func (h *ingestHandler) counter(t *testing.T, name string) float64 {
	t.Helper()
	return gatheredCounter(t, h.metrics.registry, name)
}

func gatheredCounter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

// exposure is one valid exposure event as a JSON line; id "" sends none.
func exposure(id, user string, ts time.Time) string {
	idField := ""
	if id != "" {
		idField = fmt.Sprintf(`"id":%q,`, id)
	}
	return fmt.Sprintf(`{%s"type":"exposure","experiment":"pricing","variant":"control","user_id":%q,"ts":%q}`,
		idField, user, ts.UTC().Format(time.RFC3339Nano))
}

func TestIngestRouting(t *testing.T) {
	h := newIngestHandler(t)
	for _, c := range []struct {
		method, path string
		status       int
		allow        string
	}{
		{"GET", "/v1/events", http.StatusMethodNotAllowed, "POST"},
		{"PUT", "/v1/events", http.StatusMethodNotAllowed, "POST"},
		{"POST", "/v1/experiments", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"DELETE", "/v1/experiments/pricing/live", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET", "/v1/nothing", http.StatusNotFound, ""},
		{"GET", "/v1/experiments/pricing", http.StatusNotFound, ""},
		{"GET", "/healthz", http.StatusOK, ""},
		{"GET", "/metrics", http.StatusOK, ""},
	} {
		w := h.do(c.method, c.path, ingestToken, "", "")
		if w.Code != c.status {
			t.Errorf("%s %s = %d, want %d", c.method, c.path, w.Code, c.status)
		}
		if got := w.Header().Get("Allow"); got != c.allow {
			t.Errorf("%s %s: Allow %q, want %q", c.method, c.path, got, c.allow)
		}
	}
	if len(h.raw.batches) != 0 || len(h.live.asked) != 0 {
		t.Errorf("a request the mux refused reached a handler: %d batches, %v", len(h.raw.batches), h.live.asked)
	}
}

// Each route needs its scope: 401 without a known token (with the
// challenge), 403 with a token of another scope, both in the error shape and
// before anything is stored or read.
func TestIngestAuth(t *testing.T) {
	h := newIngestHandler(t)
	body := "[" + exposure("", "alice", time.Now()) + "]"
	for _, c := range []struct {
		method, path, token string
		status              int
		code                string
	}{
		{"POST", "/v1/events", "", http.StatusUnauthorized, "unauthorized"},
		{"POST", "/v1/events", "not-a-token-of-this-service", http.StatusUnauthorized, "unauthorized"},
		{"POST", "/v1/events", readToken, http.StatusForbidden, "forbidden"},
		{"POST", "/v1/events", evaluateToken, http.StatusForbidden, "forbidden"},
		{"GET", "/v1/experiments/pricing/live", "", http.StatusUnauthorized, "unauthorized"},
		{"GET", "/v1/experiments/pricing/live", ingestToken, http.StatusForbidden, "forbidden"},
		{"GET", "/v1/experiments", "", http.StatusUnauthorized, "unauthorized"},
		{"GET", "/v1/experiments", ingestToken, http.StatusForbidden, "forbidden"},
	} {
		t.Run(fmt.Sprintf("%s %s token %q", c.method, c.path, c.token), func(t *testing.T) {
			w := h.do(c.method, c.path, c.token, "application/json", body)
			httpapitest.CheckError(t, w, c.status, c.code)
			challenge := w.Header().Get("WWW-Authenticate")
			if (c.status == http.StatusUnauthorized) != (challenge != "") {
				t.Errorf("WWW-Authenticate %q on a %d", challenge, c.status)
			}
		})
	}
	if len(h.raw.batches) != 0 || len(h.live.asked) != 0 {
		t.Errorf("a refused request reached the stores: %d batches, %v", len(h.raw.batches), h.live.asked)
	}
	// Health and metrics stay open: probes carry no token.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if w := h.do("GET", path, "", "", ""); w.Code != http.StatusOK {
			t.Errorf("GET %s without a token = %d", path, w.Code)
		}
	}
}

// A JSON array and NDJSON of the same events are the same batch: 202 once
// stored, the ids in order (an absent id derived from the content, so both
// forms derive the same), and the events stored as sent.
func TestPostEventsArrayAndNDJSON(t *testing.T) {
	ts := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	first, second := exposure("ev-1", "alice", ts), exposure("", "bob", ts)
	var derived string
	for _, c := range []struct{ name, contentType, body string }{
		{"array", "application/json", "[" + first + ",\n " + second + "]"},
		{"ndjson", "application/x-ndjson", first + "\n" + second + "\n"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newIngestHandler(t)
			got := httpapitest.DecodeAnswer[postResponse](t, h.do("POST", "/v1/events", ingestToken, c.contentType, c.body), http.StatusAccepted)
			if got.Accepted != 2 || len(got.Invalid) != 0 || got.Invalid == nil || got.Error != "" || got.Message != "" {
				t.Errorf("answer %+v, want 2 accepted, an empty invalid list, no error", got)
			}
			if len(got.IDs) != 2 || got.IDs[0] != "ev-1" || got.IDs[1] == "" {
				t.Fatalf("ids %q, want ev-1 then a derived id", got.IDs)
			}
			if derived == "" {
				derived = got.IDs[1]
			} else if got.IDs[1] != derived {
				t.Errorf("derived id %q, the other form derived %q", got.IDs[1], derived)
			}
			if len(h.raw.batches) != 1 || len(h.raw.batches[0]) != 2 {
				t.Fatalf("stored batches %v, want one of 2 events", h.raw.batches)
			}
			for i, e := range h.raw.batches[0] {
				if e.ID != got.IDs[i] || e.Type != events.TypeExposure || e.Experiment != "pricing" || !e.TS.Equal(ts) {
					t.Errorf("stored event %d = %+v, want id %s at %s", i, e, got.IDs[i], ts)
				}
			}
			if users := []string{h.raw.batches[0][0].UserID, h.raw.batches[0][1].UserID}; !slices.Equal(users, []string{"alice", "bob"}) {
				t.Errorf("stored users %v, want alice, bob in order", users)
			}
			if n := h.counter(t, "flagstream_ingest_events_in_total"); n != 2 {
				t.Errorf("flagstream_ingest_events_in_total = %v, want 2", n)
			}
		})
	}
}

// Each invalid event is listed with its index, the field at fault and why;
// the valid ones are stored. A batch with nothing valid is a 400 in the same
// shape, and nothing is stored.
func TestPostEventsInvalidListed(t *testing.T) {
	now := time.Now().UTC()
	ts := now.Format(time.RFC3339)
	bad := []string{
		`{"type":"exposure","experiment":"pricing","user_id":"carol","ts":"` + ts + `"}`,
		`{"type":"conversion","user_id":"` + strings.Repeat("x", 300) + `","conversion_type":"signup","ts":"` + ts + `"}`,
		`{"type":"click","user_id":"z","ts":"` + ts + `"}`,
		`{"type":"conversion","user_id":"z","conversion_type":"purchase","value":"12","ts":"` + ts + `"}`,
		`{"type":"exposure","experiment":"bad:name","variant":"a","user_id":"z","ts":"` + ts + `"}`,
		`{"type":"exposure","experiment":"pricing","variant":"a","user_id":"z","ts":"2001-01-01T00:00:00Z"}`,
	}
	badFields := []string{"variant", "user_id", "type", "value", "experiment", "ts"}

	// Valid events first and between: the indexes are those of the batch.
	h := newIngestHandler(t)
	batch := append([]string{exposure("ok-1", "alice", now)}, bad[:3]...)
	batch = append(batch, exposure("ok-2", "bob", now))
	batch = append(batch, bad[3:]...)
	got := httpapitest.DecodeAnswer[postResponse](t, h.do("POST", "/v1/events", ingestToken, "application/json", "["+strings.Join(batch, ",")+"]"), http.StatusAccepted)
	if got.Accepted != 2 || !slices.Equal(got.IDs, []string{"ok-1", "ok-2"}) {
		t.Errorf("accepted %d ids %q, want 2: ok-1, ok-2", got.Accepted, got.IDs)
	}
	checkInvalid(t, got.Invalid, []int{1, 2, 3, 5, 6, 7}, badFields)
	if len(h.raw.batches) != 1 || len(h.raw.batches[0]) != 2 {
		t.Errorf("stored %v, want the 2 valid events", h.raw.batches)
	}
	if n := h.counter(t, "flagstream_ingest_events_invalid_total"); n != float64(len(bad)) {
		t.Errorf("flagstream_ingest_events_invalid_total = %v, want %d", n, len(bad))
	}

	h = newIngestHandler(t)
	got = httpapitest.DecodeAnswer[postResponse](t, h.do("POST", "/v1/events", ingestToken, "application/x-ndjson", strings.Join(bad, "\n")), http.StatusBadRequest)
	if got.Accepted != 0 || got.IDs == nil || len(got.IDs) != 0 || got.Error != "" {
		t.Errorf("answer %+v, want 0 accepted, an empty id list and no error code", got)
	}
	checkInvalid(t, got.Invalid, []int{0, 1, 2, 3, 4, 5}, badFields)
	for _, b := range h.raw.batches {
		if len(b) != 0 {
			t.Errorf("nothing valid, yet %v stored", b)
		}
	}
}

func checkInvalid(t *testing.T, got []invalidEvent, indexes []int, fields []string) {
	t.Helper()
	if len(got) != len(indexes) {
		t.Fatalf("invalid %+v, want %d entries", got, len(indexes))
	}
	for i := range indexes {
		if got[i].Index != indexes[i] || got[i].Field != fields[i] || got[i].Reason == "" {
			t.Errorf("invalid[%d] = %+v, want index %d field %q with a reason", i, got[i], indexes[i], fields[i])
		}
	}
}

// Whole-batch refusals: a body over 8 MiB is 413, one that is neither an
// array nor NDJSON, empty, or over 10,000 events is 400; none is stored.
func TestPostEventsWholeBatchRefused(t *testing.T) {
	h := newIngestHandler(t)
	line := exposure("", "alice", time.Now())
	for _, c := range []struct {
		name, body string
		status     int
		code       string
		messageHas string
	}{
		{"over the body limit", "[" + strings.Repeat(" ", eventsBodyLimit) + "]", http.StatusRequestEntityTooLarge, "too_large", ""},
		{"empty", "", http.StatusBadRequest, "invalid", "empty"},
		{"blank", " \n\t ", http.StatusBadRequest, "invalid", "empty"},
		{"a string", `"events"`, http.StatusBadRequest, "invalid", "starts with"},
		{"an unterminated array", "[" + line, http.StatusBadRequest, "invalid", "does not end"},
		{"too many events", strings.Repeat(line+"\n", maxBatch+1), http.StatusBadRequest, "invalid", fmt.Sprint(maxBatch)},
	} {
		t.Run(c.name, func(t *testing.T) {
			httpapitest.CheckError(t, h.do("POST", "/v1/events", ingestToken, "application/json", c.body), c.status, c.code, c.messageHas)
		})
	}
	if len(h.raw.batches) != 0 {
		t.Errorf("a refused batch was stored: %d batches", len(h.raw.batches))
	}
	// Exactly the limit is one event too many only by count, never by size.
	w := h.do("POST", "/v1/events", ingestToken, "application/x-ndjson", strings.Repeat(line+"\n", maxBatch))
	if got := httpapitest.DecodeAnswer[postResponse](t, w, http.StatusAccepted); got.Accepted != maxBatch {
		t.Errorf("%d events accepted of a batch of exactly %d", got.Accepted, maxBatch)
	}
}

// The handler reads the body, not the Content-Type header (DESIGN.md names
// no content type): a JSON array sent as text/plain is taken, and a form body
// is refused for what it holds, whatever it is labelled.
func TestPostEventsContentTypeNotChecked(t *testing.T) {
	h := newIngestHandler(t)
	body := "[" + exposure("typed-1", "alice", time.Now()) + "]"
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		got := httpapitest.DecodeAnswer[postResponse](t, h.do("POST", "/v1/events", ingestToken, ct, body), http.StatusAccepted)
		if got.Accepted != 1 || !slices.Equal(got.IDs, []string{"typed-1"}) {
			t.Errorf("Content-Type %q: %+v, want the event accepted", ct, got)
		}
	}
	for _, ct := range []string{"application/x-www-form-urlencoded", "application/json"} {
		httpapitest.CheckError(t, h.do("POST", "/v1/events", ingestToken, ct, "type=exposure&user_id=alice"), http.StatusBadRequest, "invalid", "starts with")
	}
}

// An empty array is a batch of nothing: nothing to fix (no invalid event),
// so 202 with zero accepted and empty lists, not a 400.
func TestPostEventsEmptyArray(t *testing.T) {
	h := newIngestHandler(t)
	got := httpapitest.DecodeAnswer[postResponse](t, h.do("POST", "/v1/events", ingestToken, "application/json", " [ ] "), http.StatusAccepted)
	if got.Accepted != 0 || got.IDs == nil || len(got.IDs) != 0 || got.Invalid == nil || len(got.Invalid) != 0 {
		t.Errorf("answer %+v, want 0 accepted and empty (not null) lists", got)
	}
}

// When the raw stream cannot store the batch: 503 with Retry-After,
// "unavailable", accepted 0, and the ids (and invalid list) to resend with;
// a full stream says so, asks for a longer wait and is counted.
func TestPostEventsStoreFails(t *testing.T) {
	now := time.Now()
	body := "[" + exposure("keep-1", "alice", now) + `,{"type":"click","user_id":"z"},` + exposure("", "bob", now) + "]"
	for _, c := range []struct {
		name       string
		err        error
		retryAfter string
		messageHas string
		refused    float64
	}{
		{"unreachable", errors.New("nats: timeout"), "1", "could not be stored", 0},
		{"full", errors.New("nats: API error: code=503 err_code=10077 description=maximum messages exceeded"), "5", "full", 1},
		{"full by bytes", errors.New("nats: maximum bytes exceeded"), "5", "full", 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := newIngestHandler(t)
			h.raw.err = c.err
			w := h.do("POST", "/v1/events", ingestToken, "application/json", body)
			if got := w.Header().Get("Retry-After"); got != c.retryAfter {
				t.Errorf("Retry-After %q, want %q", got, c.retryAfter)
			}
			got := httpapitest.DecodeAnswer[postResponse](t, w, http.StatusServiceUnavailable)
			if got.Error != "unavailable" || got.Accepted != 0 || !strings.Contains(got.Message, c.messageHas) {
				t.Errorf("answer %+v, want error unavailable, accepted 0, a message saying %q", got, c.messageHas)
			}
			if len(got.IDs) != 2 || got.IDs[0] != "keep-1" || got.IDs[1] == "" {
				t.Errorf("ids %q, want keep-1 and bob's derived id to resend with", got.IDs)
			}
			checkInvalid(t, got.Invalid, []int{1}, []string{"type"})
			if strings.Contains(got.Message, c.err.Error()) {
				t.Errorf("message %q repeats the internal error", got.Message)
			}
			if n := h.counter(t, "flagstream_ingest_batches_refused_full_total"); n != c.refused {
				t.Errorf("flagstream_ingest_batches_refused_full_total = %v, want %v", n, c.refused)
			}
			if n := h.counter(t, "flagstream_ingest_events_in_total"); n != 0 {
				t.Errorf("flagstream_ingest_events_in_total = %v after a 503, want 0", n)
			}
		})
	}
}

// The store is given publishTimeout: a publish whose acknowledgements never
// come ends (in a 503) instead of holding the request open.
func TestPostEventsStoreHasDeadline(t *testing.T) {
	h := newIngestHandler(t)
	var remaining time.Duration
	var ok bool
	a := &api{raw: rawStoreFunc(func(ctx context.Context, _ []events.Event) error {
		var deadline time.Time
		deadline, ok = ctx.Deadline()
		remaining = time.Until(deadline)
		return nil
	}), counters: h.live, metrics: h.metrics}
	w := httptest.NewRecorder()
	a.postEvents().ServeHTTP(w, httptest.NewRequest("POST", "/v1/events", strings.NewReader(exposure("", "alice", time.Now()))))
	httpapitest.DecodeAnswer[postResponse](t, w, http.StatusAccepted)
	if !ok || remaining > publishTimeout || remaining < publishTimeout-5*time.Second {
		t.Errorf("store deadline in %v (set: %v), want about %v", remaining, ok, publishTimeout)
	}
}

type rawStoreFunc func(context.Context, []events.Event) error

func (f rawStoreFunc) StoreRaw(ctx context.Context, evs []events.Event) error { return f(ctx, evs) }

func TestLiveResults(t *testing.T) {
	h := newIngestHandler(t)
	h.live.results = map[string]live.VariantStats{
		"control": {Exposures: 10, UniqueUsers: 9, Conversions: map[string]live.ConversionStats{
			"purchase": {Count: 2, Value: 25, UniqueConverters: 2, ConversionRate: 22.22}}},
		"b": {Exposures: 12, UniqueUsers: 12, Conversions: map[string]live.ConversionStats{}},
	}
	got := httpapitest.DecodeAnswer[liveResponse](t, h.do("GET", "/v1/experiments/pricing/live?date=2026-03-01", readToken, "", ""), http.StatusOK)
	if got.Experiment != "pricing" || got.Date != "2026-03-01" || got.Note == "" {
		t.Errorf("answer %+v, want pricing on 2026-03-01 with a note", got)
	}
	if c := got.Results["control"]; c.Exposures != 10 || c.UniqueUsers != 9 || c.Conversions["purchase"] != h.live.results["control"].Conversions["purchase"] {
		t.Errorf("control %+v, want %+v", c, h.live.results["control"])
	}
	if b := got.Results["b"]; b.Exposures != 12 || len(got.Results) != 2 {
		t.Errorf("results %+v, want control and b", got.Results)
	}

	// Without a date: today in UTC, read once the answer is built around it.
	before := time.Now().UTC().Format(time.DateOnly)
	got = httpapitest.DecodeAnswer[liveResponse](t, h.do("GET", "/v1/experiments/pricing/live", readToken, "", ""), http.StatusOK)
	after := time.Now().UTC().Format(time.DateOnly)
	if got.Date != before && got.Date != after {
		t.Errorf("default date %q, want today UTC (%s)", got.Date, after)
	}
	if want := []string{"pricing 2026-03-01", "pricing " + got.Date}; !slices.Equal(h.live.asked, want) {
		t.Errorf("counters read for %q, want %q", h.live.asked, want)
	}
}

func TestLiveResultsRefused(t *testing.T) {
	h := newIngestHandler(t)
	for _, c := range []struct{ path, messageHas string }{
		{"/v1/experiments/bad:key/live", "experiment"},
		{"/v1/experiments/" + strings.Repeat("k", 300) + "/live", "experiment"},
		{"/v1/experiments/pricing/live?date=2026-13-01", "date"},
		{"/v1/experiments/pricing/live?date=yesterday", "date"},
	} {
		httpapitest.CheckError(t, h.do("GET", c.path, readToken, "", ""), http.StatusBadRequest, "invalid", c.messageHas)
	}
	if len(h.live.asked) != 0 {
		t.Errorf("counters read for a refused request: %v", h.live.asked)
	}

	// Redis away: 503 with Retry-After, and a message that names no internals.
	h.live.err = errors.New("dial tcp 10.0.0.7:6379: connection refused")
	for _, path := range []string{"/v1/experiments/pricing/live", "/v1/experiments"} {
		w := h.do("GET", path, readToken, "", "")
		e := httpapitest.CheckError(t, w, http.StatusServiceUnavailable, "unavailable")
		if w.Header().Get("Retry-After") == "" || strings.Contains(e.Message, "10.0.0.7") {
			t.Errorf("GET %s: Retry-After %q, message %q: want a Retry-After and no address", path, w.Header().Get("Retry-After"), e.Message)
		}
	}
}

func TestLiveExperiments(t *testing.T) {
	h := newIngestHandler(t)
	h.live.names = []string{"checkout", "pricing"}
	got := httpapitest.DecodeAnswer[experimentsResponse](t, h.do("GET", "/v1/experiments", readToken, "", ""), http.StatusOK)
	if !slices.Equal(got.Experiments, h.live.names) {
		t.Errorf("experiments %q, want %q", got.Experiments, h.live.names)
	}
}

// SDKs send batches gzipped: POST /v1/events inflates them (its 8 MiB limit
// holds once inflated too), and refuses an encoding it cannot read with 415
// rather than reading it as JSON.
func TestPostEventsGzip(t *testing.T) {
	h := newIngestHandler(t)
	body := strings.Repeat(exposure("", "alice", time.Now())+"\n", 3)
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write([]byte(body))
	_ = zw.Close()
	send := func(encoding string, b []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/v1/events", bytes.NewReader(b))
		r.Header.Set("Authorization", "Bearer "+ingestToken)
		r.Header.Set("Content-Encoding", encoding)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if got := httpapitest.DecodeAnswer[postResponse](t, send("gzip", zipped.Bytes()), http.StatusAccepted); got.Accepted != 3 {
		t.Errorf("gzip: %d accepted, want 3", got.Accepted)
	}
	httpapitest.CheckError(t, send("br", []byte(body)), http.StatusUnsupportedMediaType, "unsupported_encoding", "br")
	httpapitest.CheckError(t, send("gzip", []byte(body)), http.StatusBadRequest, "invalid", "not gzip")
	var bomb bytes.Buffer
	zw = gzip.NewWriter(&bomb)
	_, _ = zw.Write(bytes.Repeat([]byte(" "), eventsBodyLimit+1))
	_ = zw.Close()
	httpapitest.CheckError(t, send("gzip", bomb.Bytes()), http.StatusRequestEntityTooLarge, "too_large")
	if len(h.raw.batches) != 1 {
		t.Errorf("%d batches stored, want the one readable", len(h.raw.batches))
	}
}
