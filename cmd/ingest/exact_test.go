package main

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

var testDay = time.Now().UTC().Truncate(24 * time.Hour).Add(9 * time.Hour)

type pipeline struct {
	env      map[string]string
	nc       *nats.Conn
	js       jetstream.JetStream
	names    events.Names
	counters *live.Counters
}

// newPipeline prepares a namespace on the given (or shared) Redis and NATS,
// with both streams created.
func newPipeline(t *testing.T, redisURL, natsURL string) *pipeline {
	t.Helper()
	env := testenv.ServiceEnv(t)
	if redisURL != "" {
		env["FLAGSTREAM_REDIS_URL"] = redisURL
	}
	if natsURL != "" {
		env["FLAGSTREAM_NATS_URL"] = natsURL
	}
	nc, err := nats.Connect(env["FLAGSTREAM_NATS_URL"], nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	names := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	rdb, err := connect.Redis(env["FLAGSTREAM_REDIS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Close() })
	return &pipeline{env: env, nc: nc, js: js, names: names, counters: live.New(rdb, env["FLAGSTREAM_REDIS_PREFIX"], 0)}
}

// drained waits until the ingest consumer has nothing pending and nothing
// unacknowledged.
func (p *pipeline) drained(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var info *jetstream.ConsumerInfo
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := p.js.Consumer(ctx, p.names.RawStream, consumerName)
		if err == nil {
			info, err = c.Info(ctx)
		}
		cancel()
		if err == nil && info.NumPending == 0 && info.NumAckPending == 0 && info.Delivered.Stream > 0 {
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("ingest consumer not drained within %v: %+v", within, info)
}

// checkAnalytics asserts exactly one analytics message per event id.
func (p *pipeline) checkAnalytics(t *testing.T, w *workload) {
	t.Helper()
	ids, _ := analyticsIDs(t, p.env["FLAGSTREAM_NATS_URL"], p.env["FLAGSTREAM_NATS_NAMESPACE"])
	if len(ids) != len(w.events) {
		t.Errorf("analytics stream has %d distinct ids, want %d", len(ids), len(w.events))
	}
	for _, e := range w.events {
		if ids[e.ID] != 1 {
			t.Fatalf("event %s forwarded %d times, want once", e.ID, ids[e.ID])
		}
	}
}

// 100,000 events with duplicates (as separate raw messages, half of them
// without a JetStream message id so only ingest can catch them) and forced
// redeliveries (events a "previous ingest" counted and forwarded without
// acknowledging) give exact counters and one analytics message per id.
func TestExactUnderDuplicatesAndRedeliveries(t *testing.T) {
	p := newPipeline(t, "", "")
	w := newWorkload(75_000, testDay) // 75,000 exposures + 18,750 conversions
	rng := rand.New(rand.NewPCG(7, 7))
	stream := append([]events.Event(nil), w.events...)
	var dups []events.Event
	for len(stream)+len(dups) < 100_000 {
		dups = append(dups, w.events[rng.IntN(len(w.events))])
	}
	// A previous ingest died after counting and forwarding these, before its acks.
	pre := w.events[:5000]
	if _, err := p.counters.Apply(context.Background(), pre); err != nil {
		t.Fatal(err)
	}
	publishTo(t, p.js, pre, p.names.AnalyticsSubject)

	t0 := time.Now()
	publishRaw(t, p.js, p.names, stream, true)
	publishRaw(t, p.js, p.names, dups[:len(dups)/2], true)  // JetStream's window drops these
	publishRaw(t, p.js, p.names, dups[len(dups)/2:], false) // these reach ingest
	t.Logf("published in %v", time.Since(t0))
	t0 = time.Now()
	in := startIngest(t, p.env)
	p.drained(t, 3*time.Minute)
	t.Logf("drained in %v", time.Since(t0))
	w.check(t, p.counters, testDay)
	p.checkAnalytics(t, w)
	m := in.Do(t, "GET", "/metrics", nil)
	if !strings.Contains(string(m.Body), "flagstream_ingest_dedup_hits_total") {
		t.Error("no dedup metric")
	}
}

func publishTo(t *testing.T, js jetstream.JetStream, evs []events.Event, subject func(events.Type) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for i := range evs {
		data, _ := evs[i].AppendJSON(nil)
		if _, err := js.Publish(ctx, subject(evs[i].Type), data, jetstream.WithMsgID(evs[i].ID)); err != nil {
			t.Fatal(err)
		}
	}
}

// An ingest process killed with SIGKILL at random points while 100,000 events
// flow, then restarted: counters exact, nothing missing on the analytics
// stream, nothing there twice.
func TestKilledMidStream(t *testing.T) {
	p := newPipeline(t, "", "")
	bin := testenv.Build(t, "./cmd/ingest")
	w := newWorkload(80_000, testDay) // 100,000 events
	publishRaw(t, p.js, p.names, w.events, true)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 4 {
		proc := testenv.StartProcess(t, bin, p.env, "--ack-wait", "2s")
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		proc.Kill()
	}
	testenv.StartProcess(t, bin, p.env, "--ack-wait", "2s")
	p.drained(t, 3*time.Minute)
	w.check(t, p.counters, testDay)
	p.checkAnalytics(t, w)
}

// Redis stopped for a while mid-stream, then started: exact.
func TestRedisOutage(t *testing.T) {
	redisSrv := testenv.PrivateRedis(t)
	p := newPipeline(t, redisSrv.URL(), "")
	w := newWorkload(16_000, testDay)
	publishRaw(t, p.js, p.names, w.events, true)
	in := startIngest(t, p.env)
	time.Sleep(300 * time.Millisecond)
	redisSrv.Stop()
	time.Sleep(2 * time.Second)
	if r := in.Do(t, "GET", "/readyz", nil); r.Status != 503 {
		t.Errorf("readyz with Redis away = %d, want 503", r.Status)
	}
	redisSrv.Start()
	p.drained(t, 2*time.Minute)
	w.check(t, p.counters, testDay)
	p.checkAnalytics(t, w)
}

// NATS restarted mid-stream: exact.
func TestNATSRestart(t *testing.T) {
	natsSrv := testenv.EmbeddedNATS(t)
	p := newPipeline(t, "", natsSrv.URL())
	p.env["FLAGSTREAM_NATS_NAMESPACE"] = ""
	p.names = events.NewNames("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, p.js, p.names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	w := newWorkload(16_000, testDay)
	publishRaw(t, p.js, p.names, w.events, true)
	startIngest(t, p.env)
	time.Sleep(300 * time.Millisecond)
	natsSrv.Stop()
	time.Sleep(2 * time.Second)
	natsSrv.Start()
	p.drained(t, 2*time.Minute)
	w.check(t, p.counters, testDay)
	p.checkAnalytics(t, w)
}
