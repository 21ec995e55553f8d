package stats

import (
	"encoding/json"
	"errors"
	"math"
	"slices"
	"sort"
	"strings"
	"testing"
)

// auditJSON marshals r and returns every problem with its nulls: a null no
// warning names, or a warning naming a figure that is not null.
func auditJSON(t testing.TB, r Result) []string {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatalf("json.Marshal: %v", err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("json.Unmarshal: %v", err)
	}
	named := map[[2]string]bool{} // {variant, path}
	for _, w := range r.Warnings {
		for _, f := range w.Fields {
			named[[2]string{w.Variant, f}] = true
		}
	}
	nulls := map[[2]string]bool{}
	var walk func(variant, path string, v any)
	walk = func(variant, path string, v any) {
		switch v := v.(type) {
		case nil:
			nulls[[2]string{variant, path}] = true
		case map[string]any:
			for k, x := range v {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(variant, p, x)
			}
		}
	}
	walk("", "srm", doc["srm"])
	for _, v := range doc["variants"].([]any) {
		obj := v.(map[string]any)
		walk(obj["variant"].(string), "", obj)
	}
	var problems []string
	for k := range nulls {
		if !named[k] {
			problems = append(problems, "null without a warning: "+k[0]+" "+k[1])
		}
	}
	for k := range named {
		if !nulls[k] {
			problems = append(problems, "warning names a figure that is not null: "+k[0]+" "+k[1])
		}
	}
	sort.Strings(problems)
	return problems
}

// keysOf returns the sorted keys of the JSON object v.
func keysOf(v any) []string {
	var ks []string
	for k := range v.(map[string]any) {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func sorted(s ...string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

func designInput() Input {
	return Input{Weights: []float64{50, 50}, Variants: []Counts{
		{Variant: "control", Users: 5012, Converters: 511, Conversions: 530, ValueSum: 5123.40, ValueSumSq: 51234},
		{Variant: "variant_b", Users: 4988, Converters: 572, Conversions: 601, ValueSum: 5877.10, ValueSumSq: 58771},
	}}
}

func TestReportShape(t *testing.T) {
	// The field names of DESIGN.md's report, plus the documented additions
	// (expected_loss_keep_control, mde_abs, users_per_arm_10pct, and power,
	// the power of the MDE figures).
	b, _ := json.Marshal(Compare(designInput()))
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	check := func(what string, got, want []string) {
		if !slices.Equal(got, want) {
			t.Errorf("%s keys = %v, want %v", what, got, want)
		}
	}
	check("result", keysOf(doc), sorted("confidence", "power", "control", "sequential_tuning", "variants", "srm", "warnings"))
	vs := doc["variants"].([]any)
	variant := []string{"variant", "users", "converters", "conversions", "value_sum", "rate", "rate_ci", "value_per_user", "value_variance"}
	check("control", keysOf(vs[0]), sorted(variant...))
	check("treatment", keysOf(vs[1]), sorted(append(variant, "vs_control")...))
	vc := vs[1].(map[string]any)["vs_control"].(map[string]any)
	check("vs_control", keysOf(vc), sorted("rate", "value"))
	common := []string{"abs_lift", "abs_ci", "rel_lift", "rel_ci", "p_value", "p_value_holm", "significant",
		"chance_to_beat_control", "expected_loss", "expected_loss_keep_control", "sequential_p_value", "sequential_ci",
		"mde_rel", "mde_abs", "users_per_arm_10pct"}
	check("rate", keysOf(vc["rate"]), sorted(append(common, "z")...))
	check("value", keysOf(vc["value"]), sorted(append(common, "t", "df")...))
	check("srm", keysOf(doc["srm"]), sorted("chi2", "df", "p_value", "warn", "expected_share"))
	if w, ok := doc["warnings"].([]any); !ok || len(w) != 0 {
		t.Errorf("warnings = %v, want []", doc["warnings"])
	}
	if iv, ok := vs[0].(map[string]any)["rate_ci"].([]any); !ok || len(iv) != 2 {
		t.Errorf("rate_ci = %v, want a two-element array", vs[0].(map[string]any)["rate_ci"])
	}
}

func TestCompareHandComputed(t *testing.T) {
	// The DESIGN.md counts, by hand from the formulas in docs/STATISTICS.md.
	r := Compare(designInput())
	c, v := r.Variants[0], r.Variants[1]
	pA, pB := 511.0/5012, 572.0/4988
	se := math.Sqrt(pA*(1-pA)/5012 + pB*(1-pB)/4988)
	z := (pB - pA) / se
	rt := v.VsControl.Rate
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"control rate", c.Rate.Value, pA},
		{"abs_lift", rt.AbsLift.Value, pB - pA},
		{"z", rt.Z.Value, z},
		{"p_value", rt.PValue.Value, 2 * refNormalTail(z)},
		{"abs_ci low", rt.AbsCI.Lo, pB - pA - 1.959963984540054*se},
		{"rel_lift", rt.RelLift.Value, pB/pA - 1},
		{"value_per_user", c.ValuePerUser.Value, 5123.40 / 5012},
		{"value_variance", c.ValueVariance.Value, (51234 - 5123.40*5123.40/5012) / 5011},
		{"srm chi2", r.SRM.ChiSquare.Value, 2 * 12.0 * 12 / 5000},
	} {
		if relErr(x.got, x.want) > 1e-12 {
			t.Errorf("%s = %.17g, want %.17g", x.name, x.got, x.want)
		}
	}
	if *rt.Significant != (rt.PValueHolm.Value < 0.05) || rt.PValueHolm != rt.PValue {
		t.Errorf("one treatment: holm %v should equal p %v and decide significance", rt.PValueHolm, rt.PValue)
	}
}

// nullCase describes an input whose report must have certain nulls, for
// certain reasons.
type nullCase struct {
	name  string
	in    Input
	codes []string // codes that must be present
	nulls []string // "variant path" figures that must be null
	set   []string // "variant path" figures that must be defined
}

func TestUndefinedFigures(t *testing.T) {
	ctl := func(users, conv int64, sum, sumsq float64) Counts {
		return Counts{Variant: "a", Users: users, Converters: conv, Conversions: conv, ValueSum: sum, ValueSumSq: sumsq}
	}
	trt := func(users, conv int64, sum, sumsq float64) Counts {
		c := ctl(users, conv, sum, sumsq)
		c.Variant = "b"
		return c
	}
	cases := []nullCase{
		{name: "no variants", in: Input{}, codes: []string{CodeNoVariants, CodeSRMNoWeights}},
		{name: "control only", in: Input{Variants: []Counts{ctl(100, 10, 10, 10)}},
			codes: []string{CodeSingleVariant}, set: []string{"a rate", "a value_variance"}},
		{name: "control without users", in: Input{Variants: []Counts{ctl(0, 0, 0, 0), trt(100, 10, 10, 10)}},
			codes: []string{CodeNoUsers},
			nulls: []string{"a rate", "a rate_ci", "b vs_control.rate.abs_lift", "b vs_control.value.p_value", "b vs_control.rate.chance_to_beat_control"},
			set:   []string{"b rate"}},
		{name: "control rate 0", in: Input{Variants: []Counts{ctl(1000, 0, 0, 0), trt(1000, 5, 5, 5)}},
			codes: []string{CodeZeroBaseline, CodeZeroVariance},
			nulls: []string{"b vs_control.rate.rel_lift", "b vs_control.rate.rel_ci", "b vs_control.rate.mde_rel", "b vs_control.rate.mde_abs", "b vs_control.rate.users_per_arm_10pct", "b vs_control.value.rel_lift"},
			set:   []string{"b vs_control.rate.abs_lift", "b vs_control.rate.z", "b vs_control.rate.p_value", "b vs_control.rate.chance_to_beat_control", "a rate_ci"}},
		{name: "no conversions anywhere", in: Input{Variants: []Counts{ctl(1000, 0, 0, 0), trt(1000, 0, 0, 0)}},
			codes: []string{CodeZeroVariance},
			nulls: []string{"b vs_control.rate.z", "b vs_control.rate.p_value", "b vs_control.rate.p_value_holm", "b vs_control.rate.significant", "b vs_control.rate.abs_ci", "b vs_control.rate.sequential_p_value", "b vs_control.value.t"},
			set:   []string{"b vs_control.rate.abs_lift", "b vs_control.rate.chance_to_beat_control", "b vs_control.rate.expected_loss"}},
		{name: "one user", in: Input{Variants: []Counts{ctl(1, 1, 3, 9), trt(100, 10, 30, 90)}},
			codes: []string{CodeTooFewUsers},
			nulls: []string{"a value_variance", "b vs_control.value.t", "b vs_control.value.df", "b vs_control.value.abs_ci", "b vs_control.value.chance_to_beat_control"},
			set:   []string{"a value_per_user", "b vs_control.value.abs_lift", "b vs_control.value.rel_lift", "b vs_control.rate.p_value"}},
		{name: "constant values", in: Input{Variants: []Counts{ctl(100, 100, 100, 100), trt(100, 100, 200, 400)}},
			codes: []string{CodeZeroVariance},
			nulls: []string{"b vs_control.value.t", "b vs_control.value.p_value", "b vs_control.value.mde_abs", "b vs_control.value.users_per_arm_10pct", "b vs_control.rate.z"},
			set:   []string{"a value_variance", "b vs_control.value.abs_lift", "b vs_control.value.rel_lift"}},
		{name: "impossible counts", in: Input{Variants: []Counts{ctl(100, 10, 10, 10), trt(100, 101, 10, 10)}},
			codes: []string{CodeInvalidCounts},
			nulls: []string{"b rate", "b vs_control.rate.abs_lift", "b vs_control.value.abs_lift"},
			set:   []string{"a rate"}},
		{name: "rate near 1", in: Input{Variants: []Counts{ctl(100, 95, 95, 95), trt(100, 97, 97, 97)}},
			codes: []string{CodeTargetAboveOne},
			nulls: []string{"b vs_control.rate.users_per_arm_10pct"},
			set:   []string{"b vs_control.rate.mde_rel", "b vs_control.value.users_per_arm_10pct"}},
		{name: "overflow", in: Input{Variants: []Counts{ctl(1_000_000, 1000, 1e-194, 1e6), trt(1_000_000, 1000, 1000, 1e6)}},
			codes: []string{CodeOverflow},
			nulls: []string{"b vs_control.value.users_per_arm_10pct", "b vs_control.value.rel_ci"},
			set:   []string{"b vs_control.value.rel_lift", "b vs_control.value.p_value"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(tc.in)
			for _, p := range auditJSON(t, r) {
				t.Error(p)
			}
			for _, code := range tc.codes {
				if !slices.ContainsFunc(r.Warnings, func(w Warning) bool { return w.Code == code }) {
					t.Errorf("no %q warning in %+v", code, r.Warnings)
				}
			}
			doc := jsonDoc(t, r)
			for _, f := range tc.nulls {
				if v, ok := lookup(doc, f); !ok || v != nil {
					t.Errorf("%s = %v, want null", f, v)
				}
			}
			for _, f := range tc.set {
				if v, ok := lookup(doc, f); !ok || v == nil {
					t.Errorf("%s = %v, want a value", f, v)
				}
			}
		})
	}
}

func jsonDoc(t testing.TB, r Result) map[string]any {
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// lookup finds "variant path.to.field" in a marshalled Result.
func lookup(doc map[string]any, ref string) (any, bool) {
	variant, path, _ := strings.Cut(ref, " ")
	for _, v := range doc["variants"].([]any) {
		obj := v.(map[string]any)
		if obj["variant"] != variant {
			continue
		}
		var cur any = obj
		for _, k := range strings.Split(path, ".") {
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, false
			}
			if cur, ok = m[k]; !ok {
				return nil, false
			}
		}
		return cur, true
	}
	return nil, false
}

func TestHolmAcrossTreatments(t *testing.T) {
	in := Input{Variants: []Counts{
		{Variant: "a", Users: 10000, Converters: 1000},
		{Variant: "b", Users: 10000, Converters: 1150},
		{Variant: "c", Users: 10000, Converters: 1040},
		{Variant: "d", Users: 10000, Converters: 990},
	}}
	r := Compare(in)
	var raw []float64
	for _, v := range r.Variants[1:] {
		raw = append(raw, v.VsControl.Rate.PValue.Value)
	}
	want := holm(raw)
	for i, v := range r.Variants[1:] {
		rt := v.VsControl.Rate
		if rt.PValueHolm.Value != want[i] || *rt.Significant != (want[i] < 0.05) {
			t.Errorf("%s: holm %v significant %v, want %v", v.Variant, rt.PValueHolm, *rt.Significant, want[i])
		}
		if rt.PValueHolm.Value < rt.PValue.Value {
			t.Errorf("%s: holm %v below raw %v", v.Variant, rt.PValueHolm, rt.PValue)
		}
	}
	// b is clearly better (p = 6e-4, 2e-3 after adjustment), d is not.
	if !*r.Variants[1].VsControl.Rate.Significant || *r.Variants[3].VsControl.Rate.Significant {
		t.Errorf("significance b, d = %v, %v, want true, false", *r.Variants[1].VsControl.Rate.Significant, *r.Variants[3].VsControl.Rate.Significant)
	}
}

func TestSRM(t *testing.T) {
	counts := func(users ...int64) []Counts {
		var cs []Counts
		for i, u := range users {
			cs = append(cs, Counts{Variant: string(rune('a' + i)), Users: u})
		}
		return cs
	}
	t.Run("balanced", func(t *testing.T) {
		r := Compare(Input{Weights: []float64{50, 25, 25}, Variants: counts(5000, 2500, 2500)})
		if r.SRM.ChiSquare != Num(0) || r.SRM.PValue != Num(1) || r.SRM.DF != Num(2) || r.SRM.Warn {
			t.Errorf("srm = %+v, want chi2 0, p 1, df 2, no warning", r.SRM)
		}
		if r.SRM.ExpectedShare["a"] != 0.5 || r.SRM.ExpectedShare["c"] != 0.25 {
			t.Errorf("expected_share = %v", r.SRM.ExpectedShare)
		}
	})
	t.Run("mismatch", func(t *testing.T) {
		// 5200 vs 4800 at 50/50: chi2 = 2·200²/5000 = 16, p = erfc(√8).
		r := Compare(Input{Weights: []float64{1, 1}, Variants: counts(5200, 4800)})
		if relErr(r.SRM.ChiSquare.Value, 16) > 1e-15 || relErr(r.SRM.PValue.Value, refNormalTail(4)*2) > 1e-12 || !r.SRM.Warn {
			t.Errorf("srm = %+v, want chi2 16, p %v, warn", r.SRM, 2*refNormalTail(4))
		}
		if !slices.ContainsFunc(r.Warnings, func(w Warning) bool { return w.Code == CodeSampleRatio }) {
			t.Errorf("no %s warning: %v", CodeSampleRatio, r.Warnings)
		}
	})
	t.Run("zero weight", func(t *testing.T) {
		r := Compare(Input{Weights: []float64{50, 50, 0}, Variants: counts(500, 500, 3)})
		if r.SRM.DF != Num(1) || r.SRM.ChiSquare != Num(0) || r.SRM.ExpectedShare["c"] != 0 {
			t.Errorf("srm = %+v, want the weight-0 variant left out", r.SRM)
		}
		if !slices.ContainsFunc(r.Warnings, func(w Warning) bool { return w.Code == CodeSRMUnexpected && w.Variant == "c" }) {
			t.Errorf("no %s warning for c: %v", CodeSRMUnexpected, r.Warnings)
		}
	})
	for _, tc := range []struct {
		name    string
		weights []float64
		users   []int64
		code    string
	}{
		{"no weights", nil, []int64{10, 10}, CodeSRMNoWeights},
		{"wrong length", []float64{1, 1, 1}, []int64{10, 10}, CodeSRMInvalidWeights},
		{"negative", []float64{1, -1}, []int64{10, 10}, CodeSRMInvalidWeights},
		{"all zero", []float64{0, 0}, []int64{10, 10}, CodeSRMInvalidWeights},
		{"one weighted", []float64{1, 0}, []int64{10, 0}, CodeSRMTooFewVariants},
		{"no users", []float64{1, 1}, []int64{0, 0}, CodeSRMNoUsers},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Compare(Input{Weights: tc.weights, Variants: counts(tc.users...)})
			if r.SRM.PValue.Valid || r.SRM.Warn {
				t.Errorf("srm = %+v, want undefined", r.SRM)
			}
			if !slices.ContainsFunc(r.Warnings, func(w Warning) bool { return w.Code == tc.code }) {
				t.Errorf("no %s warning: %v", tc.code, r.Warnings)
			}
			for _, p := range auditJSON(t, r) {
				t.Error(p)
			}
		})
	}
}

func TestSettings(t *testing.T) {
	in := designInput()
	in.Confidence, in.SequentialTuning = 0.9, 20000
	r := Compare(in)
	if r.Confidence != 0.9 || r.SequentialTuning != 20000 || r.Control != "control" {
		t.Errorf("settings = %v, %v, %q", r.Confidence, r.SequentialTuning, r.Control)
	}
	// The 90% interval is the z(0.95) interval.
	rt := r.Variants[1].VsControl.Rate
	se := rt.AbsLift.Value / rt.Z.Value
	if got := (rt.AbsCI.Hi - rt.AbsLift.Value) / se; relErr(got, NormalQuantile(0.95)) > 1e-12 {
		t.Errorf("90%% half-width / se = %v, want %v", got, NormalQuantile(0.95))
	}
	for _, bad := range []Input{{Confidence: 1.5}, {Confidence: -1}, {SequentialTuning: -5}, {Confidence: math.NaN()}} {
		bad.Variants = designInput().Variants
		r := Compare(bad)
		if r.Confidence != DefaultConfidence || r.SequentialTuning != DefaultSequentialTuning {
			t.Errorf("Compare(%v, %v) used %v, %v, want the defaults", bad.Confidence, bad.SequentialTuning, r.Confidence, r.SequentialTuning)
		}
		if len(r.Warnings) == 0 || (r.Warnings[0].Code != CodeInvalidConfidence && r.Warnings[0].Code != CodeInvalidTuning) {
			t.Errorf("no warning about the setting: %v", r.Warnings)
		}
	}
}

func TestNegativeValues(t *testing.T) {
	// Net refunds: the relative lift is over |control| so that it has the
	// sign of the absolute lift.
	r := Compare(Input{Variants: []Counts{
		{Variant: "a", Users: 100, Converters: 50, ValueSum: -200, ValueSumSq: 2000},
		{Variant: "b", Users: 100, Converters: 50, ValueSum: -100, ValueSumSq: 1500},
	}})
	v := r.Variants[1].VsControl.Value
	if v.AbsLift.Value != 1 || v.RelLift.Value != 0.5 {
		t.Errorf("abs, rel lift = %v, %v, want 1, 0.5", v.AbsLift, v.RelLift)
	}
}

func TestValidate(t *testing.T) {
	good := designInput()
	if err := good.Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	tests := []struct {
		name  string
		edit  func(*Input)
		field string
	}{
		{"confidence", func(in *Input) { in.Confidence = 1 }, "confidence"},
		{"tuning", func(in *Input) { in.SequentialTuning = math.Inf(1) }, "sequential_tuning"},
		{"weights", func(in *Input) { in.Weights = []float64{1} }, "weights"},
		{"no variants", func(in *Input) { in.Variants = nil; in.Weights = nil }, "variants"},
		{"empty name", func(in *Input) { in.Variants[1].Variant = "" }, "variants[1].variant"},
		{"duplicate", func(in *Input) { in.Variants[1].Variant = "control" }, "variants[1].variant"},
		{"negative users", func(in *Input) { in.Variants[0].Users = -1 }, "variants[0].users"},
		{"converters", func(in *Input) { in.Variants[0].Converters = 6000 }, "variants[0].converters"},
		{"conversions", func(in *Input) { in.Variants[0].Conversions = -3 }, "variants[0].conversions"},
		{"nan", func(in *Input) { in.Variants[1].ValueSum = math.NaN() }, "variants[1].value_sum"},
		{"sumsq", func(in *Input) { in.Variants[1].ValueSumSq = 1000 }, "variants[1].value_sumsq"},
		{"no users but value", func(in *Input) { in.Variants[1] = Counts{Variant: "b", ValueSum: 3, ValueSumSq: 9} }, "variants[1].value_sum"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := designInput()
			tt.edit(&in)
			err := in.Validate()
			var fe *FieldError
			if !errors.Is(err, ErrInvalid) || !errors.As(err, &fe) || fe.Field != tt.field {
				t.Errorf("Validate() = %v, want a FieldError for %s", err, tt.field)
			}
			// Compare still answers, without NaN, explaining its nulls.
			for _, p := range auditJSON(t, Compare(in)) {
				t.Error(p)
			}
		})
	}
}

func TestNumberJSON(t *testing.T) {
	for _, tc := range []struct {
		n    Number
		want string
	}{{Num(0.5), "0.5"}, {Num(1e-7), "1e-7"}, {Num(3e21), "3e+21"}, {Num(14749), "14749"}, {Num(math.NaN()), "null"}, {Num(math.Inf(1)), "null"}, {Number{}, "null"}} {
		b, _ := json.Marshal(tc.n)
		if string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, want %s", tc.n, b, tc.want)
		}
		std, _ := json.Marshal(tc.n.Value)
		if tc.n.Valid && string(std) != string(b) {
			t.Errorf("Marshal(%v) = %s, encoding/json writes %s", tc.n, b, std)
		}
		var back Number
		if err := json.Unmarshal(b, &back); err != nil || back != tc.n && tc.n.Valid {
			t.Errorf("round trip of %s = %v, %v", b, back, err)
		}
	}
	for _, tc := range []struct {
		iv   Interval
		want string
	}{{Span(-0.25, 1), "[-0.25,1]"}, {Span(0, math.Inf(1)), "null"}, {Interval{}, "null"}} {
		b, _ := json.Marshal(tc.iv)
		if string(b) != tc.want {
			t.Errorf("Marshal(%v) = %s, want %s", tc.iv, b, tc.want)
		}
		var back Interval
		if err := json.Unmarshal(b, &back); err != nil || back != tc.iv && tc.iv.Valid {
			t.Errorf("round trip of %s = %v, %v", b, back, err)
		}
	}
	var r Result
	if err := json.Unmarshal([]byte(`{"variants":[{"variant":"a","rate":0.1,"rate_ci":[0.05,0.2],"value_variance":null}]}`), &r); err != nil ||
		r.Variants[0].Rate != Num(0.1) || r.Variants[0].RateCI != Span(0.05, 0.2) || r.Variants[0].ValueVariance.Valid {
		t.Errorf("Unmarshal Result = %+v, %v", r, err)
	}
}

func TestWorkedExample(t *testing.T) {
	// The example of docs/STATISTICS.md, section 12, to the digits printed there.
	r := Compare(Input{Weights: []float64{50, 50}, Variants: []Counts{
		{Variant: "control", Users: 10000, Converters: 1000, ValueSum: 25000, ValueSumSq: 1_000_000},
		{Variant: "treatment", Users: 10000, Converters: 1100, ValueSum: 27000, ValueSumSq: 1_100_000},
	}})
	c, v := r.Variants[0], r.Variants[1]
	rt, mt := v.VsControl.Rate, v.VsControl.Value
	for _, x := range []struct {
		name      string
		got, want float64
	}{
		{"control rate_ci low", c.RateCI.Lo, 0.094273}, {"control rate_ci high", c.RateCI.Hi, 0.106034},
		{"treatment rate_ci low", v.RateCI.Lo, 0.104017}, {"treatment rate_ci high", v.RateCI.Hi, 0.116283},
		{"z", rt.Z.Value, 2.30694}, {"rate p", rt.PValue.Value, 0.021058},
		{"rate abs_ci low", rt.AbsCI.Lo, 0.001504}, {"rate abs_ci high", rt.AbsCI.Hi, 0.018496},
		{"rate rel_ci low", rt.RelCI.Lo, 0.010870}, {"rate rel_ci high", rt.RelCI.Hi, 0.189130},
		{"rate chance", rt.ChanceToBeatControl.Value, 0.989457},
		{"rate loss", rt.ExpectedLoss.Value, 1.5582e-5}, {"rate loss keep", rt.ExpectedLossKeepControl.Value, 0.0100136},
		{"rate sequential p", rt.SequentialPValue.Value, 0.43372},
		{"rate sequential_ci low", rt.SequentialCI.Lo, -0.0035552}, {"rate sequential_ci high", rt.SequentialCI.Hi, 0.0235552},
		{"rate mde_abs", rt.MDEAbs.Value, 0.011886}, {"rate mde_rel", rt.MDERel.Value, 0.11886},
		{"rate users", rt.UsersPerArm10Pct.Value, 14749},
		{"control variance", c.ValueVariance.Value, 93.759376}, {"treatment variance", v.ValueVariance.Value, 102.720272},
		{"t", mt.T.Value, 1.42683}, {"df", mt.DF.Value, 19956.49}, {"value p", mt.PValue.Value, 0.15365},
		{"value abs_ci low", mt.AbsCI.Lo, -0.074747}, {"value abs_ci high", mt.AbsCI.Hi, 0.474747},
		{"value rel_ci low", mt.RelCI.Lo, -0.034179}, {"value rel_ci high", mt.RelCI.Hi, 0.194179},
		{"value chance", mt.ChanceToBeatControl.Value, 0.92319},
		{"value loss", mt.ExpectedLoss.Value, 0.0048436}, {"value loss keep", mt.ExpectedLossKeepControl.Value, 0.2048436},
		{"value sequential p", mt.SequentialPValue.Value, 1},
		{"value sequential_ci high", mt.SequentialCI.Hi, 0.2 + 0.438331},
		{"value mde_abs", mt.MDEAbs.Value, 0.383642}, {"value mde_rel", mt.MDERel.Value, 0.153457},
		{"value users", mt.UsersPerArm10Pct.Value, 24675},
		{"srm p", r.SRM.PValue.Value, 1},
	} {
		// Printed to 5–7 significant digits: agree to half a unit in the last.
		if relErr(x.got, x.want) > 5e-5 {
			t.Errorf("%s = %.7g, docs/STATISTICS.md says %v", x.name, x.got, x.want)
		}
	}
	if !*rt.Significant || *mt.Significant {
		t.Errorf("significant = %v (rate), %v (value), want true, false", *rt.Significant, *mt.Significant)
	}
}
