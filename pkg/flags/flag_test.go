package flags

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func decodeFlag(t testing.TB, s string) (*Flag, error) {
	t.Helper()
	var f Flag
	err := json.Unmarshal([]byte(s), &f)
	return &f, err
}

func TestDecodeVariantForms(t *testing.T) {
	want := Variants{{"control", 50}, {"variant_a", 25}, {"variant_b", 25}}
	for _, body := range []string{
		`{"key":"p","status":"enabled","variants":[{"name":"control","weight":50},{"name":"variant_a","weight":25},{"name":"variant_b","weight":25}]}`,
		`{"key":"p","status":"enabled","variants":{"control":50,"variant_a":25,"variant_b":25}}`,
	} {
		f, err := decodeFlag(t, body)
		if err != nil {
			t.Fatalf("decode %s: %v", body, err)
		}
		if !reflect.DeepEqual(f.Variants, want) {
			t.Errorf("variants = %v, want %v", f.Variants, want)
		}
	}
	// The object form keeps its written order, not an alphabetical one.
	f, err := decodeFlag(t, `{"key":"p","status":"enabled","variants":{"zeta":10,"alpha":90}}`)
	if err != nil || f.Variants[0].Name != "zeta" || f.Variants[1].Name != "alpha" {
		t.Errorf("object order lost: %v, %v", f.Variants, err)
	}
	if got := f.Variants.objectJSON(); got != `{"zeta": 10, "alpha": 90}` {
		t.Errorf("objectJSON() = %s", got)
	}
}

func TestDecodeSeedAliases(t *testing.T) {
	// The seed's Node manager posts camelCase and "name".
	f, err := decodeFlag(t, `{"name":"beta_features","status":"targeted","allowedUsers":["user_123"],"allowedGroups":["beta_testers"],"matchType":"any","percentage":0,"description":"","variants":{},"metadata":{}}`)
	if err != nil {
		t.Fatal(err)
	}
	if f.Key != "beta_features" || !reflect.DeepEqual(f.AllowedUsers, []string{"user_123"}) ||
		!reflect.DeepEqual(f.AllowedGroups, []string{"beta_testers"}) || f.MatchType != "any" {
		t.Errorf("decoded %+v", f)
	}
}

func TestDecodeErrorsNameTheField(t *testing.T) {
	tests := []struct{ body, field string }{
		{`{"key":"x","status":"enabled","percentge":5}`, "percentge"},
		{`{"key":"x","status":"enabled","percentage":"5"}`, "percentage"},
		{`{"key":"x","status":"enabled","variants":{"a":"50"}}`, "variants"},
		{`{"key":"x","status":"enabled","variants":[{"name":"a","weight":50,"colour":1}]}`, "variants"},
		{`{"key":"x","name":"y","status":"enabled"}`, "name"},
		{`[]`, "(body)"},
	}
	for _, tt := range tests {
		_, err := decodeFlag(t, tt.body)
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tt.field || !errors.Is(err, ErrInvalid) {
			t.Errorf("decode %s: error %v, want a FieldError on %q", tt.body, err, tt.field)
		}
	}
}

func TestValidate(t *testing.T) {
	ok := func() *Flag {
		return &Flag{Key: "pricing_page.v2-a", Status: StatusPercentage, Percentage: 25,
			AllowedUsers: []string{"user_123"}, AllowedGroups: []string{"beta testers"},
			Rules:    []Rule{{"plan", "in", []any{"pro"}}, {"age", "gte", json.Number("30")}, {"email", "ends_with", "@x.com"}},
			Variants: Variants{{"control", 50}, {"b", 49.5}, {"c", 0.5}}}
	}
	if err := ok().Validate(); err != nil {
		t.Fatalf("valid flag refused: %v", err)
	}
	tests := []struct {
		name  string
		mut   func(*Flag)
		field string
	}{
		{"empty key", func(f *Flag) { f.Key = "" }, "key"},
		{"colon in key", func(f *Flag) { f.Key = "a:b" }, "key"},
		{"key of 129", func(f *Flag) { f.Key = strings.Repeat("k", 129) }, "key"},
		{"no status", func(f *Flag) { f.Status = "" }, "status"},
		{"unknown status", func(f *Flag) { f.Status = "on" }, "status"},
		{"percentage below 0", func(f *Flag) { f.Percentage = -0.1 }, "percentage"},
		{"percentage above 100", func(f *Flag) { f.Percentage = 100.01 }, "percentage"},
		{"control character in user", func(f *Flag) { f.AllowedUsers = []string{"ok", "bad\n"} }, "allowed_users[1]"},
		{"empty group", func(f *Flag) { f.AllowedGroups = []string{""} }, "allowed_groups[0]"},
		{"bad match type", func(f *Flag) { f.MatchType = "most" }, "match_type"},
		{"unknown operator", func(f *Flag) { f.Rules[1].Operator = "regex" }, "rules[1].operator"},
		{"in needs a list", func(f *Flag) { f.Rules[0].Value = "pro" }, "rules[0].value"},
		{"gt needs a number or string", func(f *Flag) { f.Rules[1].Value = []any{} }, "rules[1].value"},
		{"eq needs a value", func(f *Flag) { f.Rules[1] = Rule{"a", "eq", nil} }, "rules[1].value"},
		{"empty attribute", func(f *Flag) { f.Rules[2].Attribute = "" }, "rules[2].attribute"},
		{"weights sum to 99", func(f *Flag) { f.Variants[2].Weight = 0 }, "variants"},
		{"negative weight", func(f *Flag) { f.Variants[1].Weight = -1; f.Variants[0].Weight = 100.5 }, "variants[1].weight"},
		{"duplicate variant", func(f *Flag) { f.Variants[2].Name = "b" }, "variants[2].name"},
		{"bad variant name", func(f *Flag) { f.Variants[0].Name = "con trol" }, "variants[0].name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := ok()
			tt.mut(f)
			err := f.Validate()
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tt.field {
				t.Fatalf("Validate() = %v, want an error on %q", err, tt.field)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v is not ErrInvalid", err)
			}
		})
	}
}

// FuzzDecodeFlag: decoding never panics; a decoded flag re-encodes to JSON that
// decodes to an equal flag; validation and evaluation agree across the trip.
func FuzzDecodeFlag(f *testing.F) {
	f.Add(`{"key":"pricing_page_experiment","status":"enabled","variants":{"control":50,"b":50},"rules":[{"attribute":"plan","operator":"in","value":["pro"]}],"match_type":"all","metadata":{"owner":"growth"},"version":3}`)
	f.Add(`{"name":"dark_mode","status":"percentage","percentage":25.5,"allowedUsers":["u1"]}`)
	f.Add(`{"key":"x","status":"targeted","allowed_groups":["g"],"variants":[{"name":"a","weight":100}]}`)
	f.Add(`{"key":"x","status":"enabled","rules":[{"attribute":"n","operator":"gt","value":1e308}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		var a Flag
		if err := json.Unmarshal([]byte(body), &a); err != nil {
			var syntax *json.SyntaxError // found by encoding/json before our decoder runs
			if !errors.Is(err, ErrInvalid) && !errors.As(err, &syntax) {
				t.Fatalf("decode error %v is neither ErrInvalid nor a syntax error", err)
			}
			return
		}
		enc, err := json.Marshal(&a)
		if err != nil {
			return // e.g. a NaN cannot come from JSON, but stay safe
		}
		var b Flag
		if err := json.Unmarshal(enc, &b); err != nil {
			t.Fatalf("re-decode of %s: %v", enc, err)
		}
		a.prep, b.prep = nil, nil
		if !reflect.DeepEqual(normalizeFlag(a), normalizeFlag(b)) {
			t.Fatalf("round trip changed the flag:\n%+v\n%+v", a, b)
		}
		if (a.Validate() == nil) != (b.Validate() == nil) {
			t.Fatalf("validation differs after a round trip: %v vs %v", a.Validate(), b.Validate())
		}
		ec := EvalContext{UserID: "user_1", Groups: []string{"g"}, Attributes: map[string]any{"plan": "pro", "n": 2.0}}
		if ra, rb := Evaluate(a.Prepare(), ec), Evaluate(b.Prepare(), ec); ra != rb {
			t.Fatalf("evaluation differs after a round trip: %+v vs %+v", ra, rb)
		}
	})
}

// normalizeFlag maps empty and nil collections together: JSON null and [] are
// the same flag.
func normalizeFlag(f Flag) Flag {
	if len(f.AllowedUsers) == 0 {
		f.AllowedUsers = nil
	}
	if len(f.AllowedGroups) == 0 {
		f.AllowedGroups = nil
	}
	if len(f.Rules) == 0 {
		f.Rules = nil
	}
	if len(f.Variants) == 0 {
		f.Variants = nil
	}
	if len(f.Metadata) == 0 {
		f.Metadata = nil
	}
	return f
}
