// Command aggregate consumes the analytics stream into ClickHouse, keeps the
// per-user state the reports read, and serves the reports: JSON, CSV, a daily
// series, and POST /v1/stats for counts from elsewhere. It is also the CLI
// for the same reports:
//
//	aggregate [serve] [flags]           the service (the default)
//	aggregate report <experiment> ...   a report from ClickHouse, as a table, JSON or CSV
//	aggregate stats [--format f] < in   the statistics of POST /v1/stats for a JSON body
//	aggregate migrate                   apply the ClickHouse migrations and exit
//	aggregate rebuild --experiment K    recompute an experiment's per-user state from the raw events
//	aggregate healthcheck               exit 0 if the service's /readyz answers 200 (for containers)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/httpapi"
	"github.com/flagstream/flagstream/internal/service"
	"github.com/flagstream/flagstream/migrations"
)

// main: `aggregate healthcheck` is service.Main's; the other subcommands are run's.
func main() { service.Main("aggregate", run) }

// stdin is what `aggregate stats` reads (a variable for tests).
var stdin io.Reader = os.Stdin

// run dispatches a subcommand, or runs the service.
func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "serve":
			return serve(ctx, args[1:], getenv, out)
		case "report":
			return runReport(ctx, args[1:], getenv, out)
		case "stats":
			return runStats(args[1:], stdin, out)
		case "migrate":
			return runMigrate(ctx, args[1:], getenv, out)
		case "rebuild":
			return runRebuild(ctx, args[1:], getenv, out)
		case "help", "-h", "--help":
			if _, err := fmt.Fprint(out, usage, "\n"); err != nil {
				return err
			}
			return serve(ctx, []string{"-h"}, getenv, out) // the flags, as a help request
		}
	}
	return serve(ctx, args, getenv, out)
}

const usage = `usage:
  aggregate [serve] [flags]                 consume the analytics stream, serve reports (default :8082)
  aggregate report <experiment> [--metric m] [--from YYYY-MM-DD] [--to YYYY-MM-DD]
                   [--confidence c] [--control v] [--weights 50,50] [--format table|json|csv]
  aggregate stats [--format table|json] < counts.json
  aggregate migrate                         apply the ClickHouse migrations and exit
  aggregate rebuild --experiment K [--chunk 10000]
                                            recompute K's per-user state from the raw events
  aggregate healthcheck                     exit 0 if the service at --http-addr is ready (GET /readyz)
Every command takes --clickhouse-dsn (FLAGSTREAM_CLICKHOUSE_DSN) and the other shared flags.
`

type options struct {
	batch     int
	flush     time.Duration
	queue     int
	ackWait   time.Duration
	opTimeout time.Duration
}

func serve(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var o options
	var fs *flag.FlagSet
	cfg, _, err := config.ParseArgs("aggregate", args, getenv, func(f *flag.FlagSet) { // its own check below lists the subcommands
		fs = f
		f.IntVar(&o.batch, "batch", 10_000, "events inserted into ClickHouse per batch at most")
		f.DurationVar(&o.flush, "flush-interval", time.Second, "a batch is inserted at the latest this long after its first event arrived")
		f.IntVar(&o.queue, "queue", 4, "inserted batches that may wait for their state refresh (bounds memory with --batch)")
		f.DurationVar(&o.ackWait, "ack-wait", 30*time.Second, "time a fetched event may stay unacknowledged before JetStream redelivers it (kept alive while ClickHouse is retried)")
		f.DurationVar(&o.opTimeout, "clickhouse-timeout", 30*time.Second, "time one ClickHouse insert or refresh may take before it is retried")
	})
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (subcommands: serve, report, stats, migrate, rebuild, healthcheck)", fs.Arg(0))
	}
	if o.batch < 1 || o.queue < 1 || o.flush <= 0 || o.ackWait <= 0 || o.opTimeout <= 0 {
		return errors.New("batch and queue must be at least 1, and durations positive")
	}
	base, err := service.Setup("aggregate", cfg, out)
	if err != nil {
		return err
	}
	defer base.Close()
	log, tokens, js, names := base.Log, base.Tokens, base.JS, base.Names
	conn, err := chconn.Open(cfg.ClickHouseDSN)
	if err != nil {
		return err
	}
	defer conn.Close()
	m := newMetrics()
	store := chstore.New(conn)
	c := &consumer{js: js, names: names, store: store, metrics: m, log: log, batch: o.batch, flush: o.flush,
		queue: o.queue, ackWait: o.ackWait, opTimeout: o.opTimeout}
	a := &api{store: store, tokens: tokens, metrics: m, now: time.Now}

	g, ctx := errgroup.WithContext(ctx)
	schema := service.InBackground(ctx, g, log, "clickhouse", cfg.ClickHouseDSN, func(ctx context.Context) error {
		actx, cancel := context.WithTimeout(ctx, o.opTimeout)
		defer cancel()
		applied, err := migrations.Apply(actx, conn)
		if len(applied) > 0 {
			log.Info().Interface("versions", applied).Msg("migrations applied")
		}
		if err == nil {
			m.Set("migrations", nil)
		}
		return err
	})
	streams := base.EnsureStreams(ctx, g)
	g.Go(func() error {
		if !service.Ready(ctx, schema, streams) {
			return nil
		}
		return c.run(ctx)
	})
	health := base.Health(ctx,
		httpapi.Check{Name: "clickhouse", Fn: store.Ping},
		base.NATSCheck(),
		m.Check("migrations"),
		m.Check("consumer"),
		m.lost.Check(),
	)
	g.Go(func() error { return base.Serve(ctx, cfg.HTTPAddr, a.handler(health, m.registry)) })
	err = g.Wait()
	log.Info().Msg("stopped")
	return service.IgnoreCanceled(err)
}
