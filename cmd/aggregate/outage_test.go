package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/testenv"
)

// buildAggregate compiles the aggregate binary once per test.
func buildAggregate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "aggregate")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("build aggregate: %v\n%s", err, out)
	}
	return bin
}

func startProcess(t *testing.T, bin string, env map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--http-addr", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}, args...)...)
	cmd.Env = os.Environ()
	for k, v := range env {
		if k != "FLAGSTREAM_HTTP_ADDR" {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
	}
	logs := &testenv.Logs{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// An aggregate process killed with SIGKILL at random points while events
// flow (mid-batch: between fetch, insert, refresh and ack), then restarted:
// the report is exact.
func TestKilledMidBatch(t *testing.T) {
	p := newPipeline(t, "")
	bin := buildAggregate(t)
	rng := rand.New(rand.NewPCG(21, 22))
	all := chstoretest.Workload(rng, 3000, day0, "k-") // ~20,000 events
	p.publish(t, all, byID)
	for kill := range 4 {
		cmd := startProcess(t, bin, p.env, "--batch", "1500", "--flush-interval", "100ms")
		time.Sleep(time.Duration(400+rng.IntN(1200)) * time.Millisecond)
		if err := cmd.Process.Kill(); err != nil {
			t.Fatalf("kill %d: %v", kill, err)
		}
		_ = cmd.Wait()
	}
	// The kills landed mid-stream: work was left, some of it fetched and
	// not acknowledged.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	c, err := p.js.Consumer(ctx, p.names.AnalyticsStream, consumerName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("after the kills: %d pending, %d unacknowledged, %d redelivered, ack floor %d",
		info.NumPending, info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream)
	if info.NumPending+uint64(info.NumAckPending) == 0 {
		t.Error("every event was processed before the last kill: the kills did not interrupt anything")
	}
	startProcess(t, bin, p.env, "--batch", "1500")
	p.drained(t, 3*time.Minute)
	svc := startAggregate(t, p.env) // a second instance to ask (sharing the consumer)
	last := day0.AddDate(0, 0, 7)
	for _, exp := range []string{"exp_a", "exp_b"} {
		for _, metric := range []string{"purchase", "signup"} {
			checkExact(t, svc, all, exp, metric, day0, last)
		}
	}
}

var heldMetric = regexp.MustCompile(`(?m)^flagstream_aggregate_messages_held (\S+)$`)

// ClickHouse stopped mid-stream for a while, then started: the aggregate
// waits (not ready, memory bounded by its batch and queue), loses nothing,
// catches up, and the report is exact.
func TestClickHouseOutage(t *testing.T) {
	ch := testenv.PrivateClickHouse(t)
	p := newPipeline(t, ch.DSN())
	p.env["FLAGSTREAM_BATCH"] = "500"
	p.env["FLAGSTREAM_QUEUE"] = "2"
	p.env["FLAGSTREAM_CLICKHOUSE_TIMEOUT"] = "3s"
	rng := rand.New(rand.NewPCG(31, 32))
	all := chstoretest.Workload(rng, 1500, day0, "o-")
	half := len(all) / 2
	p.publish(t, all[:half], byID)
	svc := startAggregate(t, p.env)
	p.drained(t, time.Minute)

	ch.Stop()
	p.publish(t, all[half:], byID)
	time.Sleep(3 * time.Second)
	if r := svc.Do(t, "GET", "/readyz", nil); r.Status != 503 {
		t.Errorf("readyz with ClickHouse away = %d %s, want 503", r.Status, r.Body)
	}
	m := svc.Do(t, "GET", "/metrics", nil)
	if mm := heldMetric.FindSubmatch(m.Body); mm == nil {
		t.Error("no messages_held metric")
	} else if held, _ := strconv.ParseFloat(string(mm[1]), 64); held > 500*(2+2) {
		t.Errorf("%v messages held during the outage; the bound is batch × (queue + 2) = 2000", held)
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
