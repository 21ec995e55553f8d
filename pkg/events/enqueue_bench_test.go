package events

import (
	"context"
	"testing"
	"time"
)

// BenchmarkEnqueue is the cost flagd's evaluation pays per exposure.
//
// "accepted": the same goroutine takes a batch every 512 events, as Run
// would, so every Enqueue is accepted (push plus the amortized take).
// "contended": 2×GOMAXPROCS goroutines enqueue while a goroutine drains
// like Run; on a 2-core machine the drainer cannot keep up with 20M+
// events/s, so many enqueues take the (cheaper) drop path: see dropped/op.
func BenchmarkEnqueue(b *testing.B) {
	e := Event{Type: TypeExposure, Experiment: "pricing_page_experiment", Variant: "control", UserID: "user_789",
		TS: time.Now().UTC(), FlagVersion: 3}
	b.Run("accepted", func(b *testing.B) {
		p := NewPublisher(nil, NewNames(""), PublisherOptions{})
		buf := make([]Event, 0, DefaultBatch)
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			p.Enqueue(e)
			if i%DefaultBatch == DefaultBatch-1 {
				buf = p.q.take(buf[:0], DefaultBatch)
			}
		}
		if d := p.Stats().Dropped; d != 0 {
			b.Fatalf("%d dropped", d)
		}
	})
	b.Run("contended", func(b *testing.B) {
		p := NewPublisher(nil, NewNames(""), PublisherOptions{})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]Event, 0, DefaultBatch)
			for ctx.Err() == nil {
				if buf = p.q.take(buf[:0], DefaultBatch); len(buf) == 0 {
					select {
					case <-p.q.wake:
					case <-ctx.Done():
					}
				}
			}
		}()
		b.ReportAllocs()
		b.SetParallelism(2)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				p.Enqueue(e)
			}
		})
		b.StopTimer()
		cancel()
		<-done
		b.ReportMetric(float64(p.Stats().Dropped)/float64(b.N), "dropped/op")
	})
}
