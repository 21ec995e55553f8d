package live

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

// day1 is yesterday at 10:00 UTC, fixed once for the test binary: within the
// tests' window, and its next day is today.
var (
	day1  = time.Now().UTC().Truncate(24 * time.Hour).Add(-14 * time.Hour)
	date1 = day1.Format(time.DateOnly)
	date2 = day1.Add(24 * time.Hour).Format(time.DateOnly)
)

func exposure(id, exp, variant, user string, ts time.Time) events.Event {
	return events.Event{ID: id, Type: events.TypeExposure, Experiment: exp, Variant: variant, UserID: user, TS: ts}
}

func conversion(id, exp, user, ctype string, value *float64, ts time.Time) events.Event {
	return events.Event{ID: id, Type: events.TypeConversion, Experiment: exp, UserID: user, ConversionType: ctype, Value: value, TS: ts}
}

func f64(v float64) *float64 { return &v }

func TestApplyCountsAndAttribution(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{Window: 72 * time.Hour})
	ctx := context.Background()
	batch := []events.Event{
		exposure("e1", "pricing", "control", "alice", day1),
		exposure("e2", "pricing", "variant_b", "bob", day1),
		exposure("e3", "checkout", "treatment", "alice", day1),
		conversion("c0", "pricing", "carol", "purchase", f64(5), day1),                    // never exposed: nowhere
		conversion("c1", "pricing", "alice", "purchase", f64(99.99), day1),                // explicit experiment
		conversion("c2", "", "alice", "signup", nil, day1),                                // no experiment: both of alice's, value 1.0
		conversion("c3", "", "dave", "signup", nil, day1),                                 // no experiment, never exposed
		conversion("c4", "pricing", "bob", "purchase", f64(0.01), day1.Add(24*time.Hour)), // next day
	}
	out, err := c.Apply(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	// 3 exposures, c1, c2 (in both of alice's experiments) and c4 counted; c0 and c3 nowhere.
	want := []Status{Counted, Counted, Counted, Held, Counted, Counted, Unattributed, Counted}
	if !slices.Equal(out, want) {
		t.Errorf("first apply = %v, want %v", out, want)
	}
	again, err := c.Apply(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	want = []Status{Duplicate, Duplicate, Duplicate, Held, Duplicate, Duplicate, Unattributed, Duplicate}
	if !slices.Equal(again, want) {
		t.Errorf("second apply of the same batch = %v, want %v", again, want)
	}
	// carol's exposure arrives after her conversion (held twice, by the
	// redelivery above): it is counted, once.
	late := []events.Event{exposure("e9", "pricing", "control", "carol", day1), batch[3]}
	if out, _ := c.Apply(ctx, late); !slices.Equal(out, []Status{Counted, Duplicate}) {
		t.Errorf("late exposure = %v, want the held conversion counted with it", out)
	}
	if out, _ := c.Apply(ctx, late); !slices.Equal(out, []Status{Duplicate, Duplicate}) {
		t.Errorf("late exposure again = %v", out)
	}
	r, err := c.Results(ctx, "pricing", date1)
	if err != nil {
		t.Fatal(err)
	}
	if r["control"].Exposures != 2 || r["variant_b"].Exposures != 1 || r["control"].UniqueUsers != 2 {
		t.Errorf("pricing exposures = %+v", r)
	}
	if p := r["control"].Conversions["purchase"]; p.Count != 2 || p.Value != 104.99 || p.UniqueConverters != 2 || p.ConversionRate != 100 {
		t.Errorf("control purchase = %+v", p)
	}
	if s := r["control"].Conversions["signup"]; s.Count != 1 || s.Value != 1 {
		t.Errorf("control signup (no experiment, default value) = %+v", s)
	}
	if p := r["variant_b"].Conversions["purchase"]; p.Count != 0 {
		t.Errorf("bob's purchase is on the 25th, not the 24th: %+v", p)
	}
	r2, _ := c.Results(ctx, "pricing", date2)
	if len(r2) != 0 {
		t.Errorf("the 25th has no exposures, so (as in the seed) no variants: %+v", r2)
	}
	rc, _ := c.Results(ctx, "checkout", date1)
	if s := rc["treatment"].Conversions["signup"]; s.Count != 1 {
		t.Errorf("checkout signup = %+v", s)
	}
	exps, _ := c.Experiments(ctx)
	if len(exps) != 2 || exps[0] != "checkout" || exps[1] != "pricing" {
		t.Errorf("Experiments() = %v", exps)
	}
}

// 20,000 events with 30% duplicates, applied in shuffled batches, some twice:
// counts and value sums equal what was sent, to the cent.
func TestApplyExactUnderDuplicates(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{Window: 72 * time.Hour})
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var sent []events.Event
	wantExp := map[string]int64{}
	wantConv := map[string]int64{}
	wantValueCents := map[string]int64{}
	variants := []string{"control", "a", "b"}
	for u := range 5000 {
		user := fmt.Sprintf("u%d", u)
		v := variants[u%3]
		sent = append(sent, exposure(fmt.Sprintf("x%d", u), "exp", v, user, day1))
		wantExp[v]++
		if rng.IntN(4) == 0 {
			cents := int64(rng.IntN(100000))
			sent = append(sent, conversion(fmt.Sprintf("y%d", u), "exp", user, "purchase", f64(float64(cents)/100), day1.Add(time.Minute)))
			wantConv[v]++
			wantValueCents[v] += cents
		}
	}
	stream := append([]events.Event(nil), sent...)
	for range len(sent) * 3 / 10 {
		stream = append(stream, sent[rng.IntN(len(sent))])
	}
	// Keep each user's exposure before their conversion (as the pipeline
	// delivers them closely enough); duplicates go anywhere after.
	head, tail := stream[:len(sent)], stream[len(sent):]
	rng.Shuffle(len(tail), func(i, j int) { tail[i], tail[j] = tail[j], tail[i] })
	all := append(head, tail...)
	for start := 0; start < len(all); start += 500 {
		b := all[start:min(start+500, len(all))]
		if _, err := c.Apply(ctx, b); err != nil {
			t.Fatal(err)
		}
		if rng.IntN(5) == 0 { // a forced redelivery of the whole batch
			if _, err := c.Apply(ctx, b); err != nil {
				t.Fatal(err)
			}
		}
	}
	r, err := c.Results(ctx, "exp", date1)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variants {
		p := r[v].Conversions["purchase"]
		if r[v].Exposures != wantExp[v] || p.Count != wantConv[v] || int64(math.Round(p.Value*100)) != wantValueCents[v] {
			t.Errorf("%s: exposures %d conversions %d value %.2f; want %d %d %.2f",
				v, r[v].Exposures, p.Count, p.Value, wantExp[v], wantConv[v], float64(wantValueCents[v])/100)
		}
		// HyperLogLog: within 3% of the truth at these sizes.
		if d := math.Abs(float64(r[v].UniqueUsers-wantExp[v])) / float64(wantExp[v]); d > 0.03 {
			t.Errorf("%s: unique users %d vs %d", v, r[v].UniqueUsers, wantExp[v])
		}
	}
}

// seedResults is the seed's ExperimentTracker.get_experiment_results,
// transliterated line by line onto raw Redis commands.
func seedResults(ctx context.Context, r redis.UniversalClient, prefix, experiment, date string) map[string]map[string]any {
	results := map[string]map[string]any{}
	exposures := r.HGetAll(ctx, prefix+"experiment:"+experiment+":exposures:"+date).Val()
	for variant := range exposures {
		n, _ := strconv.Atoi(exposures[variant])
		results[variant] = map[string]any{
			"exposures":    n,
			"unique_users": r.PFCount(ctx, prefix+"experiment:"+experiment+":users:"+variant+":"+date).Val(),
			"conversions":  map[string]map[string]any{},
		}
	}
	for _, convType := range []string{"signup", "purchase", "click"} {
		conversions := r.HGetAll(ctx, prefix+"experiment:"+experiment+":conversions:"+convType+":"+date).Val()
		values := r.HGetAll(ctx, prefix+"experiment:"+experiment+":value:"+convType+":"+date).Val()
		for variant := range results {
			count, _ := strconv.Atoi(orDefault(conversions[variant], "0"))
			value, _ := strconv.ParseFloat(orDefault(values[variant], "0"), 64)
			unique := r.PFCount(ctx, prefix+"experiment:"+experiment+":converters:"+convType+":"+variant+":"+date).Val()
			rate := 0.0
			if uu := results[variant]["unique_users"].(int64); uu > 0 {
				rate = float64(unique) / float64(uu) * 100
			}
			results[variant]["conversions"].(map[string]map[string]any)[convType] = map[string]any{
				"count": count, "value": value, "unique_converters": unique, "conversion_rate": rate}
		}
	}
	return results
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// What ingest writes, the seed's reader reads with the same numbers; and
// counters the seed's track_exposure/track_conversion wrote, Results reads.
func TestSeedCompatibility(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{Window: 72 * time.Hour})
	ctx := context.Background()
	batch := []events.Event{
		exposure("1", "pricing_page_experiment", "control", "user_789", day1),
		exposure("2", "pricing_page_experiment", "variant_a", "user_1", day1),
		exposure("3", "pricing_page_experiment", "variant_a", "user_2", day1),
		conversion("4", "pricing_page_experiment", "user_789", "purchase", f64(99.99), day1),
		conversion("5", "pricing_page_experiment", "user_1", "click", nil, day1),
	}
	if _, err := c.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	seed := seedResults(ctx, rdb, prefix, "pricing_page_experiment", date1)
	ours, _ := c.Results(ctx, "pricing_page_experiment", date1)
	compare(t, seed, ours)

	// The seed's own writes (track_exposure / track_conversion), read by us.
	p := prefix + "experiment:legacy:"
	rdb.HIncrBy(ctx, p+"exposures:"+date1, "control", 1)
	rdb.PFAdd(ctx, p+"users:control:"+date1, "user_9")
	rdb.HSet(ctx, p+"assignments", "user_9", "control")
	rdb.HIncrBy(ctx, p+"conversions:signup:"+date1, "control", 1)
	rdb.HIncrByFloat(ctx, p+"value:signup:"+date1, "control", 1.0)
	rdb.PFAdd(ctx, p+"converters:signup:control:"+date1, "user_9")
	ours, _ = c.Results(ctx, "legacy", date1)
	compare(t, seedResults(ctx, rdb, prefix, "legacy", date1), ours)
}

func compare(t *testing.T, seed map[string]map[string]any, ours map[string]VariantStats) {
	t.Helper()
	if len(seed) != len(ours) {
		t.Fatalf("seed has variants %v, ours %v", seed, ours)
	}
	for v, s := range seed {
		o := ours[v]
		if int64(s["exposures"].(int)) != o.Exposures || s["unique_users"].(int64) != o.UniqueUsers {
			t.Errorf("%s: seed %v, ours %+v", v, s, o)
		}
		for ct, sc := range s["conversions"].(map[string]map[string]any) {
			oc := o.Conversions[ct]
			if int64(sc["count"].(int)) != oc.Count || sc["value"].(float64) != oc.Value ||
				sc["unique_converters"].(int64) != oc.UniqueConverters || sc["conversion_rate"].(float64) != oc.ConversionRate {
				t.Errorf("%s %s: seed %v, ours %+v", v, ct, sc, oc)
			}
		}
	}
}
