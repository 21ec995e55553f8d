package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/servers"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// eventTime is when a test's workload happened: the start of the hour
// before now. Each test reads the clock once and keeps the result, so its
// events and the day it reads the counters for agree across midnight; the
// workload's conversions, a minute later, stay in the same hour and day.
func eventTime() time.Time { return time.Now().UTC().Add(-time.Hour).Truncate(time.Hour) }

// Ingest's worker count in the outage tests: at most outageWorkers ×
// fetchMessages raw messages (here one event each) are between fetched and
// acknowledged at once.
const outageWorkers = 2

const forwardedMetric = "flagstream_ingest_events_forwarded_total"

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
	env := procs.ServiceEnv(t)
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
	return &pipeline{env: env, nc: nc, js: js, names: names, counters: live.New(rdb, env["FLAGSTREAM_REDIS_PREFIX"], live.Options{})}
}

// drained waits until the ingest consumer has nothing pending and nothing
// unacknowledged.
func (p *pipeline) drained(t *testing.T, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var info *jetstream.ConsumerInfo
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		c, err := p.js.Consumer(ctx, p.names.RawStream, events.RawConsumer)
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
	day := eventTime()
	w := newWorkload(75_000, day) // 75,000 exposures + 18,750 conversions
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
	w.check(t, p.counters, day)
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
// flow in batch messages, then restarted: counters exact, nothing missing on
// the analytics stream, nothing there twice (a redelivered batch is
// forwarded under the same message ids).
func TestKilledMidStream(t *testing.T) {
	p := newPipeline(t, "", "")
	bin := procs.Build(t, "./cmd/ingest")
	day := eventTime()
	w := newWorkload(80_000, day) // 100,000 events, in batches as flagd and ingest's intake publish them
	p.publishBatches(t, w.events)
	rng := rand.New(rand.NewPCG(3, 4))
	const kills = 4
	interrupted := 0
	for k := range kills {
		proc := procs.StartProcess(t, bin, p.env, "--ack-wait", "2s")
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		proc.Kill()
		// A kill interrupted work only if raw events were left to count.
		if info := p.consumerInfo(t); info != nil && info.NumPending+uint64(info.NumAckPending) > 0 {
			interrupted++
			t.Logf("kill %d: %d pending, %d fetched and unacknowledged", k, info.NumPending, info.NumAckPending)
		}
	}
	if interrupted < 2 {
		t.Errorf("only %d of %d kills interrupted work in progress", interrupted, kills)
	}
	procs.StartProcess(t, bin, p.env, "--ack-wait", "2s")
	p.drained(t, 3*time.Minute)
	w.check(t, p.counters, day)
	p.checkAnalytics(t, w)
}

// consumerInfo reads the ingest consumer's state, nil before it exists.
func (p *pipeline) consumerInfo(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	return streams.ConsumerInfo(t, p.js, p.names.RawStream, events.RawConsumer)
}

// startOutageIngest starts ingest on a workload already on the raw stream
// and returns once it has forwarded its first events: the moment to take a
// dependency away, with most of the workload still to do.
func startOutageIngest(t *testing.T, env map[string]string) *procs.Service {
	t.Helper()
	env["FLAGSTREAM_WORKERS"] = fmt.Sprint(outageWorkers)
	// What a NATS restart lost in flight comes back after the ack wait:
	// 5 s rather than 30 keeps the test short.
	env["FLAGSTREAM_ACK_WAIT"] = "5s"
	in := startIngest(t, env)
	in.WaitMetric(t, forwardedMetric, 30*time.Second, func(v float64) bool { return v > 0 })
	return in
}

// checkInFlight fails the test unless the outage caught ingest with work
// left: read during the outage, the forwarded count plus inHand (the most
// events ingest can hold between fetched and forwarded at once) is below the
// workload, so when the dependency went away events had been accepted into
// the raw stream and not yet all counted and forwarded.
func checkInFlight(t *testing.T, in *procs.Service, total, inHand int) {
	t.Helper()
	forwarded := in.Metric(t, forwardedMetric)
	t.Logf("during the outage: %.0f of %d events forwarded (at most %d in ingest's hands)", forwarded, total, inHand)
	if forwarded+float64(inHand) >= float64(total) {
		t.Fatalf("nothing was in flight: ingest had forwarded %.0f of %d events (at most %d more in its hands) when the dependency went away; raise the workload",
			forwarded, total, inHand)
	}
}

// publishBatches publishes evs to the raw stream packed as flagd and
// ingest's intake pack them, and returns the most events ingest's workers
// can hold at once: each fetch takes at most FetchSize bytes, so at most
// that many of the smallest messages, each with at most the most events.
func (p *pipeline) publishBatches(t *testing.T, evs []events.Event) (inHand int) {
	t.Helper()
	msgs, err := events.Pack(p.names.RawSubject, events.MessageLimits{}.Fit(p.nc), evs)
	if err != nil {
		t.Fatal(err)
	}
	publishMessages(t, p.js, msgs)
	smallest, most := len(msgs[0].Data), 0
	for _, m := range msgs {
		smallest, most = min(smallest, len(m.Data)), max(most, m.Events)
	}
	perFetch := min(fetchMessages, events.FetchSize(p.nc, 1<<20)/smallest+1)
	return outageWorkers * perFetch * most
}

// Redis stopped mid-stream, while ingest has batches in hand, then started:
// exact.
func TestRedisOutage(t *testing.T) {
	redisSrv := servers.PrivateRedis(t)
	p := newPipeline(t, redisSrv.URL(), "")
	day := eventTime()
	w := newWorkload(48_000, day) // 60,000 events, in batch messages
	inHand := p.publishBatches(t, w.events)
	in := startOutageIngest(t, p.env)
	redisSrv.Stop()
	checkInFlight(t, in, len(w.events), inHand)
	// A batch fetched and not counted: the consumer met the outage.
	in.WaitLog(t, 30*time.Second, `"dependency":"redis"`)
	if r := in.Do(t, "GET", "/readyz", nil); r.Status != 503 {
		t.Errorf("readyz with Redis away = %d, want 503", r.Status)
	}
	redisSrv.Start()
	p.drained(t, 2*time.Minute)
	w.check(t, p.counters, day)
	p.checkAnalytics(t, w)
}

// NATS restarted mid-stream, while ingest has work in hand: exact. The raw
// messages hold one event each here, as from a publisher that does not
// batch (the Redis outage and the kill test run on batches).
func TestNATSRestart(t *testing.T) {
	natsSrv := servers.EmbeddedNATS(t)
	p := newPipeline(t, "", natsSrv.URL())
	p.env["FLAGSTREAM_NATS_NAMESPACE"] = ""
	p.names = events.NewNames("")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, p.js, p.names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	day := eventTime()
	w := newWorkload(16_000, day) // 20,000 events
	publishRaw(t, p.js, p.names, w.events, true)
	in := startOutageIngest(t, p.env)
	natsSrv.Stop()
	// Ingest knows NATS is away (its readiness says so) and has tried to
	// reach it: nothing it forwards from here on can be acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for in.Do(t, "GET", "/readyz", nil).Status != 503 {
		if time.Now().After(deadline) {
			t.Fatal("readyz still 200 30 s after NATS stopped")
		}
		time.Sleep(10 * time.Millisecond)
	}
	in.WaitLog(t, 30*time.Second, `"dependency":"nats"`)
	checkInFlight(t, in, len(w.events), outageWorkers*fetchMessages) // one event a message
	natsSrv.Start()
	p.drained(t, 2*time.Minute)
	w.check(t, p.counters, day)
	p.checkAnalytics(t, w)
}

// publishMessages publishes packed messages and waits for their acks.
func publishMessages(t *testing.T, js jetstream.JetStream, msgs []events.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < len(msgs); start += 256 {
		if err := events.PublishAll(ctx, js, msgs[start:min(start+256, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}
}

// Batches as flagd and ingest's intake publish them, some of them partly
// applied before: a previous ingest's Redis pipeline counted the events
// 250..5,249, which cut across batch boundaries, and it forwarded the
// first ten raw batches without acknowledging them (so they come back).
// The counters are exact, and every event is on the analytics stream once:
// the redelivered batches are forwarded under the same message ids, which
// JetStream drops.
func TestBatchesPartlyAppliedAndRedelivered(t *testing.T) {
	p := newPipeline(t, "", "")
	day := eventTime()
	w := newWorkload(40_000, day) // 50,000 events
	raw, err := events.Pack(p.names.RawSubject, events.MessageLimits{}, w.events)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.counters.Apply(context.Background(), w.events[250:5250]); err != nil {
		t.Fatal(err)
	}
	var forwarded []events.Message
	for _, m := range raw[:10] {
		evs, _, _, err := events.DecodeMessage(m.NATS().Header, m.Data)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := events.Pack(p.names.AnalyticsSubject, events.MessageLimits{}, evs)
		forwarded = append(forwarded, again...)
	}
	publishMessages(t, p.js, forwarded)
	publishMessages(t, p.js, raw)
	if got := streams.StreamLastSeq(t, p.env["FLAGSTREAM_NATS_URL"], p.names.RawStream); got != uint64(len(raw)) {
		t.Fatalf("raw stream holds %d messages, want the %d batches", got, len(raw))
	}
	in := startIngest(t, p.env)
	p.drained(t, 3*time.Minute)
	w.check(t, p.counters, day)
	p.checkAnalytics(t, w)
	if hits := in.Metric(t, "flagstream_ingest_dedup_hits_total"); hits != 5000 {
		t.Errorf("%v dedup hits, want the 5,000 events applied before", hits)
	}
}
