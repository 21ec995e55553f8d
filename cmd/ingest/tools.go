package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/connect"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/pkg/events"
	"github.com/flagstream/flagstream/pkg/flags"
)

// runTool runs one of ingest's maintenance commands on an experiment's live
// counters:
//
//	ingest archive <experiment>       remove its live keys; the live counters stop taking its events
//	ingest rebuild-live <experiment>  recount its live counters from ClickHouse's raw events
//
// A rebuild is how the live counters are replayed after an incident: the
// streams keep only what a consumer has yet to acknowledge, ClickHouse keeps
// every event. Run it once the aggregator has caught up (its
// flagstream_aggregate_consumer_pending at 0): events still on their way to
// ClickHouse are not in the rebuild, and events ingest counts meanwhile are
// counted once (the rebuild sets their markers too).
func runTool(ctx context.Context, name string, args []string, getenv func(string) string, out io.Writer) error {
	var o live.Options
	cfg, operands, err := config.ParseArgs("ingest "+name, args, getenv, func(fs *flag.FlagSet) { liveFlags(fs, &o) })
	if err != nil {
		return err
	}
	if len(operands) != 1 {
		return fmt.Errorf("ingest %s: want one experiment, got %d arguments", name, len(operands))
	}
	experiment := operands[0]
	if err := flags.CheckKey(experiment); err != nil {
		return fmt.Errorf("ingest %s: experiment %w", name, err)
	}
	if err := o.Validate(); err != nil {
		return err
	}
	rdb, err := connect.Redis(cfg.RedisURL)
	if err != nil {
		return err
	}
	defer rdb.Close()
	counters := live.New(rdb, cfg.RedisPrefix, o)
	if name == "archive" {
		n, err := counters.Archive(ctx, experiment)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "archived %s: %d live keys removed; its report data in ClickHouse is kept\n", experiment, n)
		return nil
	}
	conn, err := chconn.Open(cfg.ClickHouseDSN)
	if err != nil {
		return err
	}
	defer conn.Close()
	removed, err := counters.Reset(ctx, experiment)
	if err != nil {
		return err
	}
	var total, counted int
	err = chstore.New(conn).ExperimentEvents(ctx, experiment, 1000, func(evs []events.Event) error {
		st, err := counters.Rebuild(ctx, evs)
		if err != nil {
			return err
		}
		total += len(evs)
		for _, s := range st {
			if s == live.Counted {
				counted++
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("rebuild %s: %w (its live counters are partial: run the rebuild again)", experiment, err)
	}
	fmt.Fprintf(out, "rebuilt %s: %d live keys removed, %d events read from ClickHouse, %d counted\n", experiment, removed, total, counted)
	return nil
}
