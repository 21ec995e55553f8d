package stats

import "math"

// ChiSquareTail returns P(X > x) for a chi-square variable with df degrees
// of freedom: the regularized upper incomplete gamma function Q(df/2, x/2).
func ChiSquareTail(x, df float64) float64 {
	switch {
	case math.IsNaN(x) || math.IsNaN(df) || df <= 0:
		return math.NaN()
	case x <= 0:
		return 1
	}
	return math.Max(0, math.Min(1, gammaQ(df/2, x/2))) // a probability, whatever the rounding
}
