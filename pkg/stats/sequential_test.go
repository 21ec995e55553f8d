package stats

import (
	"math"
	"testing"
)

// mixtureRatio computes the mSPRT statistic from its definition: the
// likelihood ratio of a normal mean θ against 0, averaged over the mixing
// distribution θ ~ N(0, v) (θ in units of the standard error),
// Λ = ∫ exp(θz − θ²/2) φ(θ; 0, v) dθ, by the trapezoid rule, which is
// spectrally accurate for this Gaussian integrand.
func mixtureRatio(z, v float64) float64 {
	m, s := z*v/(1+v), math.Sqrt(v/(1+v)) // the integrand's centre and width
	h := s / 50
	sum := 0.0
	for i := -4000; i <= 4000; i++ {
		th := m + float64(i)*h
		sum += math.Exp(th*z - th*th/2 - th*th/(2*v))
	}
	return sum * h / math.Sqrt(2*math.Pi*v)
}

func TestSequentialPValueDefinition(t *testing.T) {
	alpha, tuning := 0.05, 5000.0
	rho2 := seqRho2(alpha, tuning)
	for _, n := range []float64{20, 1000, 5000, 1e5, 1e8} {
		for _, z := range []float64{0, 0.5, 1.96, 3, 5, 8} {
			want := math.Min(1, 1/mixtureRatio(z, n*rho2))
			if got := seqPValue(z, n, rho2); relErr(got, want) > 1e-11 {
				t.Errorf("seqPValue(z=%v, N=%v) = %.17g, want %.17g", z, n, got, want)
			}
		}
	}
	// GrowthBook's tuning: ρ² = (−2 ln α + ln(−2 ln α + 1))/N*.
	l := -2 * math.Log(0.05)
	if got, want := seqRho2(0.05, 5000), (l+math.Log(l+1))/5000; relErr(got, want) > 1e-15 {
		t.Errorf("seqRho2 = %v, want %v", got, want)
	}
}

func TestSequentialIntervalInvertsTest(t *testing.T) {
	// The interval is the set of effects δ whose shifted statistic
	// (estimate − δ)/se has sequential p ≥ α: at its ends, p = α.
	for _, alpha := range []float64{0.01, 0.05, 0.2} {
		rho2 := seqRho2(alpha, 5000)
		for _, n := range []float64{100, 5000, 1e6} {
			se, est := 0.013, 0.02
			hw := seqHalfWidth(se, n, rho2, alpha)
			for _, end := range []float64{est - hw, est + hw} {
				if p := seqPValue((est-end)/se, n, rho2); relErr(p, alpha) > 1e-12 {
					t.Errorf("alpha %v, N %v: p at the interval's end %v = %v", alpha, n, end, p)
				}
			}
		}
	}
}

func TestSequentialMoreConservative(t *testing.T) {
	// Always-valid inference pays for peeking: p_seq ≥ the fixed-horizon p
	// (as √(1+v)·e^(−z²v/2(1+v)) ≥ e^(−z²/2) ≥ 2Φ̄(z)), and the interval is wider.
	for _, n := range []float64{10, 1e3, 5e3, 1e6, 1e9} {
		rho2 := seqRho2(0.05, 5000)
		for z := 0.0; z < 30; z += 0.25 {
			if seq, fixed := seqPValue(z, n, rho2), math.Erfc(z/math.Sqrt2); seq < fixed {
				t.Fatalf("N %v, z %v: sequential p %v below fixed p %v", n, z, seq, fixed)
			}
		}
		if hw := seqHalfWidth(1, n, rho2, 0.05); hw < NormalQuantile(0.975) {
			t.Errorf("N %v: sequential half-width %v below the fixed 1.96", n, hw)
		}
	}
}

func TestRunningMin(t *testing.T) {
	in := []Number{{}, Num(0.5), Num(0.7), {}, Num(0.2), Num(0.3)}
	want := []Number{{}, Num(0.5), Num(0.5), Num(0.5), Num(0.2), Num(0.2)}
	got := RunningMin(in)
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("RunningMin = %v, want %v", got, want)
		}
	}
	days := []Result{
		Compare(Input{Variants: []Counts{{Variant: "a", Users: 1000, Converters: 100}, {Variant: "b", Users: 1000, Converters: 140}}}),
		Compare(Input{Variants: []Counts{{Variant: "a", Users: 2000, Converters: 200}, {Variant: "b", Users: 2000, Converters: 205}}}),
	}
	first := days[0].Variants[1].VsControl.Rate.SequentialPValue
	if second := days[1].Variants[1].VsControl.Rate.SequentialPValue; !(second.Value > first.Value) {
		t.Fatalf("test data: day 2's p %v should exceed day 1's %v", second, first)
	}
	ApplyRunningMin(days)
	if got := days[1].Variants[1].VsControl.Rate.SequentialPValue; got != first {
		t.Errorf("after ApplyRunningMin day 2's p = %v, want day 1's %v", got, first)
	}
}
