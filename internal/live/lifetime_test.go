package live

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flagstream/flagstream/internal/testenv"
	"github.com/flagstream/flagstream/pkg/events"
)

// Every key the counters write has a lifetime, except the list of
// experiments and the count of lost held conversions (one each per
// experiment, removed by Archive).
func TestEveryKeyHasALifetime(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	o := Options{Window: 2 * time.Hour, Retention: 10 * 24 * time.Hour, UserTTL: 5 * 24 * time.Hour}
	c := New(rdb, prefix, o)
	ctx := context.Background()
	now := time.Now().UTC()
	batch := []events.Event{
		exposure("e1", "life", "control", "alice", now),
		conversion("c1", "life", "alice", "purchase", f64(3), now),
		conversion("c2", "", "alice", "signup", nil, now),
		conversion("c3", "life", "bob", "purchase", f64(1), now), // held
	}
	if _, err := c.Apply(ctx, batch); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SweepHeld(ctx, now.Add(2*PendingTTL)); err != nil {
		t.Fatal(err)
	}
	keys, err := rdb.Keys(ctx, prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) < 10 {
		t.Fatalf("only %d keys written: %v", len(keys), keys)
	}
	dayEnd := now.Truncate(24 * time.Hour).Add(24 * time.Hour)
	for _, k := range keys {
		name := strings.TrimPrefix(k, prefix)
		ttl := rdb.TTL(ctx, k).Val()
		var limit time.Duration
		switch {
		case name == "flagstream:experiments" || strings.HasSuffix(name, ":lost:held_expired"):
			if ttl != -1 {
				t.Errorf("%s: ttl %s, want none (kept until the experiment is archived)", name, ttl)
			}
			continue
		case strings.Contains(name, ":seen:"):
			limit = time.Until(dayEnd) + o.Window + skew
		case strings.HasPrefix(name, "flagstream:user_experiments:"), strings.HasSuffix(name, ":assignments"):
			limit = o.UserTTL
		case strings.HasSuffix(name, ":conversion_types"):
			limit = o.Retention
		default:
			limit = time.Until(dayEnd) + o.Retention
		}
		if ttl <= 0 || ttl > limit+time.Second {
			t.Errorf("%s: ttl %s, want in (0, %s]", name, ttl, limit)
		}
	}
}

// For any event the counters take, a resend finds its marker for as long as
// the counters would take the resend: the marker outlives ts + Window.
// Events older than the window go to the report only.
func TestMarkersOutliveTheWindow(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	o := Options{Window: time.Hour}
	c := New(rdb, prefix, o)
	ctx := context.Background()
	now := time.Now().UTC()
	ts := now.Add(-59 * time.Minute) // just inside the window
	first, err := c.Apply(ctx, []events.Event{exposure("e1", "w", "a", "u1", ts)})
	if err != nil || first[0] != Counted {
		t.Fatalf("first apply = %v, %v", first, err)
	}
	marker := prefix + "experiment:w:seen:" + ts.Format(time.DateOnly)
	if ttl := rdb.TTL(ctx, marker).Val(); ttl < time.Until(ts.Add(o.Window)) {
		t.Errorf("marker set lives %s, less than the %s until ts + window", ttl, time.Until(ts.Add(o.Window)))
	}
	again, _ := c.Apply(ctx, []events.Event{exposure("e1", "w", "a", "u1", ts)})
	old, _ := c.Apply(ctx, []events.Event{exposure("e2", "w", "a", "u2", now.Add(-61*time.Minute))})
	if again[0] != Duplicate || old[0] != ReportOnly {
		t.Errorf("resend = %v (want duplicate), event older than the window = %v (want report only)", again, old)
	}
	r, _ := c.Results(ctx, "w", ts.Format(time.DateOnly))
	if r["a"].Exposures != 1 {
		t.Errorf("exposures = %d, want 1", r["a"].Exposures)
	}
}

// Ids need only be unique per user, as in ClickHouse: the same id from two
// users is two events, from one user one.
func TestDedupScopeIsUserAndID(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	got, err := c.Apply(ctx, []events.Event{
		exposure("1", "s", "a", "alice", now),
		exposure("1", "s", "a", "bob", now),
		exposure("1", "s", "a", "alice", now.Add(time.Second)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []Status{Counted, Counted, Duplicate}; !slices.Equal(got, want) {
		t.Errorf("statuses = %v, want %v", got, want)
	}
}

// A conversion held past PendingTTL is counted as lost to the live counters,
// once, and an exposure that comes later does not count it.
func TestSweepHeldCountsExpiredOnce(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	if st, err := c.Apply(ctx, []events.Event{
		exposure("x", "h", "a", "someone", now), // lists the experiment
		conversion("c1", "h", "late", "purchase", f64(2), now),
		conversion("c2", "h", "late", "purchase", f64(3), now),
		conversion("c3", "h", "prompt", "purchase", f64(4), now),
	}); err != nil || st[1] != Held {
		t.Fatalf("apply = %v, %v", st, err)
	}
	if n, err := c.SweepHeld(ctx, now.Add(time.Minute)); err != nil || n != 0 {
		t.Fatalf("sweep before the deadline = %d, %v", n, err)
	}
	if st, _ := c.Apply(ctx, []events.Event{exposure("x2", "h", "a", "prompt", now)}); st[0] != Counted {
		t.Fatalf("prompt exposure = %v", st)
	}
	for range 2 {
		if _, err := c.SweepHeld(ctx, now.Add(PendingTTL+time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := c.HeldExpired(ctx); err != nil || n != 2 {
		t.Errorf("held expired = %d, %v; want 2 (late's two, counted once; prompt's was counted)", n, err)
	}
	if _, err := c.Apply(ctx, []events.Event{exposure("x3", "h", "a", "late", now)}); err != nil {
		t.Fatal(err)
	}
	r, _ := c.Results(ctx, "h", now.Format(time.DateOnly))
	if p := r["a"].Conversions["purchase"]; p.Count != 1 || p.Value != 4 {
		t.Errorf("purchases = %+v, want prompt's only", p)
	}
}

// Archive removes an experiment's live keys, keeps others', and its late
// events write nothing.
func TestArchive(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	c := New(rdb, prefix, Options{})
	ctx := context.Background()
	now := time.Now().UTC()
	if _, err := c.Apply(ctx, []events.Event{
		exposure("1", "old", "a", "u1", now), conversion("2", "old", "u1", "purchase", nil, now),
		exposure("3", "keep", "a", "u1", now),
	}); err != nil {
		t.Fatal(err)
	}
	n, err := c.Archive(ctx, "old")
	if err != nil || n < 5 {
		t.Fatalf("archive removed %d keys, %v", n, err)
	}
	st, err := c.Apply(ctx, []events.Event{exposure("4", "old", "b", "u2", now), conversion("5", "", "u1", "signup", nil, now)})
	if err != nil || st[0] != Archived || st[1] != Counted {
		t.Fatalf("after archive = %v, %v; want archived, counted (in keep)", st, err)
	}
	left, _ := rdb.Keys(ctx, prefix+"experiment:old:*").Result()
	if len(left) != 1 || !strings.HasSuffix(left[0], ":archived") {
		t.Errorf("keys left of the archived experiment: %v", left)
	}
	if exps, _ := c.Experiments(ctx); !slices.Equal(exps, []string{"keep"}) {
		t.Errorf("experiments = %v", exps)
	}
	if r, _ := c.Results(ctx, "keep", now.Format(time.DateOnly)); r["a"].Exposures != 1 || r["a"].Conversions["signup"].Count != 1 {
		t.Errorf("keep = %+v", r)
	}
}
