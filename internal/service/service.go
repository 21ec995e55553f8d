// Package service sets up what flagd, ingest and aggregate share once their
// flags are parsed: the NATS namespace checked, the logger, the tokens
// (refusing an address beyond loopback without them), and NATS with
// JetStream. Each command then adds its own store and routes.
package service

import (
	"fmt"
	"io"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/pkg/events"
)

// Base is a service's shared setup; Close releases it.
type Base struct {
	Log    zerolog.Logger
	Tokens httpapi.Tokens
	NC     *nats.Conn
	JS     jetstream.JetStream
	Names  events.Names // the streams and subjects of cfg's namespace
}

// Setup checks cfg's namespace, makes the logger (writing to out, naming the
// service), loads the tokens and connects to NATS as name. The connection is
// made in the background (connect.NATS retries): Setup fails only on
// settings, never because NATS is away.
func Setup(name string, cfg config.Config, out io.Writer, jsOpts ...jetstream.JetStreamOpt) (*Base, error) {
	if err := events.CheckNamespace(cfg.NATSNamespace); err != nil {
		return nil, fmt.Errorf("nats-namespace: %w", err)
	}
	tokens, err := httpapi.LoadAndCheck(cfg.TokensFile, cfg.HTTPAddr)
	if err != nil {
		return nil, err
	}
	nc, err := connect.NATS(cfg.NATSURL, name)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc, jsOpts...)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	return &Base{Log: config.NewLogger(out, name, cfg.LogLevel), Tokens: tokens, NC: nc, JS: js,
		Names: events.NewNames(cfg.NATSNamespace)}, nil
}

// Close closes the NATS connection.
func (b *Base) Close() { b.NC.Close() }
