package flags_test

import (
	"context"
	"fmt"
	"math"
	"testing"

	"github.com/flagstream/flagstream/pkg/flags"
)

// population is the fixed set of users a whole plan is walked over.
const population = 20_000

func populationIDs() []string {
	ids := make([]string, population)
	for i := range ids {
		ids[i] = fmt.Sprintf("user_%05d", i)
	}
	return ids
}

// chi2Limit is the chi-square value with one degree of freedom that a fair
// 50/50 split exceeds with probability 0.001. The hashes are deterministic, so
// the test either always passes or always fails; the bound only has to be one
// an independent draw clears and a correlated one (every rolled-in user on
// the first variant) cannot: that one gives thousands.
const chi2Limit = 10.83

// planWalk evaluates every user of the population against the flag as Redis
// holds it after each move of a plan, and checks what a rollout promises:
//   - a user who is on has the variant they had the first time they were on
//     (or the one recorded before the plan);
//   - the share on is within 4 standard errors of the stage's percentage;
//   - among the users on, the variants split 50/50 (chi-square), so who is
//     rolled in does not decide the variant;
//   - raising the percentage only adds users.
type planWalk struct {
	t        *testing.T
	s        *flags.Store
	key      string
	ids      []string
	variant  []string // per user: the variant they first had; "" if never on
	prevOn   []bool
	prevPct  float64
	haveprev bool
}

func newPlanWalk(t *testing.T, s *flags.Store, key string) *planWalk {
	return &planWalk{t: t, s: s, key: key, ids: populationIDs(), variant: make([]string, population)}
}

// check evaluates the stored flag; pct is the share that must be on (0 when
// disabled).
func (w *planWalk) check(ctx context.Context, step string, pct float64) {
	w.t.Helper()
	f, err := w.s.Get(ctx, w.key)
	if err != nil {
		w.t.Fatalf("%s: %v", step, err)
	}
	on := make([]bool, len(w.ids))
	counts := map[string]int{}
	n, moved := 0, 0
	for i, id := range w.ids {
		r := flags.Evaluate(f, flags.EvalContext{UserID: id})
		if !r.Enabled {
			continue
		}
		on[i] = true
		n++
		counts[r.Variant]++
		switch {
		case w.variant[i] == "":
			w.variant[i] = r.Variant
		case w.variant[i] != r.Variant:
			if moved < 3 {
				w.t.Errorf("%s: %s moved from %s to %s", step, id, w.variant[i], r.Variant)
			}
			moved++
		}
	}
	if moved > 0 {
		w.t.Errorf("%s (status %s, %v%%, variant_hash %q): %d of %d users on changed variant",
			step, f.Status, f.Percentage, f.VariantHash, moved, n)
	}
	p := pct / 100
	share := float64(n) / float64(len(w.ids))
	se := math.Sqrt(p * (1 - p) / float64(len(w.ids)))
	if math.Abs(share-p) > 4*se+1e-12 {
		w.t.Errorf("%s: %.4f of users on, want %.4f ± %.4f", step, share, p, 4*se)
	}
	if n > 0 {
		exp := float64(n) / 2
		chi2 := 0.0
		for _, v := range []string{"control", "treatment"} {
			d := float64(counts[v]) - exp
			chi2 += d * d / exp
		}
		if chi2 > chi2Limit || counts["control"]+counts["treatment"] != n {
			w.t.Errorf("%s: variants among the %d users on: %v, chi2 %.1f > %.2f", step, n, counts, chi2, chi2Limit)
		}
	}
	if w.haveprev && pct >= w.prevPct {
		for i := range on {
			if w.prevOn[i] && !on[i] {
				w.t.Errorf("%s: %s was on at %v%% and is off at %v%%", step, w.ids[i], w.prevPct, pct)
				break
			}
		}
	}
	w.prevOn, w.prevPct, w.haveprev = on, pct, true
}

// walk creates the plan [10, 25, 50, 100] and moves it through every stage,
// back to disabled, and forward to the end again, checking after each move.
func (w *planWalk) walk(ctx context.Context) {
	w.t.Helper()
	stages := []flags.Stage{{Percentage: pct(10)}, {Percentage: pct(25)}, {Percentage: pct(50)}, {Percentage: pct(100)}}
	if _, _, err := w.s.CreateRollout(ctx, w.key, stages); err != nil {
		w.t.Fatal(err)
	}
	w.check(ctx, "create (10%)", 10)
	type move struct {
		name string
		do   func(context.Context, string) (*flags.Rollout, *flags.Flag, error)
		pct  float64
	}
	adv, back := w.s.AdvanceRollout, w.s.RollbackRollout
	for _, m := range []move{
		{"advance to 25%", adv, 25}, {"advance to 50%", adv, 50}, {"advance to 100%", adv, 100},
		{"roll back to 50%", back, 50}, {"roll back to 25%", back, 25}, {"roll back to 10%", back, 10},
		{"roll back to disabled", back, 0},
		{"advance (re-enabled at 10%)", adv, 10}, {"advance to 25% again", adv, 25},
		{"advance to 50% again", adv, 50}, {"advance to 100% again", adv, 100},
	} {
		if _, _, err := m.do(ctx, w.key); err != nil {
			w.t.Fatalf("%s: %v", m.name, err)
		}
		w.check(ctx, m.name, m.pct)
	}
}

var fiftyFifty = flags.Variants{{Name: "control", Weight: 50}, {Name: "treatment", Weight: 50}}

// An A/B test that runs enabled for everyone is put on a plan: nobody who saw
// a variant may see another one at any stage, back and forth, nor after the
// plan when the flag is written back as enabled by a body that knows nothing
// of variant_hash.
func TestRolloutOfAnEnabledABFlagMovesNobody(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	const key = "checkout_ab"
	if _, err := s.Put(ctx, &flags.Flag{Key: key, Status: flags.StatusEnabled, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	w := newPlanWalk(t, s, key)
	w.check(ctx, "before the plan (enabled)", 100) // records every user's variant
	w.walk(ctx)
	if f, _ := s.Get(ctx, key); f.VariantHash != flags.VariantHashPlain {
		t.Errorf("variant_hash after the plan = %q, want plain", f.VariantHash)
	}
	w.haveprev = false
	if _, err := s.Put(ctx, &flags.Flag{Key: key, Status: flags.StatusEnabled, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	w.check(ctx, "enabled again after the plan", 100)
}

// A flag created as percentage already draws variants from the salted bucket;
// a plan on it keeps that draw.
func TestRolloutOfAPercentageFlagMovesNobody(t *testing.T) {
	s, _, _ := newStore(t)
	ctx := ctxT(t)
	const key = "search_ranking"
	if _, err := s.Put(ctx, &flags.Flag{Key: key, Status: flags.StatusPercentage, Percentage: 5, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	w := newPlanWalk(t, s, key)
	w.check(ctx, "before the plan (5%)", 5)
	w.walk(ctx)
	if f, _ := s.Get(ctx, key); f.VariantHash != flags.VariantHashSalted {
		t.Errorf("variant_hash after the plan = %q, want salted", f.VariantHash)
	}
	w.haveprev = false
	if _, err := s.Put(ctx, &flags.Flag{Key: key, Status: flags.StatusEnabled, Variants: fiftyFifty}); err != nil {
		t.Fatal(err)
	}
	w.check(ctx, "enabled after the plan", 100)
}
