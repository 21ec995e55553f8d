package stats

import "math"

// wilson returns the Wilson score interval (Wilson 1927) for c successes in
// n > 0 trials at critical value z: the p with |p̂ − p| ≤ z·√(p(1−p)/n).
// Unlike the Wald interval p̂ ± z·√(p̂(1−p̂)/n) it is not degenerate at c = 0
// or c = n and keeps close to nominal coverage for small counts.
//
// With s = √(c(n−c)/n + z²/4) and U = c + z²/2 + z·s the textbook ends are
// (c + z²/2 ∓ z·s)/(n + z²). The upper end U/(n + z²) adds positive terms;
// the lower end would subtract nearly equal ones when c is small, so it is
// computed as c²/(n·U), the same value after multiplying by the conjugate.
// Above c = n/2 the interval is mirrored from that of the n − c failures,
// so that c = n gives exactly 1 and every end keeps its relative precision.
func wilson(c, n, z float64) (lo, hi float64) {
	if c > n/2 {
		l, h := wilson(n-c, n, z)
		return 1 - h, 1 - l
	}
	z2 := z * z
	u := c + z2/2 + z*math.Sqrt(c*(n-c)/n+z2/4)
	return c * c / (n * u), u / (n + z2)
}
