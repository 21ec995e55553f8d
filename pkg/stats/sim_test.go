package stats

import (
	"math"
	"math/rand/v2"
	"testing"
)

// Simulations with fixed seeds: each runs in well under a second (a few
// under -race) and checks a property with a tolerance that a correct
// implementation meets with high probability, stated in standard errors.

// binomial draws Binomial(n, p) exactly, by jumping from one success to the
// next with geometric gaps: about n·p steps instead of n.
func binomial(r *rand.Rand, n int64, p float64) int64 {
	if p <= 0 {
		return 0
	}
	lq := math.Log1p(-p)
	var k, pos int64
	for {
		pos += int64(math.Log(1-r.Float64())/lq) + 1
		if pos > n {
			return k
		}
		k++
	}
}

// armDraw simulates n users who convert with probability p, each converter
// with a value drawn by value, and returns their counts.
func armDraw(r *rand.Rand, name string, n int64, p float64, value func() float64) Counts {
	c := Counts{Variant: name, Users: n, Converters: binomial(r, n, p)}
	c.Conversions = c.Converters
	for range c.Converters {
		v := value()
		c.ValueSum += v
		c.ValueSumSq += v * v
	}
	return c
}

func TestFalsePositiveRate(t *testing.T) {
	t.Parallel()
	// A/A tests at alpha 0.05: the share with p < 0.05 must be within
	// [4%, 6%]. The issue asks for 2,000 tests, but there the band is only
	// ±2 standard errors (0.49%) and a correct test would fail for one seed
	// in twenty; 8,000 make it ±4.1 standard errors (0.24%), so only a wrong
	// test fails. Values are exponential with mean 20 for the 10% who convert: a skewed,
	// zero-inflated metric like revenue. Conversions and values come from
	// separate streams, so the rate test depends only on PCG and Float64,
	// whose outputs Go keeps stable across releases.
	r := rand.New(rand.NewPCG(6, 2026))
	rv := rand.New(rand.NewPCG(7, 2026))
	const tests, n = 8000, 5000
	value := func() float64 { return 20 * rv.ExpFloat64() }
	var rateFP, valueFP int
	for range tests {
		res := Compare(Input{Variants: []Counts{armDraw(r, "a", n, 0.1, value), armDraw(r, "b", n, 0.1, value)}})
		vc := res.Variants[1].VsControl
		if vc.Rate.PValue.Value < 0.05 {
			rateFP++
		}
		if vc.Value.PValue.Value < 0.05 {
			valueFP++
		}
	}
	for _, x := range []struct {
		name string
		fp   int
	}{{"rate", rateFP}, {"value", valueFP}} {
		if rate := float64(x.fp) / tests; rate < 0.04 || rate > 0.06 {
			t.Errorf("%s test: false-positive rate %.3f over %d A/A tests, want 0.04–0.06", x.name, rate, tests)
		} else {
			t.Logf("%s test: false-positive rate %.4f", x.name, rate)
		}
	}
}

func TestPeeking(t *testing.T) {
	t.Parallel()
	// 1,000 A/A experiments, each looked at on 30 days (200 users per arm per
	// day, 10% conversion), stopping at the first p < 0.05. The fixed-horizon
	// test then "finds" an effect far more often than 5% (about 28% for 30
	// looks; 15% is 9 standard errors below); the sequential p-value, whose
	// running minimum is what is reported, must stay at or below 5% (it is
	// conservative, near 2%; 5% is 7 standard errors above that).
	r := rand.New(rand.NewPCG(30, 2026))
	const experiments, days, perDay = 1000, 30, 200
	cfg := newConfig(Input{}, &warnings{})
	var naive, sequential int
	for range experiments {
		var nA, nB, cA, cB float64
		stopNaive, stopSeq := false, false
		for range days {
			nA, nB = nA+perDay, nB+perDay
			cA += float64(binomial(r, perDay, 0.1))
			cB += float64(binomial(r, perDay, 0.1))
			a := arm{valid: true, n: nA, c: cA, p: cA / nA, v: cA / nA * (1 - cA/nA)}
			b := arm{valid: true, n: nB, c: cB, p: cB / nB, v: cB / nB * (1 - cB/nB)}
			rt := compareRates(&a, &b, cfg, scope{w: &warnings{}})
			stopNaive = stopNaive || rt.PValue.Value < 0.05
			stopSeq = stopSeq || rt.SequentialPValue.Value < 0.05
		}
		if stopNaive {
			naive++
		}
		if stopSeq {
			sequential++
		}
	}
	naiveRate, seqRate := float64(naive)/experiments, float64(sequential)/experiments
	t.Logf("30 looks: naive false-positive rate %.3f, sequential %.3f", naiveRate, seqRate)
	if naiveRate < 0.15 {
		t.Errorf("naive false-positive rate with 30 looks = %.3f, want clearly inflated (≥ 0.15)", naiveRate)
	}
	if seqRate > 0.05 {
		t.Errorf("sequential false-positive rate with 30 looks = %.3f, want ≤ 0.05", seqRate)
	}
}

func TestPower(t *testing.T) {
	t.Parallel()
	// A true 10% relative lift at the sample size the power function asks
	// for is detected (two-sided p < 0.05, right direction) in 80% of 2,000
	// experiments, within ±3 standard errors (±2.7 points).
	k := NormalQuantile(0.975) + zPower
	const experiments = 2000
	lo, hi := 0.8-3*math.Sqrt(0.8*0.2/experiments), 0.8+3*math.Sqrt(0.8*0.2/experiments)

	t.Run("rate", func(t *testing.T) {
		r := rand.New(rand.NewPCG(80, 1))
		pA, pB := 0.1, 0.11
		n := int64(usersPerArm(k, pA*(1-pA), pB*(1-pB), pB-pA))
		detected := 0
		for range experiments {
			a := armDraw(r, "a", n, pA, func() float64 { return 1 })
			b := armDraw(r, "b", n, pB, func() float64 { return 1 })
			res := Compare(Input{Variants: []Counts{a, b}})
			if rt := res.Variants[1].VsControl.Rate; rt.PValue.Value < 0.05 && rt.AbsLift.Value > 0 {
				detected++
			}
		}
		if p := float64(detected) / experiments; p < lo || p > hi {
			t.Errorf("power at %d users per arm = %.3f, want 0.8 ± %.3f", n, p, hi-0.8)
		} else {
			t.Logf("power at %d users per arm = %.4f", n, p)
		}
	})
	t.Run("value", func(t *testing.T) {
		// Every user has a normal value, mean 10 vs 11, sd 3.
		r := rand.New(rand.NewPCG(80, 2))
		n := int64(usersPerArm(k, 9, 9, 1))
		detected := 0
		for range experiments {
			a := armDraw(r, "a", n, 1, func() float64 { return 10 + 3*r.NormFloat64() })
			b := armDraw(r, "b", n, 1, func() float64 { return 11 + 3*r.NormFloat64() })
			res := Compare(Input{Variants: []Counts{a, b}})
			if v := res.Variants[1].VsControl.Value; v.PValue.Value < 0.05 && v.AbsLift.Value > 0 {
				detected++
			}
		}
		if p := float64(detected) / experiments; p < lo || p > hi {
			t.Errorf("power at %d users per arm = %.3f, want 0.8 ± %.3f", n, p, hi-0.8)
		} else {
			t.Logf("power at %d users per arm = %.4f", n, p)
		}
	})
}
