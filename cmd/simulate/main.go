// Command simulate runs a simulated product through a running flagstream:
// it creates a boolean flag, a staged rollout and a three-variant experiment
// with a planted effect in flagd, evaluates them over OFREP for simulated
// users day by day, reports their exposures on use to flagd and their purchases to ingest, waits
// until aggregate reports exactly what was sent, and prints the report, what
// it found against the truth, and the dashboard address. `make demo` runs it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/flagstream/flagstream/internal/config"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/simulate"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "simulate:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, out io.Writer) error {
	cfg := simulate.Config{Progress: out}
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&cfg.FlagdURL, "flagd-url", "http://127.0.0.1:8080", "flagd's base URL")
	fs.StringVar(&cfg.IngestURL, "ingest-url", "http://127.0.0.1:8081", "ingest's base URL")
	fs.StringVar(&cfg.AggregateURL, "aggregate-url", "http://127.0.0.1:8082", "aggregate's base URL")
	fs.StringVar(&cfg.Token, "token", "", "bearer token with the admin scope (services started with a tokens file)")
	fs.StringVar(&cfg.Experiment, "experiment", "checkout_redesign", "the experiment flag's key")
	fs.IntVar(&cfg.Users, "users", 100_000, "simulated users who see the experiment, arriving evenly over the days")
	fs.Float64Var(&cfg.Bystanders, "bystanders", 0.4, "users who fetch the flags but never see the experiment's page, as a share of --users")
	fs.IntVar(&cfg.Days, "days", 6, "simulated days, ending yesterday (ingest takes events up to --max-event-age old, 7 days by default)")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of the users' behaviour (the same seed gives the same events)")
	fs.StringVar(&cfg.RunTag, "run-tag", "", "names the simulated users and events (default: from the start time, so each run adds users of its own; a fixed tag on fresh data gives the same outcome every time)")
	fs.IntVar(&cfg.Workers, "workers", 16, "concurrent simulated clients")
	fs.DurationVar(&cfg.Wait, "wait", 2*time.Minute, "how long to wait for aggregate to report every event")
	fs.Usage = func() {
		fmt.Fprintln(out, "usage: simulate [flags]   (each flag also reads FLAGSTREAM_SIMULATE_<NAME>, e.g. FLAGSTREAM_SIMULATE_TOKEN)")
		fs.PrintDefaults()
	}
	if err := config.SetFromEnv(fs, getenv, func(name string) string {
		return "FLAGSTREAM_SIMULATE_" + strings.TrimPrefix(config.EnvName(name), "FLAGSTREAM_")
	}); err != nil {
		return err
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}

	res, err := simulate.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "\n%d events sent; aggregate's report holds exactly what was sent (whole run %s)\n\n", res.Events, res.Elapsed.Round(100*time.Millisecond))
	if err := report.WriteTable(out, res.Report); err != nil {
		return err
	}
	fmt.Fprintln(out, "\nlive counters in Redis (ingest's /live), summed over the days; unique users are HyperLogLog estimates:")
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "variant\texposures\tunique users\tpurchases\tvalue\t")
	for _, a := range res.Arms {
		l := res.Live[a.Name]
		fmt.Fprintf(tw, "%s\t%d\t~%d\t%d\t%.2f\t\n", a.Name, l.Exposures, l.UniqueUsers, l.Conversions, float64(l.ValueCents)/100)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	findings, err := res.Findings()
	if err != nil {
		return err
	}
	fmt.Fprintln(out, "\nplanted effect vs the report (conversion rate, relative to control):")
	for _, f := range findings {
		fmt.Fprintln(out, "  "+f.String())
	}
	dilutions, err := res.Dilutions()
	if err != nil {
		return err
	}
	var bystanders int64
	for _, a := range res.Arms {
		bystanders += res.Diluted[a.Name].Users - res.Sent[a.Name].Users
	}
	fmt.Fprintf(out, "\nexposure on use vs bulk exposure (%d more users fetched the flags but never saw the page):\n", bystanders)
	for _, d := range dilutions {
		fmt.Fprintln(out, "  "+d.String())
	}
	fmt.Fprintf(out, "\ndashboard: %s/#/experiments/%s?%s\n", cfg.AggregateURL, cfg.Experiment, res.ReportQuery().Encode())
	return nil
}
