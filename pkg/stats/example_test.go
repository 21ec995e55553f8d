package stats_test

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/flagstream/flagstream/pkg/stats"
)

func ExampleCompare() {
	res := stats.Compare(stats.Input{
		Weights: []float64{50, 50},
		Variants: []stats.Counts{
			{Variant: "control", Users: 5012, Converters: 511, Conversions: 530, ValueSum: 5123.40, ValueSumSq: 51234},
			{Variant: "variant_b", Users: 4988, Converters: 572, Conversions: 601, ValueSum: 5877.10, ValueSumSq: 58771},
		},
	})
	b := res.Variants[1]
	r := b.VsControl.Rate
	fmt.Printf("rate %.4f vs %.4f, lift %+.4f %v\n", b.Rate.Value, res.Variants[0].Rate.Value, r.AbsLift.Value, r.AbsCI)
	fmt.Printf("z = %.3f, p = %.4f, significant: %v\n", r.Z.Value, r.PValue.Value, *r.Significant)
	fmt.Printf("chance to beat control %.3f, sequential p %.3f\n", r.ChanceToBeatControl.Value, r.SequentialPValue.Value)
	fmt.Printf("SRM p = %.2f, warnings: %d\n", res.SRM.PValue.Value, len(res.Warnings))
	// Output:
	// rate 0.1147 vs 0.1020, lift +0.0127 [0.000539395000998642, 0.02490043153240218]
	// z = 2.047, p = 0.0407, significant: true
	// chance to beat control 0.980, sequential p 0.573
	// SRM p = 0.81, warnings: 0
}

func ExampleCompare_undefined() {
	// No conversions yet in the control: the relative lift is undefined, and
	// the report says so instead of printing a 0 or NaN.
	res := stats.Compare(stats.Input{Variants: []stats.Counts{
		{Variant: "control", Users: 800},
		{Variant: "new_checkout", Users: 790, Converters: 3, Conversions: 3, ValueSum: 90, ValueSumSq: 2700},
	}})
	r := res.Variants[1].VsControl.Rate
	out, _ := json.Marshal(struct {
		RelLift stats.Number    `json:"rel_lift"`
		AbsLift stats.Number    `json:"abs_lift"`
		Why     []stats.Warning `json:"warnings"`
	}{r.RelLift, r.AbsLift, res.Warnings[:1]})
	os.Stdout.Write(out)
	// Output:
	// {"rel_lift":null,"abs_lift":0.0037974683544303796,"warnings":[{"code":"zero_baseline","message":"the control's rate is 0, so a lift relative to it is undefined","variant":"new_checkout","fields":["vs_control.rate.rel_lift","vs_control.rate.rel_ci","vs_control.rate.mde_rel","vs_control.rate.users_per_arm_10pct"]}]}
}

func ExampleRunningMin() {
	// The sequential p-value on cumulative data, day by day; report its
	// running minimum, which stays valid however often it is looked at.
	daily := []stats.Number{stats.Num(0.8), stats.Num(0.31), stats.Num(0.44), {}, stats.Num(0.02)}
	fmt.Println(stats.RunningMin(daily))
	// Output:
	// [0.8 0.31 0.31 0.31 0.02]
}

func ExampleStudentTQuantile() {
	fmt.Printf("%.6f %.6f %.6f\n", stats.StudentTQuantile(0.975, 10), stats.StudentTQuantile(0.975, 1e9), stats.NormalQuantile(0.975))
	fmt.Printf("%.4g\n", 2*stats.StudentTTail(30, 1e6)) // a p-value far in the tail
	// Output:
	// 2.228139 1.959964 1.959964
	// 1.202e-197
}
