package stats

import (
	"testing"
)

func TestWilsonTextbook(t *testing.T) {
	// Newcombe (1998), "Two-sided confidence intervals for the single
	// proportion", Statistics in Medicine 17: Table I, method 3 (score
	// interval without continuity correction), to its 4 decimals.
	tests := []struct {
		c, n   float64
		lo, hi float64
	}{
		{81, 263, 0.2553, 0.3662},
		{15, 148, 0.0624, 0.1605},
		{0, 20, 0, 0.1611},
		{1, 29, 0.0061, 0.1718},
	}
	z := NormalQuantile(0.975)
	for _, tt := range tests {
		lo, hi := wilson(tt.c, tt.n, z)
		if d := 0.5e-4; lo < tt.lo-d || lo > tt.lo+d || hi < tt.hi-d || hi > tt.hi+d {
			t.Errorf("wilson(%v, %v) = [%.5f, %.5f], want [%v, %v]", tt.c, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

// refWilson returns the roots of (1 + z²/n)p² − (2p̂ + z²/n)p + p̂² = 0, the
// ends of the score interval, by the quadratic formula in 256-bit floats.
func refWilson(c, n, z float64) (lo, hi float64) {
	const prec = 256
	bc, bn, bz := bigFrom(c, prec), bigFrom(n, prec), bigFrom(z, prec)
	z2n := bigF(prec).Quo(bigF(prec).Mul(bz, bz), bn)
	ph := bigF(prec).Quo(bc, bn)
	a := bigF(prec).Add(bigFrom(1, prec), z2n)
	b := bigF(prec).Add(bigF(prec).Mul(bigFrom(2, prec), ph), z2n)
	cc := bigF(prec).Mul(ph, ph)
	disc := bigF(prec).Sub(bigF(prec).Mul(b, b), bigF(prec).Mul(bigFrom(4, prec), bigF(prec).Mul(a, cc)))
	sq := bigF(prec).Sqrt(disc)
	two := bigF(prec).Mul(bigFrom(2, prec), a)
	l, _ := bigF(prec).Quo(bigF(prec).Sub(b, sq), two).Float64()
	h, _ := bigF(prec).Quo(bigF(prec).Add(b, sq), two).Float64()
	return l, h
}

func TestWilsonReference(t *testing.T) {
	for _, z := range []float64{NormalQuantile(0.975), NormalQuantile(0.995), 1} {
		for _, cn := range [][2]float64{{0, 1}, {1, 1}, {0, 10}, {3, 10}, {10, 10}, {1, 1e9}, {0, 1e9}, {5e8, 1e9}, {999_999_999, 1e9}, {511, 5012}, {17, 123456}} {
			c, n := cn[0], cn[1]
			lo, hi := wilson(c, n, z)
			wlo, whi := refWilson(c, n, z)
			if relErr(lo, wlo) > 1e-13 || relErr(hi, whi) > 1e-13 {
				t.Errorf("wilson(%v, %v, %v) = [%.17g, %.17g], want [%.17g, %.17g]", c, n, z, lo, hi, wlo, whi)
			}
			if p := c / n; !(lo <= p && p <= hi && 0 <= lo && hi <= 1) {
				t.Errorf("wilson(%v, %v) = [%v, %v] does not hold %v within [0, 1]", c, n, lo, hi, p)
			}
		}
	}
}

// At c = 0 and c = n the interval must reach exactly 0 and 1.
func TestWilsonEnds(t *testing.T) {
	if lo, _ := wilson(0, 50, 1.96); lo != 0 {
		t.Errorf("wilson(0, 50) lower end = %v, want 0", lo)
	}
	if _, hi := wilson(186736653, 186736653, 1.96); hi != 1 {
		t.Errorf("wilson(n, n) upper end = %v, want 1", hi)
	}
}
