package main

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/pkg/events"
)

// A raw stream that is full (ingest is away) refuses flagd's exposures and
// deletes none: flagd keeps them in its buffer while it can, counts what it
// must drop in flagstream_events_lost and warns on /readyz (still ready:
// evaluations go on). Once the stream is drained, every exposure flagd did
// not count as dropped arrives.
func TestFullStreamBuffersThenDropsLoudly(t *testing.T) {
	e := newEnv(t)
	in := start(t, e, map[string]string{"FLAGSTREAM_STREAM_MAX_MESSAGES": "5", "FLAGSTREAM_EXPOSURE_BUFFER": "100"})
	in.expect(t, 200, "PUT", "/v1/flags/full", map[string]any{"status": "enabled",
		"variants": []map[string]any{{"name": "control", "weight": 50}, {"name": "treatment", "weight": 50}}})
	in.waitServed(t, "full", 1)
	// More than the stream (5 messages of at most 500 exposures), the buffer
	// (100) and the publisher's round in flight (2,000) hold together: drops
	// are certain, however the publisher packs its messages.
	const n = 6000
	for i := range n {
		body := map[string]any{"context": map[string]any{"targetingKey": fmt.Sprintf("user_%d", i)}}
		if r := in.do(t, "POST", "/ofrep/v1/evaluate/flags/full", body); r.Status != http.StatusOK {
			t.Fatalf("evaluate %d: %d %s", i, r.Status, r.Body)
		}
	}
	// The rest is dropped, and said so.
	dropped := in.WaitMetric(t, "flagstream_events_lost", 10*time.Second, func(v float64) bool { return v > 0 })
	r := in.do(t, "GET", "/readyz", nil)
	warnings, _ := r.JSON(t)["warnings"].(map[string]any)
	if r.Status != http.StatusOK || warnings["events_lost"] == nil {
		t.Errorf("/readyz with exposures dropped = %d %s, want ready with an events_lost warning", r.Status, r.Body)
	}

	// ingest comes back: drain the stream through its consumer until flagd
	// has nothing buffered, counting what arrives.
	nc, err := nats.Connect(e["FLAGSTREAM_NATS_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	names := events.NewNames(e["FLAGSTREAM_NATS_NAMESPACE"])
	cons, err := js.Consumer(t.Context(), names.RawStream, events.RawConsumer)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	deadline := time.Now().Add(30 * time.Second)
	for {
		batch, err := cons.Fetch(100, jetstream.FetchMaxWait(200*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			evs, _, bad, err := events.DecodeMessage(m.Headers(), m.Data())
			if err != nil || len(bad) > 0 {
				t.Fatalf("message %.200s: %v %v", m.Data(), err, bad)
			}
			for _, ev := range evs {
				got[ev.UserID+"/"+ev.ID] = true
			}
			_ = m.Ack()
		}
		if in.Metric(t, "flagstream_flagd_exposures_buffered") == 0 && len(got) > 0 &&
			float64(len(got)) >= in.Metric(t, "flagstream_flagd_exposures_published_total") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("flagd still buffers %v exposures after 30 s of draining", in.Metric(t, "flagstream_flagd_exposures_buffered"))
		}
	}
	published := in.Metric(t, "flagstream_flagd_exposures_published_total")
	if float64(len(got)) != published {
		t.Errorf("%d exposures arrived, flagd counts %v published", len(got), published)
	}
	users := 0
	for k := range got {
		if k[:5] == "user_" {
			users++
		}
	}
	if lost := in.Metric(t, "flagstream_events_lost"); users+int(lost) != n || lost < dropped {
		t.Errorf("%d of the %d users' exposures arrived and %v were counted lost: every exposure must be one or the other", users, n, lost)
	}
}
