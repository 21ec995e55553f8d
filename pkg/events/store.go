package events

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// StoreRaw puts events into the raw stream, packed into batch messages
// ([Packer], limits lim), and returns once JetStream has acknowledged every
// message (or the first error, or ctx's end). It is how an event
// acknowledged to its sender is made durable first: ingest's POST
// /v1/events and flagd's POST /v1/track. Every event must have an id
// ([EnsureID]), so that a resend after an error counts once.
func StoreRaw(ctx context.Context, js jetstream.JetStream, n Names, lim MessageLimits, evs []Event) error {
	msgs, err := Pack(n.RawSubject, lim.Fit(js.Conn()), evs)
	if err != nil {
		return err
	}
	return PublishAll(ctx, js, msgs)
}

// PublishAll publishes msgs asynchronously and waits for every ack: nil
// only when JetStream stored (or had already stored) each one.
func PublishAll(ctx context.Context, js jetstream.JetStream, msgs []Message) error {
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	for i := range msgs {
		f, err := js.PublishMsgAsync(msgs[i].NATS())
		if err != nil {
			return err
		}
		futures = append(futures, f)
	}
	for _, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
