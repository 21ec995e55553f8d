package stats

import "math"

// NormalTail returns P(Z > z) for a standard normal Z. It is computed from
// the complementary error function, never as 1 − Φ(z), so a p-value of
// 1e-300 keeps all its digits; it underflows to 0 only beyond z ≈ 38.
func NormalTail(z float64) float64 {
	return 0.5 * math.Erfc(z/math.Sqrt2)
}

// NormalCDF returns Φ(z) = P(Z ≤ z).
func NormalCDF(z float64) float64 {
	return 0.5 * math.Erfc(-z/math.Sqrt2)
}

func normalPDF(z float64) float64 {
	return math.Exp(-0.5*z*z) / sqrt2Pi
}

// NormalQuantile returns Φ⁻¹(p), the z with Φ(z) = p; ±Inf at p = 0 and 1.
// The lower tail is solved directly (never through 1 − p), so quantiles of
// p = 1e-300 are exact to the last few digits.
func NormalQuantile(p float64) float64 {
	switch {
	case math.IsNaN(p) || p < 0 || p > 1:
		return math.NaN()
	case p == 0:
		return math.Inf(-1)
	case p == 1:
		return math.Inf(1)
	case p > 0.5:
		return normalUpperQuantile(1 - p) // exact: 1 − p has no rounding for p ≥ ½
	}
	return -normalUpperQuantile(p)
}

// normalUpperQuantile returns z ≥ 0 with P(Z > z) = q for 0 < q ≤ ½:
// Abramowitz & Stegun 26.2.23 (error below 4.5e-4) as the start, then
// Halley steps on the tail itself, which converge cubically.
func normalUpperQuantile(q float64) float64 {
	if q == 0.5 {
		return 0
	}
	t := math.Sqrt(-2 * math.Log(q))
	z := t - (2.515517+t*(0.802853+t*0.010328))/(1+t*(1.432788+t*(0.189269+t*0.001308)))
	lq := math.Log(q)
	for range 6 {
		// u = (Q(z) − q)/φ(z) is the Newton step; Halley divides it by
		// 1 − z·u/2. q/φ(z) is formed in logs so it cannot overflow.
		u := (NormalTail(z)/q - 1) * math.Exp(lq+0.5*z*z+lnSqrt2Pi)
		step := u / (1 - 0.5*z*u)
		z += step
		if math.Abs(step) <= 1e-16*math.Max(1, z) {
			break
		}
	}
	return z
}
