// Command rawload publishes a synthetic experiment's events into the raw
// stream of a namespace (as flagd and apps would), for ingest's benchmarks;
// with -delete it removes the namespace's streams instead.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/flagstream/flagstream/pkg/events"
)

func main() {
	natsURL := flag.String("nats-url", "nats://127.0.0.1:14222", "NATS URL")
	ns := flag.String("ns", "BENCH_", "namespace of the streams")
	n := flag.Int("n", 100_000, "events to publish (4 exposures to 1 conversion)")
	batch := flag.Int("batch", events.DefaultMessageEvents, "events per stream message, as flagd packs them (1: one event a message, as a publisher that does not batch)")
	del := flag.Bool("delete", false, "delete the namespace's streams and exit")
	flag.Parse()
	if err := load(*natsURL, *ns, *n, *batch, *del); err != nil {
		fmt.Fprintln(os.Stderr, "rawload:", err)
		os.Exit(1)
	}
}

func load(natsURL, ns string, n, batch int, del bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(2048))
	if err != nil {
		return err
	}
	names := events.NewNames(ns)
	if del {
		for _, s := range []string{names.RawStream, names.AnalyticsStream} {
			_ = js.DeleteStream(ctx, s)
		}
		return nil
	}
	if err := events.EnsureStreams(ctx, js, names, events.DefaultStreamLimits()); err != nil {
		return err
	}
	now := time.Now().UTC()
	variants := []string{"control", "a", "b"}
	start := time.Now()
	packer := events.NewPacker(names.RawSubject, events.MessageLimits{Events: batch}.Fit(nc))
	var buf []byte
	publish := func() error {
		for _, m := range packer.Flush() {
			if _, err := js.PublishMsgAsync(m.NATS()); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range n {
		u := i / 5 * 4
		var e events.Event
		if i%5 < 4 {
			e = events.Event{ID: fmt.Sprintf("x%09d", i), Type: events.TypeExposure, Experiment: "bench_exp",
				Variant: variants[(u+i%5)%3], UserID: fmt.Sprintf("user_%d", u+i%5), TS: now}
		} else {
			v := float64(i%1000) / 10
			e = events.Event{ID: fmt.Sprintf("x%09d", i), Type: events.TypeConversion, Experiment: "bench_exp",
				UserID: fmt.Sprintf("user_%d", u), ConversionType: "purchase", Value: &v, TS: now}
		}
		if buf, err = packer.AddEvent(&e, buf); err != nil {
			return err
		}
		if i%(50*batch) == 50*batch-1 {
			if err := publish(); err != nil {
				return err
			}
		}
	}
	if err := publish(); err != nil {
		return err
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-ctx.Done():
		return ctx.Err()
	}
	fmt.Fprintf(os.Stderr, "published %d events in %v\n", n, time.Since(start).Round(time.Millisecond))
	return nil
}
