package events

import (
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// Consumed is what [ReadConsumed] found in a fetched message.
type Consumed struct {
	Events      []Event
	Lines       [][]byte // see DecodeMessage
	Redelivered bool     // JetStream delivered it before
}

// ReadConsumed reads a message a consumer fetched, and settles it when no
// reader could ever take it: a message in a newer format than this build's
// is handed back a minute later for a newer instance, never dropped; one
// that does not read as events, or holds no valid event, is terminated.
// Each unreadable message or item is logged and counted through invalid.
// ok is false when the message was settled here.
func ReadConsumed(m jetstream.Msg, log zerolog.Logger, invalid func()) (c Consumed, ok bool) {
	if md, err := m.Metadata(); err == nil && md.NumDelivered > 1 {
		c.Redelivered = true
	}
	evs, lines, bad, err := DecodeMessage(m.Headers(), m.Data())
	if errors.Is(err, ErrFormatVersion) {
		log.Error().Err(err).Str("subject", m.Subject()).Msg("message in a newer format handed back: upgrade this service")
		_ = m.NakWithDelay(time.Minute)
		return c, false
	}
	if err != nil {
		invalid()
		log.Error().Err(err).Str("subject", m.Subject()).Msg("unreadable message dropped")
		_ = m.Term()
		return c, false
	}
	for _, fe := range bad {
		invalid()
		log.Error().Err(fe).Str("subject", m.Subject()).Msg("unreadable event dropped")
	}
	if len(evs) == 0 {
		_ = m.Term()
		return c, false
	}
	c.Events, c.Lines = evs, lines
	return c, true
}
