package chstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/flagstream/flagstream/internal/chconn"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/report"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/migrations"
	"github.com/flagstream/flagstream/pkg/events"
)

// benchEvents makes n events of distinct users and ids, shaped like the
// analytics stream's: 60% exposures, 40% conversions.
func benchEvents(n int, seed uint64) []events.Event {
	rng := rand.New(rand.NewPCG(seed, seed))
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	evs := make([]events.Event, n)
	for i := range evs {
		e := events.Event{ID: events.NewID(), UserID: fmt.Sprintf("user_%08d", rng.IntN(10_000_000)),
			TS: base.Add(time.Duration(rng.Int64N(int64(30 * 24 * time.Hour)))).Truncate(time.Millisecond)}
		if i%5 < 3 {
			e.Type, e.Experiment, e.Variant, e.FlagVersion = events.TypeExposure, "bench_exp", []string{"control", "treatment"}[i%2], 3
		} else {
			v := float64(rng.IntN(10000)) / 100
			e.Type, e.Experiment, e.ConversionType, e.Value = events.TypeConversion, "bench_exp", "purchase", &v
		}
		evs[i] = e
	}
	return evs
}

// BenchmarkInsert measures Store.Insert (the raw table and, for the
// exposures, user_experiments) in batches of 10,000 and 100,000 events;
// BenchmarkInsertBare the same rows into the same raw table with a bare
// clickhouse-go batch and nothing else: the ClickHouse figure it is to be
// read against.
func BenchmarkInsert(b *testing.B) {
	benchInsert(b, func(ctx context.Context, conn driver.Conn, evs []events.Event) error {
		return chstore.New(conn).Insert(ctx, evs, time.Now())
	})
}

func BenchmarkInsertBare(b *testing.B) {
	now := time.Now()
	benchInsert(b, func(ctx context.Context, conn driver.Conn, evs []events.Event) error {
		batch, err := conn.PrepareBatch(ctx, "INSERT INTO events (id, type, experiment, variant, user_id, conversion_type, value, ts_ms, day, flag_version, inserted_at)")
		if err != nil {
			return err
		}
		for i := range evs {
			e := &evs[i]
			if err := batch.Append(e.ID, string(e.Type), e.Experiment, e.Variant, e.UserID, e.ConversionType,
				e.ValueOrDefault(), e.TS.UnixMilli(), e.TS, e.FlagVersion, now); err != nil {
				return err
			}
		}
		return batch.Send()
	})
}

// benchInsert measures insert in batches of 10,000 and 100,000 events, on a
// database of its own with the migrations applied, in rows per second.
func benchInsert(b *testing.B, insert func(context.Context, driver.Conn, []events.Event) error) {
	for _, size := range []int{10_000, 100_000} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			conn, _ := testenv.ClickHouse(b)
			ctx := context.Background()
			if _, err := migrations.Apply(ctx, conn); err != nil {
				b.Fatal(err)
			}
			evs := benchEvents(size, 1)
			b.ResetTimer()
			rows := 0
			for b.Loop() {
				if err := insert(ctx, conn, evs); err != nil {
					b.Fatal(err)
				}
				rows += len(evs)
			}
			b.ReportMetric(float64(rows)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// benchUsers is the size of the generated experiment: 100,000 users (about
// 1,000,000 events) by default; FLAGSTREAM_BENCH_USERS=1000000 for the
// 1,000,000 users and 10,000,000 events of the target.
func benchUsers(b *testing.B) int {
	if v := os.Getenv("FLAGSTREAM_BENCH_USERS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1000 {
			b.Fatalf("FLAGSTREAM_BENCH_USERS=%q: want a number ≥ 1000", v)
		}
		return n
	}
	return 100_000
}

var benchDay0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// experimentEvents makes the events of users [from, to) of a 30-day
// experiment, about ten per user: 1 to ~12 exposures (5 on average; 2% of
// users later see the other variant), and conversions of four types:
// page_view (everyone, 3.5 on average), signup (40% of users, once),
// add_to_cart (20%, 4), purchase (10% in control, 11% in treatment, 3, with
// values); one conversion in ten names no experiment, one in twenty happens
// before the exposure.
func experimentEvents(from, to int) []events.Event {
	rng := rand.New(rand.NewPCG(uint64(from), 99))
	span := int64(30 * 24 * time.Hour / time.Millisecond)
	var evs []events.Event
	n := 0
	id := func() string { n++; return fmt.Sprintf("b%07d-%d", from, n) }
	at := func(ms int64) time.Time { return time.UnixMilli(ms).UTC() }
	for u := from; u < to; u++ {
		user := fmt.Sprintf("user_%07d", u)
		variant := []string{"control", "treatment"}[u%2]
		first := benchDay0.UnixMilli() + rng.Int64N(span)
		rest := benchDay0.UnixMilli() + span - first
		later := func() int64 { return first + rng.Int64N(rest+1) }
		evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: "big", Variant: variant, UserID: user, TS: at(first)})
		for rng.IntN(5) != 0 {
			evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: "big", Variant: variant, UserID: user, TS: at(later())})
		}
		if rng.IntN(50) == 0 {
			other := map[string]string{"control": "treatment", "treatment": "control"}[variant]
			evs = append(evs, events.Event{ID: id(), Type: events.TypeExposure, Experiment: "big", Variant: other, UserID: user, TS: at(later())})
		}
		conv := func(kind string, count int, value bool) {
			for range count {
				e := events.Event{ID: id(), Type: events.TypeConversion, Experiment: "big", UserID: user, ConversionType: kind, TS: at(later())}
				if rng.IntN(10) == 0 {
					e.Experiment = ""
				}
				if rng.IntN(20) == 0 {
					e.TS = at(first - 1 - rng.Int64N(3600_000))
				}
				if value {
					v := float64(500+rng.IntN(20000)) / 100
					e.Value = &v
				}
				evs = append(evs, e)
			}
		}
		conv("page_view", rng.IntN(8), false)
		if rng.IntN(10) < 4 {
			conv("signup", 1, false)
		}
		if rng.IntN(10) < 2 {
			conv("add_to_cart", 1+rng.IntN(7), false)
		}
		if p := 100 + 10*(u%2); rng.IntN(1000) < p {
			conv("purchase", 1+rng.IntN(5), true)
		}
	}
	return evs
}

// BenchmarkReport measures a full report (all variants, one metric:
// experiment summary, counts, statistics) over 30 days of a generated
// experiment (see benchUsers, experimentEvents), built through the real
// path: Insert and Refresh in chunks of 20,000 users.
func BenchmarkReport(b *testing.B) {
	users := benchUsers(b)
	dsn, _ := testenv.ClickHouseDSN(b)
	conn, err := chconn.Open(dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	ctx := context.Background()
	if _, err := migrations.Apply(ctx, conn); err != nil {
		b.Fatal(err)
	}
	s := chstore.New(conn)
	start := time.Now()
	var total int
	var refresh time.Duration
	const chunk = 20_000
	for from := 0; from < users; from += chunk {
		evs := experimentEvents(from, min(users, from+chunk))
		total += len(evs)
		var touched chstore.Touched
		for i := range evs {
			touched.Add(&evs[i])
		}
		for i := 0; i < len(evs); i += 100_000 {
			if err := s.Insert(ctx, evs[i:min(len(evs), i+100_000)], time.Now()); err != nil {
				b.Fatal(err)
			}
		}
		t0 := time.Now()
		if _, err := s.Refresh(ctx, &touched); err != nil {
			b.Fatal(err)
		}
		refresh += time.Since(t0)
	}
	b.Logf("generated %d users, %d events in %v (refresh %v)", users, total, time.Since(start).Round(time.Millisecond), refresh.Round(time.Millisecond))
	// Measure once the background merges the load started are done (the
	// parts they leave are still several: FINAL has work to do).
	waitMerges(b, conn)
	from, to := benchDay0, benchDay0.AddDate(0, 0, 29)
	for _, metric := range []string{"purchase", "page_view"} {
		b.Run(fmt.Sprintf("users=%d/metric=%s", users, metric), func(b *testing.B) {
			p := report.Params{Experiment: "big", Metric: metric, From: from, To: to}
			var rep report.Report
			for b.Loop() {
				var err error
				if rep, err = report.Build(ctx, s, p, to); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
			if rep.Variants[0].Users+rep.Variants[1].Users+rep.MultipleExposures < int64(users)*9/10 {
				b.Fatalf("report misses users: %+v", rep.Variants)
			}
		})
	}
	// The floor: one plain scan of the per-user rows, no FINAL, no metric
	// (docs/clickhouse.md's "one row per (experiment, variant, user)" figure).
	b.Run(fmt.Sprintf("users=%d/floor", users), func(b *testing.B) {
		for b.Loop() {
			rows, err := conn.Query(ctx, "SELECT variant, count() FROM user_state WHERE experiment = ? GROUP BY variant", "big")
			if err != nil {
				b.Fatal(err)
			}
			for rows.Next() {
			}
			rows.Close()
		}
	})
	b.Run(fmt.Sprintf("users=%d/daily", users), func(b *testing.B) {
		p := report.Params{Experiment: "big", Metric: "purchase", From: from, To: to}
		for b.Loop() {
			if _, err := report.BuildDaily(ctx, s, p, to); err != nil {
				b.Fatal(err)
			}
		}
	})
	// The same data, merged: one row per user left (what background merges
	// converge to).
	for _, table := range []string{"user_state", "user_metric"} {
		if err := conn.Exec(ctx, "OPTIMIZE TABLE "+table+" FINAL"); err != nil {
			b.Fatal(err)
		}
	}
	waitMerges(b, conn)
	for _, metric := range []string{"purchase", "page_view"} {
		b.Run(fmt.Sprintf("users=%d/metric=%s/merged", users, metric), func(b *testing.B) {
			p := report.Params{Experiment: "big", Metric: metric, From: from, To: to}
			for b.Loop() {
				if _, err := report.Build(ctx, s, p, to); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
		})
	}
	// A range ending before the data does: the per-day arrays are read.
	b.Run(fmt.Sprintf("users=%d/metric=purchase/partial_range", users), func(b *testing.B) {
		p := report.Params{Experiment: "big", Metric: "purchase", From: from, To: to.AddDate(0, 0, -10)}
		for b.Loop() {
			if _, err := report.Build(ctx, s, p, to); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/report")
	})
}

// waitMerges waits (at most two minutes) until ClickHouse runs no merge in
// the connection's database.
func waitMerges(b *testing.B, conn interface {
	QueryRow(ctx context.Context, query string, args ...any) driver.Row
}) {
	b.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		var n uint64
		if err := conn.QueryRow(context.Background(), "SELECT count() FROM system.merges WHERE database = currentDatabase()").Scan(&n); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}
