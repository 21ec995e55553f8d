package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// sseEvent is one dispatched SSE event, or a comment line (heartbeat).
type sseEvent struct {
	id, event, data, comment string
}

// sseConn reads an event stream in the background.
type sseConn struct {
	resp   *http.Response
	events chan sseEvent
	done   chan struct{} // closed when the server ends the stream
	cancel context.CancelFunc
}

// openStream connects to a stream URI; the connection closes when the test
// ends.
func openStream(t *testing.T, base, uri string, headers ...string) *sseConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "GET", base+uri, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	c := &sseConn{resp: resp, events: make(chan sseEvent, 64), done: make(chan struct{}), cancel: cancel}
	t.Cleanup(c.close)
	if resp.StatusCode != 200 {
		return c
	}
	go func() {
		defer close(c.done)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev != (sseEvent{}) {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
				ev.comment = strings.TrimSpace(line[1:])
			case strings.HasPrefix(line, "id: "):
				ev.id = line[4:]
			case strings.HasPrefix(line, "event: "):
				ev.event = line[7:]
			case strings.HasPrefix(line, "data: "):
				ev.data += line[6:]
			}
		}
	}()
	return c
}

func (c *sseConn) close() {
	c.cancel()
	c.resp.Body.Close()
}

// next returns the next event that is not a comment.
// eventWait bounds how long a test waits for an event. Generous: how fast
// events arrive is measured by the browser test and scripts/bench-sse.sh;
// these tests must not fail on a machine loaded by the rest of make test.
const eventWait = 10 * time.Second

func (c *sseConn) next(t *testing.T, within time.Duration) sseEvent {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case ev := <-c.events:
			if ev.data != "" || ev.event != "" {
				return ev
			}
		case <-c.done:
			t.Fatal("the stream ended")
		case <-timeout:
			t.Fatalf("no event within %v", within)
		}
	}
}

type refetch struct {
	Type         string `json:"type"`
	ETag         string `json:"etag"`
	LastModified int64  `json:"lastModified"`
}

func (ev sseEvent) refetch(t *testing.T) refetch {
	t.Helper()
	var r refetch
	if err := json.Unmarshal([]byte(ev.data), &r); err != nil || ev.event != "message" || r.Type != "refetchEvaluation" || ev.id == "" {
		t.Fatalf("event %+v is not a refetchEvaluation message (%v)", ev, err)
	}
	return r
}

// bulk fetches the bulk answer; it returns the ETag and the stream URI.
func bulk(t *testing.T, in *instance, ctx map[string]any, headers ...string) (string, string) {
	t.Helper()
	r := in.do(t, "POST", "/ofrep/v1/evaluate/flags", map[string]any{"context": ctx}, headers...)
	if r.Status != 200 {
		t.Fatalf("bulk = %d %s", r.Status, r.Body)
	}
	var body struct {
		EventStreams []struct {
			Type     string `json:"type"`
			URL      string `json:"url"`
			Endpoint struct {
				RequestURI string `json:"requestUri"`
			} `json:"endpoint"`
			InactivityDelaySec int `json:"inactivityDelaySec"`
		} `json:"eventStreams"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	uri := ""
	if len(body.EventStreams) == 1 {
		es := body.EventStreams[0]
		if es.Type != "sse" || es.InactivityDelaySec != 120 || es.URL != "" || !strings.HasPrefix(es.Endpoint.RequestURI, "/ofrep/v1/event-stream?") {
			t.Fatalf("eventStreams = %s", r.Body)
		}
		uri = es.Endpoint.RequestURI
	}
	return r.Header.Get("ETag"), uri
}

// waitBulkChange polls the bulk route until its ETag is no longer old.
func waitBulkChange(t *testing.T, in *instance, ctx map[string]any, old string, headers ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		etag, _ := bulk(t, in, ctx, headers...)
		if etag != old {
			return etag
		}
		if time.Now().After(deadline) {
			t.Fatalf("the bulk ETag is still %s after 10 s", old)
		}
		waitShort()
	}
}

const passes = "flagstream_flagd_event_stream_passes_total"

// change writes a flag and waits until the stream hub has looked at the
// change (the barrier for "nothing was sent").
func change(t *testing.T, in *instance, key string, flag map[string]any, headers ...string) {
	t.Helper()
	before := in.Metric(t, passes)
	in.expect(t, 200, "PUT", "/v1/flags/"+key, flag, headers...)
	in.WaitMetric(t, passes, eventWait, func(v float64) bool { return v > before })
}

// A change that alters the context's answer reaches its stream with the ETag
// the bulk route then answers; a change that leaves this context's answer
// alone (another user's allow-list) sends nothing: the next event is the
// altering change's.
func TestEventStreamETag(t *testing.T) {
	in := start(t, newEnv(t), nil)
	in.expect(t, 200, "PUT", "/v1/flags/banner", map[string]any{"status": "targeted", "allowed_users": []string{"someone"}})
	in.expect(t, 200, "PUT", "/v1/flags/checkout", map[string]any{"status": "disabled"})
	ctx := map[string]any{"targetingKey": "u1", "plan": "pro"}
	etag0 := waitBulkFlags(t, in, ctx, 2)
	etag, uri := bulk(t, in, ctx)
	if etag != etag0 || uri == "" {
		t.Fatalf("bulk ETag %s (then %s), stream %q", etag0, etag, uri)
	}
	// The SSE query metadata of a triggered refetch is accepted and changes nothing.
	r := in.do(t, "POST", "/ofrep/v1/evaluate/flags?flagConfigEtag=%22x%22&flagConfigLastModified=not-a-time", map[string]any{"context": ctx})
	if r.Status != 200 || r.Header.Get("ETag") != etag {
		t.Fatalf("bulk with flagConfigEtag = %d, ETag %s, want 200 %s", r.Status, r.Header.Get("ETag"), etag)
	}

	s := openStream(t, in.URL, uri)
	if s.resp.StatusCode != 200 || s.resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream = %d %s", s.resp.StatusCode, s.resp.Header.Get("Content-Type"))
	}
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 1 })

	// Not this user's answer: banner stays off for u1, only its version moves.
	change(t, in, "banner", map[string]any{"status": "targeted", "allowed_users": []string{"someone", "someone_else"}})
	afterQuiet := waitBulkChange(t, in, ctx, etag)
	// u1's answer: checkout turns on.
	start := time.Now().Unix()
	change(t, in, "checkout", map[string]any{"status": "enabled"})
	ev := s.next(t, eventWait).refetch(t)
	now := waitBulkChange(t, in, ctx, afterQuiet)
	if ev.ETag != now {
		t.Fatalf("first event's etag %s, want the bulk ETag after the change %s (the quiet change's was %s)", ev.ETag, now, afterQuiet)
	}
	if ev.LastModified < start || ev.LastModified > time.Now().Unix() {
		t.Errorf("lastModified %d outside [%d, now]", ev.LastModified, start)
	}
	if n := in.Metric(t, "flagstream_flagd_event_stream_events_total"); n != 1 {
		t.Errorf("events sent = %v, want 1", n)
	}
	// A deleted flag alters every answer.
	in.expect(t, 204, "DELETE", "/v1/flags/banner", nil)
	ev2 := s.next(t, eventWait).refetch(t)
	if want := waitBulkChange(t, in, ctx, now); ev2.ETag != want {
		t.Errorf("etag after the delete %s, want %s", ev2.ETag, want)
	}
}

// waitBulkFlags polls until the bulk answer holds n flags; it returns the ETag.
func waitBulkFlags(t *testing.T, in *instance, ctx map[string]any, n int, headers ...string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := in.do(t, "POST", "/ofrep/v1/evaluate/flags", map[string]any{"context": ctx}, headers...)
		var body struct {
			Flags []any `json:"flags"`
		}
		_ = json.Unmarshal(r.Body, &body)
		if r.Status == 200 && len(body.Flags) == n {
			return r.Header.Get("ETag")
		}
		if time.Now().After(deadline) {
			t.Fatalf("bulk never held %d flags: %d %s", n, r.Status, r.Body)
		}
		waitShort()
	}
}

// Last-Event-ID: a client that missed a change gets a refetch at once; one
// that is up to date gets nothing until the next change.
func TestEventStreamResume(t *testing.T) {
	in := start(t, newEnv(t), nil)
	in.expect(t, 200, "PUT", "/v1/flags/f", map[string]any{"status": "disabled"})
	ctx := map[string]any{"targetingKey": "u2"}
	etag := waitBulkFlags(t, in, ctx, 1)
	_, uri := bulk(t, in, ctx)

	s := openStream(t, in.URL, uri)
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 1 })
	change(t, in, "f", map[string]any{"status": "enabled"})
	first := s.next(t, eventWait)
	s.close()
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 0 })
	etag = waitBulkChange(t, in, ctx, etag)

	// Missed while away: f turns off again.
	change(t, in, "f", map[string]any{"status": "disabled"})
	etag = waitBulkChange(t, in, ctx, etag)
	back := openStream(t, in.URL, uri, "Last-Event-ID", first.id)
	ev := back.next(t, eventWait)
	if ev.refetch(t).ETag != etag || ev.id == first.id {
		t.Fatalf("resume after a missed change = %+v, want a refetch with etag %s", ev, etag)
	}
	back.close()

	// Up to date: nothing at once; the next change is the first event.
	current := openStream(t, in.URL, uri, "Last-Event-ID", ev.id)
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 1 })
	change(t, in, "f", map[string]any{"status": "enabled"})
	next := current.next(t, eventWait)
	if next.id != first.id { // the answer is the first event's again
		t.Errorf("first event after an up-to-date resume = %+v, want the change's (id %s)", next, first.id)
	}
	if got, want := next.refetch(t).ETag, waitBulkChange(t, in, ctx, etag); got != want {
		t.Errorf("etag %s, want %s", got, want)
	}
}

func TestEventStreamHeartbeat(t *testing.T) {
	in := start(t, newEnv(t), map[string]string{"FLAGSTREAM_EVENT_STREAM_HEARTBEAT": "30ms"})
	_, uri := bulk(t, in, map[string]any{"targetingKey": "u"})
	s := openStream(t, in.URL, uri)
	beats := 0
	timeout := time.After(eventWait)
	for beats < 3 {
		select {
		case ev := <-s.events:
			if ev.comment == "hb" {
				beats++
			}
		case <-timeout:
			t.Fatalf("%d heartbeats in %v at a 30 ms interval", beats, eventWait)
		}
	}
}

// With tokens, the URL carries a MAC made with the caller's token, not the
// token; a wrong or missing one, or one for another context, is refused in
// OFREP's shape; another flagd with the same tokens file accepts it; neither
// token nor URL reaches the log.
func TestEventStreamAuth(t *testing.T) {
	const (
		adminTok = "admin-secret-token-aaaa"
		evalTok  = "evaluate-secret-token-bbbb"
	)
	tokens := writeTokens(t, "admin "+adminTok, "evaluate "+evalTok)
	e := newEnv(t)
	in := start(t, e, map[string]string{"FLAGSTREAM_TOKENS_FILE": tokens})
	other := start(t, e, map[string]string{"FLAGSTREAM_TOKENS_FILE": tokens})
	admin := []string{"Authorization", "Bearer " + adminTok}
	eval := []string{"Authorization", "Bearer " + evalTok}
	in.expect(t, 200, "PUT", "/v1/flags/f", map[string]any{"status": "disabled"}, admin...)
	ctx := map[string]any{"targetingKey": "u3"}
	etag := waitBulkFlags(t, in, ctx, 1, eval...)
	// The other instance must hold f too before its stream opens, or f
	// reaching it would be a change of its own (a real refetch event).
	waitBulkFlags(t, other, ctx, 1, eval...)
	_, uri := bulk(t, in, ctx, eval...)
	if strings.Contains(uri, evalTok) || !strings.Contains(uri, "&sig=") {
		t.Fatalf("stream URI %q: want a sig, never the token", uri)
	}
	if _, again := bulk(t, in, ctx, eval...); again != uri {
		t.Fatalf("stream URI not deterministic: %q then %q", uri, again)
	}
	sig := uri[strings.Index(uri, "&sig=")+5:]
	ctxParam := uri[strings.Index(uri, "ctx=")+4 : strings.Index(uri, "&sig=")]
	otherCtx := base64.RawURLEncoding.EncodeToString([]byte(`{"targetingKey":"someone_else"}`))
	wrong := []byte(sig)
	wrong[3] ^= 1
	for name, bad := range map[string]string{
		"wrong sig":         strings.Replace(uri, sig, string(wrong), 1),
		"no sig":            uri[:strings.Index(uri, "&sig=")],
		"another context":   strings.Replace(uri, ctxParam, otherCtx, 1),
		"sig of admin here": "/ofrep/v1/event-stream?ctx=" + ctxParam + "&sig=" + adminTok,
	} {
		s := openStream(t, in.URL, bad)
		var body map[string]any
		_ = json.NewDecoder(s.resp.Body).Decode(&body)
		if s.resp.StatusCode != 401 || body["errorCode"] != "GENERAL" || body["errorDetails"] == "" {
			t.Errorf("%s: %d %v, want 401 in OFREP's shape", name, s.resp.StatusCode, body)
		}
	}

	s := openStream(t, other.URL, uri) // another instance verifies it with the same file
	if s.resp.StatusCode != 200 {
		t.Fatalf("the other flagd refused the stream: %d", s.resp.StatusCode)
	}
	in.expect(t, 200, "PUT", "/v1/flags/f", map[string]any{"status": "enabled"}, admin...)
	ev := s.next(t, eventWait).refetch(t)
	if want := waitBulkChange(t, in, ctx, etag, eval...); ev.ETag != want {
		t.Errorf("etag %s, want the bulk ETag for this token %s", ev.ETag, want)
	}

	for _, svc := range []*instance{in, other} {
		if err := svc.Stop(); err != nil {
			t.Fatal(err)
		}
		logs := svc.Logs.String()
		for _, secret := range []string{adminTok, evalTok, sig, ctxParam} {
			if strings.Contains(logs, secret) {
				t.Errorf("%q appears in the log", secret)
			}
		}
	}
}

// Beyond --event-streams-max streams are refused with 503 and counted; a
// closed stream frees its place.
func TestEventStreamCap(t *testing.T) {
	in := start(t, newEnv(t), map[string]string{"FLAGSTREAM_EVENT_STREAMS_MAX": "2"})
	_, a := bulk(t, in, map[string]any{"targetingKey": "a"})
	_, b := bulk(t, in, map[string]any{"targetingKey": "b"})
	s1 := openStream(t, in.URL, a)
	openStream(t, in.URL, b)
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 2 })
	refused := openStream(t, in.URL, a)
	var body map[string]any
	_ = json.NewDecoder(refused.resp.Body).Decode(&body)
	if refused.resp.StatusCode != 503 || refused.resp.Header.Get("Retry-After") == "" || body["errorCode"] != "GENERAL" {
		t.Fatalf("stream beyond the cap = %d %v (Retry-After %q)", refused.resp.StatusCode, body, refused.resp.Header.Get("Retry-After"))
	}
	if n := in.Metric(t, "flagstream_flagd_event_streams_refused_total"); n != 1 {
		t.Errorf("refused = %v, want 1", n)
	}
	in.WaitLog(t, time.Second, "event stream refused")
	s1.close()
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 1 })
	if s := openStream(t, in.URL, a); s.resp.StatusCode != 200 {
		t.Errorf("after one closed: %d, want 200", s.resp.StatusCode)
	}
}

func TestEventStreamBadInput(t *testing.T) {
	in := start(t, newEnv(t), nil)
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for q, code := range map[string]string{
		"":                                      "INVALID_CONTEXT",
		"ctx=%%%":                               "INVALID_CONTEXT", // an undecodable query drops ctx
		"ctx=!!!!":                              "PARSE_ERROR",
		"ctx=" + enc(`[1,2]`):                   "PARSE_ERROR",
		"ctx=" + enc(`{"targetingKey":5}`):      "INVALID_CONTEXT",
		"ctx=" + enc(`{"groups":"admins"}`):     "INVALID_CONTEXT",
		"ctx=" + enc(strings.Repeat("x", 5000)): "PARSE_ERROR",
	} {
		s := openStream(t, in.URL, "/ofrep/v1/event-stream?"+q)
		var body map[string]any
		_ = json.NewDecoder(s.resp.Body).Decode(&body)
		if s.resp.StatusCode != 400 || body["errorCode"] != code {
			t.Errorf("%q = %d %v, want 400 %s", q, s.resp.StatusCode, body, code)
		}
	}
	// A context too large for a URL gets no eventStreams: the client polls.
	if _, uri := bulk(t, in, map[string]any{"targetingKey": "u", "bio": strings.Repeat("x", 5000)}); uri != "" {
		t.Errorf("a 5 KB context got a stream URL (%d bytes)", len(uri))
	}
	// Streams off: no eventStreams, and the route says so.
	off := start(t, newEnv(t), map[string]string{"FLAGSTREAM_EVENT_STREAMS_MAX": "0"})
	if _, uri := bulk(t, off, map[string]any{"targetingKey": "u"}); uri != "" {
		t.Errorf("streams off, but the bulk answer names %q", uri)
	}
}

// Shutdown ends the streams, so the server drains instead of waiting out its
// shutdown timeout (run would then fail).
func TestEventStreamShutdown(t *testing.T) {
	in := start(t, newEnv(t), nil)
	_, uri := bulk(t, in, map[string]any{"targetingKey": "u"})
	s := openStream(t, in.URL, uri)
	in.WaitMetric(t, "flagstream_flagd_event_streams_open", time.Second, func(v float64) bool { return v == 1 })
	begin := time.Now()
	if err := in.Stop(); err != nil {
		t.Fatalf("stop with a stream open: %v", err)
	}
	if d := time.Since(begin); d > 5*time.Second {
		t.Errorf("stop took %v", d)
	}
	select {
	case <-s.done:
	case <-time.After(eventWait):
		t.Fatal("the stream is still open after flagd stopped")
	}
}
