package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamLimits bound what a stream keeps. Both streams get the same limits:
// the analytics stream carries the same events as the raw one, once each.
type StreamLimits struct {
	MaxMessages int64         // past this many messages, publishes are refused (the stream is full) until consumers catch up
	MaxMsgSize  int32         // bigger messages are refused
	Duplicates  time.Duration // the Nats-Msg-Id dedup window
	Replicas    int
	Storage     jetstream.StorageType
}

// DefaultStreamLimits are the production limits.
//
//   - Interest retention with DiscardNew and no age limit: a stream keeps
//     a message until its consumer (ingest on the raw stream, the aggregator
//     on the analytics one; [EnsureStreams] creates both with the streams, so
//     nothing is published before someone is interested) has acknowledged
//     it, and no limit ever removes a message a consumer has yet to take.
//     When a consumer falls so far behind that MaxMessages is reached, the
//     stream refuses new messages: ingest answers 503 with Retry-After, flagd
//     keeps exposures in its buffer and counts what it drops, ingest's
//     forwards wait. Back pressure, loud, instead of silent loss. Replays
//     after an incident come from ClickHouse (`ingest rebuild-live`), not
//     from stream history.
//   - MaxMessages 1 million messages per stream, no byte limit. flagstream's
//     own publishers send batches ([Packer]: up to 500 events, 256 KiB), so
//     that is up to 500 million events; a publisher that sends one event a
//     message fills it with a million. The bound is a count because
//     nats-server 2.9 checks a byte limit against the payload only, not the
//     stored size: at the boundary the store then exceeds the limit and
//     removes its oldest message, even under DiscardNew (seen here; a count
//     is checked exactly). Bytes on disk are bounded by the server's
//     max_file_store, which refuses publishes, and deletes nothing, when it
//     is reached: size it for rate × the outage to ride out.
//   - MaxMsgSize 1 MiB, nats-server's default max_payload: a batch is at
//     most 256 KiB of events plus headers; this stops junk.
//   - Duplicates 2 minutes: the window only has to cover a publisher's retry
//     of the same message after a lost ack or a reconnect (seconds); the
//     server keeps every id of the window in memory (≈100 bytes each, one
//     per message), and exactness does not rest on it: ingest and the
//     aggregator dedup by event id in Redis and ClickHouse.
//   - File storage, 1 replica: events must survive a server restart; one
//     replica because the local and test servers are single nodes. Use 3 on
//     a cluster.
func DefaultStreamLimits() StreamLimits {
	return StreamLimits{
		MaxMessages: 1_000_000,
		MaxMsgSize:  1 << 20,
		Duplicates:  2 * time.Minute,
		Replicas:    1,
		Storage:     jetstream.FileStorage,
	}
}

// TestStreamLimits are [DefaultStreamLimits] with room for 200,000
// messages, for tests on a shared server.
func TestStreamLimits() StreamLimits {
	l := DefaultStreamLimits()
	l.MaxMessages = 200_000
	return l
}

// The durable consumers every instance of a service shares: JetStream hands
// each message to one of them at a time.
const (
	RawConsumer       = "ingest"    // on the raw stream
	AnalyticsConsumer = "aggregate" // on the analytics stream
)

// StreamConfigs are the configurations [EnsureStreams] applies: raw first,
// then analytics.
func StreamConfigs(n Names, l StreamLimits) []jetstream.StreamConfig {
	base := jetstream.StreamConfig{
		Retention:         jetstream.InterestPolicy,
		Discard:           jetstream.DiscardNew,
		MaxConsumers:      -1,
		MaxMsgs:           l.MaxMessages,
		MaxBytes:          -1, // see DefaultStreamLimits: bounded by count
		MaxMsgSize:        l.MaxMsgSize,
		Duplicates:        l.Duplicates,
		Replicas:          l.Replicas,
		Storage:           l.Storage,
		MaxMsgsPerSubject: -1,
	}
	raw, analytics := base, base
	raw.Name, raw.Subjects = n.RawStream, []string{n.RawSubjects}
	raw.Description = "flagstream raw events: exposures from flagd, events from ingest's HTTP API"
	analytics.Name, analytics.Subjects = n.AnalyticsStream, []string{n.AnalyticsSubjects}
	analytics.Description = "flagstream events counted by ingest, for the aggregator"
	return []jetstream.StreamConfig{raw, analytics}
}

// EnsureStreams creates the raw and analytics streams, or updates them to
// these limits, and their durable consumers if they are missing (the
// services set the consumers' own settings when they attach). It is
// idempotent and safe to run from many processes at once: a create that
// loses a race is retried as an update.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, n Names, l StreamLimits) error {
	consumers := []string{RawConsumer, AnalyticsConsumer}
	for i, cfg := range StreamConfigs(n, l) {
		// An interest stream drops at once what arrives while no consumer
		// exists, and acknowledges it all the same. So a new stream is made
		// listening on a subject nobody publishes to, gets its consumer, and
		// only then takes its real subjects (the update below): a publish
		// before that finds no stream and is retried by its publisher.
		if _, err := js.Stream(ctx, cfg.Name); errors.Is(err, jetstream.ErrStreamNotFound) {
			closed := cfg
			closed.Subjects = []string{"flagstream-setup." + cfg.Name}
			if _, err := js.CreateStream(ctx, closed); err != nil && !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
				return fmt.Errorf("create stream %s: %w", cfg.Name, err)
			}
		} else if err != nil {
			return fmt.Errorf("look up stream %s: %w", cfg.Name, err)
		}
		if err := ensureConsumer(ctx, js, cfg.Name, consumers[i]); err != nil {
			return fmt.Errorf("ensure consumer %s on %s: %w", consumers[i], cfg.Name, err)
		}
		if err := ensureStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

// BaseConsumerConfig is what every durable consumer of ours has: explicit
// acknowledgements, every event from the start, never given up on.
func BaseConsumerConfig(name string) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       name,
		AckPolicy:     jetstream.AckExplicitPolicy,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		MaxDeliver:    -1, // a dependency may be away for long
	}
}

// ensureConsumer creates a durable consumer if it does not exist, so that an
// interest stream keeps what is published before its service first attaches.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, stream, name string) error {
	if _, err := js.Consumer(ctx, stream, name); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return err
	}
	_, err := js.CreateConsumer(ctx, stream, BaseConsumerConfig(name))
	if errors.Is(err, jetstream.ErrConsumerExists) {
		return nil // another process made it meanwhile
	}
	return err
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	var err error
	for range 3 {
		// CreateOrUpdateStream updates, and creates on "not found"; two
		// processes can both see "not found", and if their configurations
		// differ the second create fails with "name in use": update then.
		_, err = js.CreateOrUpdateStream(ctx, cfg)
		if err != nil && strings.Contains(err.Error(), "retention") {
			return fmt.Errorf("%w: the stream was made by an older flagstream with limits retention, which can delete events no consumer has taken; "+
				"let ingest and aggregate drain it (consumer pending 0), delete it (nats stream rm %s), and start the services again", err, cfg.Name)
		}
		if !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
	}
	return err
}

// WatchConsumer calls fn with the consumer's info and its stream's first
// sequence every interval until ctx ends (for lag and loss metrics). Keep
// the interval long: on nats-server 2.9 consumer info is not free for the
// server.
func WatchConsumer(ctx context.Context, js jetstream.JetStream, stream string, cons jetstream.Consumer, every time.Duration, fn func(info *jetstream.ConsumerInfo, firstSeq uint64)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		// The stream first, then the consumer: the ack floor only grows, so
		// a first sequence past the later floor is a real gap, never a race.
		ictx, cancel := context.WithTimeout(ctx, time.Second)
		s, err := js.Stream(ictx, stream) // fetches the stream's info
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = cons.Info(ictx)
		}
		cancel()
		if err == nil {
			fn(info, s.CachedInfo().State.FirstSeq)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// GapCounter counts events a stream removed before a consumer acknowledged
// them: the stream's first sequence past the consumer's ack floor + 1. With
// interest retention and no age limit that happens only when someone purges
// the stream or deletes the consumer, so any count is a loss to look into.
// Observe returns the events newly found missing since the last call.
type GapCounter struct{ through uint64 }

// Observe compares a consumer's ack floor with its stream's first sequence.
func (g *GapCounter) Observe(info *jetstream.ConsumerInfo, firstSeq uint64) uint64 {
	floor := max(info.AckFloor.Stream, g.through)
	if firstSeq <= floor+1 {
		return 0
	}
	g.through = firstSeq - 1
	return firstSeq - 1 - floor
}
