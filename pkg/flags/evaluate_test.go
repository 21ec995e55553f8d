package flags

import (
	"encoding/json"
	"math"
	"testing"
)

func num(s string) json.Number { return json.Number(s) }

func TestEvaluateOrder(t *testing.T) {
	// Buckets used below (see TestBucketKnownValues):
	//   pricing_page_experiment/user_789 → 48.116;  dark_mode/user_001 → 73.024, salted 94.754.
	planRule := []Rule{{Attribute: "plan", Operator: "in", Value: []any{"pro", "enterprise"}}}
	three := Variants{{"control", 50}, {"variant_a", 25}, {"variant_b", 25}}
	exactBucket := Bucket("dark_mode", "user_001")
	pro := map[string]any{"plan": "pro"}
	free := map[string]any{"plan": "free"}

	tests := []struct {
		name string
		flag *Flag
		ec   EvalContext
		want Result
	}{
		{"1 no flag", nil, EvalContext{UserID: "u"},
			Result{Reason: ReasonError, ErrorCode: ErrorFlagNotFound}},
		{"2 disabled beats an allowed user", &Flag{Key: "x", Status: StatusDisabled, AllowedUsers: []string{"u"}, Version: 4},
			EvalContext{UserID: "u"}, Result{Reason: ReasonDisabled, Version: 4}},
		{"3 allowed user on a targeted flag", &Flag{Key: "x", Status: StatusTargeted, AllowedUsers: []string{"a", "u"}},
			EvalContext{UserID: "u"}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"3 allowed group", &Flag{Key: "x", Status: StatusTargeted, AllowedGroups: []string{"beta_testers"}},
			EvalContext{Groups: []string{"staff", "beta_testers"}}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"3 allowed user wins over failing rules", &Flag{Key: "x", Status: StatusEnabled, AllowedUsers: []string{"u"}, Rules: planRule},
			EvalContext{UserID: "u", Attributes: free}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"3 allowed user on a 0% rollout", &Flag{Key: "x", Status: StatusPercentage, Percentage: 0, AllowedUsers: []string{"u"}},
			EvalContext{UserID: "u"}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"3 allowed group without user id on a percentage flag", &Flag{Key: "x", Status: StatusPercentage, AllowedGroups: []string{"internal"}},
			EvalContext{Groups: []string{"internal"}}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"3 allowed user with variants gets the bucket's variant", &Flag{Key: "pricing_page_experiment", Status: StatusTargeted, AllowedUsers: []string{"user_789"}, Variants: three},
			EvalContext{UserID: "user_789"}, Result{Enabled: true, Variant: "control", Reason: ReasonSplit}},
		{"4 rules not matched", &Flag{Key: "x", Status: StatusEnabled, Rules: planRule},
			EvalContext{UserID: "u", Attributes: free}, Result{Reason: ReasonDefault}},
		{"4 rule on a missing attribute", &Flag{Key: "x", Status: StatusEnabled, Rules: planRule},
			EvalContext{UserID: "u"}, Result{Reason: ReasonDefault}},
		{"4 rules not matched on a percentage flag", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 100, Rules: planRule},
			EvalContext{UserID: "user_001", Attributes: free}, Result{Reason: ReasonDefault}},
		{"5 percentage without user id", &Flag{Key: "x", Status: StatusPercentage, Percentage: 100},
			EvalContext{}, Result{Reason: ReasonDefault, ErrorCode: ErrorTargetingKeyMissing}},
		{"5 bucket below percentage", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 80},
			EvalContext{UserID: "user_001"}, Result{Enabled: true, Reason: ReasonSplit}},
		{"5 bucket above percentage", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 73},
			EvalContext{UserID: "user_001"}, Result{Reason: ReasonSplit}},
		{"5 bucket equal to the threshold is out", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: exactBucket},
			EvalContext{UserID: "user_001"}, Result{Reason: ReasonSplit}},
		{"5 just above the bucket is in", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: math.Nextafter(exactBucket, 100)},
			EvalContext{UserID: "user_001"}, Result{Enabled: true, Reason: ReasonSplit}},
		{"5 percentage 0", &Flag{Key: "new_checkout_flow", Status: StatusPercentage, Percentage: 0},
			EvalContext{UserID: "user_123"}, Result{Reason: ReasonSplit}},
		{"5 percentage 100", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 100},
			EvalContext{UserID: "user_001"}, Result{Enabled: true, Reason: ReasonSplit}},
		{"5 rules matched then bucket", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 80, Rules: planRule},
			EvalContext{UserID: "user_001", Attributes: pro}, Result{Enabled: true, Reason: ReasonSplit}},
		{"6 targeted without a match", &Flag{Key: "x", Status: StatusTargeted, AllowedUsers: []string{"a"}},
			EvalContext{UserID: "u"}, Result{Reason: ReasonDefault}},
		{"6 targeted with matched rules stays off", &Flag{Key: "x", Status: StatusTargeted, Rules: planRule},
			EvalContext{UserID: "u", Attributes: pro}, Result{Reason: ReasonDefault}},
		{"6 enabled", &Flag{Key: "x", Status: StatusEnabled, Version: 9},
			EvalContext{}, Result{Enabled: true, Reason: ReasonStatic, Version: 9}},
		{"6 enabled through rules", &Flag{Key: "x", Status: StatusEnabled, Rules: planRule},
			EvalContext{Attributes: pro}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"6 unknown status from another tool is off", &Flag{Key: "x", Status: "beta"},
			EvalContext{UserID: "u"}, Result{Reason: ReasonDefault}},
		{"7 variant by bucket 48.1 in 50/25/25", &Flag{Key: "pricing_page_experiment", Status: StatusEnabled, Variants: three},
			EvalContext{UserID: "user_789"}, Result{Enabled: true, Variant: "control", Reason: ReasonSplit}},
		{"7 variant by bucket 48.1 in 40/30/30", &Flag{Key: "pricing_page_experiment", Status: StatusEnabled,
			Variants: Variants{{"control", 40}, {"variant_a", 30}, {"variant_b", 30}}},
			EvalContext{UserID: "user_789"}, Result{Enabled: true, Variant: "variant_a", Reason: ReasonSplit}},
		{"7 zero-weight variant is never picked", &Flag{Key: "pricing_page_experiment", Status: StatusEnabled,
			Variants: Variants{{"control", 48.1161976698786}, {"off", 0}, {"on", 51.8838023301214}}},
			EvalContext{UserID: "user_789"}, Result{Enabled: true, Variant: "on", Reason: ReasonSplit}},
		{"7 percentage flag uses the salted bucket (94.75, not 73.02)", &Flag{Key: "dark_mode", Status: StatusPercentage, Percentage: 80,
			Variants: Variants{{"a", 90}, {"b", 10}}},
			EvalContext{UserID: "user_001"}, Result{Enabled: true, Variant: "b", Reason: ReasonSplit}},
		{"7 enabled flag uses the plain bucket (73.02)", &Flag{Key: "dark_mode", Status: StatusEnabled,
			Variants: Variants{{"a", 90}, {"b", 10}}},
			EvalContext{UserID: "user_001"}, Result{Enabled: true, Variant: "a", Reason: ReasonSplit}},
		{"7 no user id: first variant, DEFAULT", &Flag{Key: "x", Status: StatusEnabled, Variants: three},
			EvalContext{}, Result{Enabled: true, Variant: "control", Reason: ReasonDefault}},
		{"7 weights short of 100 fall back to the first", &Flag{Key: "pricing_page_experiment", Status: StatusEnabled,
			Variants: Variants{{"a", 10}, {"b", 10}}},
			EvalContext{UserID: "user_789"}, Result{Enabled: true, Variant: "a", Reason: ReasonSplit}},
		{"7 off flag has no variant", &Flag{Key: "x", Status: StatusDisabled, Variants: three},
			EvalContext{UserID: "u"}, Result{Reason: ReasonDisabled}},
		{"match any: one rule suffices", &Flag{Key: "x", Status: StatusEnabled, MatchType: MatchAny,
			Rules: []Rule{{"plan", "eq", "pro"}, {"age", "gte", num("30")}}},
			EvalContext{Attributes: map[string]any{"age": 31.0}}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"match all: every rule", &Flag{Key: "x", Status: StatusEnabled,
			Rules: []Rule{{"plan", "eq", "pro"}, {"age", "gte", num("30")}}},
			EvalContext{Attributes: map[string]any{"plan": "pro", "age": 29.0}}, Result{Reason: ReasonDefault}},
		{"a match_type other than all means any (seed)", &Flag{Key: "x", Status: StatusEnabled, MatchType: "some",
			Rules: []Rule{{"plan", "eq", "pro"}, {"age", "gte", num("30")}}},
			EvalContext{Attributes: map[string]any{"age": 31.0}}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"an unknown operator makes its rule false (seed)", &Flag{Key: "x", Status: StatusEnabled,
			Rules: []Rule{{"plan", "matches", "pro"}}},
			EvalContext{Attributes: pro}, Result{Reason: ReasonDefault}},
		{"rule on user_id", &Flag{Key: "x", Status: StatusEnabled, Rules: []Rule{{"user_id", "starts_with", "emp_"}}},
			EvalContext{UserID: "emp_7"}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
		{"rule on groups", &Flag{Key: "x", Status: StatusEnabled, Rules: []Rule{{"groups", "contains", "staff"}}},
			EvalContext{Groups: []string{"staff"}}, Result{Enabled: true, Reason: ReasonTargetingMatch}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.flag != nil {
				tt.flag.Prepare()
			}
			if got := Evaluate(tt.flag, tt.ec); got != tt.want {
				t.Errorf("Evaluate() = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// An unprepared flag evaluates the same as a prepared one.
func TestEvaluateUnprepared(t *testing.T) {
	mk := func() *Flag {
		return &Flag{Key: "pricing_page_experiment", Status: StatusEnabled, AllowedUsers: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"},
			Variants: Variants{{"control", 50}, {"b", 50}}}
	}
	for _, u := range []string{"user_789", "e", "zz"} {
		if a, b := Evaluate(mk(), EvalContext{UserID: u}), Evaluate(mk().Prepare(), EvalContext{UserID: u}); a != b {
			t.Errorf("user %s: unprepared %+v, prepared %+v", u, a, b)
		}
	}
}

func TestExposed(t *testing.T) {
	for _, tt := range []struct {
		r    Result
		want bool
	}{
		{Result{Enabled: true, Variant: "control", Reason: ReasonSplit}, true},
		{Result{Enabled: true, Variant: "control", Reason: ReasonDefault}, false}, // no user id
		{Result{Enabled: true, Reason: ReasonSplit}, false},                       // no variants
		{Result{Reason: ReasonSplit}, false},                                      // rolled out
	} {
		if got := tt.r.Exposed(); got != tt.want {
			t.Errorf("%+v.Exposed() = %v, want %v", tt.r, got, tt.want)
		}
	}
}
