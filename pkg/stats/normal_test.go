package stats

import (
	"math"
	"testing"
)

func TestNormalTailReference(t *testing.T) {
	// Against erfc summed in math/big; the float64 tail loses at most the
	// rounding of z/√2, amplified by z² (1.5e-13 at z = 37).
	for _, z := range []float64{0, 0.1, 0.5, 1, 1.959963984540054, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 25, 30, 35, 37} {
		want := refNormalTail(z)
		if got := NormalTail(z); relErr(got, want) > 1e-12 {
			t.Errorf("NormalTail(%v) = %.17g, want %.17g (rel err %.1e)", z, got, want, relErr(got, want))
		}
		if got := NormalCDF(-z); relErr(got, want) > 1e-12 {
			t.Errorf("NormalCDF(%v) = %.17g, want %.17g", -z, got, want)
		}
	}
}

func TestNormalQuantile(t *testing.T) {
	tests := []struct{ p, want float64 }{ // textbook values (e.g. R's qnorm)
		{0.5, 0},
		{0.975, 1.959963984540054},
		{0.995, 2.5758293035489004},
		{0.8, 0.8416212335729143},
		{0.025, -1.959963984540054},
		{1e-10, -6.361340902404056},
	}
	for _, tt := range tests {
		if got := NormalQuantile(tt.p); math.Abs(got-tt.want) > 1e-14*math.Max(1, math.Abs(tt.want)) {
			t.Errorf("NormalQuantile(%v) = %.17g, want %.17g", tt.p, got, tt.want)
		}
	}
	// Round trip through the independent reference tail, deep into the tail:
	// the implied relative error of z is (Q(z) − q)/(z·φ(z)).
	for _, q := range []float64{0.4, 0.1, 0.025, 1e-3, 1e-6, 1e-20, 1e-100, 1e-250, 1e-300} {
		z := -NormalQuantile(q)
		implied := math.Abs(refNormalTail(z)-q) / (z * normalPDF(z))
		if implied > 1e-14 {
			t.Errorf("NormalQuantile(%v) = %.17g: off by %.1e relative", q, -z, implied)
		}
	}
	// zPower is Φ⁻¹(4/5); the float64 0.8 is 4.4e-17 above 4/5, which moves
	// the quantile by 1.6e-16.
	if got := zPower; math.Abs(NormalQuantile(DefaultPower)-got) > 4e-16 {
		t.Errorf("zPower = %.17g, want NormalQuantile(%v) = %.17g", got, DefaultPower, NormalQuantile(DefaultPower))
	}
	for _, p := range []float64{-0.1, 1.1, math.NaN()} {
		if got := NormalQuantile(p); !math.IsNaN(got) {
			t.Errorf("NormalQuantile(%v) = %v, want NaN", p, got)
		}
	}
	if !math.IsInf(NormalQuantile(0), -1) || !math.IsInf(NormalQuantile(1), 1) {
		t.Errorf("NormalQuantile(0), (1) = %v, %v, want -Inf, +Inf", NormalQuantile(0), NormalQuantile(1))
	}
}
