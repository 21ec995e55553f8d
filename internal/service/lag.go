package service

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/loss"
	"github.com/flagstream/flagstream/pkg/events"
)

// Lag is what WatchLag keeps up to date for a service's durable consumer.
type Lag struct {
	Stream     string           // the stream the consumer reads
	Pending    prometheus.Gauge // messages not yet delivered to the consumer
	AckPending prometheus.Gauge // delivered and not yet acknowledged
	Lost       *loss.Metric
	LostReason string // Lost's reason for events the stream removed unacknowledged
	LostLog    string // the error logged when it did
}

// WatchLag publishes a consumer's backlog every 10 s until ctx ends, and
// counts and logs as lost the events its stream removed before the
// consumer acknowledged them (events.GapCounter): how ingest and the
// aggregator watch the streams they read.
func WatchLag(ctx context.Context, js jetstream.JetStream, cons jetstream.Consumer, log zerolog.Logger, l Lag) {
	var gap events.GapCounter
	events.WatchConsumer(ctx, js, l.Stream, cons, 10*time.Second, func(info *jetstream.ConsumerInfo, first uint64) {
		l.Pending.Set(float64(info.NumPending))
		l.AckPending.Set(float64(info.NumAckPending))
		if n := gap.Observe(info, first); n > 0 {
			l.Lost.Add(l.LostReason, float64(n))
			log.Error().Uint64("events", n).Str("stream", l.Stream).Msg(l.LostLog)
		}
	})
}
