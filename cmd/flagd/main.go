// Command flagd serves flag evaluations (OFREP and native), the admin API and
// rollouts, and publishes an exposure event for every evaluation that puts a
// user into a variant.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/service"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

func main() { service.Main("flagd", run) }

// options are flagd's own settings beside the shared ones.
type options struct {
	exposureBuffer int
	exposures      bool
	bulkExposures  bool
	corsOrigins    string
	window         events.Window
	resync         time.Duration
	pprofAddr      string
	streams        streamOptions
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var o options
	cfg, err := config.Parse("flagd", args, getenv, func(fs *flag.FlagSet) {
		fs.IntVar(&o.exposureBuffer, "exposure-buffer", 100_000, "exposure events held in memory while NATS is slow or away; more are dropped and counted")
		fs.DurationVar(&o.window.MaxPast, "max-event-age", 7*24*time.Hour, "oldest time an app may give an exposure it reports (POST /v1/exposures)")
		fs.DurationVar(&o.window.MaxFuture, "max-event-future", 10*time.Minute, "newest time an app may give an exposure it reports (clock skew)")
		fs.StringVar(&o.corsOrigins, "cors-origins", "", "comma-separated page origins (https://shop.example.com) allowed to call the evaluation, exposure, tracking and event-stream routes from a browser; * for any; none: same origin only")
		fs.BoolVar(&o.bulkExposures, "bulk-exposures", false, "bulk evaluation (OFREP bulk, /v1/evaluate/all) publishes exposures too, for every variant flag in the answer; off by default, since apps show only some of them and report those through POST /v1/exposures")
		fs.BoolVar(&o.exposures, "exposures", true, "publish an exposure event for every evaluation that puts a user into a variant; false when the apps report exposures themselves (on use, or backdated as the demo's simulator does)")
		fs.DurationVar(&o.resync, "resync-interval", 30*time.Second, "full reload of every flag from Redis, healing missed change notices")
		fs.StringVar(&o.pprofAddr, "pprof-addr", "", "loopback address for Go's /debug/pprof (off when empty)")
		fs.IntVar(&o.streams.max, "event-streams-max", 20_000, "OFREP event streams (SSE, named in the bulk answer's eventStreams) open at once; more are refused with 503; 0 turns event streams off")
		fs.DurationVar(&o.streams.heartbeat, "event-stream-heartbeat", 20*time.Second, "interval of the comment line every event stream gets, so proxies keep idle streams open")
		fs.StringVar(&o.streams.urlBase, "event-stream-url", "", "absolute base URL (e.g. https://flags.example.com) for the event stream URL in bulk answers; empty: a relative endpoint.requestUri, which providers resolve against their OFREP base URL")
	})
	if err != nil {
		return err
	}
	if o.streams.urlBase, err = checkStreamBase(o.streams.urlBase); err != nil {
		return err
	}
	if o.streams.max < 0 || o.streams.heartbeat <= 0 {
		return fmt.Errorf("event-streams-max must be 0 or more and event-stream-heartbeat positive (got %d, %s)", o.streams.max, o.streams.heartbeat)
	}
	cors, err := parseCORSOrigins(o.corsOrigins)
	if err != nil {
		return err
	}
	base, rdb, err := service.SetupRedis("flagd", cfg, out)
	if err != nil {
		return err
	}
	defer base.Close()
	log, tokens, js, names := base.Log, base.Tokens, base.JS, base.Names
	m := newMetrics()
	pub := events.NewPublisher(js, names, events.PublisherOptions{
		Buffer: o.exposureBuffer,
		Window: o.window,
		OnDrop: m.dropped(log),
		Log:    log,
	})
	m.watchPublisher(pub)
	store := flags.NewStore(rdb, flags.WithKeyPrefix(cfg.RedisPrefix))
	a := &api{store: store, tokens: tokens, metrics: m, log: log, bulkExposures: o.bulkExposures,
		publish: pub.Enqueue, window: o.window,
		storeRaw: func(ctx context.Context, evs []events.Event) error {
			return events.StoreRaw(ctx, js, names, events.MessageLimits{}, evs)
		}}
	o.streams.tokens = tokens.Enabled()
	o.streams.keys = tokens.MACKeys(httpapi.ScopeEvaluate)
	a.streams = newStreamHub(o.streams, log, m.registry, a.client.Load)

	g, ctx := errgroup.WithContext(ctx)
	// The publisher outlives the HTTP server: it flushes what evaluations
	// enqueued until the very last request.
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	defer stopPub()
	pubDone := make(chan error, 1)
	go func() { pubDone <- pub.Run(pubCtx) }()

	// flagd publishes without waiting: its publisher buffers until the
	// streams exist.
	base.EnsureStreams(ctx, g)
	g.Go(func() error {
		var c *flags.Client
		err := connect.Retry(ctx, log, "redis", config.Redact(cfg.RedisURL), func(ctx context.Context) error {
			var err error
			var onExposure func(flags.Exposure)
			if o.exposures {
				onExposure = func(e flags.Exposure) { pub.Enqueue(exposureEvent(e, time.Now())) }
			}
			c, err = flags.NewClient(ctx, store, flags.ClientOptions{
				ResyncInterval: o.resync,
				OnExposure:     onExposure,
				OnProblem:      m.problem(log),
				OnChange:       a.streams.changed, // a poke only: the hub does the work on its own goroutine
				OnError: func(err error) {
					log.Warn().Err(err).Str("dependency", "redis").Msg("flag refresh failed; serving the last snapshot")
				},
			})
			return err
		})
		if err != nil {
			return err
		}
		a.client.Store(c)
		m.watchClient(c)
		log.Info().Int("flags", len(c.Keys())).Msg("flags loaded")
		<-ctx.Done()
		return c.Close()
	})
	health := base.Health(ctx,
		httpapi.Check{Name: "redis", Fn: func(ctx context.Context) error { return rdb.Ping(ctx).Err() }},
		base.NATSCheck(),
		httpapi.Check{Name: "flags", Fn: func(context.Context) error { return a.loaded() }},
		m.lost.Check(),
	)
	g.Go(func() error { return httpapi.ServeDebug(ctx, o.pprofAddr, log) })
	// Ends every event stream when ctx ends, so the server's shutdown drains.
	g.Go(func() error { a.streams.run(ctx.Done()); return nil })
	g.Go(func() error { return base.Serve(ctx, cfg.HTTPAddr, cors.wrap(a.handler(health, m.registry))) })
	err = g.Wait()
	stopPub() // the HTTP server has drained: flush what is buffered, then stop
	if perr := <-pubDone; perr != nil && err == nil {
		err = perr
	}
	if ctx.Err() != nil {
		err = service.IgnoreCanceled(err) // a signal, not a failure
	}
	log.Info().Msg("stopped")
	return err
}
