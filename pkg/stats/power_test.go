package stats

import (
	"math"
	"testing"
)

func TestUsersPerArm(t *testing.T) {
	// Baseline 10%, 10% relative lift, α = 0.05, power 80%:
	// n = (1.959963984540054 + 0.8416212335729142)² (0.1·0.9 + 0.11·0.89) / 0.01²
	//   = 7.84887973… × 0.1879 / 0.0001 = 14748.05… → 14749.
	k := NormalQuantile(0.975) + zPower
	if got := usersPerArm(k, 0.09, 0.11*0.89, 0.01); got != 14749 {
		t.Errorf("usersPerArm = %v, want 14749", got)
	}
	res := Compare(Input{Variants: []Counts{{Variant: "a", Users: 1000, Converters: 100}, {Variant: "b", Users: 1000, Converters: 100}}})
	if got := res.Variants[1].VsControl.Rate.UsersPerArm10Pct; got != Num(14749) {
		t.Errorf("users_per_arm_10pct = %v, want 14749", got)
	}
	// At the size it asks for, the MDE (with equal variances) is at most the effect.
	for _, v := range []float64{0.01, 0.25, 7} {
		delta := 0.1
		n := usersPerArm(k, v, v, delta)
		if m := mde(k, v, n, n); m > delta || m < delta*(1-1/n) {
			t.Errorf("variance %v: MDE at n = %v is %v, want just under %v", v, n, m, delta)
		}
	}
	if got := mde(k, 0.09, 1000, 1000); math.Abs(got-k*math.Sqrt(0.09*0.002)) > 1e-16 {
		t.Errorf("mde = %v", got)
	}
}
