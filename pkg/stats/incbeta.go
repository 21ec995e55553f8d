package stats

import "math"

// betaCF evaluates the continued fraction of the regularized incomplete beta
// function, I_x(a, b) = x^a (1−x)^b / (a·B(a, b)) · betaCF(a, b, x), with
// the modified Lentz method (Numerical Recipes §6.4). It converges quickly
// for x < (a+1)/(a+b+2); callers use the symmetry I_x(a,b) = 1 − I_{1−x}(b,a)
// on the other side. The prefactor is left to the caller, who can form it in
// logs from quantities that do not lose digits.
//
// The fraction depends on x itself, and x carries a rounding error of about
// 1e-16: when a is large and x is close to 1 that error is amplified about
// a-fold, which is why Student's t with large df does not come here (see
// studentTTailLarge).
func betaCF(a, b, x float64) float64 {
	const tiny = 1e-300
	qab, qap, qam := a+b, a+1, a-1
	c, d := 1.0, 1-qab*x/qap
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 10000; m++ {
		fm := float64(m)
		m2 := 2 * fm
		aa := fm * (b - fm) * x / ((qam + m2) * (a + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		h *= d * c
		aa = -(a + fm) * (qab + fm) * x / ((a + m2) * (qap + m2))
		d = 1 + aa*d
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = 1 + aa/c
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
	return h
}
