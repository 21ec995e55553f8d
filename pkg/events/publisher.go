package events

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// PublisherOptions tune a [Publisher]; zero fields take the defaults.
type PublisherOptions struct {
	Buffer       int           // events held in memory while NATS is slow or away; default 100,000
	Batch        int           // events taken from the buffer per round and in flight at once; default 2,000
	Message      MessageLimits // events and bytes per stream message (see Packer); defaults DefaultMessageEvents, DefaultMessageBytes
	AckWait      time.Duration // how long a batch waits for its acks before retrying what is missing; default 5s
	FlushTimeout time.Duration // how long Run keeps publishing after its ctx ends; default 10s
	OnDrop       func(n int)   // called with every drop (overflow, flush deadline, unpublishable event); rate-limit there; may be nil
	Window       Window        // the ts an event may have, as ingest would take it; default DefaultWindow
	Log          zerolog.Logger
}

// Defaults of [PublisherOptions].
const (
	DefaultBuffer       = 100_000
	DefaultBatch        = 2000
	DefaultAckWait      = 5 * time.Second
	DefaultFlushTimeout = 10 * time.Second
)

func (o PublisherOptions) withDefaults() PublisherOptions {
	if o.Buffer <= 0 {
		o.Buffer = DefaultBuffer
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.AckWait <= 0 {
		o.AckWait = DefaultAckWait
	}
	if o.FlushTimeout <= 0 {
		o.FlushTimeout = DefaultFlushTimeout
	}
	return o
}

// PublisherStats are the publisher's counters, for Prometheus.
type PublisherStats struct {
	Published  uint64 // acknowledged by JetStream (duplicates included)
	Duplicates uint64 // acknowledged as duplicates: a retry of an id JetStream already had
	Buffered   int    // held now: queued plus taken and not yet acknowledged
	Dropped    uint64 // never published: buffer full, flush deadline, or unpublishable
	Retries    uint64 // publishes of an event whose earlier attempt failed
	Errors     uint64 // failed attempts (an error or no ack within AckWait), and unpublishable events
}

// Publisher publishes events to the raw stream without ever making its
// caller wait: [Publisher.Enqueue] puts an event in a bounded buffer and
// [Publisher.Run] takes up to Batch events at a time, packs them into batch
// messages ([Packer]: the message id derives from the events' ids) and
// publishes those asynchronously. While one round waits for its acks the
// next events gather in the buffer, so messages grow with the load and a
// quiet publisher still sends each event at once. An event counts as
// published only once JetStream acknowledged its message; a failed or
// unacknowledged message is published again, unchanged and with the same
// id, after a backoff, for as long as it takes: once taken from the buffer
// a valid event is dropped only at the flush deadline (an invalid one, or a
// message over the server's max_payload, is dropped at once, counted and
// logged). Memory is bounded by Buffer + Batch events.
type Publisher struct {
	js      jetstream.JetStream
	o       PublisherOptions
	q       *queue
	subject func(Type) string

	running atomic.Bool
	closed  atomic.Bool

	published, duplicates, dropped, retries, errs atomic.Uint64
	inflight                                      atomic.Int64
}

// NewPublisher returns a publisher to n's raw stream; start it with Run. The
// JetStream context's async-publish limit (jetstream.WithPublishAsyncMaxPending,
// default 4,000) must leave room for Batch.
func NewPublisher(js jetstream.JetStream, n Names, o PublisherOptions) *Publisher {
	o = o.withDefaults()
	return &Publisher{js: js, o: o, q: newQueue(o.Buffer), subject: n.RawSubject}
}

// Enqueue hands e to the publisher and returns at once: true when it was
// buffered, false when it was dropped because the buffer is full (or Run has
// finished), which is counted and reported to OnDrop. A zero TS becomes now;
// the id is assigned later, when the event is taken for publishing, and stays
// the same across retries.
func (p *Publisher) Enqueue(e Event) bool {
	if e.TS.IsZero() {
		e.TS = time.Now().UTC()
	}
	if p.closed.Load() || !p.q.push(e) {
		p.drop(1)
		return false
	}
	return true
}

func (p *Publisher) drop(n int) {
	p.dropped.Add(uint64(n))
	if p.o.OnDrop != nil {
		p.o.OnDrop(n)
	}
}

// Stats reads the counters.
func (p *Publisher) Stats() PublisherStats {
	return PublisherStats{
		Published:  p.published.Load(),
		Duplicates: p.duplicates.Load(),
		Buffered:   p.q.len() + int(p.inflight.Load()),
		Dropped:    p.dropped.Load(),
		Retries:    p.retries.Load(),
		Errors:     p.errs.Load(),
	}
}

// outMsg is a message of events taken for publishing, encoded once.
type outMsg struct {
	Message
	attempts int
}

// publishing is Run's state; only Run's goroutine touches it.
type publishing struct {
	ids      *idSource
	pending  []outMsg // taken, not yet acknowledged
	taken    []Event
	scratch  []byte
	futures  []jetstream.PubAckFuture
	backoff  time.Duration
	failing  time.Time // when the current run of failures began; zero when healthy
	lastWarn time.Time
	lastBad  time.Time
}

const (
	minBackoff    = 50 * time.Millisecond
	maxBackoff    = 2 * time.Second
	reconnectPoll = 50 * time.Millisecond
	logEvery      = time.Minute
)

// Run publishes until ctx ends, then keeps publishing what is buffered for up
// to FlushTimeout: cancel ctx after the last Enqueue (flagd: after its HTTP
// server drained). It returns nil when everything was published, or an error
// saying how many events were dropped at the flush deadline; it returns
// within AckWait + FlushTimeout of ctx ending (a batch in flight finishes
// waiting for its acks first). Events enqueued after Run returned are
// dropped. Call Run once.
func (p *Publisher) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("events publisher: Run called twice")
	}
	s := &publishing{ids: newIDSource(), backoff: minBackoff}
	for ctx.Err() == nil {
		p.fill(s)
		if len(s.pending) == 0 {
			if p.q.len() > 0 {
				continue // the batch taken was all unpublishable: take the next one now, not at the next wake-up
			}
			select {
			case <-p.q.wake:
			case <-ctx.Done():
			}
			continue
		}
		wait := p.publish(s, p.o.AckWait)
		if wait > 0 {
			sleep(ctx, wait)
		}
	}
	return p.flush(s)
}

// flush publishes what is left until the queue is empty or FlushTimeout ends.
func (p *Publisher) flush(s *publishing) error {
	deadline := time.Now().Add(p.o.FlushTimeout)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	for {
		p.fill(s)
		left := time.Until(deadline)
		if len(s.pending) == 0 || left <= 0 {
			break
		}
		if wait := p.publish(s, min(p.o.AckWait, left)); wait > 0 {
			sleep(ctx, wait)
		}
	}
	p.closed.Store(true)
	n := pendingEvents(s.pending) + p.q.clear()
	s.pending = s.pending[:0]
	p.inflight.Store(0)
	if n == 0 {
		return nil
	}
	p.drop(n)
	p.o.Log.Error().Int("dropped", n).Dur("flush_timeout", p.o.FlushTimeout).
		Msg("events not published before the flush deadline")
	return fmt.Errorf("events publisher: %d events not published within the %s flush timeout", n, p.o.FlushTimeout)
}

// fill tops the pending events up from the queue, assigning ids, encoding
// and packing them into messages.
func (p *Publisher) fill(s *publishing) {
	room := p.o.Batch - int(p.inflight.Load())
	if room <= 0 {
		return
	}
	s.taken = p.q.take(s.taken[:0], room)
	if len(s.taken) == 0 {
		return
	}
	now := time.Now()
	window := p.o.Window.withDefaults()
	var bad int
	var badErr error
	packer := NewPacker(p.subject, p.o.Message.Fit(p.js.Conn()))
	for i := range s.taken {
		e := &s.taken[i]
		if e.ID == "" {
			e.ID = s.ids.next(now)
		}
		e.TS = e.TS.UTC() // days are UTC days of ts
		var err error
		if fe := e.check(now, window); fe != nil { // never put on the stream what ingest would refuse
			fe.Index = -1
			err = fe
		} else {
			s.scratch, err = packer.AddEvent(e, s.scratch)
		}
		if err != nil {
			bad++
			badErr = err
		}
		*e = Event{}
	}
	for _, m := range packer.Flush() {
		s.pending = append(s.pending, outMsg{Message: m})
	}
	p.inflight.Store(int64(pendingEvents(s.pending)))
	if bad > 0 {
		p.errs.Add(uint64(bad))
		p.drop(bad)
		if now.Sub(s.lastBad) >= logEvery {
			s.lastBad = now
			p.o.Log.Error().Err(badErr).Int("dropped", bad).Msg("unpublishable events dropped")
		}
	}
}

func pendingEvents(ms []outMsg) int {
	n := 0
	for i := range ms {
		n += ms[i].Events
	}
	return n
}

// publish sends the pending batch and waits up to ackWait for its acks. What
// was acknowledged leaves s.pending; the rest stays for the next attempt. It
// returns how long to wait before that attempt (0: go on at once).
func (p *Publisher) publish(s *publishing, ackWait time.Duration) time.Duration {
	if nc := p.js.Conn(); nc != nil && nc.Status() != nats.CONNECTED {
		p.noteFailure(s, nats.ErrDisconnected, 0)
		return reconnectPoll // hold the batch ourselves rather than in nats.go's reconnect buffer
	}
	sendErr := p.send(s)
	failed, ackErr := p.await(s, ackWait)
	if err := cmp.Or(ackErr, sendErr); err != nil {
		p.noteFailure(s, err, failed)
		wait := s.backoff
		s.backoff = min(2*s.backoff, maxBackoff)
		return wait/2 + rand.N(wait/2+1) // jitter: publishers that lost the same server do not return in step
	}
	p.noteSuccess(s)
	return 0
}

// send publishes each pending message asynchronously, recording its future
// in s.futures (nil: not sent). It stops at the first error of the
// connection, which it returns; a message NATS refuses for itself (bigger
// than the server's max_payload) can never go and is dropped.
func (p *Publisher) send(s *publishing) error {
	s.futures = s.futures[:0]
	var sendErr, refusedErr error
	var refused int
	for i := range s.pending {
		m := &s.pending[i]
		var f jetstream.PubAckFuture
		if sendErr == nil {
			var err error
			f, err = p.js.PublishMsgAsync(m.NATS())
			switch {
			case err == nil:
				if m.attempts > 0 {
					p.retries.Add(uint64(m.Events))
				}
				m.attempts++
			case errors.Is(err, nats.ErrMaxPayload), errors.Is(err, nats.ErrBadSubject):
				refused += m.Events
				refusedErr = err
				m.Data = nil // marks it dropped for await
			default:
				sendErr = err
			}
		}
		s.futures = append(s.futures, f)
	}
	if refused > 0 {
		p.errs.Add(uint64(refused))
		p.drop(refused)
		if now := time.Now(); now.Sub(s.lastBad) >= logEvery {
			s.lastBad = now
			p.o.Log.Error().Err(refusedErr).Int("dropped", refused).Msg("events refused by NATS dropped")
		}
	}
	return sendErr
}

// await collects the acks of what send sent, waiting up to ackWait in all,
// and keeps in s.pending what was not acknowledged (failed, timed out, or not
// sent). It returns how many attempts failed and the last error.
func (p *Publisher) await(s *publishing, ackWait time.Duration) (failed int, lastErr error) {
	timer := time.NewTimer(ackWait)
	defer timer.Stop()
	expired := false
	kept := s.pending[:0] // in place: kept never overtakes the reading index
	for i, f := range s.futures {
		m := s.pending[i]
		if f == nil {
			if m.Data != nil {
				kept = append(kept, m)
			}
			continue
		}
		var ack *jetstream.PubAck
		var err error
		if !expired {
			select {
			case ack = <-f.Ok():
			case err = <-f.Err():
			case <-timer.C:
				expired = true
			}
		}
		if expired { // the rest only gets what has already arrived
			select {
			case ack = <-f.Ok():
			case err = <-f.Err():
			default:
				err = jetstream.ErrAsyncPublishTimeout
			}
		}
		if err != nil {
			failed++
			lastErr = err
			kept = append(kept, m)
			continue
		}
		p.published.Add(uint64(m.Events))
		if ack.Duplicate {
			p.duplicates.Add(uint64(m.Events))
		}
	}
	clear(s.futures)
	clear(s.pending[len(kept):])
	s.pending = kept
	p.inflight.Store(int64(pendingEvents(kept)))
	p.errs.Add(uint64(failed))
	return failed, lastErr
}

func (p *Publisher) noteFailure(s *publishing, err error, failed int) {
	now := time.Now()
	if s.failing.IsZero() {
		s.failing = now
	} else if now.Sub(s.lastWarn) < logEvery {
		return
	}
	s.lastWarn = now
	p.o.Log.Warn().Err(err).Str("dependency", "nats").Int("failed", failed).Int("buffered", p.Stats().Buffered).
		Msg("publishing events failing; retrying")
}

func (p *Publisher) noteSuccess(s *publishing) {
	s.backoff = minBackoff
	if s.failing.IsZero() {
		return
	}
	p.o.Log.Info().Str("dependency", "nats").Dur("after", time.Since(s.failing)).Msg("publishing events resumed")
	s.failing, s.lastWarn = time.Time{}, time.Time{}
}

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
