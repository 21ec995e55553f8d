package events_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/pkg/events"
)

func BenchmarkNewID(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			_ = events.NewID()
		}
	})
}

// BenchmarkPublisherThroughput publishes through a Publisher to the real
// NATS of FLAGSTREAM_TEST_NATS_URL: events/s from Enqueue to PubAck.
func BenchmarkPublisherThroughput(b *testing.B) {
	js, names := testJetStream(b)
	if err := events.EnsureStreams(b.Context(), js, names, events.TestStreamLimits()); err != nil {
		b.Fatal(err)
	}
	ts := time.Now().UTC()
	evs := make([]events.Event, 1000)
	for i := range evs {
		evs[i] = testEvent(i, ts)
	}
	p := events.NewPublisher(js, names, events.PublisherOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for !p.Enqueue(evs[i%len(evs)]) { // the benchmark, unlike flagd, waits for room
			time.Sleep(100 * time.Microsecond)
		}
	}
	for p.Stats().Published < uint64(b.N) {
		time.Sleep(100 * time.Microsecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(p.Stats().Published)/elapsed.Seconds(), "events/s")
}

// BenchmarkJetStreamAsyncLimit is the limit the publisher is measured
// against, in the same run: bare PublishAsync of the same JSON with a
// Nats-Msg-Id, at most 512 pending, waiting only for the last ack of each window.
func BenchmarkJetStreamAsyncLimit(b *testing.B) {
	js, names := testJetStream(b)
	if err := events.EnsureStreams(b.Context(), js, names, events.TestStreamLimits()); err != nil {
		b.Fatal(err)
	}
	data, _ := json.Marshal(testEvent(2, time.Now().UTC()))
	subject := names.RawSubject(events.TypeExposure)
	ids := make([]string, b.N)
	for i := range ids {
		ids[i] = events.NewID()
	}
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i += 512 {
		var last jetstream.PubAckFuture
		for j := i; j < min(i+512, b.N); j++ {
			f, err := js.PublishAsync(subject, data, jetstream.WithMsgID(ids[j]))
			if err != nil {
				b.Fatal(err)
			}
			last = f
		}
		select {
		case <-last.Ok():
		case err := <-last.Err():
			b.Fatal(err)
		}
	}
	<-js.PublishAsyncComplete()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkDecodeBatch decodes and validates batches of 1,000 events as ingest
// receives them over HTTP.
func BenchmarkDecodeBatch(b *testing.B) {
	ts := time.Now().UTC().Add(-time.Minute)
	var ndjson, array bytes.Buffer
	array.WriteByte('[')
	for i := range 1000 {
		e := testEvent(i, ts)
		if i%2 == 0 {
			e.ID = events.NewID()
		}
		line, _ := json.Marshal(e)
		ndjson.Write(line)
		ndjson.WriteByte('\n')
		if i > 0 {
			array.WriteByte(',')
		}
		array.Write(line)
	}
	array.WriteByte(']')
	for name, body := range map[string][]byte{"ndjson": ndjson.Bytes(), "array": array.Bytes()} {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			now := time.Now()
			for b.Loop() {
				valid, invalid, err := events.DecodeBatch(bytes.NewReader(body), now, events.Window{}, 10_000)
				if err != nil || len(valid) != 1000 || len(invalid) != 0 {
					b.Fatal(err, len(valid), invalid)
				}
			}
			b.ReportMetric(float64(b.N)*1000/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkAppendJSON encodes an exposure as the publisher does, with and
// without the flag's weights (three variants).
func BenchmarkAppendJSON(b *testing.B) {
	e := events.Event{ID: "01JDQ0N0000000000000000000", Type: events.TypeExposure, Experiment: "pricing_page_experiment",
		Variant: "control", UserID: "user_789", TS: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC), FlagVersion: 3}
	weights := map[string]float64{"control": 34, "variant_a": 33, "variant_b": 33}
	for _, tc := range []struct {
		name string
		w    map[string]float64
	}{{"plain", nil}, {"weights", weights}} {
		b.Run(tc.name, func(b *testing.B) {
			e.Weights = tc.w
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = e.AppendJSON(buf[:0])
			}
		})
	}
}
