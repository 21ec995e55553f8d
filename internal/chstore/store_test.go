package chstore_test

import (
	"context"
	"maps"
	"math"
	"math/rand/v2"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/flagstream/flagstream/internal/chstore"
	"github.com/flagstream/flagstream/internal/chstore/chstoretest"
	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/migrations"
	"github.com/flagstream/flagstream/pkg/events"
)

var day0 = time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)

func newStore(t *testing.T) *chstore.Store {
	t.Helper()
	s, _ := newStoreConn(t)
	return s
}

// newStoreConn is newStore with its connection, for checks of the tables.
func newStoreConn(t *testing.T) (*chstore.Store, driver.Conn) {
	t.Helper()
	conn, _ := testenv.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := migrations.Apply(ctx, conn); err != nil {
		t.Fatal(err)
	}
	return chstore.New(conn), conn
}

func load(t *testing.T, s *chstore.Store, batches [][]events.Event, workers int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	next := make(chan []events.Event)
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				var touched chstore.Touched
				for i := range b {
					touched.Add(&b[i])
				}
				if err := s.Insert(ctx, b, time.Now()); err != nil {
					errs <- err
					return
				}
				if _, err := s.Refresh(ctx, &touched); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func split(rng *rand.Rand, evs []events.Event, max int) [][]events.Event {
	var out [][]events.Event
	for len(evs) > 0 {
		n := min(len(evs), 1+rng.IntN(max))
		out = append(out, evs[:n])
		evs = evs[n:]
	}
	return out
}

func checkCounts(t *testing.T, s *chstore.Store, all []events.Event, exp, metric string, from, to time.Time) {
	t.Helper()
	got, err := s.Counts(context.Background(), exp, metric, from, to)
	if err != nil {
		t.Fatal(err)
	}
	want := chstoretest.Expected(all, exp, metric, from, to)
	if !equalCounts(got, want) {
		t.Errorf("Counts(%s, %s, %s..%s):\n got %+v\nwant %+v", exp, metric, from.Format(time.DateOnly), to.Format(time.DateOnly), got, want)
	}
}

func equalCounts(got, want []chstore.VariantCounts) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Variant != w.Variant || g.Users != w.Users || g.Multiple != w.Multiple || g.Converters != w.Converters ||
			g.Conversions != w.Conversions || !near(g.ValueSum, w.ValueSum) || !near(g.ValueSumSq, w.ValueSumSq) {
			return false
		}
	}
	return true
}

func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// Events arriving in any order, in batches handled concurrently, with
// every batch delivered twice, give exactly the counts of the reference.
func TestCountsMatchReference(t *testing.T) {
	s := newStore(t)
	rng := rand.New(rand.NewPCG(1, 2))
	all := chstoretest.Workload(rng, 400, day0, "ev-")
	shuffled := append([]events.Event(nil), all...)
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	batches := split(rng, shuffled, 200)
	// Redeliveries: a copy of every third batch, later.
	for i := 0; i < len(batches); i += 3 {
		batches = append(batches, batches[i])
	}
	load(t, s, batches, 3)

	last := day0.AddDate(0, 0, 7)
	for _, exp := range []string{"exp_a", "exp_b"} {
		for _, metric := range []string{"purchase", "signup"} {
			checkCounts(t, s, all, exp, metric, day0, last)
			checkCounts(t, s, all, exp, metric, day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 3))
			checkCounts(t, s, all, exp, metric, day0.AddDate(0, 0, 2), day0.AddDate(0, 0, 2))
		}
	}
	checkCounts(t, s, all, "exp_a", "no_such_metric", day0, last)
	checkCounts(t, s, all, "no_such_experiment", "purchase", day0, last)

	// Refreshing everything again changes nothing.
	var touched chstore.Touched
	for i := range all {
		touched.Add(&all[i])
	}
	if _, err := s.Refresh(context.Background(), &touched); err != nil {
		t.Fatal(err)
	}
	checkCounts(t, s, all, "exp_a", "purchase", day0, last)

	// The daily series, summed, is the report of every prefix of the range.
	for _, metric := range []string{"purchase", "signup"} {
		from, to := day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 6)
		deltas, err := s.Daily(context.Background(), "exp_a", metric, from, to)
		if err != nil {
			t.Fatal(err)
		}
		for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
			got := accumulate(deltas, d)
			want := chstoretest.Expected(all, "exp_a", metric, from, d)
			if !equalCounts(got, want) {
				t.Errorf("Daily(%s) through %s:\n got %+v\nwant %+v", metric, d.Format(time.DateOnly), got, want)
			}
		}
	}
}

func accumulate(deltas []chstore.DayDelta, through time.Time) []chstore.VariantCounts {
	by := map[string]*chstore.VariantCounts{}
	for _, d := range deltas {
		day, _ := time.Parse(time.DateOnly, d.Day)
		if day.After(through) {
			continue
		}
		c := by[d.Variant]
		if c == nil {
			c = &chstore.VariantCounts{Variant: d.Variant}
			by[d.Variant] = c
		}
		c.Users += d.Users
		c.Multiple += d.Multiple
		c.Converters += d.Converters
		c.Conversions += d.Conversions
		c.ValueSum += d.ValueSum
		c.ValueSumSq += d.ValueSumSq
	}
	var out []chstore.VariantCounts
	for _, c := range by {
		out = append(out, *c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Variant < out[j].Variant })
	return out
}

func TestExperimentsAndMetrics(t *testing.T) {
	s := newStore(t)
	rng := rand.New(rand.NewPCG(5, 6))
	all := chstoretest.Workload(rng, 60, day0, "ev-")
	load(t, s, [][]events.Event{all}, 1)
	list, err := s.Experiments(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].Key != "exp_a" || list[1].Key != "exp_b" || list[0].Users != 60 || list[1].Users != 20 {
		t.Fatalf("Experiments = %+v", list)
	}
	if len(list[0].Metrics) != 2 || list[0].FirstDay < "2026-03-01" || list[0].LastDay > "2026-03-10" {
		t.Errorf("exp_a = %+v", list[0])
	}
	if _, err := s.Experiment(context.Background(), "nope"); err == nil {
		t.Error("unknown experiment found")
	}
	sum, err := s.Experiment(context.Background(), "exp_a")
	if err != nil || len(sum.Metrics) != 2 || sum.Metrics[0].Converters < sum.Metrics[1].Converters ||
		sum.FirstDay != list[0].FirstDay || sum.LastDay != list[0].LastDay || len(sum.Variants) != 2 {
		t.Errorf("Experiment = %+v, %v; listed as %+v", sum, err, list[0])
	}
	if list[0].Metrics[0].Converters+list[0].Metrics[1].Converters == 0 {
		t.Errorf("no converters listed: %+v", list[0].Metrics)
	}
}

// A late exposure earlier than the first one known moves the user's first
// day (and may change the variant): the old state row must not survive in a
// report whose range starts after the new first day.
func TestLateEarlierExposure(t *testing.T) {
	s := newStore(t)
	at := func(d int, h int) time.Time { return day0.AddDate(0, 0, d).Add(time.Duration(h) * time.Hour) }
	v := 10.0
	first := []events.Event{
		{ID: "x1", Type: events.TypeExposure, Experiment: "e", Variant: "control", UserID: "u", TS: at(3, 10)},
		{ID: "x2", Type: events.TypeConversion, Experiment: "e", UserID: "u", ConversionType: "buy", Value: &v, TS: at(3, 12)},
		{ID: "x3", Type: events.TypeConversion, UserID: "u", ConversionType: "buy", TS: at(2, 12)},
		{ID: "y1", Type: events.TypeExposure, Experiment: "e", Variant: "treatment", UserID: "w", TS: at(3, 10)},
	}
	late := []events.Event{
		{ID: "x0", Type: events.TypeExposure, Experiment: "e", Variant: "treatment", UserID: "u", TS: at(1, 9)},
	}
	load(t, s, [][]events.Event{first}, 1)
	all := append(append([]events.Event(nil), first...), late...)
	checkCounts(t, s, first, "e", "buy", day0, day0.AddDate(0, 0, 5))
	load(t, s, [][]events.Event{late}, 1)
	for _, r := range [][2]int{{0, 5}, {3, 5}, {1, 2}, {1, 1}, {2, 5}} {
		checkCounts(t, s, all, "e", "buy", day0.AddDate(0, 0, r[0]), day0.AddDate(0, 0, r[1]))
	}
}

// The weights exposures carry are kept per flag version; an experiment's
// summary has the latest and says when they changed. Repeats change nothing.
func TestWeights(t *testing.T) {
	s, conn := newStoreConn(t)
	ctx := context.Background()
	at := func(h int) time.Time { return day0.Add(time.Duration(h) * time.Hour) }
	exp := func(id, variant string, version int64, h int, ws map[string]float64) events.Event {
		return events.Event{ID: id, Type: events.TypeExposure, Experiment: "w", Variant: variant, UserID: id,
			FlagVersion: version, TS: at(h), Weights: ws}
	}
	even := map[string]float64{"control": 50, "treatment": 50}
	load(t, s, [][]events.Event{{exp("u1", "control", 1, 1, even), exp("u2", "treatment", 1, 2, even), exp("u3", "control", 0, 3, nil)}}, 1)
	sum, err := s.Experiment(ctx, "w")
	if err != nil || !maps.Equal(sum.Weights, even) || sum.WeightsChanged {
		t.Fatalf("after version 1: %+v, %v", sum, err)
	}
	skewed := map[string]float64{"control": 90, "treatment": 10}
	batch := []events.Event{exp("u4", "control", 2, 4, skewed), exp("u5", "treatment", 1, 5, even)}
	load(t, s, [][]events.Event{batch, batch}, 1) // delivered twice
	sum, err = s.Experiment(ctx, "w")
	if err != nil || !maps.Equal(sum.Weights, skewed) || !sum.WeightsChanged {
		t.Fatalf("after version 2: %+v, %v", sum, err)
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM experiment_weights FINAL WHERE experiment = 'w'").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("experiment_weights holds %d rows (%v), want 2", rows, err)
	}
}

// The control exposures carry (the flag's first variant) is kept per flag
// version: a flag [old, new] has old as its control although "new" sorts
// first; exposures without one (senders that predate the field) change
// nothing; a later version naming another control wins and is flagged as a
// change. Repeats add no rows.
func TestControl(t *testing.T) {
	s, conn := newStoreConn(t)
	ctx := context.Background()
	at := func(h int) time.Time { return day0.Add(time.Duration(h) * time.Hour) }
	exp := func(id, variant string, version int64, h int, control string) events.Event {
		return events.Event{ID: id, Type: events.TypeExposure, Experiment: "c", Variant: variant, UserID: id,
			FlagVersion: version, TS: at(h), Control: control}
	}
	batch := []events.Event{exp("u1", "new", 1, 1, "old"), exp("u2", "old", 1, 2, "old"), exp("u3", "new", 0, 3, "")}
	load(t, s, [][]events.Event{batch, batch}, 1) // delivered twice
	sum, err := s.Experiment(ctx, "c")
	if err != nil || sum.Control != "old" || sum.ControlChanged {
		t.Fatalf("flag [old, new], version 1: control %q (changed %v), %v", sum.Control, sum.ControlChanged, err)
	}
	// A version that carries none (an app's own exposures) leaves it.
	load(t, s, [][]events.Event{{exp("u4", "new", 2, 4, "")}}, 1)
	if sum, err = s.Experiment(ctx, "c"); err != nil || sum.Control != "old" {
		t.Fatalf("after an exposure without a control: %q, %v", sum.Control, err)
	}
	// The flag's variants reordered in version 3: new is its first variant.
	load(t, s, [][]events.Event{{exp("u5", "new", 3, 5, "new"), exp("u6", "old", 1, 6, "old")}}, 1)
	if sum, err = s.Experiment(ctx, "c"); err != nil || sum.Control != "new" || !sum.ControlChanged {
		t.Fatalf("after version 3: control %q (changed %v), %v", sum.Control, sum.ControlChanged, err)
	}
	var rows uint64
	if err := conn.QueryRow(ctx, "SELECT count() FROM experiment_control FINAL WHERE experiment = 'c'").Scan(&rows); err != nil || rows != 2 {
		t.Errorf("experiment_control holds %d rows (%v), want 2", rows, err)
	}
	// An experiment whose exposures never carried one has none.
	load(t, s, [][]events.Event{{{ID: "v1", Type: events.TypeExposure, Experiment: "plain", Variant: "b", UserID: "v1", TS: at(1)}}}, 1)
	if sum, err := s.Experiment(ctx, "plain"); err != nil || sum.Control != "" || sum.ControlChanged {
		t.Errorf("no control carried: %q, %v", sum.Control, err)
	}
}
