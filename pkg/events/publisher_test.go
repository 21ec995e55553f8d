package events_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/oklog/ulid/v2"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/pkg/events"
)

// testEvent is the i-th of a mix of exposures and conversions, each with a
// user id of its own, so a message on the stream can be matched to it.
func testEvent(i int, ts time.Time) events.Event {
	user := fmt.Sprintf("user_%d", i)
	switch i % 4 {
	case 0:
		v := float64(i) / 100
		return events.Event{Type: events.TypeConversion, Experiment: "pricing", UserID: user, ConversionType: "purchase", Value: &v, TS: ts}
	case 1:
		return events.Event{Type: events.TypeConversion, UserID: user, ConversionType: "signup", TS: ts}
	}
	return events.Event{Type: events.TypeExposure, Experiment: "pricing", Variant: []string{"control", "variant_a"}[i%2],
		UserID: user, TS: ts, FlagVersion: int64(i % 7)}
}

// runPublisher starts p.Run and returns a function that cancels it and
// returns Run's error.
func runPublisher(t *testing.T, p *events.Publisher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var stopped bool
	var err error
	stop = func() error {
		if !stopped {
			stopped = true
			cancel()
			err = <-done
		}
		return err
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// enqueue enqueues events [from, to) in a goroutine and fails the test if
// that does not finish within limit: Enqueue must never wait for NATS.
func enqueue(t *testing.T, p *events.Publisher, from, to int, ts time.Time, limit time.Duration) (dropped int) {
	t.Helper()
	done := make(chan int, 1)
	go func() {
		d := 0
		for i := from; i < to; i++ {
			if !p.Enqueue(testEvent(i, ts)) {
				d++
			}
		}
		done <- d
	}()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	select {
	case d := <-done:
		return d
	case <-timer.C:
		t.Fatalf("enqueueing %d events did not finish within %v: Enqueue blocks", to-from, limit)
	}
	return 0
}

func waitFor(t *testing.T, p *events.Publisher, limit time.Duration, what string, cond func(events.PublisherStats) bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		st := p.Stats()
		if cond(st) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s; stats %+v", limit, what, st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLog waits until the log holds want, failing the test after limit.
func waitLog(t *testing.T, logs *procs.Logs, limit time.Duration, want string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !strings.Contains(logs.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for a log line with %s; log:\n%s", limit, want, logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readStream returns every message on a stream, in order.
func readStream(t *testing.T, js jetstream.JetStream, name string) []jetstream.Msg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, name)
	if err != nil {
		t.Fatalf("stream %s: %v", name, err)
	}
	want := int(s.CachedInfo().State.Msgs)
	c, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatalf("consumer on %s: %v", name, err)
	}
	msgs := make([]jetstream.Msg, 0, want)
	for len(msgs) < want {
		batch, err := c.Fetch(min(want-len(msgs), 1000), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatalf("fetch from %s: %v", name, err)
		}
		got := 0
		for m := range batch.Messages() {
			msgs = append(msgs, m)
			got++
		}
		if got == 0 {
			t.Fatalf("fetch from %s: nothing after %d of %d messages (%v)", name, len(msgs), want, batch.Error())
		}
	}
	return msgs
}

// streamEvents reads every event on a stream, in order, checking that each
// message is a batch of one type on its type's subject, its id derived from
// its events' ids.
func streamEvents(t *testing.T, js jetstream.JetStream, names events.Names, stream string) []events.Event {
	t.Helper()
	var out []events.Event
	for _, m := range readStream(t, js, stream) {
		evs, _, bad, err := events.DecodeMessage(m.Headers(), m.Data())
		if err != nil || len(bad) > 0 || len(evs) == 0 {
			t.Fatalf("message %q: %v %v", m.Data(), err, bad)
		}
		subject := names.RawSubject
		if stream == names.AnalyticsStream {
			subject = names.AnalyticsSubject
		}
		msgs, err := events.Pack(subject, events.MessageLimits{Events: len(evs), Bytes: len(m.Data()) + 1}, evs)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("repacking message %q: %v (%d messages)", m.Data(), err, len(msgs))
		}
		if got := m.Headers().Get(jetstream.MsgIDHeader); got != msgs[0].ID || m.Subject() != msgs[0].Subject {
			t.Errorf("message id %q on %s, want %q on %s", got, m.Subject(), msgs[0].ID, msgs[0].Subject)
		}
		out = append(out, evs...)
	}
	return out
}

// checkStream asserts that the raw stream holds exactly the events 0..n-1 of
// testEvent, once each, on the right subjects, in batch messages.
func checkStream(t *testing.T, js jetstream.JetStream, names events.Names, n int, ts time.Time) {
	t.Helper()
	evs := streamEvents(t, js, names, names.RawStream)
	if len(evs) != n {
		t.Errorf("%d events on the stream, want %d", len(evs), n)
	}
	ids := make(map[string]int, len(evs))
	users := make(map[string]int, len(evs))
	for _, e := range evs {
		ids[e.ID]++
		users[e.UserID]++
		if _, err := ulid.ParseStrict(e.ID); err != nil {
			t.Errorf("event id %q: %v", e.ID, err)
		}
		var i int
		if _, err := fmt.Sscanf(e.UserID, "user_%d", &i); err != nil || i < 0 || i >= n {
			t.Fatalf("unexpected event %+v", e)
		}
		want := testEvent(i, ts)
		want.ID = e.ID
		if !equalEvents(e, want) {
			t.Errorf("event on the stream %+v, want %+v", e, want)
		}
		if err := e.Validate(time.Now(), events.Window{}); err != nil {
			t.Errorf("event on the stream is invalid: %v", err)
		}
	}
	if len(ids) != n || len(users) != n {
		t.Errorf("%d distinct ids and %d distinct events on the stream, want %d", len(ids), len(users), n)
	}
}

func TestPublisherPublishesEveryEventOnce(t *testing.T) {
	t.Parallel()
	const n = 10_000
	js, names := testJetStream(t)
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(js, names, events.PublisherOptions{})
	stop := runPublisher(t, p)
	ts := time.Now().UTC().Add(-time.Second)
	if dropped := enqueue(t, p, 0, n, ts, 5*time.Second); dropped != 0 {
		t.Fatalf("%d events dropped", dropped)
	}
	waitFor(t, p, 30*time.Second, "every event published", func(s events.PublisherStats) bool { return s.Published == n })
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	st := p.Stats()
	if st.Published != n || st.Dropped != 0 || st.Buffered != 0 || st.Duplicates != 0 {
		t.Errorf("stats %+v", st)
	}
	checkStream(t, js, names, n, ts)
}

func TestPublisherKeepsGivenIDAndDropsUnpublishable(t *testing.T) {
	t.Parallel()
	js, names := testJetStream(t)
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	var onDrop atomic.Int64
	p := events.NewPublisher(js, names, events.PublisherOptions{OnDrop: func(n int) { onDrop.Add(int64(n)) }})
	given := testEvent(2, time.Now().UTC())
	given.ID = "given-id-1"
	p.Enqueue(given)
	p.Enqueue(events.Event{Type: "click", UserID: "u"})
	noTS := testEvent(3, time.Time{})
	p.Enqueue(noTS)
	stop := runPublisher(t, p)
	waitFor(t, p, 10*time.Second, "two published", func(s events.PublisherStats) bool { return s.Published == 2 })
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.Dropped != 1 || st.Errors != 1 || onDrop.Load() != 1 {
		t.Errorf("stats %+v, OnDrop got %d; want one dropped", st, onDrop.Load())
	}
	evs := streamEvents(t, js, names, names.RawStream)
	if len(evs) != 2 || evs[0].ID != "given-id-1" {
		t.Fatalf("stream holds %d events, first %+v", len(evs), evs)
	}
	if e := evs[1]; time.Since(e.TS) > time.Minute || e.TS.Location() != time.UTC {
		t.Errorf("an event without ts got %v, want now in UTC", e.TS)
	}
}

func TestPublisherFlushesOnShutdown(t *testing.T) {
	t.Parallel()
	const n = 3000
	js, names := testJetStream(t)
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(js, names, events.PublisherOptions{FlushTimeout: 30 * time.Second})
	ts := time.Now().UTC()
	enqueue(t, p, 0, n, ts, 5*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // SIGTERM came before Run published anything: all n are buffered
	if err := p.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := p.Stats(); st.Published != n || st.Buffered != 0 || st.Dropped != 0 {
		t.Errorf("after Run: %+v", st)
	}
	checkStream(t, js, names, n, ts)
	if p.Enqueue(testEvent(0, ts)) || p.Stats().Dropped != 1 {
		t.Error("Enqueue after Run returned was accepted")
	}
}

// embedded is a NATS server of the test's own, which it can stop and restart
// on the same port and store.
type embedded struct {
	t          *testing.T
	dir        string
	port       int
	maxPayload int32
	s          *server.Server
}

func startEmbedded(t *testing.T) *embedded { return startEmbeddedWith(t, 0) }

func startEmbeddedWith(t *testing.T, maxPayload int32) *embedded {
	e := &embedded{t: t, dir: t.TempDir(), port: -1, maxPayload: maxPayload}
	e.start()
	e.port = e.s.Addr().(*net.TCPAddr).Port
	t.Cleanup(e.stop)
	return e
}

func (e *embedded) start() {
	e.t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: e.port, JetStream: true, StoreDir: e.dir,
		MaxPayload: e.maxPayload, NoLog: true, NoSigs: true})
	if err != nil {
		e.t.Fatalf("nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		e.t.Fatal("nats server not ready")
	}
	e.s = s
}

func (e *embedded) stop() {
	if e.s != nil {
		e.s.Shutdown()
		e.s.WaitForShutdown()
		e.s = nil
	}
}

func (e *embedded) connect() (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", e.port),
		nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond), nats.ReconnectJitter(10*time.Millisecond, 10*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return nc, js
}

func TestPublisherRidesOutNATSOutage(t *testing.T) {
	t.Parallel()
	const n = 10_000
	srv := startEmbedded(t)
	_, js := srv.connect()
	names := events.NewNames("")
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	logs := &procs.Logs{}
	// Small rounds of small batches: slow enough that the outage meets
	// events in flight, and batches of several events are what is retried.
	p := events.NewPublisher(js, names, events.PublisherOptions{AckWait: time.Second, Log: zerolog.New(logs),
		Batch: 16, Message: events.MessageLimits{Events: 4}})
	runPublisher(t, p)
	ts := time.Now().UTC()

	enqueue(t, p, 0, 4000, ts, 2*time.Second)
	waitFor(t, p, 30*time.Second, "publishing under way", func(s events.PublisherStats) bool { return s.Published >= 1000 })
	srv.stop()
	// Mid-stream: read after the stop, fewer than the 4000 published means
	// some were still to publish when the server went away.
	if st := p.Stats(); st.Published >= 4000 {
		t.Fatalf("all 4000 events were published before the outage: nothing was in flight (%+v)", st)
	}
	// NATS is away: evaluations keep answering, so Enqueue must not wait (a
	// blocked Enqueue would wait for the restart below, which comes after).
	if dropped := enqueue(t, p, 4000, 7000, ts, 1500*time.Millisecond); dropped != 0 {
		t.Fatalf("%d events dropped on Enqueue during the outage", dropped)
	}
	// Barrier: the publisher met the outage and said it keeps retrying (its
	// one warning per failure spell). Events it holds are dropped only on a
	// failure path, which it has now been through: what it holds must still
	// be held.
	waitLog(t, logs, 30*time.Second, `"dependency":"nats"`)
	if st := p.Stats(); st.Published >= n || st.Buffered == 0 || st.Dropped != 0 {
		t.Fatalf("during the outage: %+v", st)
	}
	srv.start()
	enqueue(t, p, 7000, n, ts, 2*time.Second)
	waitFor(t, p, 30*time.Second, "every event published after the restart", func(s events.PublisherStats) bool { return s.Published == n })
	st := p.Stats()
	if st.Dropped != 0 || st.Buffered != 0 {
		t.Errorf("after the outage: %+v", st)
	}
	t.Logf("after the outage: %+v", st)
	checkStream(t, js, names, n, ts) // exactly once: retries within the duplicate window were deduplicated
}

func TestPublisherOverflowDropsWithoutBlocking(t *testing.T) {
	t.Parallel()
	srv := startEmbedded(t)
	_, js := srv.connect()
	names := events.NewNames("")
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	srv.stop() // NATS away for good
	var onDrop atomic.Int64
	p := events.NewPublisher(js, names, events.PublisherOptions{Buffer: 10, Batch: 4, FlushTimeout: 300 * time.Millisecond,
		OnDrop: func(n int) { onDrop.Add(int64(n)) }})
	stop := runPublisher(t, p)
	const n = 1000
	dropped := enqueue(t, p, 0, n, time.Now().UTC(), 5*time.Second) // NATS never returns: a blocked Enqueue would never finish
	st := p.Stats()
	if dropped < n-10-4 || st.Dropped != uint64(dropped) || onDrop.Load() != int64(dropped) {
		t.Errorf("%d of %d enqueues dropped, stats %+v, OnDrop got %d; want at least %d dropped, all counted", dropped, n, st, onDrop.Load(), n-14)
	}
	if st.Buffered > 10+4 || st.Published != 0 {
		t.Errorf("memory not bounded by Buffer + Batch: %+v", st)
	}
	if err := stop(); err == nil {
		t.Error("Run returned nil though events were dropped at the flush deadline")
	}
	if st := p.Stats(); st.Dropped != n || onDrop.Load() != n || st.Buffered != 0 {
		t.Errorf("after Run: %+v, OnDrop got %d; want all %d dropped", st, onDrop.Load(), n)
	}
}

func TestPublisherDropsWhatNATSRefuses(t *testing.T) {
	t.Parallel()
	srv := startEmbeddedWith(t, 1024) // room for stream requests and ordinary events
	_, js := srv.connect()
	names := events.NewNames("")
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	p := events.NewPublisher(js, names, events.PublisherOptions{})
	stop := runPublisher(t, p)
	const n = 400
	for i := range n {
		e := testEvent(2, time.Now().UTC())
		if i%2 == 1 {
			e.UserID = strings.Repeat("<", 256) // valid, but JSON escapes each '<' to 6 bytes: over max_payload
		}
		p.Enqueue(e)
	}
	waitFor(t, p, 10*time.Second, "every event published or dropped", func(s events.PublisherStats) bool {
		return s.Published+s.Dropped == n
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if st := p.Stats(); st.Published != n/2 || st.Dropped != n/2 || st.Buffered != 0 {
		t.Errorf("stats %+v, want %d published and %d dropped", st, n/2, n/2)
	}
}

// A batch that is all unpublishable (older than the window) does not stall
// the publisher: the events queued behind it are published without another
// Enqueue to wake it. A wider window takes the same old events.
func TestPublisherGoesOnAfterAnUnpublishableBatch(t *testing.T) {
	t.Parallel()
	js, names := testJetStream(t)
	if err := events.EnsureStreams(t.Context(), js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	old := time.Now().UTC().Add(-10 * 24 * time.Hour)
	for _, tc := range []struct {
		window         events.Window
		published, bad uint64
	}{
		{events.Window{}, 100, 600},                           // the default 7 days refuses the 600 old ones
		{events.Window{MaxPast: 11 * 24 * time.Hour}, 700, 0}, // 11 days takes them
	} {
		p := events.NewPublisher(js, names, events.PublisherOptions{Batch: 100, Window: tc.window})
		for i := range 600 { // six whole batches of unpublishable events first
			p.Enqueue(testEvent(i, old))
		}
		for i := range 100 {
			p.Enqueue(testEvent(1000+i, time.Now().UTC()))
		}
		stop := runPublisher(t, p)
		waitFor(t, p, 10*time.Second, "the events after the old ones published", func(s events.PublisherStats) bool { return s.Published == tc.published })
		if err := stop(); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.Dropped != tc.bad {
			t.Errorf("window %+v: stats %+v, want %d dropped", tc.window, st, tc.bad)
		}
	}
}
