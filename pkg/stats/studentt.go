package stats

import "math"

// Student's t distribution for any real df > 0.
//
// The tail P(T > t) = ½·I_x(ν/2, ½) with x = ν/(ν+t²) is the regularized
// incomplete beta function. For df < 100, or far out in the tail, it comes
// from the continued fraction with its prefactor formed in logs. For large
// df the continued fraction is not accurate enough: x is within 1e-9 of 1
// at df = 1e9 and its own rounding error is amplified by about df/2 (1e-8
// relative at df = 1e9). There the tail comes from an expansion in 1/df
// that never forms x, only ln(1+t²/ν) (Temme's uniform expansion in the form
// DiDonato & Morris 1992, ACM TOMS 708, use for a large and b ≤ 1, "BGRAT"):
//
//	I_x(a, ½) = Γ(a+½)/(Γ(a)·√(πT)) · Σₙ dₙ T^(−2n) Γ(½+2n, z),
//	T = a − ¼,  z = T·ln(1+t²/ν),
//
// where Γ(s, z) is the upper incomplete gamma function and dₙ are the
// coefficients of (sinh(u/2)/(u/2))^(−½) = Σ dₙ u^(2n). Its first term is
// already the normal tail Φ̄(√(2z)), and the sum converges geometrically for
// ln(1+t²/ν) < 2π; it is used up to 2, where ten to fifteen terms give full
// double precision.

// StudentTTail returns P(T > t) for Student's t with df degrees of freedom
// (df > 0, not necessarily an integer; df = +Inf is the normal).
func StudentTTail(t, df float64) float64 {
	switch {
	case math.IsNaN(t) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case t < 0:
		return 1 - tTail(-t, df)
	}
	return tTail(t, df)
}

// StudentTCDF returns P(T ≤ t) for Student's t with df degrees of freedom.
func StudentTCDF(t, df float64) float64 {
	return StudentTTail(-t, df)
}

// StudentTQuantile returns the t with P(T ≤ t) = p for Student's t with df
// degrees of freedom; ±Inf at p = 0 and 1.
func StudentTQuantile(p, df float64) float64 {
	switch {
	case math.IsNaN(p) || math.IsNaN(df) || df <= 0 || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p == 0.5:
		return 0
	case p > 0.5:
		return tUpperQuantile(1-p, df) // 1 − p is exact for p ≥ ½
	}
	return -tUpperQuantile(p, df)
}

// dfNormal is the df beyond which t is the normal to better than 1e-24.
const dfNormal = 1e30

// tTail returns P(T > t) for t ≥ 0, at most ½ (rounding near t = 0 could
// otherwise give ½ + 1e-16, and a two-sided p-value above 1).
func tTail(t, nu float64) float64 {
	return math.Min(0.5, tTailRaw(t, nu))
}

func tTailRaw(t, nu float64) float64 {
	switch {
	case t == 0:
		return 0.5
	case math.IsInf(t, 1):
		return 0
	case nu > dfNormal:
		return NormalTail(t)
	}
	u := log1pSq(t, nu)
	if nu >= 100 && u <= 2 {
		return tTailLarge(nu, u)
	}
	a := nu / 2
	lx := -u                      // ln x,     x = ν/(ν+t²)
	ly := -math.Log1p(nu / t / t) // ln(1−x),  1−x = t²/(ν+t²)
	lbeta := 0.5*math.Log(math.Pi) - lgammaRatioHalf(a)
	pre := math.Exp(a*lx + 0.5*ly - lbeta)
	if x := math.Exp(lx); x < (a+1)/(a+2.5) {
		return 0.5 * pre * betaCF(a, 0.5, x) / a
	}
	// I_x(a, ½) = 1 − I_y(½, a): here t² < 3 or so and the tail exceeds 0.04,
	// so the subtraction costs at most a digit.
	return 0.5 - pre*betaCF(0.5, a, math.Exp(ly))
}

// log1pSq returns ln(1 + t²/ν) without overflow for huge t.
func log1pSq(t, nu float64) float64 {
	if t < 1e150 {
		return math.Log1p(t * t / nu)
	}
	return 2*math.Log(t) - math.Log(nu) + math.Log1p(nu/t/t)
}

// tExpCoef holds dₙ, the coefficients of (sinh(u/2)/(u/2))^(−½) = Σ dₙ u^(2n),
// from J.C.P. Miller's recurrence for a power of a power series.
var tExpCoef = func() [24]float64 {
	var c, d [24]float64
	f := 1.0
	for k := range c { // sinh(v)/v with v = u/2: Σ u^(2k) / (4^k (2k+1)!)
		if k > 0 {
			f *= float64(2*k) * float64(2*k+1) * 4
		}
		c[k] = 1 / f
	}
	const power = -0.5
	d[0] = 1
	for n := 1; n < len(d); n++ {
		s := 0.0
		for k := 1; k <= n; k++ {
			s += (float64(k)*(power+1) - float64(n)) * c[k] * d[n-k]
		}
		d[n] = s / float64(n)
	}
	return d
}()

// tTailLarge returns P(T > t) for df ≥ 100 and u = ln(1+t²/ν) ≤ 2 from the
// expansion described at the top of this file.
func tTailLarge(nu, u float64) float64 {
	a := nu / 2
	T := a - 0.25
	z := T * u
	if z > 746 { // the tail is below the smallest float64
		return 0
	}
	sz := math.Sqrt(z)
	g := sqrtPi * math.Erfc(sz) // Γ(½, z)
	w := sz * math.Exp(-z)      // z^s e^(−z) for s = ½
	s, scale, inv := 0.5, 1.0, 1/(T*T)
	sum := g
	for n := 1; n < len(tExpCoef); n++ {
		// Γ(s+1, z) = s·Γ(s, z) + z^s e^(−z): only positive terms.
		g = s*g + w
		w *= z
		s++
		g = s*g + w
		w *= z
		s++
		scale *= inv
		term := tExpCoef[n] * scale * g
		sum += term
		if math.Abs(term) <= 1e-17*sum {
			break
		}
	}
	return 0.5 * math.Exp(lgammaRatioHalf(a)-0.5*math.Log(math.Pi*T)) * sum
}

// tLogPDF returns the log density of Student's t at t.
func tLogPDF(t, nu float64) float64 {
	a := nu / 2
	return lgammaRatioHalf(a) - 0.5*math.Log(nu*math.Pi) - (a+0.5)*log1pSq(math.Abs(t), nu)
}

// tUpperQuantile returns t > 0 with P(T > t) = q for 0 < q < ½.
func tUpperQuantile(q, nu float64) float64 {
	switch {
	case nu == 1: // Cauchy
		return 1 / math.Tan(math.Pi*q)
	case nu == 2:
		return (1 - 2*q) / math.Sqrt(2*q*(1-q))
	case nu > dfNormal:
		return normalUpperQuantile(q)
	}
	// Bracket ln t: the normal quantile is below (t has heavier tails), and
	// since the density is below C·(t²/ν)^(−(ν+1)/2), the tail is below
	// C·ν^((ν−1)/2)·t^(−ν), whose inverse is above.
	z := normalUpperQuantile(q)
	lnC := lgammaRatioHalf(nu/2) - 0.5*math.Log(nu*math.Pi)
	lq := math.Log(q)
	lo, hi := math.Log(z), (lnC+0.5*(nu-1)*math.Log(nu)-lq)/nu
	// Start from the Cornish–Fisher expansion (Abramowitz & Stegun 26.7.5).
	z2 := z * z
	g := z * (1 + (z2+1)/(4*nu) +
		(3+z2*(16+z2*5))/(96*nu*nu) +
		(-15+z2*(17+z2*(19+z2*3)))/(384*nu*nu*nu) +
		(-945+z2*(-1920+z2*(1482+z2*(776+z2*79))))/(92160*nu*nu*nu*nu))
	u := math.Log(g)
	if !(u > lo && u < hi) {
		u = hi
	}
	// Newton on ln P(T > e^u) = ln q, keeping the bracket; a step that
	// would leave it bisects instead.
	for range 200 {
		t := math.Exp(u)
		tail := tTail(t, nu)
		f := math.Log(tail) - lq
		switch {
		case f == 0:
			return t
		case f > 0:
			lo = u
		default:
			hi = u
		}
		step := f * tail / (t * math.Exp(tLogPDF(t, nu))) // −f/(d ln tail/du)
		if math.Abs(step) <= 1e-15 {
			return math.Exp(u + step)
		}
		u += step
		if !(u > lo && u < hi) {
			u = 0.5 * (lo + hi)
		}
	}
	return math.Exp(u)
}
