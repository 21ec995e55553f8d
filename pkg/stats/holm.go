package stats

import (
	"math"
	"sort"
)

// holm returns Holm's step-down adjustment (Holm 1979) of the p-values; NaN
// marks an undefined test, which is left out of the family and stays NaN.
// With the m defined p-values in ascending order p₍₁₎ ≤ … ≤ p₍ₘ₎, the
// adjusted p₍ᵢ₎ is max over j ≤ i of min(1, (m − j + 1)·p₍ⱼ₎); rejecting where
// it is below alpha controls the family-wise error rate at alpha, like
// Bonferroni, while rejecting at least as much.
func holm(p []float64) []float64 {
	idx := make([]int, 0, len(p))
	for i, x := range p {
		if !math.IsNaN(x) {
			idx = append(idx, i)
		}
	}
	sort.SliceStable(idx, func(a, b int) bool { return p[idx[a]] < p[idx[b]] })
	adj := make([]float64, len(p))
	for i := range adj {
		adj[i] = math.NaN()
	}
	m, running := len(idx), 0.0
	for rank, i := range idx {
		running = math.Max(running, math.Min(1, float64(m-rank)*p[i]))
		adj[i] = running
	}
	return adj
}
