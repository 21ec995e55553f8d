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
	fetch    int // bytes of raw messages per fetch
	workers  int
	ackWait  time.Duration
}

func (c *consumer) config() jetstream.ConsumerConfig {
	// No FilterSubject: the stream holds raw events only, and on
	// nats-server 2.9 a filtered consumer's info (the lag metric) scans the
	// stream and stalls deliveries meanwhile.
	cfg := events.BaseConsumerConfig(events.RawConsumer)
	cfg.AckWait = c.ackWait
	cfg.MaxAckPending = maxAckPending
	return cfg
}

// fetchMessages bounds a worker's fetch in messages (--fetch-bytes bounds
// it in bytes): room for a batch of single-event messages from publishers
// that do not batch, and not so many that the workers' forwards outgrow the
// forwarding context's pending-ack cap (4,096) with the default 4 workers.
const fetchMessages = 1000

// maxAckPending bounds the raw messages fetched and not yet acknowledged,
// across workers and instances: room for every worker's fetch of
// single-event messages from publishers that do not batch.
const maxAckPending = 20_000

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
		batch, err := cons.Fetch(fetchMessages, jetstream.FetchMaxBytes(events.FetchSize(c.js.Conn(), c.fetch)), jetstream.FetchMaxWait(time.Second))
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
// to the analytics stream and acknowledge the raw messages once every
// forward is acknowledged.
func (c *consumer) process(ctx context.Context, msgs []jetstream.Msg) error {
	b := c.decode(msgs)
	if len(b.evs) == 0 {
		return nil
	}
	if err := c.count(ctx, b); err != nil {
		return err
	}
	return c.forward(ctx, b)
}

// fetched is a fetched batch's events, with for each the raw message it came
// in (a raw message holds one event or many: events.Packer).
type fetched struct {
	msgs  []jetstream.Msg
	evs   []events.Event
	lines [][]byte // each event's JSON as received, when it can be forwarded as is
	owner []int    // index in msgs of each event's message
	retry []bool   // per message: handed back for another attribution try
}

// decode reads the batch's events. An item no ingest can ever read is
// dropped, counted and logged, without its neighbours; a message in a newer
// format is handed back for a newer ingest, never dropped.
func (c *consumer) decode(msgs []jetstream.Msg) *fetched {
	b := &fetched{msgs: make([]jetstream.Msg, 0, len(msgs))}
	invalid := c.metrics.invalid.WithLabelValues("raw_message").Inc
	for _, m := range msgs {
		// Raw events were validated where they entered; the time window is
		// not checked again, so a backlog drained late still reaches the
		// report (the live counters take it only within their window). A
		// publisher not ours may send events without ids: each gets the id
		// from its content, the one the aggregator would give it.
		got, ok := events.ReadConsumed(m, c.log, invalid)
		if got.Redelivered {
			c.metrics.redeliveries.Inc()
		}
		if !ok {
			continue
		}
		evs, lines := got.Events, got.Lines
		for range evs {
			b.owner = append(b.owner, len(b.msgs))
		}
		b.msgs = append(b.msgs, m)
		b.evs = append(b.evs, evs...)
		b.lines = append(b.lines, lines...)
	}
	b.retry = make([]bool, len(b.msgs))
	return b
}

// count applies the events to the live counters. A conversion that names no
// experiment, of a user with no exposure yet, may simply have overtaken the
// exposure (another worker or instance holds it): its message gets a few
// more tries before the conversion counts nowhere, as in the seed (the
// message's other events are duplicates on the next try). One that names
// its experiment is held in Redis instead; see live.Held. If Redis fails,
// every message is handed back.
func (c *consumer) count(ctx context.Context, b *fetched) error {
	start := time.Now()
	statuses, err := c.counters.Apply(ctx, b.evs)
	c.metrics.redisLatency.Observe(time.Since(start).Seconds())
	if err != nil {
		c.nakAll(b.msgs)
		return &depError{"redis", err}
	}
	unattributed := 0
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
			m := b.owner[i]
			if md, err := b.msgs[m].Metadata(); err == nil && md.NumDelivered < attributionTries {
				b.retry[m] = true
				continue
			}
			unattributed++
		}
	}
	c.metrics.unattributed.Add(float64(unattributed))
	for m, again := range b.retry {
		if again {
			_ = b.msgs[m].NakWithDelay(attributionDelay)
		}
	}
	return nil
}

// forward publishes, for every raw message not handed back, its events to
// the analytics stream, and acknowledges those raw messages once every
// forward is acknowledged; otherwise it hands them back. Each raw message is
// forwarded as its own batch (split only where it breaks the limits), so a
// redelivered raw message is forwarded with the same message ids and
// JetStream drops the repeat; past the window, the aggregator deduplicates
// by event id. Events are forwarded as the bytes received where they can
// be, re-encoded otherwise (an id was added).
func (c *consumer) forward(ctx context.Context, b *fetched) error {
	start := time.Now()
	defer func() { c.metrics.natsLatency.Observe(time.Since(start).Seconds()) }()
	packer := events.NewPacker(c.names.AnalyticsSubject, events.MessageLimits{}.Fit(c.js.Conn()))
	var out []events.Message
	var scratch []byte
	var sent [len(events.Types)]int
	for i := range b.evs {
		if b.retry[b.owner[i]] {
			continue
		}
		e := &b.evs[i]
		if b.lines[i] != nil {
			packer.Add(e.Type, e.ID, b.lines[i])
		} else {
			var err error
			if scratch, err = packer.AddEvent(e, scratch); err != nil {
				// Validated events always encode; refuse loudly if not.
				c.nakAll(b.msgs)
				return &depError{"encode", err}
			}
		}
		if e.Type == events.TypeConversion {
			sent[1]++
		} else {
			sent[0]++
		}
		if i == len(b.evs)-1 || b.owner[i+1] != b.owner[i] {
			out = append(out, packer.Flush()...)
		}
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := events.PublishAll(pctx, c.js, out); err != nil {
		for m, again := range b.retry {
			if !again {
				_ = b.msgs[m].Nak()
			}
		}
		return &depError{"nats", fmt.Errorf("forward %d events: %w", sent[0]+sent[1], err)}
	}
	for m, again := range b.retry {
		if !again {
			_ = b.msgs[m].Ack()
		}
	}
	for i, t := range events.Types {
		c.metrics.eventsOut.WithLabelValues(string(t)).Add(float64(sent[i]))
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
	service.WatchLag(ctx, c.js, cons, c.log, service.Lag{Stream: c.names.RawStream,
		Pending: c.metrics.lag, AckPending: c.metrics.ackPending, Lost: c.metrics.lost, LostReason: "raw_stream_gap",
		LostLog: "the raw stream removed events ingest had not acknowledged: they are lost"})
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
