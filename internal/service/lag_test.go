package service

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/loss"
	"github.com/flagstream/flagstream/internal/testenv/servers"
)

// WatchLag sets the consumer's backlog gauges at once, and counts and logs
// the messages its stream removed before it acknowledged them.
func TestWatchLag(t *testing.T) {
	js := servers.EmbeddedNATS(t).JetStream()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// A stream of three messages at most, removing the oldest, read by a
	// consumer that has acknowledged nothing: of six messages, the first
	// three are lost.
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "LAG", Subjects: []string{"lag"}, MaxMsgs: 3}); err != nil {
		t.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "LAG", jetstream.ConsumerConfig{Durable: "reader", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		t.Fatal(err)
	}
	for range 6 {
		if _, err := js.Publish(ctx, "lag", []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	// One more delivered and held: 2 pending, 1 waiting for its ack.
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	held := 0
	for range batch.Messages() {
		held++
	}
	if held != 1 {
		t.Fatalf("fetched %d messages, want 1", held)
	}

	reg := prometheus.NewRegistry()
	l := Lag{Stream: "LAG",
		Pending:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "pending"}),
		AckPending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "ack_pending"}),
		Lost:       loss.New(reg, "lag_gap"), LostReason: "lag_gap", LostLog: "LAG lost events"}
	reg.MustRegister(l.Pending, l.AckPending)
	var logs bytes.Buffer
	wctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		WatchLag(wctx, js, cons, zerolog.New(&logs), l)
		close(done)
	}()
	for l.Lost.Err() == nil {
		if ctx.Err() != nil {
			t.Fatal("no loss counted within 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop()
	<-done // WatchLag returns once its context ends
	if err := l.Lost.Err(); !strings.Contains(err.Error(), "lag_gap 3") {
		t.Errorf("loss %v, want lag_gap 3", err)
	}
	if got := gauges(t, reg); got["pending"] != 2 || got["ack_pending"] != 1 {
		t.Errorf("gauges %v, want 2 pending and 1 ack pending", got)
	}
	if line := logs.String(); !strings.Contains(line, `"events":3`) || !strings.Contains(line, `"stream":"LAG"`) || !strings.Contains(line, "LAG lost events") {
		t.Errorf("log %q, want the loss with its count and stream", line)
	}
}

// gauges reads the gauges of reg by name.
func gauges(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			if g := m.GetGauge(); g != nil {
				out[f.GetName()] += g.GetValue()
			}
		}
	}
	return out
}
