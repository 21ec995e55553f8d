package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/flags"
)

// OFREP event streams (protocol ADR 0008). The bulk answer names an SSE
// endpoint of this flagd; a provider connects to it and gets a
// refetchEvaluation event when a flag change alters the answer for ITS
// context, so a change reaches clients at once and only the clients it
// concerns refetch.
//
// The URL carries the evaluation context itself (canonical JSON,
// base64url), so any flagd behind a load balancer can serve any stream
// without shared state, plus, with tokens configured, a MAC over it
// (stream_auth.go).
//
// Which change "alters the answer": a flag's value, variant, reason or error
// for this context, or the flag appearing or going away. A write that bumps
// only the version (and so metadata.version and the bulk ETag) while this
// context keeps its answer sends nothing: otherwise every write would make
// every connected client refetch at once. The event's etag is nevertheless
// the full bulk ETag of the moment (the one a refetch then gets), and the
// event id names the answer, so Last-Event-ID tells whether a reconnecting
// client missed a change.

const (
	streamPath = "/ofrep/v1/event-stream"
	// streamContextMax bounds the context JSON a stream URL carries: URLs
	// beyond a few KiB break in proxies and browsers. A bulk request with a
	// larger context gets no eventStreams and polls.
	streamContextMax = 4 << 10
	// streamInactivitySec is the ADR's default: a hidden tab closes its
	// stream after two minutes and refetches when it comes back.
	streamInactivitySec = 120
	// streamWriteTimeout bounds one event or heartbeat write: a client that
	// stopped reading is dropped instead of holding buffers.
	streamWriteTimeout = 10 * time.Second
)

type streamOptions struct {
	max       int           // open streams at most; 0 turns the feature off
	heartbeat time.Duration // comment line interval (keeps proxies from closing idle streams)
	urlBase   string        // "": endpoint.requestUri; else url = urlBase + requestUri
	tokens    bool          // tokens configured: URLs carry a MAC
	keys      [][]byte      // MAC keys of the evaluate and admin tokens
}

// streamHub tracks the open streams, grouped by URL (context + MAC), and
// turns the client's change notices into events.
type streamHub struct {
	opts   streamOptions
	log    zerolog.Logger
	client func() *flags.Client

	n        atomic.Int64
	open     prometheus.Gauge
	refused  prometheus.Counter
	sent     prometheus.Counter
	passes   prometheus.Counter
	lastWarn atomic.Int64 // unix ns of the last refusal logged

	kick      chan struct{} // cap 1: change notices coalesce
	closing   chan struct{}
	closeOnce sync.Once

	mu      sync.Mutex // guards groups, view, hasView
	groups  map[string]*streamGroup
	view    flags.View // the snapshot the last pass compared against
	hasView bool
}

// streamGroup is the state of one stream URL, shared by its connections.
type streamGroup struct {
	key     string // the query: ctx and sig
	ctx     string // base64url context JSON, as in the URL
	sig     string
	ec      flags.EvalContext
	streams []byte // the eventStreams member of the bulk body

	mu    sync.Mutex // guards what follows
	subs  map[*streamSub]struct{}
	view  flags.View  // the snapshot state was checked against
	state streamState // the answer last announced
	// stale: a change since state was computed left the answer as it was but
	// changed the body (versions), so state.etag must be recomputed before use.
	stale bool
}

type streamState struct {
	id           string // hash of the answer (no versions): the SSE event id
	etag         string // the bulk ETag, quotes included
	lastModified int64
}

type streamSub struct{ wake chan struct{} }

func newStreamHub(o streamOptions, log zerolog.Logger, reg prometheus.Registerer, client func() *flags.Client) *streamHub {
	f := promauto.With(reg)
	h := &streamHub{
		opts: o, log: log, client: client,
		kick:    make(chan struct{}, 1),
		closing: make(chan struct{}),
		groups:  map[string]*streamGroup{},
		open: f.NewGauge(prometheus.GaugeOpts{Name: "flagstream_flagd_event_streams_open",
			Help: "OFREP event streams (SSE) open now."}),
		refused: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_flagd_event_streams_refused_total",
			Help: "OFREP event streams refused with 503 because --event-streams-max were open."}),
		sent: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_flagd_event_stream_events_total",
			Help: "refetchEvaluation events written to event streams."}),
		passes: f.NewCounter(prometheus.CounterOpts{Name: "flagstream_flagd_event_stream_passes_total",
			Help: "Flag changes (coalesced) compared against every open stream's context."}),
	}
	return h
}

// changed is the client's OnChange: it runs on the client's update
// goroutine, so it only pokes the hub.
func (h *streamHub) changed([]string) {
	select {
	case h.kick <- struct{}{}:
	default: // a pass is pending; it will see this change too
	}
}

// run compares each group's answer after every change notice until stop
// closes, then ends every stream (the HTTP server's shutdown waits for
// handlers, and streams never end by themselves).
func (h *streamHub) run(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			h.close()
			return
		case <-h.kick:
			h.pass(time.Now())
		}
	}
}

func (h *streamHub) close() { h.closeOnce.Do(func() { close(h.closing) }) }

// pass finds the groups whose answer a change altered and wakes their
// streams. It reads the client's current snapshot and compares it with the
// one each group was last checked against, over the flags whose version
// differs, so coalesced notices and groups created mid-way are all covered.
func (h *streamHub) pass(now time.Time) {
	c := h.client()
	if c == nil {
		return
	}
	h.mu.Lock()
	nv := c.View() // taken under mu: a group created later starts at this snapshot or a newer one
	old, hadView := h.view, h.hasView
	h.view, h.hasView = nv, true
	groups := make([]*streamGroup, 0, len(h.groups))
	for _, g := range h.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	var shared []string
	if hadView {
		shared = changedFlags(old, nv)
	}
	// Groups are independent: spread them over the cores, so 10,000
	// distinct contexts are all checked well within a second.
	workers := min(runtime.GOMAXPROCS(0), max(1, len(groups)/256))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(groups); i += workers {
				g := groups[i]
				if h.refresh(g, nv, old, hadView, shared, now) {
					g.wakeAll()
				}
			}
		}()
	}
	wg.Wait()
	h.passes.Inc() // after the wakes: a test's barrier for "this change was looked at"
}

// refresh moves g to snapshot nv and reports whether its answer changed.
func (h *streamHub) refresh(g *streamGroup, nv, old flags.View, hadView bool, shared []string, now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.view == nv {
		return false
	}
	keys := shared
	if !hadView || g.view != old {
		keys = changedFlags(g.view, nv)
	}
	altered := false
	for _, k := range keys {
		fa, a := g.view.Peek(k, g.ec)
		fb, b := nv.Peek(k, g.ec)
		if answerOf(fa, a) != answerOf(fb, b) {
			altered = true
			break
		}
	}
	g.view = nv
	if !altered {
		g.stale = g.stale || len(keys) > 0
		return false
	}
	g.state = h.compute(g, nv, now.Unix())
	g.stale = false
	return true
}

// current is the state to announce, recomputing the ETag if versions moved.
func (h *streamHub) current(g *streamGroup) streamState {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.stale {
		g.state = h.compute(g, g.view, g.state.lastModified)
		g.stale = false
	}
	return g.state
}

func (g *streamGroup) wakeAll() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for s := range g.subs {
		select {
		case s.wake <- struct{}{}:
		default: // already woken; it reads the latest state anyway
		}
	}
}

// changedFlags are the flags added, removed or rewritten from a to b.
func changedFlags(a, b flags.View) []string {
	if a == b {
		return nil
	}
	var keys []string
	for _, k := range b.Keys() {
		if fa, fb := a.Flag(k), b.Flag(k); fa == nil || fa.Version != fb.Version {
			keys = append(keys, k)
		}
	}
	for _, k := range a.Keys() {
		if b.Flag(k) == nil {
			keys = append(keys, k)
		}
	}
	return keys
}

// answer is what a client does with a flag: the OFREP value, variant,
// reason and error, without the version.
type answer struct {
	enabled, variants bool
	variant           string
	reason            flags.Reason
	code              flags.ErrorCode
}

func answerOf(f *flags.Flag, r flags.Result) answer {
	return answer{enabled: r.Enabled, variants: f != nil && len(f.Variants) > 0, variant: r.Variant, reason: r.Reason, code: r.ErrorCode}
}

// compute builds the group's bulk body as ofrepBulk does (its hash is the
// ETag the bulk route sends for this context and URL) and the hash of the
// answers alone (the event id).
func (h *streamHub) compute(g *streamGroup, v flags.View, lastModified int64) streamState {
	keys := v.Keys()
	b := make([]byte, 0, 64+128*len(keys)+len(g.streams))
	b = append(b, `{"flags":[`...)
	idh := fnv.New64a()
	var line []byte
	for i, key := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		f, res := v.Peek(key, g.ec)
		b = appendBulkResult(b, key, f, res)
		a := answerOf(f, res)
		line = append(line[:0], key...)
		line = append(line, 0)
		line = strconv.AppendBool(line, a.enabled)
		line = strconv.AppendBool(line, a.variants)
		line = append(line, 0)
		line = append(line, a.variant...)
		line = append(line, 0)
		line = append(line, a.reason...)
		line = append(line, 0)
		line = append(line, a.code...)
		line = append(line, '\n')
		_, _ = idh.Write(line)
	}
	b = append(b, ']')
	b = append(b, g.streams...)
	b = append(b, '}')
	var sum [8]byte
	return streamState{id: hex.EncodeToString(idh.Sum(sum[:0])), etag: bodyETag(b), lastModified: lastModified}
}

// appendBulkResult is one entry of ofrepBulk's flags array, byte for byte
// (TestEventStreamETag holds the two together).
func appendBulkResult(b []byte, key string, f *flags.Flag, res flags.Result) []byte {
	switch res.ErrorCode {
	case flags.ErrorFlagNotFound:
		return appendError(b, key, string(flags.ErrorFlagNotFound), "flag was not found")
	case flags.ErrorTargetingKeyMissing:
		return appendError(b, key, string(flags.ErrorTargetingKeyMissing), "flag rolls out by percentage and needs context.targetingKey")
	}
	return appendSuccess(b, f, res)
}

// bodyETag is writeTagged's ETag of a body.
func bodyETag(body []byte) string {
	h := fnv.New64a()
	_, _ = h.Write(body)
	var sum [8]byte
	return `"` + hex.EncodeToString(h.Sum(sum[:0])) + `"`
}

// streamQuery is the query of a context's stream URL, "" when the context
// is too large for a URL. token is the bulk request's (ignored without
// tokens).
func (h *streamHub) streamQuery(ec flags.EvalContext, token string) string {
	raw := ec.Attributes
	if raw == nil {
		raw = map[string]any{}
	}
	js, err := json.Marshal(raw) // map keys sorted: the same context gives the same URL
	if err != nil || len(js) > streamContextMax {
		return ""
	}
	ctx := base64.RawURLEncoding.EncodeToString(js)
	if !h.opts.tokens {
		return "ctx=" + ctx
	}
	return "ctx=" + ctx + "&sig=" + streamSign(httpapi.MACKey(token), ctx)
}

// streamsJSON is the bulk body's eventStreams member for a stream query.
// Nothing in it needs JSON escaping: the query is base64url and the base
// was checked at startup (checkStreamBase).
func (h *streamHub) streamsJSON(query string) []byte {
	b := make([]byte, 0, 96+len(h.opts.urlBase)+len(query))
	b = append(b, `,"eventStreams":[{"type":"sse",`...)
	if h.opts.urlBase != "" {
		b = append(b, `"url":"`...)
		b = append(b, h.opts.urlBase...)
	} else {
		// endpoint.requestUri: the provider puts its own OFREP origin in
		// front, so the URL works through whatever proxy the app reaches
		// flagd by, with no Host or X-Forwarded-* header to trust.
		b = append(b, `"endpoint":{"requestUri":"`...)
	}
	b = append(b, streamPath...)
	b = append(b, '?')
	b = append(b, query...)
	b = append(b, '"')
	if h.opts.urlBase == "" {
		b = append(b, '}')
	}
	b = append(b, `,"inactivityDelaySec":`...)
	b = strconv.AppendInt(b, streamInactivitySec, 10)
	return append(b, `}]`...)
}

// checkStreamBase validates --event-stream-url: an absolute http(s) URL
// without query or fragment, which the bulk body can carry unescaped.
func checkStreamBase(base string) (string, error) {
	if base == "" {
		return "", nil
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("event-stream-url %q: want an absolute http(s) URL without query or fragment, e.g. https://flags.example.com/flagd", base)
	}
	for _, c := range base {
		if c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return "", fmt.Errorf("event-stream-url %q: only printable ASCII without quotes or backslashes", base)
		}
	}
	return strings.TrimRight(base, "/"), nil
}

// appendEventStreams adds the eventStreams member to a bulk body (ofrepBulk),
// nothing when streams are off or the context is too large for a URL.
func (h *streamHub) appendEventStreams(b []byte, r *http.Request, ec flags.EvalContext) []byte {
	if h == nil || h.opts.max <= 0 {
		return b
	}
	q := h.streamQuery(ec, requestToken(r))
	if q == "" {
		return b
	}
	return append(b, h.streamsJSON(q)...)
}

var errStreamAuth = errors.New("event stream URL: missing or wrong sig; fetch the URL again from the bulk evaluation (POST /ofrep/v1/evaluate/flags)")

// subscribe parses and checks a stream's query and joins its group.
func (h *streamHub) subscribe(c *flags.Client, ctx, sig string) (*streamGroup, *streamSub, int, string, error) {
	if h.opts.tokens && (sig == "" || !streamVerify(h.opts.keys, ctx, sig)) {
		return nil, nil, http.StatusUnauthorized, "GENERAL", errStreamAuth
	}
	if !h.opts.tokens {
		sig = ""
	}
	key := "ctx=" + ctx
	if sig != "" {
		key += "&sig=" + sig
	}
	sub := &streamSub{wake: make(chan struct{}, 1)}
	h.mu.Lock()
	defer h.mu.Unlock()
	if g := h.groups[key]; g != nil {
		g.mu.Lock()
		g.subs[sub] = struct{}{}
		g.mu.Unlock()
		return g, sub, 0, "", nil
	}
	if ctx == "" {
		return nil, nil, http.StatusBadRequest, "INVALID_CONTEXT", errors.New("event stream URL: ctx is missing")
	}
	js, err := base64.RawURLEncoding.DecodeString(ctx)
	if err != nil || len(js) > streamContextMax {
		return nil, nil, http.StatusBadRequest, "PARSE_ERROR", errors.New("event stream URL: ctx is not base64url of a context's JSON")
	}
	var raw map[string]any
	if err := json.Unmarshal(js, &raw); err != nil {
		return nil, nil, http.StatusBadRequest, "PARSE_ERROR", fmt.Errorf("event stream URL: ctx is not a JSON object: %v", httpapi.DecodeError(err))
	}
	ec, err := evalContext(raw, "targetingKey")
	if err != nil {
		return nil, nil, http.StatusBadRequest, "INVALID_CONTEXT", err
	}
	g := &streamGroup{key: key, ctx: ctx, sig: sig, ec: ec, subs: map[*streamSub]struct{}{sub: {}}}
	g.streams = h.streamsJSON(key)
	g.view = c.View() // under h.mu: no older than the last pass's snapshot
	g.state = h.compute(g, g.view, time.Now().Unix())
	h.groups[key] = g
	return g, sub, 0, "", nil
}

func (h *streamHub) unsubscribe(g *streamGroup, s *streamSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	g.mu.Lock()
	delete(g.subs, s)
	empty := len(g.subs) == 0
	g.mu.Unlock()
	if empty && h.groups[g.key] == g {
		delete(h.groups, g.key)
	}
}

// eventStream is GET /ofrep/v1/event-stream. The query is a credential and
// carries the user's context: it is never logged (nothing here logs the
// URL, and httpapi logs only paths).
func (a *api) eventStream() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := a.streams
		if h == nil || h.opts.max <= 0 {
			ofrepFail(w, http.StatusNotFound, "", "GENERAL", "event streams are off (--event-streams-max 0)")
			return
		}
		c := a.client.Load()
		if c == nil {
			w.Header().Set("Retry-After", "1")
			ofrepFail(w, http.StatusServiceUnavailable, "", "GENERAL", errNotLoaded.Error())
			return
		}
		select {
		case <-h.closing:
			w.Header().Set("Retry-After", "1")
			ofrepFail(w, http.StatusServiceUnavailable, "", "GENERAL", "flagd is shutting down; reconnect")
			return
		default:
		}
		q := r.URL.Query()
		if n := h.n.Add(1); n > int64(h.opts.max) {
			h.n.Add(-1)
			h.refuse(w)
			return
		}
		defer h.n.Add(-1)
		g, sub, status, code, err := h.subscribe(c, q.Get("ctx"), q.Get("sig"))
		if err != nil {
			ofrepFail(w, status, "", code, err.Error())
			return
		}
		defer h.unsubscribe(g, sub)
		h.open.Inc()
		defer h.open.Dec()
		h.serve(w, r, g, sub)
	})
}

func (h *streamHub) refuse(w http.ResponseWriter) {
	h.refused.Inc()
	// Loud but bounded: one line a second however many are refused.
	now := time.Now().UnixNano()
	if last := h.lastWarn.Load(); now-last > int64(time.Second) && h.lastWarn.CompareAndSwap(last, now) {
		h.log.Warn().Int("max", h.opts.max).Msg("event stream refused: --event-streams-max streams are open (see flagstream_flagd_event_streams_refused_total)")
	}
	w.Header().Set("Retry-After", strconv.Itoa(5+rand.IntN(25))) // spread the retries
	ofrepFail(w, http.StatusServiceUnavailable, "", "GENERAL",
		"too many event streams open on this flagd; retry later or poll")
}

func (h *streamHub) serve(w http.ResponseWriter, r *http.Request, g *streamGroup, sub *streamSub) {
	rc := http.NewResponseController(w)
	// The server's read and write timeouts are for requests that end; a
	// stream lives for hours. Reads: none are expected (a GET), and the
	// read deadline would cancel the request. Writes: one deadline per write.
	_ = rc.SetReadDeadline(time.Time{})
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("X-Accel-Buffering", "no") // nginx: pass events through at once
	w.WriteHeader(http.StatusOK)
	// retry: a reconnect delay spread over 1–5 s, so that the streams a
	// restart ends do not all come back in the same instant.
	buf := make([]byte, 0, 192)
	buf = append(buf, "retry: "...)
	buf = strconv.AppendInt(buf, 1000+rand.Int64N(4000), 10)
	buf = append(buf, "\n: ok\n\n"...)
	if !h.write(rc, w, buf) {
		return
	}
	st := h.current(g)
	sent := st.id
	// Last-Event-ID: the answer the client last heard of. If it is not the
	// current one, the client missed a change while away.
	if last := r.Header.Get("Last-Event-ID"); last != "" && last != st.id {
		if !h.send(rc, w, buf, st) {
			return
		}
	}
	beat := time.NewTicker(h.opts.heartbeat)
	defer beat.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.closing:
			return
		case <-beat.C:
			if !h.write(rc, w, append(buf[:0], ": hb\n\n"...)) {
				return
			}
		case <-sub.wake:
			st := h.current(g)
			if st.id == sent {
				continue
			}
			if !h.send(rc, w, buf, st) {
				return
			}
			sent = st.id
		}
	}
}

func (h *streamHub) send(rc *http.ResponseController, w http.ResponseWriter, buf []byte, st streamState) bool {
	etag, _ := json.Marshal(st.etag)
	buf = append(buf[:0], "id: "...)
	buf = append(buf, st.id...)
	buf = append(buf, "\nevent: message\ndata: {\"type\":\"refetchEvaluation\",\"etag\":"...)
	buf = append(buf, etag...)
	buf = append(buf, `,"lastModified":`...)
	buf = strconv.AppendInt(buf, st.lastModified, 10)
	buf = append(buf, "}\n\n"...)
	if !h.write(rc, w, buf) {
		return false
	}
	h.sent.Inc()
	return true
}

func (h *streamHub) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	if err := rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout)); err != nil {
		return false
	}
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}
