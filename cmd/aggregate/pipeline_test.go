package main

import (
	"context"
	"encoding/json"
	"math"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/internal/testenv/streams"
	"github.com/flagstream/flagstream/pkg/events"
)

// day0 is ten days ago: reports with default dates cover the workload.
var day0 = time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -10)

// pipeline is a namespace on the shared (or a given) NATS and ClickHouse with
// the streams created, and the environment for an aggregate on it.
type pipeline struct {
	env   map[string]string
	js    jetstream.JetStream
	names events.Names
}

func newPipeline(t *testing.T, clickhouseDSN string) *pipeline {
	t.Helper()
	env := procs.ServiceEnv(t)
	if clickhouseDSN == "" {
		clickhouseDSN, _ = testenv.ClickHouseDSN(t)
	}
	env["FLAGSTREAM_CLICKHOUSE_DSN"] = clickhouseDSN
	env["FLAGSTREAM_FLUSH_INTERVAL"] = "200ms"
	env["FLAGSTREAM_ACK_WAIT"] = "3s"
	nc, err := nats.Connect(env["FLAGSTREAM_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	names := events.NewNames(env["FLAGSTREAM_NATS_NAMESPACE"])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := events.EnsureStreams(ctx, js, names, events.TestStreamLimits()); err != nil {
		t.Fatal(err)
	}
	return &pipeline{env: env, js: js, names: names}
}

// publish puts events on the analytics stream, a message each (the
// single-event format every reader takes), each with the message id msgID
// gives it.
func (p *pipeline) publish(t *testing.T, evs []events.Event, msgID func(*events.Event) string) {
	t.Helper()
	streams.PublishEach(t, p.js, p.names.AnalyticsSubject, evs, msgID)
}

// publishBatches puts events on the analytics stream as ingest forwards
// them: batch messages of up to perMessage events of one type.
func (p *pipeline) publishBatches(t *testing.T, evs []events.Event, perMessage int) {
	t.Helper()
	msgs, err := events.Pack(p.names.AnalyticsSubject, events.MessageLimits{Events: perMessage}, evs)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for start := 0; start < len(msgs); start += 256 {
		if err := events.PublishAll(ctx, p.js, msgs[start:min(start+256, len(msgs))]); err != nil {
			t.Fatal(err)
		}
	}
}

func byID(e *events.Event) string { return e.ID }

// dedupWindow is JetStream's message-id window in the tests that resend: the
// shortest the services accept, so that a resend after it reaches the
// aggregate's own dedup by event id instead of being dropped by JetStream.
const dedupWindow = time.Second

// setDedupWindow gives both streams JetStream's dedup window d, and the
// aggregate the same setting (it applies its own to the streams it ensures).
func (p *pipeline) setDedupWindow(t *testing.T, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	l := events.TestStreamLimits()
	l.Duplicates = d
	if err := events.EnsureStreams(ctx, p.js, p.names, l); err != nil {
		t.Fatal(err)
	}
	p.env["FLAGSTREAM_STREAM_DEDUP_WINDOW"] = d.String()
}

// resendPastWindow waits out the dedup window (see setDedupWindow with
// dedupWindow), then publishes evs again with their ids as message ids, as
// ingest forwards a raw event redelivered after a long outage, until one
// resend put every one of them on the analytics stream (the server forgets
// ids on a timer, so an id may outlive the window a little; an id it still
// knew would take no sequence number).
func (p *pipeline) resendPastWindow(t *testing.T, evs []events.Event) {
	t.Helper()
	natsURL := p.env["FLAGSTREAM_NATS_URL"]
	deadline := time.Now().Add(30 * time.Second)
	for {
		time.Sleep(dedupWindow + dedupWindow/2)
		before := streams.StreamLastSeq(t, natsURL, p.names.AnalyticsStream)
		p.publish(t, evs, byID)
		stored := streams.StreamLastSeq(t, natsURL, p.names.AnalyticsStream) - before
		if stored == uint64(len(evs)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("a resend of %d events stored %d on the analytics stream: JetStream's window is not %v", len(evs), stored, dedupWindow)
		}
	}
}

// drained waits until the aggregate consumer has acknowledged every message
// on the stream (acknowledged means inserted and refreshed).
func (p *pipeline) drained(t *testing.T, within time.Duration) {
	t.Helper()
	streams.WaitAcked(t, p.env["FLAGSTREAM_NATS_URL"], p.names.AnalyticsStream, events.AnalyticsConsumer, within)
}

// reportJSON is the report as the service answers it.
type reportJSON struct {
	Experiment string `json:"experiment"`
	Metric     string `json:"metric"`
	From       string `json:"from"`
	To         string `json:"to"`
	Control    string `json:"control"`
	Variants   []struct {
		Variant     string   `json:"variant"`
		Users       int64    `json:"users"`
		Converters  int64    `json:"converters"`
		Conversions int64    `json:"conversions"`
		ValueSum    *float64 `json:"value_sum"`
	} `json:"variants"`
	MultipleExposures int64 `json:"multiple_exposures"`
	Warnings          []struct {
		Code string `json:"code"`
	} `json:"warnings"`
}

func getReport(t *testing.T, svc *procs.Service, exp string, q url.Values) (reportJSON, []byte) {
	t.Helper()
	r := svc.Do(t, "GET", "/v1/experiments/"+exp+"/report?"+q.Encode(), nil)
	if r.Status != 200 {
		t.Fatalf("report %s?%s = %d %s", exp, q.Encode(), r.Status, r.Body)
	}
	var rep reportJSON
	if err := json.Unmarshal(r.Body, &rep); err != nil {
		t.Fatal(err)
	}
	return rep, r.Body
}

// checkExact compares a report with the reference counts of everything sent.
func checkExact(t *testing.T, svc *procs.Service, all []events.Event, exp, metric string, from, to time.Time) {
	t.Helper()
	q := url.Values{"metric": {metric}, "from": {from.Format(time.DateOnly)}, "to": {to.Format(time.DateOnly)}}
	rep, body := getReport(t, svc, exp, q)
	want := chstoretest.Expected(all, exp, metric, from, to)
	var wantMultiple int64
	wantBy := map[string]chstore.VariantCounts{}
	for _, w := range want {
		wantBy[w.Variant] = w
		wantMultiple += w.Multiple
	}
	if len(rep.Variants) != len(want) {
		t.Fatalf("report %s/%s has %d variants, want %d: %s", exp, metric, len(rep.Variants), len(want), body)
	}
	for _, v := range rep.Variants {
		w := wantBy[v.Variant]
		if v.Users != w.Users || v.Converters != w.Converters || v.Conversions != w.Conversions ||
			v.ValueSum == nil || math.Abs(*v.ValueSum-w.ValueSum) > 0.005 {
			t.Errorf("report %s/%s %s..%s variant %s: users %d converters %d conversions %d value_sum %v; want %d %d %d %.2f",
				exp, metric, q.Get("from"), q.Get("to"), v.Variant, v.Users, v.Converters, v.Conversions, deref(v.ValueSum),
				w.Users, w.Converters, w.Conversions, w.ValueSum)
		}
	}
	if rep.MultipleExposures != wantMultiple {
		t.Errorf("report %s/%s multiple_exposures = %d, want %d", exp, metric, rep.MultipleExposures, wantMultiple)
	}
}

// checkWorkload checks the reports of chstoretest.Workload's experiments
// and metrics over its whole week.
func checkWorkload(t *testing.T, svc *procs.Service, all []events.Event) {
	t.Helper()
	last := day0.AddDate(0, 0, 7)
	for _, exp := range []string{"exp_a", "exp_b"} {
		for _, metric := range []string{"purchase", "signup"} {
			checkExact(t, svc, all, exp, metric, day0, last)
		}
	}
}

func deref(p *float64) float64 {
	if p == nil {
		return math.NaN()
	}
	return *p
}

func startAggregate(t *testing.T, env map[string]string) *procs.Service {
	t.Helper()
	return procs.Start(t, run, env)
}

func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func contains(b []byte, s string) bool { return strings.Contains(string(b), s) }

// consumerInfo reads the aggregate consumer's state, nil before it exists.
func (p *pipeline) consumerInfo(t *testing.T) *jetstream.ConsumerInfo {
	t.Helper()
	return streams.ConsumerInfo(t, p.js, p.names.AnalyticsStream, events.AnalyticsConsumer)
}
