package stats

import "math"

// Sequential testing (always valid inference).
//
// A fixed-horizon p-value is valid once, at a sample size fixed in advance;
// looking every day and stopping at the first p < alpha inflates the false
// positive rate several-fold. The mixture sequential probability ratio test
// (mSPRT, Johari, Koomen, Pekelis & Walsh, "Peeking at A/B Tests", KDD 2017),
// in the form GrowthBook documents, gives a p-value and an interval that are
// valid at every look. For an estimate with standard error se, z = estimate/se,
// N = n_A + n_B users, and the normal mixing distribution tuned to N* users:
//
//	ρ² = (−2 ln α + ln(−2 ln α + 1)) / N*
//	Λ  = exp(ρ²·N·z² / (2(Nρ²+1))) / √(Nρ²+1)
//	p  = min(1, 1/Λ)
//	half-width = se·√N·√(2(Nρ²+1)/(N²ρ²) · ln(√(Nρ²+1)/α))
//
// Λ is the likelihood ratio of "effect θ" over "no effect" averaged over
// θ ~ N(0, Nρ²) in units of se; the interval is the set of effects whose
// shifted p is at least α, so 0 is outside it exactly when p < α. Over a
// daily series the always-valid p-value is the running minimum.

// seqRho2 returns ρ² for significance level alpha and tuning N*.
func seqRho2(alpha, tuning float64) float64 {
	l := -2 * math.Log(alpha)
	return (l + math.Log1p(l)) / tuning
}

// seqPValue returns the mSPRT p-value for statistic z after n users.
func seqPValue(z, n, rho2 float64) float64 {
	v := n * rho2
	lp := 0.5*math.Log1p(v) - v*z*z/(2*(1+v)) // ln(1/Λ)
	if lp >= 0 {
		return 1
	}
	return math.Exp(lp)
}

// seqHalfWidth returns the half-width of the always-valid interval.
func seqHalfWidth(se, n, rho2, alpha float64) float64 {
	v := n * rho2
	return se * math.Sqrt(2*(v+1)/v*(0.5*math.Log1p(v)-math.Log(alpha)))
}

// RunningMin returns the running minimum of a daily series of sequential
// p-values: the always-valid p-value to report on each day. An undefined
// day keeps the minimum so far (undefined until a day is defined).
func RunningMin(p []Number) []Number {
	out := make([]Number, len(p))
	var m Number
	for i, x := range p {
		if x.Valid && (!m.Valid || x.Value < m.Value) {
			m = x
		}
		out[i] = m
	}
	return out
}

// ApplyRunningMin replaces, in a series of results computed on cumulative
// counts day by day, every sequential p-value by its running minimum over
// the days so far (matching treatments by name), as /daily reports them.
func ApplyRunningMin(days []Result) {
	type key struct {
		variant string
		block   int
	}
	min := make(map[key]Number)
	for d := range days {
		for v := range days[d].Variants {
			vr := &days[d].Variants[v]
			if vr.VsControl == nil {
				continue
			}
			for block, p := range []*Number{&vr.VsControl.Rate.SequentialPValue, &vr.VsControl.Value.SequentialPValue} {
				k := key{vr.Variant, block}
				if m := min[k]; m.Valid && (!p.Valid || m.Value < p.Value) {
					*p = m
				}
				min[k] = *p
			}
		}
	}
}
