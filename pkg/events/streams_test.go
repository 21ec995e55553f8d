package events_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

func testJetStream(t testing.TB) (jetstream.JetStream, events.Names) {
	t.Helper()
	nc, prefix := testenv.NATS(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js, events.NewNames(prefix)
}

func checkStreams(t *testing.T, js jetstream.JetStream, n events.Names, l events.StreamLimits) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, subject := range map[string]string{n.RawStream: n.RawSubjects, n.AnalyticsStream: n.AnalyticsSubjects} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		c := s.CachedInfo().Config
		if len(c.Subjects) != 1 || c.Subjects[0] != subject {
			t.Errorf("%s subjects = %v, want [%s]", name, c.Subjects, subject)
		}
		if c.MaxAge != 0 || c.MaxBytes != -1 || c.MaxMsgs != l.MaxMessages || c.Duplicates != l.Duplicates || c.MaxMsgSize != l.MaxMsgSize ||
			c.Replicas != l.Replicas || c.Storage != l.Storage {
			t.Errorf("%s limits: max_age %v max_bytes %d max_msgs %d duplicates %v max_msg_size %d replicas %d storage %v; want %+v",
				name, c.MaxAge, c.MaxBytes, c.MaxMsgs, c.Duplicates, c.MaxMsgSize, c.Replicas, c.Storage, l)
		}
		if c.Retention != jetstream.InterestPolicy || c.Discard != jetstream.DiscardNew {
			t.Errorf("%s retention %v discard %v, want interest and new", name, c.Retention, c.Discard)
		}
	}
	for stream, consumer := range map[string]string{n.RawStream: events.RawConsumer, n.AnalyticsStream: events.AnalyticsConsumer} {
		if _, err := js.Consumer(ctx, stream, consumer); err != nil {
			t.Errorf("consumer %s on %s: %v", consumer, stream, err)
		}
	}
}

// TestDefaultStreamConfigs checks what EnsureStreams applies with the
// production limits, without creating streams that big on the shared test
// server.
func TestDefaultStreamConfigs(t *testing.T) {
	n := events.NewNames("")
	cfgs := events.StreamConfigs(n, events.DefaultStreamLimits())
	if len(cfgs) != 2 || cfgs[0].Name != "FLAGSTREAM_RAW" || cfgs[1].Name != "FLAGSTREAM_ANALYTICS" {
		t.Fatalf("StreamConfigs = %+v", cfgs)
	}
	for i, subject := range []string{"flagstream.raw.>", "flagstream.analytics.>"} {
		c := cfgs[i]
		if len(c.Subjects) != 1 || c.Subjects[0] != subject || c.MaxAge != 0 || c.MaxBytes != -1 || c.MaxMsgs != 1_000_000 ||
			c.Duplicates != 2*time.Minute || c.MaxMsgSize != 1<<20 || c.Replicas != 1 || c.Storage != jetstream.FileStorage ||
			c.Retention != jetstream.InterestPolicy || c.Discard != jetstream.DiscardNew {
			t.Errorf("config %d = %+v", i, c)
		}
	}
}

func TestEnsureStreams(t *testing.T) {
	t.Parallel()
	js, n := testJetStream(t)
	ctx := t.Context()
	l := events.TestStreamLimits()
	for i := range 2 {
		if err := events.EnsureStreams(ctx, js, n, l); err != nil {
			t.Fatalf("EnsureStreams #%d: %v", i+1, err)
		}
	}
	checkStreams(t, js, n, l)

	l.MaxMessages, l.Duplicates, l.MaxMsgSize = 1000, time.Minute, 8<<10
	if err := events.EnsureStreams(ctx, js, n, l); err != nil {
		t.Fatalf("EnsureStreams with new limits: %v", err)
	}
	checkStreams(t, js, n, l)
}

// A stream an older flagstream made with limits retention cannot be turned
// into an interest stream by an update: EnsureStreams says what to do.
func TestEnsureStreamsOnALimitsStream(t *testing.T) {
	t.Parallel()
	js, n := testJetStream(t)
	old := events.StreamConfigs(n, events.TestStreamLimits())[0]
	old.Retention, old.Discard = jetstream.LimitsPolicy, jetstream.DiscardOld
	if _, err := js.CreateStream(t.Context(), old); err != nil {
		t.Fatal(err)
	}
	err := events.EnsureStreams(t.Context(), js, n, events.TestStreamLimits())
	if err == nil || !strings.Contains(err.Error(), "limits retention") || !strings.Contains(err.Error(), n.RawStream) {
		t.Errorf("EnsureStreams on a limits stream = %v, want an error saying how to move", err)
	}
}

// A full stream refuses new events (DiscardNew) and deletes none that its
// consumer has not acknowledged, whatever their sizes; what the consumer
// acknowledges leaves it, and then publishes are taken again. (Bounded by
// bytes, nats-server 2.9 removes the oldest message at the boundary: this
// test caught that.)
func TestFullStreamRefusesAndKeepsEverything(t *testing.T) {
	t.Parallel()
	js, n := testJetStream(t)
	ctx := t.Context()
	l := events.TestStreamLimits()
	l.MaxMessages = 150
	if err := events.EnsureStreams(ctx, js, n, l); err != nil {
		t.Fatal(err)
	}
	subject := n.RawSubject(events.TypeExposure)
	stored := 0
	var refused error
	for i := range 1000 {
		payload := []byte(strings.Repeat("x", 100+i*37%900)) // sizes vary, as events do
		if _, err := js.Publish(ctx, subject, payload, jetstream.WithMsgID(fmt.Sprint(i))); err != nil {
			refused = err
			break
		}
		stored++
	}
	if refused == nil || !strings.Contains(refused.Error(), "maximum messages exceeded") || stored != 150 {
		t.Fatalf("after %d publishes: %v, want a refusal for maximum messages after 150", stored, refused)
	}
	s, err := js.Stream(ctx, n.RawStream)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.CachedInfo().State; st.Msgs != uint64(stored) || st.FirstSeq != 1 {
		t.Fatalf("stream holds %d messages from %d, want all %d stored from 1", st.Msgs, st.FirstSeq, stored)
	}
	cons, err := js.Consumer(ctx, n.RawStream, events.RawConsumer)
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(100, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	acked := 0
	for m := range batch.Messages() {
		if err := m.DoubleAck(ctx); err != nil {
			t.Fatal(err)
		}
		acked++
	}
	if acked != 100 {
		t.Fatalf("fetched %d, want 100", acked)
	}
	if _, err := js.Publish(ctx, subject, []byte("{}"), jetstream.WithMsgID("after")); err != nil {
		t.Errorf("publish after the consumer took 100: %v", err)
	}
	s, _ = js.Stream(ctx, n.RawStream)
	if st := s.CachedInfo().State; st.Msgs != uint64(stored-100+1) || st.FirstSeq != 101 {
		t.Errorf("stream holds %d messages from %d, want %d from 101", st.Msgs, st.FirstSeq, stored-100+1)
	}
}

// The gap counter finds events removed past a consumer's ack floor, once.
func TestGapCounter(t *testing.T) {
	var g events.GapCounter
	info := func(floor uint64) *jetstream.ConsumerInfo {
		return &jetstream.ConsumerInfo{AckFloor: jetstream.SequenceInfo{Stream: floor}}
	}
	steps := []struct {
		floor, first, want uint64
	}{
		{0, 0, 0},   // empty stream
		{0, 1, 0},   // nothing acknowledged, nothing lost
		{5, 6, 0},   // five taken and removed
		{5, 9, 3},   // 6, 7, 8 removed before the consumer took them
		{5, 9, 0},   // the same gap seen again
		{12, 13, 0}, // the consumer moved on
		{12, 20, 7}, // another gap
	}
	for i, s := range steps {
		if got := g.Observe(info(s.floor), s.first); got != s.want {
			t.Errorf("step %d (floor %d, first %d): %d lost, want %d", i, s.floor, s.first, got, s.want)
		}
	}
}

func TestEnsureStreamsConcurrently(t *testing.T) {
	t.Parallel()
	js, base := testJetStream(t)
	prefix := strings.TrimSuffix(base.RawStream, "FLAGSTREAM_RAW")
	same := events.TestStreamLimits()
	other := same
	other.MaxMessages = 1000
	// Several processes at once, some with the same limits and one with other
	// limits (a rolling upgrade): none may fail. A few rounds, on fresh
	// names, so that creates really race.
	limits := []events.StreamLimits{same, same, same, other}
	for round := range 4 {
		n := events.NewNames(fmt.Sprintf("%sR%d_", prefix, round))
		var wg sync.WaitGroup
		errs := make([]error, len(limits))
		for i, l := range limits {
			wg.Go(func() { errs[i] = events.EnsureStreams(t.Context(), js, n, l) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: EnsureStreams #%d: %v", round, i, err)
			}
		}
		if err := events.EnsureStreams(t.Context(), js, n, same); err != nil {
			t.Fatal(err)
		}
		checkStreams(t, js, n, same)
	}
}

// A publisher that starts before the streams exist loses nothing it was told
// was stored: an interest stream drops what arrives before its consumer
// exists, so EnsureStreams opens a stream's subjects only once its consumer
// is there.
func TestEnsureStreamsLosesNoEarlyPublish(t *testing.T) {
	t.Parallel()
	for round := range 20 {
		js, n := testJetStream(t)
		n = events.NewNames(strings.TrimSuffix(n.RawStream, "FLAGSTREAM_RAW") + fmt.Sprintf("E%d_", round))
		done := make(chan struct{})
		var stored atomic.Int64
		var wg sync.WaitGroup
		for p := range 4 { // publishers racing the creation
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-done:
						return
					default:
					}
					if _, err := js.Publish(t.Context(), n.RawSubject(events.TypeExposure), []byte("{}"), jetstream.WithMsgID(fmt.Sprint(p, "-", i))); err == nil {
						stored.Add(1)
					}
				}
			})
		}
		if err := events.EnsureStreams(t.Context(), js, n, events.TestStreamLimits()); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // a few publishes after the streams are ready
		close(done)
		wg.Wait()
		s, err := js.Stream(t.Context(), n.RawStream)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.CachedInfo().State.Msgs; got != uint64(stored.Load()) || stored.Load() == 0 {
			t.Errorf("round %d: %d publishes acknowledged, %d in the stream", round, stored.Load(), got)
		}
	}
}
