package stats

import (
	"errors"
	"math"
	"slices"
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

// The MDE and the sample size follow Input.Power, checked by hand at 90%:
// control 100 of 1000 (σ² = 0.1·0.9 = 0.09), treatment 1000 users, α = 0.05.
//
//	k       = z(0.975) + z(0.9) = 1.959963984540054 + 1.2815515655446004 = 3.2415155500846544
//	mde_abs = k·√(0.09·(1/1000 + 1/1000)) = 3.2415155500846544 × 0.013416407864998738 = 0.0434894947…
//	mde_rel = mde_abs / 0.1 = 0.434894947…
//	users_per_arm_10pct = ⌈k²(0.1·0.9 + 0.11·0.89)/0.01²⌉ = ⌈10.50742306… × 1879⌉ = ⌈19743.45…⌉ = 19744
//
// At the default 80% the same counts give 0.0375872…, 0.375872… and 14749
// (TestUsersPerArm); the answer echoes the power it used.
func TestPowerInput(t *testing.T) {
	counts := []Counts{{Variant: "a", Users: 1000, Converters: 100}, {Variant: "b", Users: 1000, Converters: 120}}
	res := Compare(Input{Power: 0.9, Variants: counts})
	r := res.Variants[1].VsControl.Rate
	for _, c := range []struct {
		name      string
		got       Number
		want, tol float64
	}{
		{"mde_abs", r.MDEAbs, 0.0434894947, 1e-10},
		{"mde_rel", r.MDERel, 0.434894947, 1e-9},
		{"users_per_arm_10pct", r.UsersPerArm10Pct, 19744, 0},
	} {
		if !c.got.Valid || math.Abs(c.got.Value-c.want) > c.tol {
			t.Errorf("power 0.9: %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if res.Power != 0.9 {
		t.Errorf("power 0.9: the result says power %v", res.Power)
	}
	def := Compare(Input{Variants: counts})
	if d := def.Variants[1].VsControl.Rate; def.Power != DefaultPower || math.Abs(d.MDEAbs.Value-0.0375872100) > 1e-10 || d.UsersPerArm10Pct != Num(14749) {
		t.Errorf("default power: power %v, mde_abs %v, users %v", def.Power, d.MDEAbs, d.UsersPerArm10Pct)
	}
	// The value test's MDE moves by the same factor k(0.9)/k(0.8).
	vc := []Counts{{Variant: "a", Users: 100, Converters: 50, ValueSum: 500, ValueSumSq: 5000}, {Variant: "b", Users: 100, Converters: 50, ValueSum: 550, ValueSumSq: 6000}}
	v9 := Compare(Input{Power: 0.9, Variants: vc}).Variants[1].VsControl.Value.MDEAbs
	v8 := Compare(Input{Variants: vc}).Variants[1].VsControl.Value.MDEAbs
	if ratio := v9.Value / v8.Value; math.Abs(ratio-3.2415155500846544/(1.959963984540054+0.8416212335729142)) > 1e-12 {
		t.Errorf("value mde at 0.9 / at 0.8 = %v", ratio)
	}
	// Out of range: Validate names the field; Compare uses the default and says so.
	for _, p := range []float64{-0.1, 1, 1.5, math.NaN(), 0.025, 0.01} {
		in := Input{Power: p, Variants: counts}
		var fe *FieldError
		if err := in.Validate(); !errors.As(err, &fe) || fe.Field != "power" {
			t.Errorf("Validate(power %v) = %v, want an error naming power", p, err)
		}
		res := Compare(in)
		if res.Power != DefaultPower || !slices.ContainsFunc(res.Warnings, func(w Warning) bool { return w.Code == CodeInvalidPower }) {
			t.Errorf("Compare(power %v): power %v, warnings %+v", p, res.Power, res.Warnings)
		}
	}
	// Just above α/2 is a (weak) power the formula serves.
	if err := (Input{Power: 0.03, Variants: counts}).Validate(); err != nil {
		t.Errorf("power 0.03: %v", err)
	}
}
