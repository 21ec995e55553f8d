// Package service sets up what flagd, ingest and aggregate share once their
// flags are parsed: the NATS namespace checked, the logger, the tokens
// (refusing an address beyond loopback without them, or with the committed
// example tokens or demo passwords), and NATS with JetStream (and Redis: SetupRedis). Each command then adds its own store and routes.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

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
	cfg    config.Config
	rdb    redis.UniversalClient // SetupRedis's, closed by Close
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
	// A service the network can reach must not trust the demo passwords of
	// docker-compose.yml: anyone can read them.
	if err := cfg.CheckExampleCredentials(); err != nil {
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
		Names: events.NewNames(cfg.NATSNamespace), cfg: cfg}, nil
}

// SetupRedis is Setup for a service that keeps state in Redis too (flagd,
// ingest), with the client for cfg's Redis URL. The client connects lazily
// (connect.Redis), so Redis being away fails nothing here either. Close
// closes it.
func SetupRedis(name string, cfg config.Config, out io.Writer, jsOpts ...jetstream.JetStreamOpt) (*Base, redis.UniversalClient, error) {
	b, err := Setup(name, cfg, out, jsOpts...)
	if err != nil {
		return nil, nil, err
	}
	rdb, err := connect.Redis(cfg.RedisURL)
	if err != nil {
		b.Close()
		return nil, nil, err
	}
	b.rdb = rdb
	return b, rdb, nil
}

// Close closes the Redis client of SetupRedis, then the NATS connection.
func (b *Base) Close() {
	if b.rdb != nil {
		_ = b.rdb.Close()
	}
	b.NC.Close()
}

// RunFunc is a command's run function (flags in args, FLAGSTREAM_* through
// getenv, logs to out).
type RunFunc func(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error

// Main runs a service command until SIGINT or SIGTERM. `<name> healthcheck`
// probes the running service's /readyz instead (for container healthchecks:
// the runtime image has no curl). -h prints the flags and exits 0; an error
// exits 1 with its message.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	var err error
	if len(os.Args) > 1 && os.Args[1] == "healthcheck" {
		err = httpapi.Healthcheck(ctx, name, os.Args[2:], os.Getenv)
	} else {
		err = run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	}
	stop()
	if config.PrintHelp(os.Stdout, err) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// Health returns the service's /healthz and /readyz with the given checks
// (see httpapi.NewHealth), showing the checks' messages to those the
// service's tokens allow (httpapi.Health).
func (b *Base) Health(ctx context.Context, checks ...httpapi.Check) *httpapi.Health {
	h := httpapi.NewHealth(ctx, checks...)
	tokens := b.Tokens
	h.Tokens = &tokens
	return h
}

// NATSCheck is the readiness check on the NATS connection.
func (b *Base) NATSCheck() httpapi.Check {
	return httpapi.Check{Name: "nats", Fn: func(context.Context) error {
		if !b.NC.IsConnected() {
			return fmt.Errorf("not connected (%s)", b.NC.Status())
		}
		return nil
	}}
}

// Serve serves h on addr with httpapi's limits until ctx ends, logging the
// address it listens on (tests and scripts wait for that line).
func (b *Base) Serve(ctx context.Context, addr string, h http.Handler) error {
	srv := httpapi.NewServer(addr, h, b.Log)
	return httpapi.Serve(ctx, srv, func(a net.Addr) {
		b.Log.Info().Str("addr", a.String()).Bool("auth", b.Tokens.Enabled()).Msg("listening")
	})
}

// IgnoreCanceled turns the cancellation a stop signal causes into a clean
// exit.
func IgnoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

// AttachConsumer creates or updates the service's durable consumer on
// stream, retrying (connect.Retry) until NATS answers or ctx ends: how
// ingest and the aggregator attach to their streams.
func AttachConsumer(ctx context.Context, log zerolog.Logger, js jetstream.JetStream, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	var cons jetstream.Consumer
	err := connect.Retry(ctx, log, "nats", "consumer "+cfg.Durable+" on "+stream, func(ctx context.Context) error {
		var err error
		cons, err = js.CreateOrUpdateConsumer(ctx, stream, cfg)
		return err
	})
	return cons, err
}

// InBackground runs fn in g, retrying (connect.Retry) while dependency at
// addr is away, and returns a channel closed once fn has succeeded: the
// steps a service waits for (Ready) before it starts consuming. A stop
// signal ends the retries without an error.
func InBackground(ctx context.Context, g *errgroup.Group, log zerolog.Logger, dependency, addr string, fn func(context.Context) error) <-chan struct{} {
	done := make(chan struct{})
	g.Go(func() error {
		err := connect.Retry(ctx, log, dependency, addr, fn)
		if err == nil {
			close(done)
		}
		return IgnoreCanceled(err)
	})
	return done
}

// EnsureStreams creates or checks the namespace's streams and their durable
// consumers in the background (events.EnsureStreams with the configured
// limits); the channel closes once they exist. Every service calls it, so
// whichever starts first makes the streams, consumers before subjects.
func (b *Base) EnsureStreams(ctx context.Context, g *errgroup.Group) <-chan struct{} {
	return InBackground(ctx, g, b.Log, "nats", b.cfg.NATSURL, func(ctx context.Context) error {
		return events.EnsureStreams(ctx, b.JS, b.Names, b.cfg.StreamLimits())
	})
}

// Ready waits until every step has closed its channel; false when ctx ends
// first (the service is stopping).
func Ready(ctx context.Context, steps ...<-chan struct{}) bool {
	for _, ch := range steps {
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
	return true
}
