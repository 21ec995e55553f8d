// Command ingest takes exposure and conversion events (over HTTP, or as
// flagd and apps publish them to the raw stream), counts them in Redis in the
// seed's layout, and forwards them to the analytics stream for the aggregator,
// each exactly once in effect.
package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/service"
	"github.com/flagstream/flagstream/pkg/events"
)

func main() { service.Main("ingest", run) }

// liveFlags registers the lifetimes of the live counters' keys.
func liveFlags(fs *flag.FlagSet, o *live.Options) {
	fs.DurationVar(&o.Window, "dedup-window", live.DefaultWindow, "the live counters take events whose ts is at most this old (older ones go to the report only, counted in flagstream_ingest_events_report_only_total); each event's dedup marker outlives it, so no resend counts twice")
	fs.DurationVar(&o.Retention, "live-retention", live.DefaultRetention, "per-day live counters expire this long after their day")
	fs.DurationVar(&o.UserTTL, "user-ttl", live.DefaultUserTTL, "per-user live state (a user's experiments, an experiment's assignments) expires this long after its last write")
}

type options struct {
	fetch     int
	workers   int
	live      live.Options
	maxPast   time.Duration
	maxFuture time.Duration
	ackWait   time.Duration
	pprofAddr string
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "archive", "rebuild-live":
			return runTool(ctx, args[0], args[1:], getenv, out)
		}
	}
	var o options
	cfg, err := config.Parse("ingest", args, getenv, func(fs *flag.FlagSet) {
		fs.IntVar(&o.fetch, "fetch-bytes", 1<<20, "bytes of raw messages a worker fetches and counts at once (about 3,500 events of 300 bytes; never less than the server's max_payload plus 64 KiB)")
		fs.IntVar(&o.workers, "workers", 4, "fetches in flight at once (overlapping Redis and NATS round trips; each holds up to --fetch-bytes)")
		liveFlags(fs, &o.live)
		fs.DurationVar(&o.maxPast, "max-event-age", 7*24*time.Hour, "oldest ts accepted over HTTP")
		fs.DurationVar(&o.maxFuture, "max-event-future", 10*time.Minute, "newest ts accepted over HTTP (clock skew)")
		fs.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "time a fetched raw event may stay unacknowledged before JetStream redelivers it")
		fs.StringVar(&o.pprofAddr, "pprof-addr", "", "loopback address for Go's /debug/pprof (off when empty)")
	})
	if err != nil {
		return err
	}
	if o.fetch < 1 || o.workers < 1 {
		return errors.New("fetch-bytes and workers must be at least 1")
	}
	if err := o.live.Validate(); err != nil {
		return err
	}
	base, rdb, err := service.SetupRedis("ingest", cfg, out, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	defer base.Close()
	log, tokens, js, names := base.Log, base.Tokens, base.JS, base.Names
	m := newMetrics()
	counters := live.New(rdb, cfg.RedisPrefix, o.live)
	window := events.Window{MaxPast: o.maxPast, MaxFuture: o.maxFuture}
	// Forwards publish through a JetStream context of their own: HTTP
	// intake and forwards each have their own cap on pending acks, so a busy
	// consumer never makes a large POST fail for lack of room.
	forwardJS, err := jetstream.New(base.NC, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		return err
	}
	c := &consumer{js: forwardJS, names: names, counters: counters, metrics: m, log: log,
		fetch: o.fetch, workers: o.workers, ackWait: o.ackWait}
	a := &api{raw: jetStreamRaw{js: js, names: names}, counters: counters, tokens: tokens, metrics: m, window: window}

	g, ctx := errgroup.WithContext(ctx)
	streams := base.EnsureStreams(ctx, g)
	g.Go(func() error {
		if !service.Ready(ctx, streams) {
			return nil
		}
		return c.run(ctx)
	})
	health := base.Health(ctx,
		httpapi.Check{Name: "redis", Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		base.NATSCheck(),
		m.Check("consumer"),
		m.lost.Check(),
	)
	g.Go(func() error { return httpapi.ServeDebug(ctx, o.pprofAddr, log) })
	g.Go(func() error { return base.Serve(ctx, cfg.HTTPAddr, a.handler(health, m.registry)) })
	err = g.Wait()
	log.Info().Msg("stopped")
	return service.IgnoreCanceled(err)
}
