package events_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
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
		if c.MaxAge != l.MaxAge || c.MaxBytes != l.MaxBytes || c.Duplicates != l.Duplicates || c.MaxMsgSize != l.MaxMsgSize ||
			c.Replicas != l.Replicas || c.Storage != l.Storage {
			t.Errorf("%s limits: max_age %v max_bytes %d duplicates %v max_msg_size %d replicas %d storage %v; want %+v",
				name, c.MaxAge, c.MaxBytes, c.Duplicates, c.MaxMsgSize, c.Replicas, c.Storage, l)
		}
		if c.Retention != jetstream.LimitsPolicy || c.Discard != jetstream.DiscardOld {
			t.Errorf("%s retention %v discard %v, want limits and old", name, c.Retention, c.Discard)
		}
	}
}

// TestDefaultStreamConfigs checks what EnsureStreams applies with the
// production limits, without creating streams that big on the shared test
// server (JetStream reserves MaxBytes up front; see TestStreamLimits).
func TestDefaultStreamConfigs(t *testing.T) {
	n := events.NewNames("")
	cfgs := events.StreamConfigs(n, events.DefaultStreamLimits())
	if len(cfgs) != 2 || cfgs[0].Name != "FLAGSTREAM_RAW" || cfgs[1].Name != "FLAGSTREAM_ANALYTICS" {
		t.Fatalf("StreamConfigs = %+v", cfgs)
	}
	for i, subject := range []string{"flagstream.raw.>", "flagstream.analytics.>"} {
		c := cfgs[i]
		if len(c.Subjects) != 1 || c.Subjects[0] != subject || c.MaxAge != 7*24*time.Hour || c.MaxBytes != 1<<30 ||
			c.Duplicates != 2*time.Minute || c.MaxMsgSize != 64<<10 || c.Replicas != 1 || c.Storage != jetstream.FileStorage ||
			c.Retention != jetstream.LimitsPolicy || c.Discard != jetstream.DiscardOld || c.MaxMsgs != -1 {
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

	l.MaxBytes, l.MaxAge, l.Duplicates, l.MaxMsgSize = 32<<20, 24*time.Hour, time.Minute, 8<<10
	if err := events.EnsureStreams(ctx, js, n, l); err != nil {
		t.Fatalf("EnsureStreams with new limits: %v", err)
	}
	checkStreams(t, js, n, l)

	bad := l
	bad.Duplicates = 48 * time.Hour
	if err := events.EnsureStreams(ctx, js, n, bad); err == nil {
		t.Error("EnsureStreams accepted a duplicate window longer than max age")
	}
}

func TestEnsureStreamsConcurrently(t *testing.T) {
	t.Parallel()
	js, base := testJetStream(t)
	prefix := strings.TrimSuffix(base.RawStream, "FLAGSTREAM_RAW")
	same := events.TestStreamLimits()
	other := same
	other.MaxBytes = 16 << 20
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
