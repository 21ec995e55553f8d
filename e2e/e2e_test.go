// Package e2e tests flagstream as a whole: the three built binaries on real
// Redis, NATS and ClickHouse, driven only through their HTTP APIs.
package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/simulate"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/procs"
)

// stack is one flagstream deployment: a flagd and any number of ingest and
// aggregate processes sharing this test's Redis prefix, NATS namespace and
// ClickHouse database.
type stack struct {
	flagd      *procs.Process
	ingests    []*procs.Process
	aggregates []*procs.Process
}

// startStack starts the processes; extraEnv (may be nil) adds settings all
// of them share.
func startStack(t *testing.T, ingests, aggregates int, flagdArgs, ingestArgs []string, extraEnv map[string]string) *stack {
	t.Helper()
	env := stackEnv(t, extraEnv)
	s := &stack{flagd: procs.StartProcess(t, procs.Build(t, "./cmd/flagd"), env, flagdArgs...)}
	for range ingests {
		s.ingests = append(s.ingests, procs.StartProcess(t, procs.Build(t, "./cmd/ingest"), env, ingestArgs...))
	}
	for range aggregates {
		// Small batches, so that both instances of a scaled-out pair get work.
		s.aggregates = append(s.aggregates, procs.StartProcess(t, procs.Build(t, "./cmd/aggregate"), env, "serve", "--batch", "1000"))
	}
	return s
}

// stackEnv is the environment of one deployment's processes: this test's
// namespaces on the shared servers, its own ClickHouse database, and extra
// (may be nil) on top.
func stackEnv(t *testing.T, extra map[string]string) map[string]string {
	t.Helper()
	env := procs.ServiceEnv(t)
	for k, v := range extra {
		env[k] = v
	}
	dsn, _ := testenv.ClickHouseDSN(t)
	env["FLAGSTREAM_CLICKHOUSE_DSN"] = dsn
	env["FLAGSTREAM_LOG_LEVEL"] = "warn"
	return env
}

type progressWriter struct{ t *testing.T }

func (w progressWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// The simulated experiment of `make demo`, with its seed and run tag fixed:
// the report must equal what was sent, find variant_b's planted +10% and not
// call variant_a (no effect) a winner; the live Redis counters must agree
// with what was sent; the rollout must follow its plan.
func TestSimulatedExperiment(t *testing.T) {
	const days = 7
	s := startStack(t, 1, 1, []string{"--exposures=false", "--max-event-age", strconv.Itoa((days+1)*24) + "h"}, []string{"--max-event-age", strconv.Itoa((days+1)*24) + "h", "--dedup-window", strconv.Itoa((days+1)*24) + "h"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	res, err := simulate.Run(ctx, simulate.Config{
		FlagdURL: s.flagd.URL, IngestURL: s.ingests[0].URL, AggregateURL: s.aggregates[0].URL,
		Users: 60_000, Days: days, Seed: 1, RunTag: "e2e", Workers: 8, Wait: 3 * time.Minute,
		Progress: progressWriter{t},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Run returns only once the report equals what was sent; check it here too.
	for _, v := range res.Report.Variants {
		sent := res.Sent[v.Variant]
		if v.Users != sent.Users || v.Converters != sent.Converters || v.Conversions != sent.Conversions ||
			math.Round(v.ValueSum.Value*100) != float64(sent.ValueCents) {
			t.Errorf("%s: report %d users %d converters %d conversions %.2f, sent %+v", v.Variant, v.Users, v.Converters, v.Conversions, v.ValueSum.Value, *sent)
		}
	}
	findings, err := res.Findings()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range findings {
		t.Log(f)
		if !f.Correct {
			t.Errorf("the report's call on %s is wrong: %s", f.Variant, f)
		}
	}
	// Exposure on use: the report finds variant_b's planted +10% at full
	// size (its interval holds it), where bulk exposure of everyone who
	// fetched, bystanders included, would have diluted it.
	dilutions, err := res.Dilutions()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dilutions {
		t.Log(d)
		if d.Variant == "variant_b" && !(d.Diluted.Value < d.OnUse.Value && d.Diluted.Value < 0.085) {
			t.Errorf("variant_b: on use %v, diluted %v; want the diluted lift well below the planted 10%%", d.OnUse, d.Diluted)
		}
	}
	for _, f := range findings {
		if f.Variant == "variant_b" && !(f.RelCI.Valid && f.RelCI.Lo <= 0.10 && 0.10 <= f.RelCI.Hi) {
			t.Errorf("variant_b's report interval %v does not hold the planted +10%%", f.RelCI)
		}
	}
	// The report asked for no weights: the check used those the exposures carried.
	if res.Report.SRM.Warn || math.Abs(res.Report.SRM.ExpectedShare["control"]-0.34) > 1e-9 {
		t.Errorf("sample-ratio check on a correct 34/33/33 split: %+v", res.Report.SRM)
	}
	for _, w := range res.Report.Warnings {
		if w.Code == report.CodeWeightsAssumed || w.Code == report.CodeWeightsChanged {
			t.Errorf("report warning %+v: the flag's weights were carried by every exposure", w)
		}
	}

	// The rollout: each day's share of users with search_v2 on is the stage's
	// percentage, within 5 standard errors.
	perDay := float64(60_000 / days)
	for _, d := range res.Rollout {
		p := d.Percentage / 100
		if se := math.Sqrt(p*(1-p)/perDay) + 1e-9; math.Abs(d.Enabled-p) > 5*se {
			t.Errorf("%s: %s on for %.2f%% of users at stage %v%%", d.Day, simulate.RolloutFlag, 100*d.Enabled, d.Percentage)
		}
	}
	if first, last := res.Rollout[0].Percentage, res.Rollout[len(res.Rollout)-1].Percentage; first != simulate.RolloutStages[0] || last != 100 {
		t.Errorf("rollout went from %v%% to %v%%, want %v%% to 100%%", first, last, simulate.RolloutStages[0])
	}

	// Run compared the live counters' exact figures with what was sent; the
	// unique users (HyperLogLog, ~0.8%) must be within 3%.
	if !res.LiveChecked {
		t.Fatal("the live counters were not checked (the experiment held data before the run)")
	}
	for name, sent := range res.Sent {
		got := res.Live[name]
		if got.Exposures != sent.Exposures || got.Conversions != sent.Conversions || got.ValueCents != sent.ValueCents {
			t.Errorf("%s live %+v, sent %+v", name, got, *sent)
		}
		if rel := math.Abs(float64(got.UniqueUsers-sent.Users)) / float64(sent.Users); rel > 0.03 {
			t.Errorf("%s live unique users %d vs %d sent (%.1f%% off)", name, got.UniqueUsers, sent.Users, 100*rel)
		}
	}
}

type liveTotals struct {
	exposures, users, conversions, cents int64
}

// addLive adds one day's live counters of an experiment (GET /live) into totals.
func addLive(t *testing.T, ingest *procs.Process, experiment string, day time.Time, totals map[string]*liveTotals) {
	t.Helper()
	var body struct {
		Results map[string]live.VariantStats `json:"results"`
	}
	r := ingest.Do(t, http.MethodGet, "/v1/experiments/"+experiment+"/live?date="+day.Format(time.DateOnly), nil)
	if r.Status != http.StatusOK {
		t.Fatalf("live %s: %d %s", day.Format(time.DateOnly), r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatal(err)
	}
	for v, st := range body.Results {
		tot := totals[v]
		if tot == nil {
			tot = &liveTotals{}
			totals[v] = tot
		}
		tot.exposures += st.Exposures
		tot.users += st.UniqueUsers
		p := st.Conversions[simulate.Metric]
		tot.conversions += p.Count
		tot.cents += int64(math.Round(p.Value * 100))
	}
}

// dedupWindow is JetStream's message-id window in TestEndToEndScaledOut: the
// shortest the services accept, so that conversions sent again after it
// reach the Redis and ClickHouse dedup instead of being dropped by JetStream.
const dedupWindow = time.Second

// Events through flagd (its own exposures, from OFREP evaluations) and two
// ingest processes to two aggregate processes: every conversion is sent to
// one ingest, then again (the same ids) to the other after JetStream's dedup
// window has passed, some users are evaluated twice, some conversions name
// no experiment. The live counters, both aggregates' reports and what was
// sent agree exactly, and both instances of each service did part of the
// work.
func TestEndToEndScaledOut(t *testing.T) {
	// One clock reading fixes the first day whose live counters are read.
	start := time.Now().UTC()
	s := startStack(t, 2, 2, nil, nil, map[string]string{"FLAGSTREAM_STREAM_DEDUP_WINDOW": dedupWindow.String()})
	const experiment, users = "e2e_checkout", 4000
	s.flagd.Expect(t, http.StatusOK, http.MethodPut, "/v1/flags/"+experiment,
		`{"status":"enabled","variants":[{"name":"control","weight":60},{"name":"treatment","weight":40}]}`)
	s.flagd.Expect(t, http.StatusOK, http.MethodPut, "/v1/flags/e2e_banner", `{"status":"enabled"}`)

	type want struct {
		users, exposures, converters, conversions, cents int64
	}
	wants := map[string]*want{}
	variantOf := map[string]string{}
	rng := rand.New(rand.NewPCG(7, 8))
	for i := range users {
		user := fmt.Sprintf("e2e-user-%05d", i)
		evaluations := 1 + i%5/4 // every fifth user twice
		for range evaluations {
			ans := s.flagd.Expect(t, http.StatusOK, http.MethodPost, "/ofrep/v1/evaluate/flags/"+experiment,
				map[string]any{"context": map[string]any{"targetingKey": user}})
			v, _ := ans["variant"].(string)
			if prev, ok := variantOf[user]; ok && prev != v {
				t.Fatalf("%s moved from %s to %s", user, prev, v)
			}
			variantOf[user] = v
			if wants[v] == nil {
				wants[v] = &want{}
			}
			wants[v].exposures++
		}
		wants[variantOf[user]].users++
		// A flag without variants: evaluated, never an exposure.
		s.flagd.Expect(t, http.StatusOK, http.MethodPost, "/ofrep/v1/evaluate/flags/e2e_banner",
			map[string]any{"context": map[string]any{"targetingKey": user}})
	}
	if len(wants) != 2 {
		t.Fatalf("variants seen: %v", wants)
	}

	// Conversions after every exposure, so that each counts.
	time.Sleep(10 * time.Millisecond)
	var batch []map[string]any
	var bodies []string // each batch, to send to the second ingest too
	sent := 0
	send := func() {
		body, _ := json.Marshal(batch)
		ans := s.ingests[0].Expect(t, http.StatusAccepted, http.MethodPost, "/v1/events", string(body))
		if int(ans["accepted"].(float64)) != len(batch) {
			t.Fatalf("ingest accepted %v of %d", ans["accepted"], len(batch))
		}
		bodies = append(bodies, string(body))
		sent += len(batch)
		batch = batch[:0]
	}
	for i := range users {
		if rng.Float64() >= 0.2 {
			continue
		}
		user := fmt.Sprintf("e2e-user-%05d", i)
		w := wants[variantOf[user]]
		w.converters++
		for k := range 1 + rng.IntN(2) {
			cents := 500 + rng.Int64N(10_000)
			e := map[string]any{"id": fmt.Sprintf("%s-c%d", user, k), "type": "conversion", "user_id": user,
				"conversion_type": "purchase", "value": float64(cents) / 100, "ts": time.Now().UTC().Format(time.RFC3339Nano)}
			if k == 0 { // the first names the experiment; the second is attributed by the user's exposures
				e["experiment"] = experiment
			}
			batch = append(batch, e)
			w.conversions++
			w.cents += cents
		}
		if len(batch) >= 200 {
			send()
		}
	}
	send()
	var exposures int64
	for _, w := range wants {
		exposures += w.exposures
	}
	// Every conversion again, through the other ingest, once JetStream's
	// window has passed since the first copies were forwarded: the copies
	// reach the raw and analytics streams, and only the dedup by event id in
	// Redis and ClickHouse keeps them from counting.
	forwarded := func() (n float64) {
		for _, in := range s.ingests {
			n += in.Metric(t, "flagstream_ingest_events_forwarded_total")
		}
		return n
	}
	waitFor(t, 2*time.Minute, "the first copies forwarded", func() bool { return forwarded() >= float64(exposures)+float64(sent) })
	time.Sleep(dedupWindow + dedupWindow/2)
	for _, body := range bodies {
		s.ingests[1].Expect(t, http.StatusAccepted, http.MethodPost, "/v1/events", body)
	}
	t.Logf("%d users, %d conversions sent to both ingests", users, sent)
	// Barrier: every copy went through an ingest (forwarded, counted or not).
	waitFor(t, 2*time.Minute, "the copies forwarded", func() bool { return forwarded() >= float64(exposures)+2*float64(sent) })
	var dedupHits float64
	for _, in := range s.ingests {
		dedupHits += in.Metric(t, "flagstream_ingest_dedup_hits_total")
	}
	if dedupHits < float64(sent) {
		t.Errorf("%.0f dedup hits in Redis for %d resent conversions: the copies were counted", dedupHits, sent)
	}

	// Both aggregates answer the same, exact report.
	// No weights in the request: flagd's exposures carried the flag's 60/40.
	q := url.Values{"metric": {"purchase"}}
	deadline := time.Now().Add(2 * time.Minute)
	for i, agg := range s.aggregates {
		for {
			rep, diff := reportDiff(t, agg, experiment, q, func(v string) *sentCounts {
				if w := wants[v]; w != nil {
					return &sentCounts{w.users, w.converters, w.conversions, w.cents}
				}
				return nil
			}, len(wants))
			if diff == "" && (rep.SRM.Warn || rep.SRM.ExpectedShare["control"] != 0.6) {
				diff = fmt.Sprintf(" sample-ratio check %+v, want the flag's 60/40 and no mismatch", rep.SRM)
			}
			if diff == "" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("aggregate %d's report differs from what was sent:%s", i, diff)
			}
			time.Sleep(300 * time.Millisecond)
		}
	}

	// The live counters of both ingests (one Redis) agree exactly; unique
	// users are HyperLogLog estimates.
	for i, in := range s.ingests {
		got := map[string]*liveTotals{}
		// Every day from the test's start to now: one, or two for a run
		// across midnight.
		for d := start.Truncate(24 * time.Hour); !d.After(time.Now().UTC()); d = d.AddDate(0, 0, 1) {
			addLive(t, in, experiment, d, got)
		}
		for v, w := range wants {
			g := got[v]
			if g == nil || g.exposures != w.exposures || g.conversions != w.conversions || g.cents != w.cents {
				t.Errorf("ingest %d live %s: %+v, want %d exposures %d conversions %d cents", i, v, g, w.exposures, w.conversions, w.cents)
				continue
			}
			if rel := math.Abs(float64(g.users-w.users)) / float64(w.users); rel > 0.03 {
				t.Errorf("ingest %d live %s: %d unique users, %d sent", i, v, g.users, w.users)
			}
		}
	}

	// Scale-out really happened: each instance consumed part of the stream,
	// and together at least every event and every copy (redeliveries add).
	consumed := map[string]string{"ingest": "flagstream_ingest_events_forwarded_total", "aggregate": "flagstream_aggregate_events_in_total"}
	for name, instances := range map[string][]*procs.Process{"ingest": s.ingests, "aggregate": s.aggregates} {
		var total float64
		for i, p := range instances {
			n := p.Metric(t, consumed[name])
			t.Logf("%s %d consumed %.0f events", name, i, n)
			if n == 0 {
				t.Errorf("%s %d consumed nothing: the shared consumer did not spread the work", name, i)
			}
			total += n
		}
		if min := float64(exposures) + 2*float64(sent); total < min {
			t.Errorf("%s instances consumed %.0f events, fewer than the %.0f published", name, total, min)
		}
	}
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", within, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sentCounts is what a test sent for one variant, in the report's terms.
type sentCounts struct{ users, converters, conversions, cents int64 }

// reportDiff reads an experiment's report and says how it differs from what
// was sent ("" when it holds exactly that, with nobody exposed twice); sent
// gives a variant's counts (nil: not sent), n the number of variants sent.
func reportDiff(t *testing.T, agg *procs.Process, experiment string, q url.Values, sent func(variant string) *sentCounts, n int) (report.Report, string) {
	t.Helper()
	var rep report.Report
	r := agg.Do(t, http.MethodGet, "/v1/experiments/"+experiment+"/report?"+q.Encode(), nil)
	if r.Status != http.StatusOK {
		return rep, fmt.Sprintf("status %d %s", r.Status, r.Body)
	}
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		t.Fatal(err)
	}
	diff := ""
	for _, v := range rep.Variants {
		w := sent(v.Variant)
		if w == nil || v.Users != w.users || v.Converters != w.converters || v.Conversions != w.conversions ||
			int64(math.Round(v.ValueSum.Value*100)) != w.cents {
			diff += fmt.Sprintf(" %s: %d users %d converters %d conversions %.2f, want %+v;", v.Variant, v.Users, v.Converters, v.Conversions, v.ValueSum.Value, w)
		}
	}
	if len(rep.Variants) != n || rep.MultipleExposures != 0 {
		diff += fmt.Sprintf(" %d variants, %d multiple exposures", len(rep.Variants), rep.MultipleExposures)
	}
	return rep, diff
}
