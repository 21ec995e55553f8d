package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// StreamLimits bound what a stream keeps. Both streams get the same limits:
// the analytics stream carries the same events as the raw one, once each.
type StreamLimits struct {
	MaxAge     time.Duration // events older than this are removed
	MaxBytes   int64         // past this the oldest events are removed; reserved against the server's max_file_store at creation
	MaxMsgSize int32         // bigger messages are refused
	Duplicates time.Duration // the Nats-Msg-Id dedup window
	Replicas   int
	Storage    jetstream.StorageType
}

// DefaultStreamLimits are the production limits.
//
//   - MaxAge 7 days: the same as the largest ts [Event.Validate] accepts by
//     default, and long enough to replay a week into a rebuilt Redis or
//     ClickHouse after an incident.
//   - MaxBytes 1 GiB per stream: about 3.5 million events (an event is about
//     300 bytes stored, headers included), which at 1,000 events/s is an hour
//     of backlog while ingest or the aggregator is down. JetStream reserves
//     MaxBytes against the server's max_file_store when a stream is created
//     (the local server has 10 GB, shared with every test namespace), so the
//     default stays modest: raise it to rate × 300 B × the outage to ride out.
//   - Discard old (not new) under Limits retention: a stream that refused new
//     events when full would, with Limits retention, stop the pipeline at
//     steady state once MaxBytes of consumed events had piled up; losing the
//     oldest unconsumed events instead shows as consumer lag, which ingest and
//     aggregate export as metrics.
//   - MaxMsgSize 64 KiB: a valid event is under 2 KiB; this stops junk
//     without cramping fields added later.
//   - Duplicates 2 minutes: the window only has to cover a publisher's retry
//     of the same id after a lost ack or a reconnect (seconds); the server
//     keeps every id of the window in memory (≈100 bytes each, so rate ×
//     window: 2 minutes at 10,000 events/s is about 120 MB), and exactness
//     does not rest on it: ingest and the aggregator dedup by event id in
//     Redis and ClickHouse.
//   - File storage, 1 replica: events must survive a server restart; one
//     replica because the local and test servers are single nodes. Use 3 on
//     a cluster.
func DefaultStreamLimits() StreamLimits {
	return StreamLimits{
		MaxAge:     7 * 24 * time.Hour,
		MaxBytes:   1 << 30,
		MaxMsgSize: 64 << 10,
		Duplicates: 2 * time.Minute,
		Replicas:   1,
		Storage:    jetstream.FileStorage,
	}
}

// TestStreamLimits are [DefaultStreamLimits] with MaxBytes of 64 MiB, for
// tests on a shared server: JetStream reserves MaxBytes up front, so many
// test namespaces fit into its max_file_store at once.
func TestStreamLimits() StreamLimits {
	l := DefaultStreamLimits()
	l.MaxBytes = 64 << 20
	return l
}

// StreamConfigs are the configurations [EnsureStreams] applies: raw first,
// then analytics.
func StreamConfigs(n Names, l StreamLimits) []jetstream.StreamConfig {
	base := jetstream.StreamConfig{
		Retention:         jetstream.LimitsPolicy,
		Discard:           jetstream.DiscardOld,
		MaxConsumers:      -1,
		MaxMsgs:           -1,
		MaxBytes:          l.MaxBytes,
		MaxAge:            l.MaxAge,
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
// these limits. It is idempotent and safe to run from many processes at once:
// a create that loses a race is retried as an update.
func EnsureStreams(ctx context.Context, js jetstream.JetStream, n Names, l StreamLimits) error {
	if l.Duplicates > l.MaxAge && l.MaxAge > 0 {
		return fmt.Errorf("ensure streams: duplicate window %s is longer than max age %s", l.Duplicates, l.MaxAge)
	}
	for _, cfg := range StreamConfigs(n, l) {
		if err := ensureStream(ctx, js, cfg); err != nil {
			return fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
		}
	}
	return nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) error {
	var err error
	for range 3 {
		// CreateOrUpdateStream updates, and creates on "not found"; two
		// processes can both see "not found", and if their configurations
		// differ the second create fails with "name in use": update then.
		if _, err = js.CreateOrUpdateStream(ctx, cfg); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return err
		}
	}
	return err
}

// WatchConsumer calls fn with the consumer's info every interval until ctx
// ends (for lag metrics). Keep the interval long: on nats-server 2.9 consumer
// info is not free for the server.
func WatchConsumer(ctx context.Context, cons jetstream.Consumer, every time.Duration, fn func(*jetstream.ConsumerInfo)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			info, err := cons.Info(ictx)
			cancel()
			if err == nil {
				fn(info)
			}
		}
	}
}
