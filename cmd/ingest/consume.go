package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/service"
	"github.com/flagstream/flagstream/pkg/events"
)

// A conversion of a user not (yet) exposed is retried this many deliveries,
// this far apart, before it is counted nowhere.
const (
	attributionTries = 4
	attributionDelay = 2 * time.Second
)

// consumer moves raw events into the live counters and on to the analytics
// stream. A raw message is acknowledged only after its event is counted in
// Redis and its forward acknowledged by JetStream; until then it is
// redelivered, and the dedup markers in Redis and the JetStream message ids on
// the analytics stream make the repeat harmless.
type consumer struct {
	js       jetstream.JetStream
	names    events.Names
	counters *live.Counters
	metrics  *metrics
	log      zerolog.Logger
	batch    int
	workers  int
	window   events.Window
	ackWait  time.Duration
}

func (c *consumer) config() jetstream.ConsumerConfig {
	// No FilterSubject: the stream holds raw events only, and on
	// nats-server 2.9 a filtered consumer's info (the lag metric) scans the
	// stream and stalls deliveries meanwhile.
	cfg := events.BaseConsumerConfig(events.RawConsumer)
	cfg.AckWait = c.ackWait
	cfg.MaxAckPending = c.batch * c.workers * 4
	return cfg
}

// run waits for the stream, then runs the workers until ctx ends. Each
// worker finishes its batch (counted, forwarded, acknowledged) before it stops.
func (c *consumer) run(ctx context.Context) error {
	cons, err := service.AttachConsumer(ctx, c.log, c.js, c.names.RawStream, c.config())
	if err != nil {
		return nil // ctx ended
	}
	c.metrics.Set("consumer", nil)
	done := make(chan struct{}, c.workers)
	for range c.workers {
		go func() {
			c.work(ctx, cons)
			done <- struct{}{}
		}()
	}
	go c.watchLag(ctx, cons)
	go c.sweep(ctx)
	for range c.workers {
		<-done
	}
	return nil
}

// work is one fetch → count → forward → ack loop. Several run at once so
// that one batch's Redis round trip overlaps another's publishes.
func (c *consumer) work(ctx context.Context, cons jetstream.Consumer) {
	var backoff connect.Backoff
	for ctx.Err() == nil {
		batch, err := cons.Fetch(c.batch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			c.fail(ctx, "nats", err, &backoff)
			continue
		}
		var msgs []jetstream.Msg
		for m := range batch.Messages() {
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) && len(msgs) == 0 {
			c.fail(ctx, "nats", err, &backoff)
			continue
		}
		if len(msgs) == 0 {
			continue
		}
		// The batch is finished even if ctx ends meanwhile: stopping half way
		// would only cause redeliveries.
		if err := c.process(context.WithoutCancel(ctx), msgs); err != nil {
			c.fail(ctx, dependencyOf(err), err, &backoff)
			continue
		}
		backoff.Reset()
		c.metrics.Set("consumer", nil)
	}
}

type depError struct {
	dep string
	err error
}

func (e *depError) Error() string { return e.dep + ": " + e.err.Error() }
func (e *depError) Unwrap() error { return e.err }

func dependencyOf(err error) string {
	var d *depError
	if errors.As(err, &d) {
		return d.dep
	}
	return "unknown"
}

// fail records a dependency failure and waits before the next attempt.
func (c *consumer) fail(ctx context.Context, dep string, err error, b *connect.Backoff) {
	wait := b.Next()
	c.metrics.Set("consumer", fmt.Errorf("%s: %w", dep, err))
	c.log.Warn().Err(err).Str("dependency", dep).Dur("retry_in", wait).Msg("cannot process raw events; retrying")
	connect.Sleep(ctx, wait)
}

// process handles one fetched batch: decode, count in Redis, then forward
// to the analytics stream and acknowledge each raw message once its forward
// is acknowledged.
func (c *consumer) process(ctx context.Context, msgs []jetstream.Msg) error {
	evs, keep := c.decode(msgs)
	if len(evs) == 0 {
		return nil
	}
	evs, keep, err := c.count(ctx, evs, keep)
	if err != nil {
		return err
	}
	return c.forward(evs, keep)
}

// decode reads the batch's events; a message no ingest can ever read is
// terminated rather than redelivered forever.
func (c *consumer) decode(msgs []jetstream.Msg) ([]events.Event, []jetstream.Msg) {
	evs := make([]events.Event, 0, len(msgs))
	keep := make([]jetstream.Msg, 0, len(msgs))
	for _, m := range msgs {
		if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
			c.metrics.redeliveries.Inc()
		}
		var e events.Event
		err := e.UnmarshalJSON(m.Data())
		if err == nil {
			// Raw events were validated where they entered; the time window is
			// not checked again, so a backlog drained late still reaches the
			// report (the live counters take it only within their window).
			err = e.Validate(e.TS, c.window)
		}
		if err != nil {
			c.metrics.invalid.WithLabelValues("raw_message").Inc()
			c.log.Error().Err(err).Str("subject", m.Subject()).Msg("unreadable raw message dropped")
			_ = m.Term()
			continue
		}
		// A publisher not ours may send none: the id comes from the content,
		// the same one the aggregator would give it.
		events.EnsureID(&e)
		evs = append(evs, e)
		keep = append(keep, m)
	}
	return evs, keep
}

// count applies the events to the live counters and returns those to
// forward. A conversion that names no experiment, of a user with no exposure
// yet, may simply have overtaken the exposure (another worker or instance
// holds it): it gets a few more tries before it counts nowhere, as in the
// seed. (One that names its experiment is held in Redis instead; see
// live.Held.) If Redis fails, every message is handed back.
func (c *consumer) count(ctx context.Context, evs []events.Event, keep []jetstream.Msg) ([]events.Event, []jetstream.Msg, error) {
	start := time.Now()
	statuses, err := c.counters.Apply(ctx, evs)
	c.metrics.redisLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		c.nakAll(keep)
		return nil, nil, &depError{"redis", err}
	}
	fwd, fwdMsgs := evs[:0:0], keep[:0:0]
	for i, st := range statuses {
		switch st {
		case live.Duplicate:
			c.metrics.dedupHits.Inc()
		case live.Held:
			c.metrics.held.Inc()
		case live.ReportOnly:
			c.metrics.reportOnly.WithLabelValues("older_than_window").Inc()
		case live.Archived:
			c.metrics.reportOnly.WithLabelValues("archived").Inc()
		case live.Unattributed:
			if md, err := keep[i].Metadata(); err == nil && md.NumDelivered < attributionTries {
				_ = keep[i].NakWithDelay(attributionDelay)
				continue
			}
			c.metrics.unattributed.Inc()
		}
		fwd, fwdMsgs = append(fwd, evs[i]), append(fwdMsgs, keep[i])
	}
	return fwd, fwdMsgs, nil
}

// forward publishes the events to the analytics stream, their ids as
// message ids, and acknowledges each raw message once its forward is
// acknowledged; the rest are handed back for redelivery.
func (c *consumer) forward(evs []events.Event, keep []jetstream.Msg) error {
	start := time.Now()
	defer func() { c.metrics.natsLatency.Observe(time.Since(start).Seconds()) }()
	futures := make([]jetstream.PubAckFuture, len(evs))
	var buf []byte
	var pubErr error
	for i := range evs {
		buf, _ = evs[i].AppendJSON(buf[:0])
		data := append([]byte(nil), buf...)
		var err error
		if futures[i], err = c.js.PublishAsync(c.names.AnalyticsSubject(evs[i].Type), data, jetstream.WithMsgID(evs[i].ID)); err != nil {
			pubErr = err
			break
		}
	}
	timeout := time.NewTimer(10 * time.Second)
	defer timeout.Stop()
	acked := 0
	for i, f := range futures {
		if f == nil {
			_ = keep[i].Nak()
			continue
		}
		select {
		case <-f.Ok():
			_ = keep[i].Ack()
			acked++
			c.metrics.eventsOut.WithLabelValues(string(evs[i].Type)).Inc()
		case ferr := <-f.Err():
			pubErr = ferr
			_ = keep[i].Nak()
		case <-timeout.C:
			for _, m := range keep[i:] {
				_ = m.Nak()
			}
			return &depError{"nats", errors.New("analytics publish not acknowledged within 10s")}
		}
	}
	if pubErr != nil {
		return &depError{"nats", fmt.Errorf("forward %d of %d events: %w", len(evs)-acked, len(evs), pubErr)}
	}
	return nil
}

func (c *consumer) nakAll(msgs []jetstream.Msg) {
	for _, m := range msgs {
		_ = m.NakWithDelay(time.Second)
	}
}

// watchLag publishes the consumer's backlog as metrics, and counts events
// the raw stream lost before ingest acknowledged them.
func (c *consumer) watchLag(ctx context.Context, cons jetstream.Consumer) {
	var gap events.GapCounter
	events.WatchConsumer(ctx, c.js, c.names.RawStream, cons, 10*time.Second, func(info *jetstream.ConsumerInfo, first uint64) {
		c.metrics.lag.Set(float64(info.NumPending))
		c.metrics.ackPending.Set(float64(info.NumAckPending))
		if n := gap.Observe(info, first); n > 0 {
			c.metrics.lost.Add("raw_stream_gap", float64(n))
			c.log.Error().Uint64("events", n).Str("stream", c.names.RawStream).
				Msg("the raw stream removed events ingest had not acknowledged: they are lost")
		}
	})
}

// sweep counts the conversions held past their deadline, every minute, and
// publishes how many the live counters lost that way.
func (c *consumer) sweep(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		if n, err := c.counters.SweepHeld(ctx, time.Now()); err == nil && n > 0 {
			c.log.Warn().Int64("conversions", n).Msg("held conversions expired: their users' exposures never reached the live counters (the report counts them if the exposure is in ClickHouse)")
		}
		if n, err := c.counters.HeldExpired(ctx); err == nil {
			c.metrics.lost.Set("held_expired", float64(n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
