package stats

import (
	"math"
	"math/big"
	"math/rand/v2"
	"testing"
)

// smallSide returns min(P(p_B > p_A), P(p_B < p_A)) computed directly, as
// bayesRates does internally before taking complements.
func smallSide(cA, nA, cB, nB float64) float64 {
	a, b := newBetaPost(cA, nA-cA), newBetaPost(cB, nB-cB)
	if a.mean+b.mean > 1 {
		a, b = newBetaPost(nB-cB, cB), newBetaPost(nA-cA, cA)
	}
	if a.mean > b.mean {
		a, b = b, a
	}
	t, _ := tailLoss(&a, &b)
	return t
}

// bayesCases cover even and lopsided arms, rates near 0, ½ and 1, one arm
// tiny against one large, and posteriors so far apart that the answer lives
// in tails below 1e-30 (the second sweep).
var bayesCases = [][4]int{
	{0, 10, 0, 10}, {1, 10, 3, 10}, {0, 1, 1, 1}, {1, 2, 0, 3},
	{10, 100, 15, 100}, {50, 500, 70, 500}, {99, 100, 100, 100}, {900, 1000, 960, 1000},
	{5, 1000, 40, 1000}, {200, 300, 250, 300}, {30, 200, 2, 30}, {2, 3000, 1, 3000},
	{3, 2000, 30, 500}, {300, 2000, 60, 300}, {150, 3000, 40, 400}, {0, 3000, 1, 3000},
	{0, 400, 30, 60}, {0, 1000, 100, 1000}, {400, 600, 300, 600}, {1, 50, 20, 50},
	{0, 1, 0, 2}, {0, 3, 1, 4}, {1, 1, 2, 2}, {2, 2, 0, 1}, {5, 5, 5, 5}, {0, 44, 200, 370},
}

func TestBayesRatesExact(t *testing.T) {
	t.Parallel()
	var f factorials
	for _, c := range bayesCases {
		ch, ls, lk := f.exactBayes(c[0], c[1], c[2], c[3])
		wantChance, _ := ch.Float64()
		wantShip, _ := ls.Float64()
		wantKeep, _ := lk.Float64()
		small := ch
		if ch.Cmp(big.NewRat(1, 2)) > 0 {
			small = new(big.Rat).Sub(big.NewRat(1, 1), ch)
		}
		wantTail, _ := small.Float64()

		cA, nA, cB, nB := float64(c[0]), float64(c[1]), float64(c[2]), float64(c[3])
		chance, ship, keep := bayesRates(cA, nA, cB, nB)
		if math.Abs(chance-wantChance) > 1e-12 {
			t.Errorf("%v: chance = %.17g, want %.17g", c, chance, wantChance)
		}
		if got := smallSide(cA, nA, cB, nB); relErr(got, wantTail) > 1e-9 {
			t.Errorf("%v: smaller side = %.17g, want %.17g (rel err %.1e)", c, got, wantTail, relErr(got, wantTail))
		}
		if relErr(ship, wantShip) > 1e-9 {
			t.Errorf("%v: loss of shipping = %.17g, want %.17g (rel err %.1e)", c, ship, wantShip, relErr(ship, wantShip))
		}
		if relErr(keep, wantKeep) > 1e-9 {
			t.Errorf("%v: loss of keeping = %.17g, want %.17g (rel err %.1e)", c, keep, wantKeep, relErr(keep, wantKeep))
		}
	}
}

func TestBayesRatesLarge(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("windowed math/big sums over 1e5 terms")
	}
	// Up to 1e8 users, where the closed form has 1e7 terms: the reference
	// sums only the terms that matter, in 192-bit floats.
	cases := [][4]int64{
		{10_000_000, 100_000_000, 10_003_000, 100_000_000},
		{10_000_000, 100_000_000, 10_010_000, 100_000_000},
		{500_000, 5_000_000, 498_000, 4_990_000},
		{12, 100_000_000, 30, 100_000_000},
		{45_000, 1_000_000, 600, 12_000},
	}
	for _, c := range cases {
		wantChance, wantTail, wantShip, wantKeep := windowBayes(c[0], c[1], c[2], c[3])
		cA, nA, cB, nB := float64(c[0]), float64(c[1]), float64(c[2]), float64(c[3])
		chance, ship, keep := bayesRates(cA, nA, cB, nB)
		if math.Abs(chance-wantChance) > 1e-12 {
			t.Errorf("%v: chance = %.17g, want %.17g", c, chance, wantChance)
		}
		if got := smallSide(cA, nA, cB, nB); relErr(got, wantTail) > 1e-9 {
			t.Errorf("%v: smaller side = %.17g, want %.17g (rel err %.1e)", c, got, wantTail, relErr(got, wantTail))
		}
		if relErr(ship, wantShip) > 1e-9 || relErr(keep, wantKeep) > 1e-9 {
			t.Errorf("%v: losses = %.17g, %.17g, want %.17g, %.17g", c, ship, keep, wantShip, wantKeep)
		}
	}
}

func TestBayesRatesSymmetry(t *testing.T) {
	// Swapping the arms turns P(B > A) into 1 − P(B > A) and swaps the losses.
	for _, c := range [][4]float64{{10, 100, 15, 100}, {3, 2000, 30, 500}, {1e7, 1e8, 1.0004e7, 1e8}, {95, 100, 99, 100}} {
		p, ship, keep := bayesRates(c[0], c[1], c[2], c[3])
		q, ship2, keep2 := bayesRates(c[2], c[3], c[0], c[1])
		if math.Abs(p+q-1) > 1e-14 || relErr(ship, keep2) > 1e-12 || relErr(keep, ship2) > 1e-12 {
			t.Errorf("%v: (%v, %v, %v) swapped gives (%v, %v, %v)", c, p, ship, keep, q, ship2, keep2)
		}
	}
}

func TestBayesRatesNormalLimit(t *testing.T) {
	// At 1e8 users the posteriors are normal to within their skewness,
	// O(1/√(np)) ≈ 3e-4: an independent sanity bound on the whole curve.
	for _, lift := range []float64{-2e-4, 0, 1e-4, 3e-4, 6e-4} {
		n, pA := 1e8, 0.1
		cA, cB := pA*n, math.Round((pA+lift)*n)
		chance, _, _ := bayesRates(cA, n, cB, n)
		mA, mB := (cA+1)/(n+2), (cB+1)/(n+2)
		sd := math.Sqrt(mA*(1-mA)/(n+3) + mB*(1-mB)/(n+3))
		if want := NormalCDF((mB - mA) / sd); math.Abs(chance-want) > 1e-4 {
			t.Errorf("lift %v: chance = %v, normal approximation %v", lift, chance, want)
		}
	}
}

func TestSweepPanels(t *testing.T) {
	t.Parallel()
	// The grid must stay small for every shape of posterior: a panel count
	// near maxPanels would mean a width rule gone wrong (and lost accuracy).
	r := rand.New(rand.NewPCG(3, 4))
	worst := 0
	for range 3000 {
		var c [4]float64
		for i := 0; i < 4; i += 2 {
			n := math.Floor(math.Pow(10, 9*r.Float64())) + 1
			k := math.Floor(r.Float64() * (n + 1))
			switch r.IntN(4) {
			case 0:
				k = 0
			case 1:
				k = n
			}
			c[i], c[i+1] = math.Min(k, n), n
		}
		a, b := newBetaPost(c[0], c[1]-c[0]), newBetaPost(c[2], c[3]-c[2])
		if a.mean > b.mean {
			a, b = b, a
		}
		for _, drop := range []float64{50, 100, 200, 400, 745} {
			if n := len(grid(&a, &b, drop, nil)); n > worst {
				worst = n
				if n > 1000 {
					t.Fatalf("%v at drop %v: %d panels", c, drop, n)
				}
			}
		}
	}
	t.Logf("most panels: %d", worst)
}
