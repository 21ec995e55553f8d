package stats

import "math"

// Composite Gauss–Legendre quadrature with running integrals.
//
// The Bayesian comparison of two rates needs P(X > Y) and E[(X−Y)⁺] for two
// Beta posteriors, which are one-dimensional integrals of one density times
// the other's distribution function. Both distribution functions come out
// of the same sweep over panels: on each panel the densities are sampled at
// the glN Gauss–Legendre nodes, and the integral from the panel's left (or
// right) end up to each node is a fixed linear combination of those samples
// (spectral integration: integrate the interpolating polynomial). So the
// whole computation costs one density evaluation per node and per posterior,
// and every partial integral is a sum of positive terms.

const glN = 10

var (
	glNode, glWeight [glN]float64
	// glLeft[k][j]: ∫ from −1 to node k of the j-th Lagrange basis polynomial;
	// glRight[k][j]: ∫ from node k to 1.
	glLeft, glRight [glN][glN]float64
)

func init() {
	// Nodes by Newton's method on the Legendre polynomial P_n.
	n := glN
	for i := range n {
		x := math.Cos(math.Pi * (float64(i) + 0.75) / (float64(n) + 0.5))
		for range 100 {
			p, dp := legendre(n, x)
			dx := p / dp
			x -= dx
			if math.Abs(dx) < 1e-17 {
				break
			}
		}
		_, dp := legendre(n, x)
		glNode[n-1-i] = x // ascending
		glWeight[n-1-i] = 2 / ((1 - x*x) * dp * dp)
	}
	// Lagrange basis ℓ_j(t) = w_j Σ_m (2m+1)/2 P_m(t_j) P_m(t) (exact, as the
	// rule integrates degree 2n−2), and ∫₋₁ˣ P_m = (P_{m+1}(x) − P_{m−1}(x))/(2m+1).
	var p [glN][glN + 1]float64 // p[k][m] = P_m(node k)
	for k := range n {
		p[k][0], p[k][1] = 1, glNode[k]
		for m := 1; m < n; m++ {
			p[k][m+1] = (float64(2*m+1)*glNode[k]*p[k][m] - float64(m)*p[k][m-1]) / float64(m+1)
		}
	}
	for k := range n {
		for j := range n {
			s := (glNode[k] + 1) / 2
			for m := 1; m < n; m++ {
				s += 0.5 * p[j][m] * (p[k][m+1] - p[k][m-1])
			}
			glLeft[k][j] = glWeight[j] * s
		}
	}
	for k := range n { // by symmetry of the nodes about 0
		for j := range n {
			glRight[k][j] = glLeft[n-1-k][n-1-j]
		}
	}
}

// legendre returns P_n(x) and its derivative.
func legendre(n int, x float64) (p, dp float64) {
	p0, p1 := 1.0, x
	for m := 2; m <= n; m++ {
		p0, p1 = p1, (float64(2*m-1)*x*p1-float64(m-1)*p0)/float64(m)
	}
	return p1, float64(n) * (x*p1 - p0) / (x*x - 1)
}
