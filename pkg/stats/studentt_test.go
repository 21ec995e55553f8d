package stats

import (
	"math"
	"testing"
)

// tGrid is the df range of the accuracy claim, with the switch between the
// continued fraction and the large-df expansion (df = 100, t²/df = e²−1)
// straddled on both sides.
var tGrid = []float64{1, 1.5, 2, 3, 4.7, 10, 30, 99, 99.5, 100, 100.5, 150, 999, 1000, 12345.5, 1e5, 1e6, 1e7, 1e8, 1e9}

func TestStudentTTailReference(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("math/big references take a few seconds")
	}
	ts := []float64{0.05, 0.7, 1.7, 2.5, 4, 7, 12, 25, 40, 80, 300, 1e4}
	for _, nu := range tGrid {
		for _, x := range ts {
			if t2 := x * x; nu > 1e4 && t2 > 1500 {
				continue // below 1e-300 for large df
			}
			want := refTTail(x, nu)
			if want < 1e-300 {
				continue
			}
			got := StudentTTail(x, nu)
			if e := relErr(got, want); e > 1e-10 {
				t.Errorf("StudentTTail(%v, %v) = %.17g, want %.17g (rel err %.1e)", x, nu, got, want, e)
			}
			if got := StudentTCDF(-x, nu); relErr(got, want) > 1e-10 {
				t.Errorf("StudentTCDF(%v, %v) = %.17g, want %.17g", -x, nu, got, want)
			}
		}
	}
}

func TestStudentTClosedForms(t *testing.T) {
	// df = 1 (Cauchy) and df = 2 have closed forms: P(T > t) = atan(1/t)/π
	// and 1/(√(t²+2)·(√(t²+2)+t)), exact in float64 to a few ulp from t near 0
	// to 1e200. The general code forms t^(−df) as exp(−df·ln t), whose
	// rounding grows with ln t: 1e-13 covers t = 1e200.
	for _, x := range []float64{1e-8, 0.3, 1, 3, 10, 1e3, 1e8, 1e50, 1e200} {
		if got, want := StudentTTail(x, 1), math.Atan(1/x)/math.Pi; relErr(got, want) > 1e-13 {
			t.Errorf("StudentTTail(%v, 1) = %.17g, want %.17g", x, got, want)
		}
		r := math.Sqrt(x*x + 2)
		if x > 1e100 {
			r = x
		}
		if got, want := StudentTTail(x, 2), 1/(r*(r+x)); relErr(got, want) > 1e-13 {
			t.Errorf("StudentTTail(%v, 2) = %.17g, want %.17g", x, got, want)
		}
	}
	if got := StudentTTail(0, 7.3); got != 0.5 {
		t.Errorf("StudentTTail(0, 7.3) = %v, want 0.5", got)
	}
	if got, want := StudentTTail(3, math.Inf(1)), NormalTail(3); got != want {
		t.Errorf("StudentTTail(3, Inf) = %v, want the normal %v", got, want)
	}
}

func TestStudentTQuantile(t *testing.T) {
	t.Parallel()
	tests := []struct{ p, df, want float64 }{ // printed t tables, to their 4 decimals
		{0.975, 1, 12.7062},
		{0.975, 2, 4.3027},
		{0.975, 5, 2.5706},
		{0.975, 10, 2.2281},
		{0.975, 30, 2.0423},
		{0.975, 120, 1.9799},
		{0.995, 10, 3.1693},
		{0.025, 20, -2.0860},
	}
	for _, tt := range tests {
		if got := StudentTQuantile(tt.p, tt.df); math.Abs(got-tt.want) > 0.5e-4 {
			t.Errorf("StudentTQuantile(%v, %v) = %.6f, want %v", tt.p, tt.df, got, tt.want)
		}
	}
	// Closed forms: tan(π(p − ½)) for df = 1, (2p−1)/√(2p(1−p)) for df = 2.
	if got, want := StudentTQuantile(0.975, 1), 12.706204736174704; relErr(got, want) > 1e-15 {
		t.Errorf("StudentTQuantile(0.975, 1) = %.17g, want %.17g", got, want)
	}
	if got, want := StudentTQuantile(0.975, 2), 0.95/math.Sqrt(2*0.975*0.025); relErr(got, want) > 1e-15 {
		t.Errorf("StudentTQuantile(0.975, 2) = %.17g, want %.17g", got, want)
	}
	for _, nu := range []float64{1, 3.3, 1e6} { // symmetry
		if lo, hi := StudentTQuantile(0.025, nu), StudentTQuantile(0.975, nu); relErr(-lo, hi) > 1e-15 {
			t.Errorf("StudentTQuantile(0.025, %v) = %v, not minus the 0.975 quantile %v", nu, lo, hi)
		}
	}
	if testing.Short() {
		return
	}
	// Round trip through the math/big tail: the implied relative error of t
	// is |T_ref(t) − q| / (t·f(t)).
	for _, nu := range tGrid {
		for _, q := range []float64{0.3, 0.025, 1e-4, 1e-10, 1e-40, 1e-150} {
			x := -StudentTQuantile(q, nu)
			want := refTTail(x, nu)
			implied := math.Abs(want-q) / (x * math.Exp(tLogPDF(x, nu)))
			if implied > 1e-11 {
				t.Errorf("StudentTQuantile for tail %v, df %v = %.17g: off by %.1e relative", q, nu, x, implied)
			}
		}
	}
}

func TestStudentTMonotone(t *testing.T) {
	// The tail must fall with t and, for fixed t > 0, with df; crossing the
	// method boundaries must not open a gap.
	for _, nu := range []float64{99.999, 100, 100.001, 2e3, 1e9} {
		prev := 0.5
		for x := 0.01; x < 60; x *= 1.07 {
			tail := StudentTTail(x, nu)
			if !(tail <= prev) {
				t.Fatalf("StudentTTail(%v, %v) = %v exceeds the value %v at a smaller t", x, nu, tail, prev)
			}
			prev = tail
		}
	}
	for _, x := range []float64{1, 2.5, 8} {
		prev := 1.0
		for nu := 1.0; nu < 1e10; nu *= 1.3 {
			tail := StudentTTail(x, nu)
			if !(tail <= prev*(1+1e-14)) {
				t.Fatalf("StudentTTail(%v, %v) = %v exceeds %v at smaller df", x, nu, tail, prev)
			}
			prev = tail
		}
	}
}
