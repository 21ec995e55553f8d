package events

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
)

// StoreRaw puts events into the raw stream, each with its id as the
// message id, and returns once JetStream has acknowledged every one (or the
// first error, or ctx's end). It is how an event acknowledged to its sender
// is made durable first: ingest's POST /v1/events and flagd's POST /v1/track.
// Every event must have an id ([EnsureID]), so that a resend after an error
// counts once.
func StoreRaw(ctx context.Context, js jetstream.JetStream, n Names, evs []Event) error {
	futures := make([]jetstream.PubAckFuture, 0, len(evs))
	for i := range evs {
		data, err := evs[i].AppendJSON(nil)
		if err != nil {
			return err
		}
		f, err := js.PublishAsync(n.RawSubject(evs[i].Type), data, jetstream.WithMsgID(evs[i].ID))
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
