package main

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/servers"
)

// An aggregate process killed with SIGKILL at random points while events
// flow in batch messages of 100 (mid-batch: between fetch, insert, refresh
// and ack), then restarted: the report is exact.
func TestKilledMidBatch(t *testing.T) {
	p := newPipeline(t, "")
	bin := procs.Build(t, "./cmd/aggregate")
	rng := rand.New(rand.NewPCG(21, 22))
	all := chstoretest.Workload(rng, 6000, day0, "k-") // ~28,000 events
	const kills = 4
	interrupted := 0
	for k := range kills {
		p.publishBatches(t, all[k*len(all)/kills:(k+1)*len(all)/kills], 100)
		before := p.consumerInfo(t)
		proc := procs.StartProcess(t, bin, p.env, "--batch", "200", "--flush-interval", "100ms")
		// Kill it a random moment after it took its first messages (fetched,
		// not yet acknowledged: between fetch, insert, refresh and ack).
		deadline := time.Now().Add(30 * time.Second)
		for info := before; info == nil || info.NumAckPending == 0 && (before == nil || info.AckFloor.Stream == before.AckFloor.Stream); info = p.consumerInfo(t) {
			if time.Now().After(deadline) {
				t.Fatal("the aggregate process did not take messages within 30 s")
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rng.IntN(150)) * time.Millisecond)
		if err := proc.Cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", k, err)
		}
		_ = proc.Stop() // waits for the end; the error is the kill's
		if info := p.consumerInfo(t); info.NumPending+uint64(info.NumAckPending) > 0 {
			interrupted++
			t.Logf("kill %d: %d pending, %d fetched and unacknowledged", k, info.NumPending, info.NumAckPending)
		}
	}
	if interrupted < 2 {
		t.Errorf("only %d of %d kills interrupted work in progress", interrupted, kills)
	}
	procs.StartProcess(t, bin, p.env, "--batch", "1500")
	p.drained(t, 3*time.Minute)
	svc := startAggregate(t, p.env) // a second instance to ask (sharing the consumer)
	checkWorkload(t, svc, all)
}

// Every event resent after JetStream's dedup window, with its id as message
// id (what ingest forwards when a raw event is redelivered after a long
// outage), reaches the aggregate again: the report still counts it once. The
// window is a second, so the aggregate's dedup by event id in ClickHouse is
// all that stands between the copies and the report.
func TestResendAfterDedupWindow(t *testing.T) {
	p := newPipeline(t, "")
	p.setDedupWindow(t, dedupWindow)
	rng := rand.New(rand.NewPCG(41, 42))
	all := chstoretest.Workload(rng, 400, day0, "r-")
	p.publish(t, all, byID)
	svc := startAggregate(t, p.env)
	p.drained(t, 2*time.Minute)
	checkWorkload(t, svc, all)
	in := svc.Metric(t, "flagstream_aggregate_events_in_total")
	p.resendPastWindow(t, all)
	// Barrier: every message, the copies included, inserted, refreshed and
	// acknowledged.
	p.drained(t, 2*time.Minute)
	if got := svc.Metric(t, "flagstream_aggregate_events_in_total") - in; got < float64(len(all)) {
		t.Fatalf("the aggregate read %v of the %d resent events", got, len(all))
	}
	checkWorkload(t, svc, all)
}

// ClickHouse stopped mid-stream for a while, then started (events in batch
// messages of 100, as ingest forwards them): the aggregate
// waits (not ready, memory bounded by its batch and queue), loses nothing,
// catches up, and the report is exact.
func TestClickHouseOutage(t *testing.T) {
	ch := servers.PrivateClickHouse(t)
	p := newPipeline(t, ch.DSN())
	p.env["FLAGSTREAM_BATCH"] = "500"
	p.env["FLAGSTREAM_QUEUE"] = "2"
	p.env["FLAGSTREAM_CLICKHOUSE_TIMEOUT"] = "3s"
	rng := rand.New(rand.NewPCG(31, 32))
	all := chstoretest.Workload(rng, 1500, day0, "o-")
	half := len(all) / 2
	p.publishBatches(t, all[:half], 100)
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)

	ch.Stop()
	p.publishBatches(t, all[half:], 100)
	// Barrier: the aggregate met the outage with events in hand (a batch it
	// cannot insert), and its readiness says so.
	svc.WaitLog(t, 30*time.Second, `"dependency":"clickhouse"`)
	held := svc.WaitMetric(t, "flagstream_aggregate_messages_held", 30*time.Second, func(v float64) bool { return v > 0 })
	if held > 500*(2+2) {
		t.Errorf("%v messages held during the outage; the bound is batch × (queue + 2) = 2000", held)
	}
	deadline := time.Now().Add(30 * time.Second)
	for r := svc.Do(t, "GET", "/readyz", nil); r.Status != 503; r = svc.Do(t, "GET", "/readyz", nil) {
		if time.Now().After(deadline) {
			t.Fatalf("readyz with ClickHouse away = %d %s, want 503", r.Status, r.Body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r := svc.Do(t, "GET", "/v1/experiments/exp_a/report", nil); r.Status != 503 {
		t.Errorf("report with ClickHouse away = %d %s, want 503", r.Status, r.Body)
	}
	ch.Start()
	p.drained(t, 2*time.Minute)
	last := day0.AddDate(0, 0, 7)
	for _, metric := range []string{"purchase", "signup"} {
		checkExact(t, svc, all, "exp_a", metric, day0, last)
	}
	checkExact(t, svc, all, "exp_b", "purchase", day0, last)
	if !contains([]byte(svc.Logs.String()), `"dependency":"clickhouse"`) {
		t.Error("the outage was not logged with the dependency's name")
	}
}
