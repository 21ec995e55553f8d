package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/migrations"
	"github.com/flagstream/flagstream/pkg/flags"
	"github.com/flagstream/flagstream/pkg/stats"
)

// runReport prints a report read from ClickHouse directly, through the same
// code as GET /v1/experiments/{key}/report: no running aggregate needed.
func runReport(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	// The experiment may come first (aggregate report exp --metric m) or
	// after the flags.
	var experiment string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		experiment, args = args[0], args[1:]
	}
	q := url.Values{}
	var format string
	cfg, rest, err := config.ParseArgs("aggregate report", args, getenv, func(f *flag.FlagSet) {
		for _, name := range report.Known {
			f.Func(strings.ReplaceAll(name, "_", "-"), "as the report's "+name+" parameter", func(s string) error {
				q.Set(name, s)
				return nil
			})
		}
		f.StringVar(&format, "format", "table", "table, json or csv")
	})
	if err != nil {
		return err
	}
	if experiment == "" && len(rest) > 0 {
		experiment, rest = rest[0], rest[1:]
	}
	if experiment == "" || len(rest) > 0 {
		return errors.New("usage: aggregate report <experiment> [--metric m] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--confidence 0.95] [--power 0.8] [--control v] [--weights 50,50] [--format table|json|csv]")
	}
	if format != "table" && format != "json" && format != "csv" {
		return fmt.Errorf("--format %q: table, json or csv", format)
	}
	p, err := report.ParseQuery(experiment, q)
	if err != nil {
		return err
	}
	var rep report.Report
	err = onClickHouse(ctx, cfg.ClickHouseDSN, func(ctx context.Context, conn driver.Conn) (err error) {
		rep, err = report.Build(ctx, chstore.New(conn), p, time.Now())
		return err
	})
	if err != nil {
		return err
	}
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	case "csv":
		return report.WriteCSV(out, rep)
	}
	return report.WriteTable(out, rep)
}

// runStats reads the body of POST /v1/stats and prints what it answers.
// --power, when given, stands for the body's power.
func runStats(args []string, in io.Reader, out io.Writer) error {
	const usage = "usage: aggregate stats [--power 0.8] [--format table|json] < counts.json"
	fs := flag.NewFlagSet("aggregate stats", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	format := fs.String("format", "table", "table or json")
	var power float64
	var powerSet bool
	fs.Func("power", "the power of the MDE figures (default 0.8), instead of the body's", func(s string) error {
		p, err := strconv.ParseFloat(s, 64)
		if err != nil || !(p > 0 && p < 1) {
			return fmt.Errorf("%q is not a number strictly between 0 and 1 (e.g. 0.8 or 0.9)", s)
		}
		power, powerSet = p, true
		return nil
	})
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return &config.HelpError{Usage: usage + "\n"}
	} else if err != nil {
		return fmt.Errorf("aggregate stats: %w", err)
	}
	if fs.NArg() > 0 || (*format != "table" && *format != "json") {
		return errors.New(usage)
	}
	dec := json.NewDecoder(io.LimitReader(in, statsBodyLimit))
	var input stats.Input
	if err := dec.Decode(&input); err != nil {
		return fmt.Errorf("read counts from stdin: %w", err)
	}
	if powerSet {
		input.Power = power
	}
	if err := checkStatsInput(input); err != nil {
		return err
	}
	res := stats.Compare(input)
	if *format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	return report.WriteResultTable(out, res)
}

// runMigrate applies the migrations and exits.
func runMigrate(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	cfg, err := config.Parse("aggregate migrate", args, getenv, nil)
	if err != nil {
		return err
	}
	var applied []uint32
	err = onClickHouse(ctx, cfg.ClickHouseDSN, func(ctx context.Context, conn driver.Conn) (err error) {
		applied, err = migrations.Apply(ctx, conn)
		return err
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "migrations applied: %v\n", applied)
	return err
}

const rebuildUsage = "usage: aggregate rebuild --experiment <experiment> [--chunk 10000]"

// runRebuild recomputes an experiment's per-user state from the raw events
// (chstore.Store.Rebuild): for a changed definition of the state, or after
// an incident that lost refreshes. It may run while the aggregator consumes,
// and again.
func runRebuild(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	var experiment string
	var chunk int
	cfg, rest, err := config.ParseArgs("aggregate rebuild", args, getenv, func(f *flag.FlagSet) {
		f.StringVar(&experiment, "experiment", "", "the experiment whose state to recompute")
		f.IntVar(&chunk, "chunk", chstore.DefaultRebuildChunk, "users refreshed per ClickHouse statement")
	})
	if err != nil {
		return err
	}
	if experiment == "" || len(rest) > 0 {
		return errors.New(rebuildUsage)
	}
	if err := flags.CheckKey(experiment); err != nil {
		return fmt.Errorf("aggregate rebuild: experiment %w", err)
	}
	if chunk < 1 {
		return fmt.Errorf("aggregate rebuild: --chunk %d: at least 1", chunk)
	}
	start := time.Now()
	var n int
	// No overall deadline: a large experiment may take longer than the
	// minute the other commands get. Each statement is still bounded (the
	// driver's read timeout, 5 minutes by default), and an interrupt
	// cancels it; the chunks done by then stay done.
	err = onClickHouseWithin(ctx, cfg.ClickHouseDSN, 0, func(ctx context.Context, conn driver.Conn) (err error) {
		n, err = chstore.New(conn).Rebuild(ctx, experiment, chunk, func(done, total int) {
			fmt.Fprintf(out, "%s: %d of %d users\n", experiment, done, total)
		})
		return err
	})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "rebuilt %d users of %s in %.1fs\n", n, experiment, time.Since(start).Seconds())
	return err
}

// onClickHouse runs fn on a connection to the ClickHouse at dsn, giving it a
// minute: what the commands run once against ClickHouse share. An error
// fn's request causes (report.ErrInvalid, chstore.ErrNotFound) comes back as
// is; any other names the server, its secrets redacted.
func onClickHouse(ctx context.Context, dsn string, fn func(context.Context, driver.Conn) error) error {
	return onClickHouseWithin(ctx, dsn, time.Minute, fn)
}

// onClickHouseWithin is onClickHouse giving fn limit (0: no limit of its own).
func onClickHouseWithin(ctx context.Context, dsn string, limit time.Duration, fn func(context.Context, driver.Conn) error) error {
	conn, err := chconn.Open(dsn)
	if err != nil {
		return err
	}
	defer conn.Close()
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, limit)
		defer cancel()
	}
	err = fn(ctx, conn)
	if err == nil || errors.Is(err, report.ErrInvalid) || errors.Is(err, chstore.ErrNotFound) {
		return err
	}
	return fmt.Errorf("clickhouse at %s: %w", config.Redact(dsn), err)
}
