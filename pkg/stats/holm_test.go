package stats

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func TestHolmTextbook(t *testing.T) {
	// R: p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") = 0.03 0.06 0.06 0.02
	got := holm([]float64{0.01, 0.04, 0.03, 0.005})
	want := []float64{0.03, 0.06, 0.06, 0.02}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-15 {
			t.Errorf("holm = %v, want %v", got, want)
			break
		}
	}
	// An undefined test is not in the family: m = 2 here.
	got = holm([]float64{0.02, math.NaN(), 0.04})
	if got[0] != 0.04 || !math.IsNaN(got[1]) || got[2] != 0.04 {
		t.Errorf("holm with NaN = %v, want [0.04 NaN 0.04]", got)
	}
	if got := holm([]float64{0.7, 0.9}); got[0] != 1 || got[1] != 1 {
		t.Errorf("holm caps at 1: got %v", got)
	}
}

// stepDown is Holm's procedure as he stated it: with the p-values sorted,
// reject H₍₁₎…H₍ᵢ₎ while p₍ⱼ₎ ≤ α/(m−j+1) for every j ≤ i.
func stepDown(p []float64, alpha float64) []bool {
	idx := make([]int, len(p))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	rej := make([]bool, len(p))
	for j, i := range idx {
		if p[i] > alpha/float64(len(p)-j) {
			break
		}
		rej[i] = true
	}
	return rej
}

func TestHolmMatchesStepDown(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		m := 1 + r.IntN(8)
		p := make([]float64, m)
		for i := range p {
			p[i] = math.Pow(r.Float64(), 3) // many small p-values
		}
		adj := holm(p)
		for i := range p {
			if adj[i] < p[i] || adj[i] > math.Min(1, float64(m)*p[i]) {
				t.Fatalf("holm(%v)[%d] = %v, outside [p, min(1, m·p)]", p, i, adj[i])
			}
		}
		for _, alpha := range []float64{0.001, 0.01, 0.05, 0.1, 0.2} {
			rej := stepDown(p, alpha)
			for i := range p {
				// Strict "<" as Compare uses it, except exactly at the boundary.
				if (adj[i] <= alpha) != rej[i] && adj[i] != alpha {
					t.Fatalf("holm(%v) = %v: at alpha %v adjusted p says %v, step-down says %v", p, adj, alpha, adj[i] <= alpha, rej[i])
				}
			}
		}
	}
}
