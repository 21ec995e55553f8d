package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/live"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/internal/testenv/procs"
	"github.com/flagstream/flagstream/migrations"
	"github.com/flagstream/flagstream/pkg/events"
)

// `ingest rebuild-live` recounts an experiment's live counters from the raw
// events in ClickHouse (each once, however often it was delivered), old days
// included: after it, the live counters hold what they would have held had
// nothing been lost. `ingest archive` then removes them.
func TestRebuildLiveAndArchive(t *testing.T) {
	ctx := context.Background()
	env := procs.ServiceEnv(t)
	dsn, _ := testenv.ClickHouseDSN(t)
	env["FLAGSTREAM_CLICKHOUSE_DSN"] = dsn
	conn, err := chconn.Open(dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	old := now.Add(-10 * 24 * time.Hour) // far outside the live window
	v := func(f float64) *float64 { return &f }
	evs := []events.Event{
		{ID: "x1", Type: events.TypeExposure, Experiment: "rb", Variant: "control", UserID: "alice", TS: old},
		{ID: "x2", Type: events.TypeExposure, Experiment: "rb", Variant: "treatment", UserID: "bob", TS: now},
		{ID: "c1", Type: events.TypeConversion, Experiment: "rb", UserID: "alice", ConversionType: "purchase", Value: v(10), TS: old.Add(time.Hour)},
		{ID: "c2", Type: events.TypeConversion, UserID: "bob", ConversionType: "purchase", Value: v(5), TS: now.Add(time.Minute)}, // names no experiment
		{ID: "c3", Type: events.TypeConversion, Experiment: "rb", UserID: "carol", ConversionType: "purchase", TS: now},           // never exposed
		{ID: "y1", Type: events.TypeExposure, Experiment: "other", Variant: "a", UserID: "bob", TS: now},
	}
	store := chstore.New(conn)
	for range 2 { // delivered twice: counted once
		if err := store.Insert(ctx, evs, now); err != nil {
			t.Fatal(err)
		}
	}
	// Live counters that drifted: wrong values, to be replaced.
	rdb, prefix := testenv.Redis(t)
	env["FLAGSTREAM_REDIS_PREFIX"] = prefix
	counters := live.New(rdb, prefix, live.Options{})
	junk := events.Event{ID: "junk", Type: events.TypeExposure, Experiment: "rb", Variant: "control", UserID: "zed", TS: now}
	if _, err := counters.Apply(ctx, []events.Event{junk}); err != nil {
		t.Fatal(err)
	}

	var out bytes.Buffer
	if err := run(ctx, []string{"rebuild-live", "rb"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "rebuilt rb") || !strings.Contains(out.String(), "5 events read") {
		t.Errorf("output: %s", out.String())
	}
	today, oldDay := now.Format(time.DateOnly), old.Format(time.DateOnly)
	r, _ := counters.Results(ctx, "rb", today)
	if r["treatment"].Exposures != 1 || r["control"].Exposures != 0 || r["treatment"].Conversions["purchase"].Value != 5 {
		t.Errorf("today after the rebuild: %+v", r)
	}
	r, _ = counters.Results(ctx, "rb", oldDay)
	if r["control"].Exposures != 1 || r["control"].Conversions["purchase"].Count != 1 || r["control"].Conversions["purchase"].Value != 10 {
		t.Errorf("ten days ago after the rebuild: %+v", r)
	}
	if r, _ := counters.Results(ctx, "other", today); r["a"].Conversions["purchase"].Count != 0 {
		t.Errorf("the rebuild of rb counted bob's conversion in another experiment: %+v", r)
	}

	out.Reset()
	if err := run(ctx, []string{"archive", "rb"}, func(k string) string { return env[k] }, &out); err != nil {
		t.Fatal(err)
	}
	if keys, _ := rdb.Keys(ctx, prefix+"experiment:rb:*").Result(); len(keys) != 1 {
		t.Errorf("keys left after archive: %v", keys)
	}
	for _, args := range [][]string{{"archive"}, {"archive", "a", "b"}, {"rebuild-live", "bad:name"}} {
		if err := run(ctx, args, func(k string) string { return env[k] }, &out); err == nil {
			t.Errorf("ingest %v: no error", args)
		}
	}
}

// Lifetimes that cannot work are refused with the flag's name, before
// anything connects: a sub-minute dedup window would let redeliveries count
// twice, a retention shorter than the window would drop counted days.
func TestLiveOptionsValidated(t *testing.T) {
	for args, want := range map[string]string{
		"--dedup-window 500ms":                    "dedup-window",
		"--dedup-window 0s":                       "dedup-window",
		"--dedup-window 72h --live-retention 48h": "live-retention",
		"--user-ttl 1h":                           "user-ttl",
	} {
		err := run(context.Background(), strings.Fields(args), func(string) string { return "" }, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ingest %s: %v, want an error naming %s", args, err, want)
		}
	}
}
