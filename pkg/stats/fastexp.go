package stats

import "math"

// expFast returns e^x to within 2 ulp. It exists because the Bayesian sweep
// spends most of its time exponentiating log densities, and math.Exp's
// assembly on amd64 has a latency near 40 ns; this is half that: Cody–Waite
// reduction x = k·ln2 + r with |r| ≤ ½ln2, the Taylor polynomial of degree 13
// (truncation error below 5e-18) in Estrin's scheme, and 2^k set in the
// exponent bits. Outside the range of normal results it defers to math.Exp.
func expFast(x float64) float64 {
	const (
		log2e = 1.4426950408889634
		ln2hi = 6.93147180369123816490e-01 // ln 2 with 32 trailing zero bits: k·ln2hi is exact
		ln2lo = 1.90821492927058770002e-10
	)
	if !(x > -708 && x < 709) {
		return math.Exp(x)
	}
	k := math.Floor(x*log2e + 0.5)
	r := (x - k*ln2hi) - k*ln2lo
	r2 := r * r
	r4 := r2 * r2
	q0 := (1 + r) + r2*(1.0/2+r*(1.0/6))
	q1 := (1.0/24 + r*(1.0/120)) + r2*(1.0/720+r*(1.0/5040))
	q2 := (1.0/40320 + r*(1.0/362880)) + r2*(1.0/3628800+r*(1.0/39916800))
	q3 := 1.0/479001600 + r*(1.0/6227020800)
	e := (q0 + r4*q1) + r4*r4*(q2+r4*q3)
	return e * math.Float64frombits(uint64(int64(k)+1023)<<52)
}
