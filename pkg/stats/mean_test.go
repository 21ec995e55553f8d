package stats

import (
	"math"
	"math/big"
	"testing"
)

// welchData is the example of the Wikipedia article on Welch's t-test (two
// samples of 15), whose printed result is t = −2.46, p = 0.021.
var welchData = [2][]float64{
	{27.5, 21.0, 19.0, 23.6, 17.0, 17.9, 16.9, 20.1, 21.9, 22.6, 23.1, 19.6, 19.0, 21.7, 21.4},
	{27.1, 22.0, 20.8, 23.4, 23.4, 23.5, 25.8, 22.0, 24.8, 20.2, 21.9, 22.1, 22.9, 20.5, 24.4},
}

func sums(x []float64) Counts {
	c := Counts{Users: int64(len(x)), Converters: int64(len(x)), Conversions: int64(len(x))}
	for _, v := range x {
		c.ValueSum += v
		c.ValueSumSq += v * v
	}
	return c
}

// refWelch returns t and the Welch–Satterthwaite df from the raw values in
// exact rational arithmetic (the values' float64 forms are exact rationals).
func refWelch(a, b []float64) (t, df float64) {
	moments := func(x []float64) (mean, v *big.Rat) { // v = s²/n
		n := big.NewRat(int64(len(x)), 1)
		sum := new(big.Rat)
		for _, xi := range x {
			sum.Add(sum, new(big.Rat).SetFloat64(xi))
		}
		mean = new(big.Rat).Quo(sum, n)
		ss := new(big.Rat)
		for _, xi := range x {
			d := new(big.Rat).Sub(new(big.Rat).SetFloat64(xi), mean)
			ss.Add(ss, d.Mul(d, d))
		}
		v = ss.Quo(ss, big.NewRat(int64(len(x)-1), 1))
		return mean, v.Quo(v, n)
	}
	mA, vA := moments(a)
	mB, vB := moments(b)
	se2 := new(big.Rat).Add(vA, vB)
	den := new(big.Rat).Add(
		new(big.Rat).Quo(new(big.Rat).Mul(vA, vA), big.NewRat(int64(len(a)-1), 1)),
		new(big.Rat).Quo(new(big.Rat).Mul(vB, vB), big.NewRat(int64(len(b)-1), 1)))
	df, _ = new(big.Rat).Quo(new(big.Rat).Mul(se2, se2), den).Float64()
	d := new(big.Rat).Sub(mB, mA)
	se := bigF(256).Sqrt(bigF(256).SetRat(se2))
	t, _ = bigF(256).Quo(bigF(256).SetRat(d), se).Float64()
	return t, df
}

func TestWelch(t *testing.T) {
	a, b := sums(welchData[0]), sums(welchData[1])
	a.Variant, b.Variant = "a1", "a2"
	res := Compare(Input{Variants: []Counts{a, b}})
	v := res.Variants[1].VsControl.Value
	// The article compares A1 with A2 (A1 − A2); here A2 is the treatment.
	if math.Abs(v.T.Value-2.46) > 0.005 || math.Abs(v.PValue.Value-0.021) > 0.0005 {
		t.Errorf("t = %v, p = %v, want the textbook 2.46 and 0.021", v.T.Value, v.PValue.Value)
	}
	wantT, wantDF := refWelch(welchData[0], welchData[1])
	if relErr(v.T.Value, wantT) > 1e-12 || relErr(v.DF.Value, wantDF) > 1e-12 {
		t.Errorf("t, df = %.17g, %.17g, want %.17g, %.17g", v.T.Value, v.DF.Value, wantT, wantDF)
	}
	if want := 2 * refTTail(wantT, wantDF); relErr(v.PValue.Value, want) > 1e-10 {
		t.Errorf("p = %.17g, want %.17g", v.PValue.Value, want)
	}
	// The interval uses the t quantile at the Welch df: its half-width over
	// the standard error is that quantile.
	se := v.AbsLift.Value / v.T.Value
	if q := (v.AbsCI.Hi - v.AbsLift.Value) / se; relErr(q, StudentTQuantile(0.975, wantDF)) > 1e-12 {
		t.Errorf("interval half-width / se = %v, want t(0.975, %v) = %v", q, wantDF, StudentTQuantile(0.975, wantDF))
	}
}

func TestWelchDF(t *testing.T) {
	// Unequal variances and sizes, against the textbook form.
	for _, c := range [][4]float64{{4, 10, 1, 30}, {1e-6, 3, 5e3, 1e6}, {7, 2, 7, 2}, {1e300, 5, 1e300, 7}} {
		vA, nA, vB, nB := c[0]/c[1], c[1], c[2]/c[3], c[3]
		got := welchDF(vA, vB, nA, nB)
		var want float64
		if c[0] < 1e100 {
			want = (vA + vB) * (vA + vB) / (vA*vA/(nA-1) + vB*vB/(nB-1))
		} else { // the textbook form overflows; scale first
			want = (c[0]/c[1]/1e300 + c[2]/c[3]/1e300) * (c[0]/c[1]/1e300 + c[2]/c[3]/1e300) /
				((c[0]/c[1]/1e300)*(c[0]/c[1]/1e300)/(nA-1) + (c[2]/c[3]/1e300)*(c[2]/c[3]/1e300)/(nB-1))
		}
		if relErr(got, want) > 1e-14 {
			t.Errorf("welchDF(%v) = %v, want %v", c, got, want)
		}
		if lo, hi := math.Min(nA, nB)-1, nA+nB-2; got < lo*(1-1e-15) || got > hi*(1+1e-15) {
			t.Errorf("welchDF(%v) = %v, outside [min n − 1, nA + nB − 2] = [%v, %v]", c, got, lo, hi)
		}
	}
}

func TestNormalLosses(t *testing.T) {
	// E[(−Δ)⁺] = ∫_{−∞}^0 (−x) f(x) dx and E[Δ⁺] = ∫_0^∞ x f(x) dx for the
	// density f of N(d, se²), by composite Simpson on each side of the kink.
	simpson := func(a, b float64, g func(float64) float64) float64 {
		const n = 200000
		h := (b - a) / n
		s := g(a) + g(b)
		for i := 1; i < n; i++ {
			w := 2.0
			if i%2 == 1 {
				w = 4
			}
			s += w * g(a+float64(i)*h)
		}
		return s * h / 3
	}
	for _, c := range [][2]float64{{0, 1}, {0.3, 1}, {-2, 0.7}, {5, 1}, {12, 1}, {-30, 1}} {
		d, se := c[0], c[1]
		f := func(x float64) float64 { return math.Exp(-0.5*(x-d)*(x-d)/(se*se)) / (se * sqrt2Pi) }
		lo, hi := math.Min(d-40*se, -se), math.Max(d+40*se, se)
		wantShip := simpson(lo, 0, func(x float64) float64 { return -x * f(x) })
		wantKeep := simpson(0, hi, func(x float64) float64 { return x * f(x) })
		ship, keep := normalLosses(d, se)
		if relErr(ship, wantShip) > 1e-9 || relErr(keep, wantKeep) > 1e-9 {
			t.Errorf("normalLosses(%v, %v) = %.17g, %.17g, want %.17g, %.17g", d, se, ship, keep, wantShip, wantKeep)
		}
	}
}
