package ofhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-feature/go-sdk/openfeature"

	"github.com/flagstream/flagstream/pkg/ofhook"
)

// fakeProvider answers like the OFREP provider does against flagd: flags in
// variants have a variant and flagd's metadata.version; others have none.
type fakeProvider struct {
	openfeature.NoopProvider
	variants map[string]string // flag → the variant it answers
	version  any               // metadata "version" (float64 as decoded from JSON)
}

func (p fakeProvider) Metadata() openfeature.Metadata { return openfeature.Metadata{Name: "fake"} }

func (p fakeProvider) StringEvaluation(_ context.Context, flag, def string, _ openfeature.FlattenedContext) openfeature.StringResolutionDetail {
	v, ok := p.variants[flag]
	if !ok {
		return openfeature.StringResolutionDetail{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
			Reason: openfeature.StaticReason, FlagMetadata: openfeature.FlagMetadata{"version": p.version}}}
	}
	return openfeature.StringResolutionDetail{Value: v, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
		Variant: v, Reason: openfeature.SplitReason, FlagMetadata: openfeature.FlagMetadata{"version": p.version}}}
}

// BooleanEvaluation fails as the OFREP provider does for a flag whose
// value is a variant name.
func (p fakeProvider) BooleanEvaluation(_ context.Context, _ string, def bool, _ openfeature.FlattenedContext) openfeature.BoolResolutionDetail {
	return openfeature.BoolResolutionDetail{Value: def, ProviderResolutionDetail: openfeature.ProviderResolutionDetail{
		ResolutionError: openfeature.NewTypeMismatchResolutionError("value is a string"), Reason: openfeature.ErrorReason}}
}

// newClient registers p under a domain of this test's own (the SDK's
// provider registry is global) and returns a client of it.
func newClient(t *testing.T, p openfeature.FeatureProvider, hooks ...openfeature.Hook) *openfeature.Client {
	t.Helper()
	domain := t.Name()
	if err := openfeature.SetNamedProviderAndWait(domain, p); err != nil {
		t.Fatal(err)
	}
	c := openfeature.NewClient(domain)
	c.AddHooks(hooks...)
	return c
}

// sentExposure is one element of a POST /v1/exposures body, as flagd reads it.
type sentExposure struct {
	Context map[string]any `json:"context"`
	Flags   []struct {
		Key     string `json:"key"`
		Version *int64 `json:"version"`
		TS      string `json:"ts"`
		ID      string `json:"id"`
	} `json:"flags"`
}

// fakeFlagd records the requests of one route and answers with answer.
type fakeFlagd struct {
	*httptest.Server
	mu       sync.Mutex
	bodies   [][]byte
	requests chan []byte // every request's body, as it arrives
	headers  chan http.Header
}

func newFakeFlagd(t *testing.T, answer func(n int, body []byte, w http.ResponseWriter)) *fakeFlagd {
	t.Helper()
	f := &fakeFlagd{requests: make(chan []byte, 1000), headers: make(chan http.Header, 1000)}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.bodies = append(f.bodies, body)
		n := len(f.bodies)
		f.mu.Unlock()
		f.headers <- r.Header.Clone()
		f.requests <- body
		answer(n, body, w)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeFlagd) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.bodies)
}

// next waits for the next request's body.
func (f *fakeFlagd) next(t *testing.T) []sentExposure {
	t.Helper()
	select {
	case body := <-f.requests:
		var got []sentExposure
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return got
	case <-time.After(10 * time.Second):
		t.Fatal("no request within 10 s")
		return nil
	}
}

// answerAll answers every exposure of a request with status.
func answerAll(status string) func(int, []byte, http.ResponseWriter) {
	return func(_ int, body []byte, w http.ResponseWriter) {
		var items []sentExposure
		_ = json.Unmarshal(body, &items)
		results := []map[string]any{}
		for _, it := range items {
			for _, f := range it.Flags {
				results = append(results, map[string]any{"key": f.Key, "status": status})
			}
		}
		w.WriteHeader(http.StatusAccepted)
		_ = json.NewEncoder(w).Encode(map[string]any{"results": results})
	}
}

func newHook(t *testing.T, o ofhook.Options) *ofhook.Hook {
	t.Helper()
	h, err := ofhook.NewHook(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(context.Background()) })
	return h
}

func closeHook(t *testing.T, h *ofhook.Hook) ofhook.Stats {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	return h.Stats()
}

func user(i int) openfeature.EvaluationContext {
	return openfeature.NewEvaluationContext(fmt.Sprintf("user_%d", i), map[string]any{"country": "NZ", "groups": []any{"beta"}})
}

// Only evaluations with a variant are reported, with the flag key, the
// version from the answer's metadata, the whole context and when it was
// evaluated, never a variant; batches hold BatchSize exposures, and what is
// left waits for the interval (here an hour) or Flush.
func TestHookReportsUsedVariantFlagsInBatches(t *testing.T) {
	flagd := newFakeFlagd(t, answerAll("published"))
	h := newHook(t, ofhook.Options{URL: flagd.URL, Token: "tok", BatchSize: 2, FlushInterval: time.Hour})
	c := newClient(t, fakeProvider{variants: map[string]string{"checkout": "treatment", "banner": "control"}, version: float64(3)}, h)
	ctx := context.Background()
	before := time.Now()
	for i := range 5 {
		c.String(ctx, "checkout", "off", user(i))
	}
	c.String(ctx, "plain", "off", user(9))                                          // no variant: nothing to report
	c.String(ctx, "banner", "off", openfeature.NewTargetlessEvaluationContext(nil)) // no targetingKey: flagd would expose nobody
	c.Boolean(ctx, "checkout", false, user(0))                                      // a type mismatch is an error: After is not called

	var got []sentExposure
	for range 2 {
		batch := flagd.next(t)
		if len(batch) != 2 {
			t.Fatalf("a batch of %d exposures, want 2 (BatchSize)", len(batch))
		}
		got = append(got, batch...)
	}
	// The fifth waits for its batch to fill: Flush sends it.
	if n := flagd.count(); n != 2 {
		t.Fatalf("%d requests before Flush, want 2", n)
	}
	if err := h.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	last := flagd.next(t)
	got = append(got, last...)
	if len(got) != 5 {
		t.Fatalf("%d exposures sent, want 5", len(got))
	}
	for i, e := range got {
		if len(e.Flags) != 1 || e.Flags[0].Key != "checkout" || e.Flags[0].Version == nil || *e.Flags[0].Version != 3 {
			t.Errorf("exposure %d: flags %+v, want checkout at version 3", i, e.Flags)
		}
		if tk := e.Context["targetingKey"]; tk != fmt.Sprintf("user_%d", i) || e.Context["country"] != "NZ" {
			t.Errorf("exposure %d: context %v", i, e.Context)
		}
		ts, err := time.Parse(time.RFC3339Nano, e.Flags[0].TS)
		if err != nil || ts.Before(before.Add(-time.Millisecond)) || ts.After(time.Now()) {
			t.Errorf("exposure %d: ts %q, want the evaluation's time (%v)", i, e.Flags[0].TS, err)
		}
	}
	for _, body := range flagd.bodies {
		if strings.Contains(string(body), "variant") || strings.Contains(string(body), "treatment") {
			t.Errorf("body %s carries a variant: flagd recomputes it", body)
		}
	}
	if hdr := <-flagd.headers; hdr.Get("Authorization") != "Bearer tok" || hdr.Get("Content-Type") != "application/json" {
		t.Errorf("headers %v", hdr)
	}
	want := ofhook.Stats{Skipped: 1, Queued: 5, Published: 5}
	if st := closeHook(t, h); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

// A batch that does not fill is sent FlushInterval after its first exposure.
func TestHookSendsAfterFlushInterval(t *testing.T) {
	flagd := newFakeFlagd(t, answerAll("published"))
	h := newHook(t, ofhook.Options{URL: flagd.URL, BatchSize: 100, FlushInterval: 20 * time.Millisecond})
	c := newClient(t, fakeProvider{variants: map[string]string{"checkout": "control"}, version: float64(1)}, h)
	c.String(context.Background(), "checkout", "off", user(1))
	if got := flagd.next(t); len(got) != 1 || got[0].Flags[0].Key != "checkout" {
		t.Fatalf("sent %+v", got)
	}
	// The request came without Flush or Close; Close now waits for its answer.
	if st := closeHook(t, h); st != (ofhook.Stats{Queued: 1, Published: 1}) || flagd.count() != 1 {
		t.Errorf("Stats() = %+v after %d requests, want 1 published after 1", st, flagd.count())
	}
}

// A full queue drops and counts, and evaluation goes on at full speed while
// flagd does not answer; what was queued is sent once it does.
func TestHookFullQueueDropsWithoutBlocking(t *testing.T) {
	release := make(chan struct{})
	published := answerAll("published")
	flagd := newFakeFlagd(t, func(n int, body []byte, w http.ResponseWriter) {
		<-release
		published(n, body, w)
	})
	h := newHook(t, ofhook.Options{URL: flagd.URL, BatchSize: 1, QueueSize: 2, FlushInterval: time.Hour})
	c := newClient(t, fakeProvider{variants: map[string]string{"checkout": "control"}, version: float64(1)}, h)
	ctx := context.Background()
	c.String(ctx, "checkout", "off", user(0))
	flagd.next(t) // barrier: the sender holds exposure 0 and waits for flagd
	evaluated := make(chan struct{})
	go func() {
		for i := 1; i <= 5; i++ { // 1 and 2 fill the queue; 3, 4, 5 find it full
			c.String(ctx, "checkout", "off", user(i))
		}
		close(evaluated)
	}()
	select {
	case <-evaluated:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("evaluation blocked on a full queue")
	}
	if st := h.Stats(); st.Queued != 3 || st.QueueFull != 3 {
		t.Errorf("while flagd hangs: %+v, want 3 queued and 3 dropped", st)
	}
	close(release)
	want := ofhook.Stats{Queued: 3, QueueFull: 3, Published: 3}
	if st := closeHook(t, h); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

// A 503 is retried, and of a 202 only the exposures flagd dropped (its
// buffer full) are sent again, up to MaxAttempts requests.
func TestHookRetriesTransientFailuresAndDroppedExposures(t *testing.T) {
	flagd := newFakeFlagd(t, func(n int, body []byte, w http.ResponseWriter) {
		switch n {
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"unavailable","message":"flags not loaded"}`))
		case 2:
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"results":[{"key":"a","status":"dropped"},{"key":"b","status":"published"}]}`))
		default:
			answerAll("published")(n, body, w)
		}
	})
	h := newHook(t, ofhook.Options{URL: flagd.URL, BatchSize: 2, FlushInterval: time.Hour})
	c := newClient(t, fakeProvider{variants: map[string]string{"a": "x", "b": "y"}, version: float64(2)}, h)
	c.String(context.Background(), "a", "", user(1))
	c.String(context.Background(), "b", "", user(1))
	first, second, third := flagd.next(t), flagd.next(t), flagd.next(t)
	if len(first) != 2 || len(second) != 2 {
		t.Fatalf("first two requests carry %d and %d exposures, want the batch of 2 twice", len(first), len(second))
	}
	if len(third) != 1 || third[0].Flags[0].Key != "a" {
		t.Fatalf("third request %+v, want only the dropped exposure of a", third)
	}
	// Each exposure has its id, the same on every attempt.
	if a, b := first[0].Flags[0].ID, first[1].Flags[0].ID; a == "" || a == b || second[0].Flags[0].ID != a || second[1].Flags[0].ID != b || third[0].Flags[0].ID != a {
		t.Errorf("ids %s %s, then %s %s, then %s: want one per exposure, kept by retries",
			a, b, second[0].Flags[0].ID, second[1].Flags[0].ID, third[0].Flags[0].ID)
	}
	want := ofhook.Stats{Queued: 2, Published: 2}
	if st := closeHook(t, h); st != want || flagd.count() != 3 {
		t.Errorf("Stats() = %+v after %d requests, want %+v after 3", st, flagd.count(), want)
	}
}

// Retries stop at MaxAttempts; a 4xx is not retried. Both are counted as
// failed and reported to OnError with flagd's status and message.
func TestHookGivesUp(t *testing.T) {
	for _, tt := range []struct {
		name     string
		status   int
		requests int
	}{
		{"unavailable", http.StatusServiceUnavailable, 3},
		{"bad request", http.StatusBadRequest, 1},
		{"forbidden", http.StatusForbidden, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			flagd := newFakeFlagd(t, func(_ int, _ []byte, w http.ResponseWriter) {
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(`{"error":"x","message":"item 0: context.groups must be a list"}`))
			})
			var errs []error
			var mu sync.Mutex
			h := newHook(t, ofhook.Options{URL: flagd.URL, MaxAttempts: 3, FlushInterval: time.Hour, OnError: func(err error) {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}})
			c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: float64(2)}, h)
			c.String(context.Background(), "a", "", user(1))
			c.String(context.Background(), "a", "", user(2))
			want := ofhook.Stats{Queued: 2, Failed: 2}
			if st := closeHook(t, h); st != want || flagd.count() != tt.requests {
				t.Errorf("Stats() = %+v after %d requests, want %+v after %d", st, flagd.count(), want, tt.requests)
			}
			var he *ofhook.HTTPError
			if len(errs) != 1 || !errors.As(errs[0], &he) || he.Status != tt.status || !strings.Contains(errs[0].Error(), "context.groups must be a list") {
				t.Errorf("OnError got %v, want one HTTPError %d with flagd's message", errs, tt.status)
			}
		})
	}
}

// flagd's other answers are counted as they are.
func TestHookCountsFlagdsStatuses(t *testing.T) {
	flagd := newFakeFlagd(t, func(_ int, _ []byte, w http.ResponseWriter) {
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"results":[{"key":"a","status":"stale"},{"key":"b","status":"not_found"},{"key":"c","status":"not_exposed"},{"key":"d","status":"published"}]}`))
	})
	h := newHook(t, ofhook.Options{URL: flagd.URL, FlushInterval: time.Hour})
	c := newClient(t, fakeProvider{variants: map[string]string{"a": "x", "b": "x", "c": "x", "d": "x"}, version: float64(2)}, h)
	for _, k := range []string{"a", "b", "c", "d"} {
		c.String(context.Background(), k, "", user(1))
	}
	want := ofhook.Stats{Queued: 4, Stale: 1, NotFound: 1, NotExposed: 1, Published: 1}
	if st := closeHook(t, h); st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
}

// Bodies stay within flagd's 256 KiB: a batch is split, an exposure too
// large on its own or whose context is not JSON fails by name, and its
// neighbours are still sent.
func TestHookKeepsBodiesWithinFlagdsLimit(t *testing.T) {
	flagd := newFakeFlagd(t, answerAll("published"))
	var mu sync.Mutex
	var errs []string
	h := newHook(t, ofhook.Options{URL: flagd.URL, FlushInterval: time.Hour, OnError: func(err error) {
		mu.Lock()
		errs = append(errs, err.Error())
		mu.Unlock()
	}})
	c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: float64(1)}, h)
	ctx := context.Background()
	big := strings.Repeat("x", 100<<10)
	for i := range 3 {
		c.String(ctx, "a", "", openfeature.NewEvaluationContext(fmt.Sprintf("u%d", i), map[string]any{"note": big}))
	}
	c.String(ctx, "a", "", openfeature.NewEvaluationContext("huge", map[string]any{"note": strings.Repeat("x", 300<<10)}))
	c.String(ctx, "a", "", openfeature.NewEvaluationContext("odd", map[string]any{"score": math.Inf(1)}))
	st := closeHook(t, h)
	want := ofhook.Stats{Queued: 5, Published: 3, Failed: 2}
	if st != want {
		t.Errorf("Stats() = %+v, want %+v", st, want)
	}
	if flagd.count() != 2 {
		t.Errorf("%d requests for 3 exposures of 100 KiB, want 2", flagd.count())
	}
	for _, b := range flagd.bodies {
		if len(b) > 256<<10 {
			t.Errorf("a body of %d bytes", len(b))
		}
	}
	if len(errs) != 2 || !strings.Contains(errs[0], "context") || !strings.Contains(errs[1], "context") {
		t.Errorf("errors %q, want two naming the context", errs)
	}
}

// Close sends what is queued, then takes nothing more; a Close that runs
// out of time counts what it could not send as failed.
func TestHookClose(t *testing.T) {
	t.Run("flushes then refuses", func(t *testing.T) {
		flagd := newFakeFlagd(t, answerAll("published"))
		h := newHook(t, ofhook.Options{URL: flagd.URL, FlushInterval: time.Hour})
		c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: float64(1)}, h)
		c.String(context.Background(), "a", "", user(1))
		if st := closeHook(t, h); st.Published != 1 {
			t.Fatalf("Close sent nothing: %+v", st)
		}
		c.String(context.Background(), "a", "", user(2))
		if err := h.Flush(context.Background()); !errors.Is(err, ofhook.ErrClosed) {
			t.Errorf("Flush after Close = %v, want ErrClosed", err)
		}
		if err := h.Close(context.Background()); err != nil {
			t.Errorf("second Close = %v", err)
		}
		want := ofhook.Stats{Queued: 1, QueueFull: 1, Published: 1}
		if st := h.Stats(); st != want || flagd.count() != 1 {
			t.Errorf("Stats() = %+v after %d requests, want %+v after 1", st, flagd.count(), want)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		hang := make(chan struct{})
		flagd := newFakeFlagd(t, func(int, []byte, http.ResponseWriter) { <-hang })
		t.Cleanup(func() { close(hang) }) // before the server's Close, which waits for the handler
		h := newHook(t, ofhook.Options{URL: flagd.URL, BatchSize: 1, FlushInterval: time.Hour})
		c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: float64(1)}, h)
		for i := range 3 {
			c.String(context.Background(), "a", "", user(i))
		}
		flagd.next(t) // the first is in flight and hangs
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		if err := h.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close = %v, want its deadline", err)
		}
		want := ofhook.Stats{Queued: 3, Failed: 3}
		if st := h.Stats(); st != want {
			t.Errorf("Stats() = %+v, want %+v", st, want)
		}
	})
}

// The version is read from the metadata as the OFREP provider decodes it;
// a missing or odd one is sent as none.
func TestHookVersionFromMetadata(t *testing.T) {
	for _, tt := range []struct {
		md   any
		want *int64
	}{
		{float64(7), ptr(int64(7))},
		{int64(8), ptr(int64(8))},
		{int(9), ptr(int64(9))},
		{json.Number("10"), ptr(int64(10))},
		{float64(1.5), nil},
		{float64(-1), nil},
		{"7", nil},
		{nil, nil},
	} {
		t.Run(fmt.Sprintf("%T(%v)", tt.md, tt.md), func(t *testing.T) {
			flagd := newFakeFlagd(t, answerAll("published"))
			h := newHook(t, ofhook.Options{URL: flagd.URL, FlushInterval: time.Hour})
			c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: tt.md}, h)
			c.String(context.Background(), "a", "", user(1))
			closeHook(t, h)
			got := flagd.next(t)[0].Flags[0].Version
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("version %v, want %v", deref(got), deref(tt.want))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// Bad options are refused by name.
func TestNewHookRefusesBadOptions(t *testing.T) {
	for _, tt := range []struct {
		o     ofhook.Options
		field string
	}{
		{ofhook.Options{}, "URL"},
		{ofhook.Options{URL: "flagd:8080"}, "URL"},
		{ofhook.Options{URL: "ftp://flagd"}, "URL"},
		{ofhook.Options{URL: "http://flagd", BatchSize: -1}, "BatchSize"},
		{ofhook.Options{URL: "http://flagd", QueueSize: -1}, "QueueSize"},
		{ofhook.Options{URL: "http://flagd", FlushInterval: -time.Second}, "FlushInterval"},
		{ofhook.Options{URL: "http://flagd", MaxAttempts: -1}, "MaxAttempts"},
		{ofhook.Options{URL: "http://flagd", Token: "tok\n"}, "Token"},
	} {
		_, err := ofhook.NewHook(tt.o)
		var fe *ofhook.FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ofhook.ErrInvalid) {
			t.Errorf("NewHook(%+v) = %v, want an error naming %s", tt.o, err, tt.field)
		}
		if _, err := ofhook.NewTracker(tt.o); !errors.As(err, &fe) || fe.Field != tt.field {
			t.Errorf("NewTracker(%+v) = %v, want an error naming %s", tt.o, err, tt.field)
		}
	}
}

// A 202 whose body cannot be read, or that answers for other exposures than
// were sent, was acted on: nothing is sent again (it could publish twice),
// and the exposures count as failed.
func TestHookDoesNotResendAnAcceptedRequest(t *testing.T) {
	for _, body := range []string{`not json`, `{"results":[]}`} {
		t.Run(body, func(t *testing.T) {
			flagd := newFakeFlagd(t, func(_ int, _ []byte, w http.ResponseWriter) {
				w.WriteHeader(http.StatusAccepted)
				_, _ = w.Write([]byte(body))
			})
			var errs atomicCount
			h := newHook(t, ofhook.Options{URL: flagd.URL, FlushInterval: time.Hour, OnError: func(error) { errs.add() }})
			c := newClient(t, fakeProvider{variants: map[string]string{"a": "x"}, version: float64(1)}, h)
			c.String(context.Background(), "a", "", user(1))
			want := ofhook.Stats{Queued: 1, Failed: 1}
			if st := closeHook(t, h); st != want || flagd.count() != 1 || errs.get() != 1 {
				t.Errorf("Stats() = %+v after %d requests and %d errors, want %+v after 1 and 1", st, flagd.count(), errs.get(), want)
			}
		})
	}
}

type atomicCount struct {
	mu sync.Mutex
	n  int
}

func (c *atomicCount) add() { c.mu.Lock(); c.n++; c.mu.Unlock() }
func (c *atomicCount) get() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}
