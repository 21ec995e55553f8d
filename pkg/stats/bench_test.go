package stats

import (
	"fmt"
	"testing"
)

// fourVariants is a report-sized input: a control and three treatments with
// half a million users each, small lifts, revenue-like values and weights.
func fourVariants() Input {
	return Input{Weights: []float64{25, 25, 25, 25}, Variants: []Counts{
		{Variant: "control", Users: 500_312, Converters: 50_877, Conversions: 53_120, ValueSum: 1_024_500, ValueSumSq: 61_020_000},
		{Variant: "variant_a", Users: 499_870, Converters: 51_540, Conversions: 53_990, ValueSum: 1_051_200, ValueSumSq: 62_300_000},
		{Variant: "variant_b", Users: 500_101, Converters: 50_611, Conversions: 52_700, ValueSum: 1_018_800, ValueSumSq: 60_800_000},
		{Variant: "variant_c", Users: 499_717, Converters: 52_013, Conversions: 54_400, ValueSum: 1_060_400, ValueSumSq: 63_900_000},
	}}
}

func BenchmarkCompare4Variants(b *testing.B) {
	in := fourVariants()
	b.ReportAllocs()
	for b.Loop() {
		Compare(in)
	}
}

func BenchmarkChanceToBeatControl1e8(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		bayesRates(10_000_000, 100_000_000, 10_003_000, 100_000_000)
	}
}

func BenchmarkChanceToBeatControl(b *testing.B) {
	for _, c := range []struct {
		name string
		in   [4]float64
	}{
		{"small", [4]float64{12, 150, 19, 148}},
		{"1e6", [4]float64{100_000, 1_000_000, 101_000, 1_000_000}},
		{"separated-1e8", [4]float64{10_000_000, 100_000_000, 10_010_000, 100_000_000}}, // z ≈ 7.4: tails below e^-25
		{"lopsided", [4]float64{45_000, 1_000_000, 600, 12_000}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bayesRates(c.in[0], c.in[1], c.in[2], c.in[3])
			}
		})
	}
}

func BenchmarkStudentTQuantile(b *testing.B) {
	for _, df := range []float64{3.7, 57, 9_953.4, 2e8} {
		b.Run(fmt.Sprint(df), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				StudentTQuantile(0.975, df)
			}
		})
	}
}

func BenchmarkStudentTTail(b *testing.B) {
	for _, df := range []float64{3.7, 57, 9_953.4, 2e8} {
		b.Run(fmt.Sprint(df), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				StudentTTail(2.7, df)
			}
		})
	}
}

func BenchmarkNormalQuantile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		NormalQuantile(0.975)
	}
}
