// Package streams reads JetStream streams and consumers for tests: what a
// stream holds, and waits for it to fill or for a consumer to acknowledge
// everything.
package streams

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/pkg/events"
)

// StreamEvents reads every event of a stream, keyed by id, and counts how
// many times each id was carried. Messages are batches (events.Packer) or
// single events from other publishers; it fails the test on a message that
// does not read as events, or whose Nats-Msg-Id is not the one its events
// give it. A stream that does not exist reads as empty.
func StreamEvents(t testing.TB, natsURL, stream string) (map[string]events.Event, map[string]int) {
	t.Helper()
	got, seen := map[string]events.Event{}, map[string]int{}
	eachMessage(t, natsURL, stream, func(m jetstream.Msg) {
		evs := messageEvents(t, stream, m)
		for _, e := range evs {
			got[e.ID] = e
			seen[e.ID]++
		}
	})
	return got, seen
}

// messageEvents decodes one message and checks its id.
func messageEvents(t testing.TB, stream string, m jetstream.Msg) []events.Event {
	t.Helper()
	evs, _, bad, err := events.DecodeMessage(m.Headers(), m.Data())
	if err != nil || len(bad) > 0 || len(evs) == 0 {
		t.Fatalf("%s: message %.200s is not events: %v %v", stream, m.Data(), err, bad)
	}
	want := evs[0].ID
	if m.Headers().Get(events.HeaderFormat) != "" {
		subject := func(events.Type) string { return m.Subject() }
		msgs, err := events.Pack(subject, events.MessageLimits{Events: len(evs), Bytes: len(m.Data()) + 1}, evs)
		if err != nil || len(msgs) != 1 {
			t.Fatalf("%s: repacking %d events: %v (%d messages)", stream, len(evs), err, len(msgs))
		}
		want = msgs[0].ID
	}
	if id := m.Headers().Get(nats.MsgIdHdr); id != want {
		t.Fatalf("%s: message id %q, want %q from its events", stream, id, want)
	}
	return evs
}

// eachMessage calls fn with every message a stream holds, in order.
func eachMessage(t testing.TB, natsURL, stream string, fn func(jetstream.Msg)) {
	t.Helper()
	js, done := jetStream(t, natsURL)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(int(min(1000, info.State.Msgs-read)), jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			fn(m)
		}
		if n == 0 {
			t.Fatalf("%s: read %d of %d messages: %v", stream, read, info.State.Msgs, batch.Error())
		}
		read += uint64(n)
	}
}

// WaitStreamEvents polls until a stream holds at least n events (in any
// number of messages).
func WaitStreamEvents(t testing.TB, natsURL, stream string, n int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	have := 0
	for time.Now().Before(deadline) {
		have = 0
		eachMessage(t, natsURL, stream, func(m jetstream.Msg) { have += len(messageEvents(t, stream, m)) })
		if have >= n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s holds %d events after %v, want %d", stream, have, within, n)
}

// WaitAcked waits until a stream's durable consumer has acknowledged every
// message the stream holds (its ack floor at the stream's last sequence, and
// nothing pending): a barrier after which whatever the consumer does with a
// message (count it, forward it, find it a duplicate) is done.
func WaitAcked(t testing.TB, natsURL, stream, consumer string, within time.Duration) {
	t.Helper()
	js, done := jetStream(t, natsURL)
	defer done()
	deadline := time.Now().Add(within)
	last := "no answer"
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		var sinfo *jetstream.StreamInfo
		if err == nil {
			sinfo, err = s.Info(ctx)
		}
		var cinfo *jetstream.ConsumerInfo
		if err == nil {
			var c jetstream.Consumer
			if c, err = js.Consumer(ctx, stream, consumer); err == nil {
				cinfo, err = c.Info(ctx)
			}
		}
		cancel()
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("last seq %d, ack floor %d, pending %d, ack pending %d",
				sinfo.State.LastSeq, cinfo.AckFloor.Stream, cinfo.NumPending, cinfo.NumAckPending)
			if cinfo.AckFloor.Stream >= sinfo.State.LastSeq && cinfo.NumPending == 0 && cinfo.NumAckPending == 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("consumer %s on %s has not acknowledged every message within %v: %s", consumer, stream, within, last)
}

// PublishEach publishes every event as a message of its own, in the
// single-event format (as an app or a publisher that does not batch sends
// them), on the subject subject gives its type, with the Nats-Msg-Id msgID
// gives it (none where msgID is nil or gives ""), and waits until JetStream
// acknowledged each. At most 512 acks are awaited at once, under any
// connection's async publish limit.
func PublishEach(t testing.TB, js jetstream.JetStream, subject func(events.Type) string, evs []events.Event, msgID func(*events.Event) string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	futures := make([]jetstream.PubAckFuture, 0, 512)
	for i := range evs {
		data, err := evs[i].AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		m := &nats.Msg{Subject: subject(evs[i].Type), Data: data}
		if msgID != nil {
			if id := msgID(&evs[i]); id != "" {
				m.Header = nats.Header{nats.MsgIdHdr: []string{id}}
			}
		}
		f, err := js.PublishMsgAsync(m)
		if err != nil {
			t.Fatal(err)
		}
		futures = append(futures, f)
		if len(futures) < cap(futures) && i < len(evs)-1 {
			continue
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
			case err := <-f.Err():
				t.Fatalf("publish: %v", err)
			case <-ctx.Done():
				t.Fatal("publish not acknowledged within 2 minutes")
			}
		}
		futures = futures[:0]
	}
}

// StreamLastSeq is the sequence of the last message a stream stored (0 for
// an empty or absent stream).
func StreamLastSeq(t testing.TB, natsURL, stream string) uint64 {
	t.Helper()
	js, done := jetStream(t, natsURL)
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// jetStream connects to natsURL for one helper call; done closes it.
func jetStream(t testing.TB, natsURL string) (js jetstream.JetStream, done func()) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	js, err = jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	return js, nc.Close
}

// ConsumerInfo reads a durable consumer's state, nil before it exists.
func ConsumerInfo(t testing.TB, js jetstream.JetStream, stream, consumer string) *jetstream.ConsumerInfo {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, consumer)
	if err != nil {
		return nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info
}
