package stats

import (
	"math"
	"testing"
)

// FuzzCompare feeds Compare any counts, sums, settings and weights: the
// result must marshal to JSON (so no NaN or Inf anywhere), hold only
// probabilities in [0, 1], never adjust a p-value below the raw one, and
// explain every null with a warning.
func FuzzCompare(f *testing.F) {
	f.Add(int64(5012), int64(511), 5123.4, 51234.0, int64(4988), int64(572), 5877.1, 58771.0, int64(0), int64(0), 0.0, 0.0, 0.95, 50.0, 50.0, 0.0)
	f.Add(int64(0), int64(0), 0.0, 0.0, int64(1), int64(1), 1.0, 1.0, int64(2), int64(0), 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
	f.Add(int64(100000000), int64(10000000), 1e7, 1e9, int64(100000000), int64(10003000), 1e7, 1e9, int64(7), int64(7), -3.0, 9.0, 0.999, 1.0, 1.0, 1.0)
	f.Add(int64(1), int64(2), math.NaN(), -1.0, int64(-5), int64(0), math.Inf(1), 0.0, int64(3), int64(1), 1e308, 1e308, 2.0, -1.0, 1.0, math.NaN())
	f.Add(int64(1000000), int64(1000), 1e-194, 1e6, int64(1000000), int64(1000), 1000.0, 1e6, int64(9), int64(9), 9.0, 9.0, 0.5, 0.0, 1.0, 0.0)
	f.Fuzz(func(t *testing.T, u0, c0 int64, s0, q0 float64, u1, c1 int64, s1, q1 float64, u2, c2 int64, s2, q2 float64, conf, w0, w1, w2 float64) {
		in := Input{
			Confidence: conf,
			Variants: []Counts{
				{Variant: "a", Users: u0, Converters: c0, Conversions: c0, ValueSum: s0, ValueSumSq: q0},
				{Variant: "b", Users: u1, Converters: c1, Conversions: c1, ValueSum: s1, ValueSumSq: q1},
			},
		}
		if u2 != 0 || c2 != 0 {
			in.Variants = append(in.Variants, Counts{Variant: "c", Users: u2, Converters: c2, ValueSum: s2, ValueSumSq: q2})
		}
		if w0 != 0 || w1 != 0 || w2 != 0 {
			in.Weights = []float64{w0, w1, w2}[:len(in.Variants)]
		}
		checkResult(t, in, Compare(in))
	})
}
