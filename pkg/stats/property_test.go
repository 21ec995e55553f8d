package stats

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// randomInput draws 2–5 variants with user counts from 0 to 1e9 on a log
// scale, converters anywhere from none to all, and consistent value sums
// (negative means and zero variances included), plus sometimes weights.
func randomInput(r *rand.Rand) Input {
	nv := 2 + r.IntN(4)
	in := Input{Variants: make([]Counts, nv)}
	if r.IntN(3) > 0 {
		in.Confidence = []float64{0.8, 0.9, 0.95, 0.99, 0.999}[r.IntN(5)]
	}
	if r.IntN(2) == 0 {
		in.Weights = make([]float64, nv)
		for i := range in.Weights {
			in.Weights[i] = float64(r.IntN(4))
		}
	}
	for i := range in.Variants {
		c := &in.Variants[i]
		c.Variant = fmt.Sprintf("v%d", i)
		switch r.IntN(8) {
		case 0:
			c.Users = int64(r.IntN(3)) // 0, 1 or 2 users
		default:
			c.Users = int64(math.Pow(10, 9*r.Float64()))
		}
		switch r.IntN(5) {
		case 0:
			c.Converters = 0
		case 1:
			c.Converters = c.Users
		default:
			c.Converters = int64(r.Float64() * float64(c.Users+1))
			c.Converters = min(c.Converters, c.Users)
		}
		c.Conversions = c.Converters + int64(r.IntN(3))*c.Converters/2
		if c.Users > 0 {
			mean := math.Pow(10, 4*r.Float64()-2)
			if r.IntN(6) == 0 {
				mean = -mean
			}
			if r.IntN(6) == 0 {
				mean = 0
			}
			variance := mean * mean * math.Pow(10, 3*r.Float64()-1)
			if r.IntN(6) == 0 {
				variance = 0
			}
			n := float64(c.Users)
			c.ValueSum = n * mean
			c.ValueSumSq = n * (variance + mean*mean)
		}
	}
	return in
}

// checkResult asserts the properties every Result must have.
func checkResult(t *testing.T, in Input, r Result) {
	t.Helper()
	for _, p := range auditJSON(t, r) {
		t.Errorf("%+v: %s", in, p)
	}
	prob := func(name string, n Number) {
		if n.Valid && !(n.Value >= 0 && n.Value <= 1) {
			t.Errorf("%+v: %s = %v, not a probability", in, name, n.Value)
		}
	}
	holds := func(name string, iv Interval, x Number) {
		if iv.Valid && !(iv.Lo <= iv.Hi) {
			t.Errorf("%+v: %s = %v is reversed", in, name, iv)
		}
		if iv.Valid && x.Valid && !iv.Contains(x.Value) {
			t.Errorf("%+v: %s = %v does not hold its estimate %v", in, name, iv, x.Value)
		}
	}
	prob("srm p", r.SRM.PValue)
	alpha := 1 - r.Confidence
	for _, v := range r.Variants {
		prob(v.Variant+" rate", v.Rate)
		holds(v.Variant+" rate_ci", v.RateCI, v.Rate)
		if v.VsControl == nil {
			continue
		}
		for _, blk := range []struct {
			name string
			l    Lift
			inf  Inference
		}{{"rate", v.VsControl.Rate.Lift, v.VsControl.Rate.Inference}, {"value", v.VsControl.Value.Lift, v.VsControl.Value.Inference}} {
			name := v.Variant + " " + blk.name
			for _, p := range []struct {
				n string
				x Number
			}{{"p", blk.inf.PValue}, {"holm", blk.inf.PValueHolm}, {"sequential p", blk.inf.SequentialPValue}, {"chance", blk.inf.ChanceToBeatControl}} {
				prob(name+" "+p.n, p.x)
			}
			if blk.inf.PValueHolm.Valid && blk.inf.PValueHolm.Value < blk.inf.PValue.Value {
				t.Errorf("%+v: %s holm %v below raw %v", in, name, blk.inf.PValueHolm.Value, blk.inf.PValue.Value)
			}
			holds(name+" abs_ci", blk.l.AbsCI, blk.l.AbsLift)
			holds(name+" rel_ci", blk.l.RelCI, blk.l.RelLift)
			holds(name+" sequential_ci", blk.inf.SequentialCI, blk.l.AbsLift)
			for _, loss := range []Number{blk.inf.ExpectedLoss, blk.inf.ExpectedLossKeepControl} {
				if loss.Valid && loss.Value < 0 {
					t.Errorf("%+v: %s expected loss %v < 0", in, name, loss.Value)
				}
			}
			// Test and interval agree (with a margin for ties at the edge).
			if p, iv := blk.inf.PValue, blk.l.AbsCI; p.Valid && iv.Valid && math.Abs(p.Value-alpha) > 1e-9*alpha {
				if (p.Value < alpha) == iv.Contains(0) {
					t.Errorf("%+v: %s p = %v but the interval %v %s 0", in, name, p.Value, iv, map[bool]string{true: "holds", false: "excludes"}[iv.Contains(0)])
				}
			}
			if p, iv := blk.inf.SequentialPValue, blk.inf.SequentialCI; p.Valid && iv.Valid && math.Abs(p.Value-alpha) > 1e-9*alpha {
				if (p.Value < alpha) == iv.Contains(0) {
					t.Errorf("%+v: %s sequential p = %v but its interval %v", in, name, p.Value, iv)
				}
			}
		}
	}
}

func TestProperties(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(7, 7))
	for range 2000 {
		in := randomInput(r)
		checkResult(t, in, Compare(in))
		if t.Failed() {
			return
		}
	}
}

func TestSwapSymmetry(t *testing.T) {
	t.Parallel()
	// Swapping control and treatment negates the lift, z and t, keeps the
	// p-values, and turns the chance to beat into its complement and the two
	// expected losses into each other.
	r := rand.New(rand.NewPCG(8, 8))
	for range 1000 {
		in := randomInput(r)
		in.Variants, in.Weights = in.Variants[:2], nil
		ab := Compare(in)
		in.Variants[0], in.Variants[1] = in.Variants[1], in.Variants[0]
		ba := Compare(in)
		x, y := ab.Variants[1].VsControl, ba.Variants[1].VsControl
		near := func(name string, a, b Number) {
			if a.Valid != b.Valid || a.Valid && math.Abs(a.Value-b.Value) > 1e-12*math.Max(1, math.Abs(a.Value)) {
				t.Errorf("%+v: %s: %v and %v after the swap", in, name, a, b)
			}
		}
		neg := func(n Number) Number { return Number{-n.Value, n.Valid} }
		comp := func(n Number) Number { return Number{1 - n.Value, n.Valid} }
		near("rate abs_lift", x.Rate.AbsLift, neg(y.Rate.AbsLift))
		near("rate z", x.Rate.Z, neg(y.Rate.Z))
		near("rate p", x.Rate.PValue, y.Rate.PValue)
		near("rate sequential p", x.Rate.SequentialPValue, y.Rate.SequentialPValue)
		near("rate chance", x.Rate.ChanceToBeatControl, comp(y.Rate.ChanceToBeatControl))
		near("rate loss", x.Rate.ExpectedLoss, y.Rate.ExpectedLossKeepControl)
		near("rate abs_ci low", Number{x.Rate.AbsCI.Lo, x.Rate.AbsCI.Valid}, Number{-y.Rate.AbsCI.Hi, y.Rate.AbsCI.Valid})
		near("value abs_lift", x.Value.AbsLift, neg(y.Value.AbsLift))
		near("value t", x.Value.T, neg(y.Value.T))
		near("value df", x.Value.DF, y.Value.DF)
		near("value p", x.Value.PValue, y.Value.PValue)
		near("value chance", x.Value.ChanceToBeatControl, comp(y.Value.ChanceToBeatControl))
		near("value loss", x.Value.ExpectedLoss, y.Value.ExpectedLossKeepControl)
		if t.Failed() {
			return
		}
	}
}
