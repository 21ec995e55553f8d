package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flagstream/flagstream/internal/connect"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/service"
	"github.com/flagstream/flagstream/pkg/events"
)

// consumer moves the analytics stream into ClickHouse. Two stages overlap:
//
//   - the fetcher gathers a batch (up to batch messages, or what came within
//     flush of the batch's first message), inserts its events into the raw
//     table, retrying with backoff for as long as ClickHouse is away, and
//     queues it;
//   - the refresher takes every queued batch at once, recomputes the state
//     of the (experiment, user) pairs they touched, and only then
//     acknowledges their messages.
//
// A message is acknowledged only after its event is in ClickHouse and in the
// state the reports read; until then JetStream redelivers it (after a crash,
// to any instance), and since both the raw table and the state are
// idempotent by event id the repeat changes nothing. Memory is bounded: the
// consumer's MaxAckPending caps what the server hands out, and the fetcher
// stops fetching while its batch waits for ClickHouse or the queue is full.
type consumer struct {
	js        jetstream.JetStream
	names     events.Names
	store     *chstore.Store
	metrics   *metrics
	log       zerolog.Logger
	batch     int
	flush     time.Duration
	queue     int // inserted batches waiting for their refresh
	ackWait   time.Duration
	opTimeout time.Duration // one insert or refresh attempt
	// perMessage is how many events the last batch's messages held on
	// average (1 until then), to fetch about --batch events at a time.
	perMessage float64
}

// pending is a fetched batch on its way to being acknowledged.
type pending struct {
	msgs     []jetstream.Msg
	events   []events.Event
	touched  chstore.Touched
	fetched  time.Time // when its first message arrived
	lastKeep time.Time // last InProgress sent for its messages
}

func (c *consumer) config() jetstream.ConsumerConfig {
	// No FilterSubject: the stream holds analytics events only, and on
	// nats-server 2.9 a filtered consumer's info stalls deliveries.
	cfg := events.BaseConsumerConfig(events.AnalyticsConsumer)
	cfg.AckWait = c.ackWait
	cfg.MaxAckPending = c.batch * (c.queue + 2)
	return cfg
}

// run attaches the consumer, then fetches, inserts, refreshes and
// acknowledges until ctx ends; the batches in hand are finished first (or
// handed back to JetStream if ClickHouse does not answer).
func (c *consumer) run(ctx context.Context) error {
	cons, err := service.AttachConsumer(ctx, c.log, c.js, c.names.AnalyticsStream, c.config())
	if err != nil {
		return nil // ctx ended
	}
	c.metrics.Set("consumer", nil)
	go c.watchLag(ctx, cons)
	q := make(chan *pending, c.queue)
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.refresher(ctx, q)
	}()
	c.fetcher(ctx, cons, q)
	close(q)
	<-done
	return nil
}

// fetcher gathers batches, inserts them and queues them for refresh.
func (c *consumer) fetcher(ctx context.Context, cons jetstream.Consumer, q chan<- *pending) {
	b := &connect.Backoff{}
	for ctx.Err() == nil {
		p := c.gather(ctx, cons, b)
		if p == nil {
			continue
		}
		c.metrics.held.Add(float64(len(p.msgs)))
		if len(p.events) > 0 && !c.insert(ctx, p) {
			c.release(p, true)
			continue
		}
		q <- p // blocks while the refresher is behind: fetching stops
	}
}

// gather fetches one batch: about c.batch events (whole messages, so a
// little more), or what arrived within c.flush of the first. Unreadable
// messages are terminated on the way.
func (c *consumer) gather(ctx context.Context, cons jetstream.Consumer, b *connect.Backoff) *pending {
	p := &pending{}
	var deadline time.Time
	for len(p.events) < c.batch && ctx.Err() == nil {
		wait := c.flush
		if !deadline.IsZero() {
			wait = time.Until(deadline)
			if wait <= 0 {
				break
			}
		}
		// Messages carry one event or a batch: ask for as many as should
		// hold the events still wanted, at the events per message seen so far.
		want := c.batch - len(p.events)
		msgs := max(1, min(5000, int(float64(want)/max(1, c.perMessage))))
		batch, err := cons.Fetch(msgs, jetstream.FetchMaxBytes(events.FetchSize(c.js.Conn(), 300*want)), jetstream.FetchMaxWait(max(wait, 10*time.Millisecond)))
		if err != nil {
			c.fail(ctx, "nats", err, b)
			continue
		}
		n := 0
		for m := range batch.Messages() {
			n++
			if deadline.IsZero() {
				deadline = time.Now().Add(c.flush)
				p.fetched = time.Now()
			}
			c.take(p, m)
		}
		if err := batch.Error(); err != nil && n == 0 && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			c.fail(ctx, "nats", err, b)
			continue
		}
		b.Reset()
		if n == 0 && len(p.msgs) > 0 {
			break // nothing more within the wait: flush what we have
		}
	}
	if len(p.msgs) == 0 {
		return nil
	}
	c.perMessage = max(1, float64(len(p.events))/float64(len(p.msgs)))
	p.lastKeep = time.Now()
	return p
}

// take decodes a message into the batch, or terminates it if no aggregate
// could ever read it.
func (c *consumer) take(p *pending, m jetstream.Msg) {
	got, ok := events.ReadConsumed(m, c.log, c.metrics.invalid.Inc)
	if got.Redelivered {
		c.metrics.redeliveries.Inc()
	}
	if !ok {
		return
	}
	evs := got.Events
	p.msgs = append(p.msgs, m)
	first := len(p.events)
	p.events = append(p.events, evs...)
	for i := first; i < len(p.events); i++ {
		p.touched.Add(&p.events[i])
		c.metrics.eventsIn.WithLabelValues(string(p.events[i].Type)).Inc()
	}
}

func (c *consumer) insert(ctx context.Context, p *pending) bool {
	return c.retry(ctx, p, "insert", func(actx context.Context) error {
		start := time.Now()
		err := c.store.Insert(actx, p.events, time.Now())
		if err == nil {
			c.metrics.insertLatency.Observe(time.Since(start).Seconds())
			c.metrics.rowsInserted.Add(float64(len(p.events)))
		}
		return err
	})
}

// refresher refreshes and acknowledges queued batches, all that are queued
// at once, until q is closed.
func (c *consumer) refresher(ctx context.Context, q <-chan *pending) {
	for p := range q {
		group := []*pending{p}
	drain:
		for {
			select {
			case more, ok := <-q:
				if !ok {
					break drain
				}
				group = append(group, more)
			default:
				break drain
			}
		}
		merged := &pending{fetched: p.fetched, lastKeep: p.lastKeep}
		for _, g := range group {
			merged.msgs = append(merged.msgs, g.msgs...)
			merged.touched.Merge(&g.touched)
			merged.lastKeep = minTime(merged.lastKeep, g.lastKeep)
		}
		ok := c.retry(ctx, merged, "refresh", func(actx context.Context) error {
			start := time.Now()
			n, err := c.store.Refresh(actx, &merged.touched)
			if err == nil {
				c.metrics.refreshLatency.Observe(time.Since(start).Seconds())
				c.metrics.pairsRefreshed.Add(float64(n))
			}
			return err
		})
		c.release(merged, !ok)
		if ok {
			c.metrics.batchLatency.Observe(time.Since(merged.fetched).Seconds())
			c.metrics.Set("consumer", nil)
		}
	}
}

// release acknowledges a batch's messages, or hands them back for
// redelivery (nak).
func (c *consumer) release(p *pending, nak bool) {
	for _, m := range p.msgs {
		if nak {
			_ = m.NakWithDelay(time.Second)
		} else {
			_ = m.Ack()
		}
	}
	if !nak {
		c.metrics.acked.Add(float64(len(p.msgs)))
	}
	c.metrics.held.Sub(float64(len(p.msgs)))
}

// retry runs op until it succeeds (true) or ctx ends (false). Each attempt
// has its own timeout and is not cut short by ctx, so a batch in flight at
// shutdown still completes; between attempts the batch's messages are kept
// from redelivery with InProgress.
func (c *consumer) retry(ctx context.Context, p *pending, what string, op func(context.Context) error) bool {
	b := &connect.Backoff{}
	for {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opTimeout)
		err := op(actx)
		cancel()
		if err == nil {
			return true
		}
		c.metrics.failures.WithLabelValues(what).Inc()
		if ctx.Err() != nil {
			c.log.Warn().Err(err).Str("dependency", "clickhouse").Str("op", what).Int("messages", len(p.msgs)).
				Msg("stopping: batch handed back for redelivery")
			return false
		}
		wait := b.Next()
		c.metrics.Set("consumer", fmt.Errorf("clickhouse %s: %w", what, err))
		c.log.Warn().Err(err).Str("dependency", "clickhouse").Str("op", what).Int("messages", len(p.msgs)).
			Dur("retry_in", wait).Msg("cannot write to ClickHouse; retrying")
		c.keepAlive(p)
		if !connect.Sleep(ctx, wait) {
			return false
		}
	}
}

// keepAlive resets the messages' ack timers while their batch waits.
func (c *consumer) keepAlive(p *pending) {
	if time.Since(p.lastKeep) < c.ackWait/3 {
		return
	}
	for _, m := range p.msgs {
		_ = m.InProgress()
	}
	p.lastKeep = time.Now()
}

// fail records a NATS failure and waits before the next attempt.
func (c *consumer) fail(ctx context.Context, dep string, err error, b *connect.Backoff) {
	wait := b.Next()
	c.metrics.Set("consumer", fmt.Errorf("%s: %w", dep, err))
	c.log.Warn().Err(err).Str("dependency", dep).Dur("retry_in", wait).Msg("cannot fetch analytics events; retrying")
	connect.Sleep(ctx, wait)
}

// watchLag publishes the consumer's backlog as metrics, and counts events
// the analytics stream lost before the aggregator acknowledged them.
func (c *consumer) watchLag(ctx context.Context, cons jetstream.Consumer) {
	service.WatchLag(ctx, c.js, cons, c.log, service.Lag{Stream: c.names.AnalyticsStream,
		Pending: c.metrics.lag, AckPending: c.metrics.ackPending, Lost: c.metrics.lost, LostReason: "analytics_stream_gap",
		LostLog: "the analytics stream removed events the aggregator had not acknowledged: they are lost"})
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
