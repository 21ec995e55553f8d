package stats

import "math"

const (
	lnSqrt2Pi = 0.918938533204672741780329736406 // ½ ln 2π
	sqrtPi    = 1.772453850905516027298167483341 // √π
	sqrt2Pi   = 2.506628274631000502415765284811 // √(2π)
)

// log1pmx returns ln(1+y) − y without the cancellation of the direct form
// when y is small. The Beta and gamma densities are written with it so that
// their logarithms keep absolute precision next to the mode even when the
// counts are 1e8: there the naive a·ln x + b·ln(1−x) is a difference of
// numbers near 1e9 and keeps only about 1e-7 of absolute precision.
func log1pmx(y float64) float64 {
	switch a := math.Abs(y); {
	case a < 0.01:
		// Taylor: −y²/2 + y³/3 − …; the omitted y¹²/12 is below 1e-20 of
		// y²/2. Estrin's scheme keeps the dependency chain short.
		y2 := y * y
		y4 := y2 * y2
		p0 := (-1.0/2 + y*(1.0/3)) + y2*(-1.0/4+y*(1.0/5))
		p1 := (-1.0/6 + y*(1.0/7)) + y2*(-1.0/8+y*(1.0/9))
		p2 := -1.0/10 + y*(1.0/11)
		return y2 * (p0 + y4*(p1+y4*p2))
	case a < 0.1:
		// ln(1+y) = 2 atanh(s) with s = y/(2+y), and y − 2s = y·s, so
		// ln(1+y) − y = −y·s + 2s³(1/3 + s²/5 + s⁴/7 + …); |s| ≤ 0.053
		// makes seven terms exact to 1e-19 relative.
		s := y / (2 + y)
		s2 := s * s
		r := 1.0/3 + s2*(1.0/5+s2*(1.0/7+s2*(1.0/9+s2*(1.0/11+s2*(1.0/13+s2*(1.0/15))))))
		return -y*s + 2*s*s2*r
	}
	return math.Log1p(y) - y
}

// stirlingErr returns δ(x) = ln Γ(x) − ((x−½) ln x − x + ½ ln 2π), the error
// of Stirling's formula, which is also ln x! − (x ln x − x + ½ ln 2πx).
// Splitting it off lets differences of huge log-gamma values be written in
// closed form, leaving only these small corrections to subtract.
func stirlingErr(x float64) float64 {
	if x < 10 {
		lg, _ := math.Lgamma(x)
		return lg - ((x-0.5)*math.Log(x) - x + lnSqrt2Pi)
	}
	// Σ B₂ₖ/(2k(2k−1)x^(2k−1)); at x = 10 the first omitted term is 3e-17.
	x2 := 1 / (x * x)
	return (1.0/12 - x2*(1.0/360-x2*(1.0/1260-x2*(1.0/1680-x2*(1.0/1188-x2*(691.0/360360-x2*(1.0/156))))))) / x
}

// lgammaRatioHalf returns ln Γ(a+½) − ln Γ(a). For large a both log-gamma
// values are near a·ln a and their difference (about ½ ln a) would lose
// digits; the Stirling form has no such cancellation.
func lgammaRatioHalf(a float64) float64 {
	if a < 10 {
		l1, _ := math.Lgamma(a + 0.5)
		l0, _ := math.Lgamma(a)
		return l1 - l0
	}
	// (a)·ln(a+½) − (a−½)·ln a − ½ = a·(ln(1+1/2a) − 1/2a) + ½ ln a
	return a*log1pmx(0.5/a) + 0.5*math.Log(a) + stirlingErr(a+0.5) - stirlingErr(a)
}

// logGammaPrefix returns s·ln x − x − ln Γ(s), the log of the factor in
// front of both incomplete-gamma expansions.
func logGammaPrefix(s, x float64) float64 {
	if s < 10 {
		lg, _ := math.Lgamma(s)
		return s*math.Log(x) - x - lg
	}
	// = s·(ln(x/s) − (x−s)/s) + ½ ln(s/2π) − δ(s): no large terms cancel.
	return s*log1pmx((x-s)/s) + 0.5*math.Log(s) - lnSqrt2Pi - stirlingErr(s)
}

// gammaQ returns the regularized upper incomplete gamma function
// Q(s, x) = Γ(s, x)/Γ(s) for s > 0, x ≥ 0: the power series for P = 1 − Q
// below x = s+1 (where Q is not small, so 1 − P keeps its digits) and
// Legendre's continued fraction above, evaluated with the modified Lentz
// method (Numerical Recipes §6.2).
func gammaQ(s, x float64) float64 {
	switch {
	case math.IsNaN(s) || math.IsNaN(x) || s <= 0 || x < 0:
		return math.NaN()
	case x == 0:
		return 1
	case math.IsInf(x, 1):
		return 0
	}
	lp := logGammaPrefix(s, x)
	if x < s+1 {
		ap, del := s, 1/s
		sum := del
		for range 100000 {
			ap++
			del *= x / ap
			sum += del
			if del < sum*1e-17 {
				break
			}
		}
		return 1 - sum*math.Exp(lp)
	}
	if lp < -745 {
		return 0
	}
	const tiny = 1e-300
	b := x + 1 - s
	c, d := 1/tiny, 1/b
	h := d
	for i := 1; i < 100000; i++ {
		an := -float64(i) * (float64(i) - s)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		del := d * c
		h *= del
		if math.Abs(del-1) < 1e-16 {
			break
		}
	}
	return math.Exp(lp) * h
}
