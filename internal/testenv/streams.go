package testenv

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/pkg/events"
)

// StreamEvents reads every message of a stream as events, keyed by id, and
// counts how many messages carried each id. It fails the test on a message
// that is not an event or whose Nats-Msg-Id differs from its id. A stream
// that does not exist reads as empty.
func StreamEvents(t testing.TB, natsURL, stream string) (map[string]events.Event, map[string]int) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got, seen := map[string]events.Event{}, map[string]int{}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return got, seen
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs == 0 {
		return got, seen
	}
	cons, err := s.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	for read := uint64(0); read < info.State.Msgs; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			n++
			var e events.Event
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				t.Fatalf("%s: message %s is not an event: %v", stream, m.Data(), err)
			}
			if id := m.Headers().Get("Nats-Msg-Id"); id != e.ID {
				t.Fatalf("%s: message id %q for event %q", stream, id, e.ID)
			}
			got[e.ID] = e
			seen[e.ID]++
		}
		if n == 0 {
			t.Fatalf("%s: read %d of %d messages: %v", stream, read, info.State.Msgs, batch.Error())
		}
		read += uint64(n)
	}
	return got, seen
}

// WaitStream polls until a stream holds at least n messages.
func WaitStream(t testing.TB, natsURL, stream string, n int, within time.Duration) {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	deadline := time.Now().Add(within)
	var have uint64
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if s, err := js.Stream(ctx, stream); err == nil {
			if info, err := s.Info(ctx); err == nil {
				have = info.State.Msgs
			}
		}
		cancel()
		if have >= uint64(n) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s holds %d messages after %v, want %d", stream, have, within, n)
}
