package flags

import (
	"encoding/json"
	"math"
	"testing"
)

// Every expectation below is what the seed's Python evaluate_rules returns for
// json.loads of the same values (operator module; TypeError → False).
func TestRuleOperators(t *testing.T) {
	list := []any{"pro", "enterprise"}
	tests := []struct {
		op        string
		want, got any
		match     bool
	}{
		// eq / ne: numbers with numbers, strings with strings, bool is 0/1
		{"eq", num("30"), 30.0, true},
		{"eq", num("30"), num("30.0"), true},
		{"eq", num("30"), "30", false}, // a number given as a string is a string
		{"eq", "30", num("30"), false},
		{"eq", "pro", "pro", true},
		{"eq", "pro", "Pro", false},
		{"eq", true, true, true},
		{"eq", num("1"), true, true}, // Python: True == 1
		{"eq", []any{"a", num("1")}, []any{"a", 1.0}, true},
		{"eq", []any{"a"}, []string{"a"}, true},
		{"ne", num("30"), "30", true},
		{"ne", num("30"), 30.0, false},
		{"ne", "pro", "free", true},
		// orderings: across types false
		{"gt", num("30"), 45.0, true},
		{"gt", num("30"), 30.0, false},
		{"gt", num("30"), "45", false},
		{"gte", num("30"), 30.0, true},
		{"gte", num("30"), num("29.999"), false},
		{"lt", num("30"), 29.5, true},
		{"lt", num("30"), 30.0, false},
		{"lte", num("30"), 30.0, true},
		{"lte", "b", "a", true},
		{"gt", "b", "c", true},
		{"gt", "B", "b", true}, // by code point: "b" > "B"
		{"gt", num("0"), math.NaN(), false},
		{"lte", num("0"), math.NaN(), false},
		{"gt", num("0"), true, true}, // True > 0
		{"gt", "a", []any{"b"}, false},
		{"lt", []any{num("1"), num("3")}, []any{1.0, 2.0}, true}, // lists order element-wise
		// in / not_in: membership in the rule's list
		{"in", list, "pro", true},
		{"in", list, "free", false},
		{"in", []any{num("1"), num("2")}, 2.0, true},
		{"in", []any{num("1"), num("2")}, "2", false},
		{"in", "professional", "pro", true}, // data from other tools: a string rule is a substring test
		{"in", "professional", 1.0, false},  // TypeError
		{"not_in", list, "free", true},
		{"not_in", list, "pro", false},
		{"not_in", "professional", 1.0, false}, // TypeError → False, not True
		// contains: substring of a string attribute, member of a list one
		{"contains", "world", "hello world", true},
		{"contains", "mars", "hello world", false},
		{"contains", "a", []any{"a", "b"}, true},
		{"contains", "a", []string{"b", "a"}, true},
		{"contains", num("2"), []any{1.0, 2.0}, true},
		{"contains", "4", 42.0, false}, // TypeError
		{"contains", num("4"), "42", false},
		{"contains", "k", map[string]any{"k": 1.0}, true},
		// starts_with / ends_with compare str() of both sides
		{"starts_with", "user_", "user_123", true},
		{"starts_with", "user_", "admin_1", false},
		{"starts_with", num("12"), num("123"), true},
		{"starts_with", "30.", num("30.0"), true}, // str(30.0) == "30.0"
		{"starts_with", "Tr", true, true},         // str(True)
		{"ends_with", ".com", "a@b.com", true},
		{"ends_with", "e-05", num("0.00001"), true}, // str(1e-05)
		{"ends_with", "23", 123.0, true},
		// unknown operator: false
		{"matches", "x", "x", false},
	}
	for _, tt := range tests {
		r := compileRule(Rule{Attribute: "a", Operator: tt.op, Value: tt.want})
		if got := r.match(tt.got); got != tt.match {
			t.Errorf("%v %s %v (rule value %v) = %v, want %v", tt.got, tt.op, tt.want, tt.want, got, tt.match)
		}
	}
}

// A missing attribute (or null) makes every rule false, negations included.
func TestRuleMissingAttribute(t *testing.T) {
	for op := range operatorByName {
		r := compileRule(Rule{Attribute: "a", Operator: op, Value: []any{"x"}})
		if r.match(nil) {
			t.Errorf("%s on a missing attribute matched", op)
		}
	}
}

func TestPyStr(t *testing.T) {
	for _, tt := range []struct {
		in   any
		want string
	}{
		{num("30"), "30"}, {num("30.0"), "30.0"}, {num("1e16"), "1e+16"}, {num("1e15"), "1000000000000000.0"},
		{num("0.0001"), "0.0001"}, {num("0.00001"), "1e-05"}, {num("-2.5"), "-2.5"}, {num("1.5E3"), "1500.0"},
		{30.0, "30"}, {0.1, "0.1"}, {true, "True"}, {false, "False"}, {nil, "None"},
		{[]any{"a", 1.0}, "['a', 1]"}, {math.Inf(1), "inf"},
	} {
		if got := pyStr(tt.in); got != tt.want {
			t.Errorf("pyStr(%#v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzRule checks evaluation never panics and that the negations agree with
// their positives whenever Python would not raise.
func FuzzRule(f *testing.F) {
	f.Add("eq", `30`, `30.0`)
	f.Add("in", `["pro","enterprise"]`, `"pro"`)
	f.Add("contains", `"a"`, `["a",1,{"x":null}]`)
	f.Add("starts_with", `12`, `123`)
	f.Add("gt", `[1,[2]]`, `[1,[3]]`)
	f.Fuzz(func(t *testing.T, op, ruleJSON, attrJSON string) {
		var want, got any
		if decodeJSON(ruleJSON, &want) != nil || decodeJSON(attrJSON, &got) != nil {
			return
		}
		r := compileRule(Rule{Attribute: "a", Operator: op, Value: want})
		match := func(op string, rule any) bool { cr := compileRule(Rule{"a", op, rule}); return cr.match(got) }
		m := r.match(got) // must not panic
		if got == nil && m {
			t.Fatalf("%s matched a missing attribute", op)
		}
		if got == nil {
			return
		}
		switch op {
		case "eq", "ne":
			eq := match("eq", want)
			ne := match("ne", want)
			if eq == ne {
				t.Fatalf("eq and ne agree (%v) on %s vs %s", eq, attrJSON, ruleJSON)
			}
		case "gt", "lte":
			if _, ok := pyCompare(normalize(got), r.want); ok {
				gt := match("gt", want)
				lte := match("lte", want)
				if gt == lte {
					t.Fatalf("gt and lte agree (%v) on %s vs %s", gt, attrJSON, ruleJSON)
				}
			}
		case "in", "not_in":
			if _, ok := pyContains(r.want, got); ok {
				in := match("in", want)
				notIn := match("not_in", want)
				if in == notIn {
					t.Fatalf("in and not_in agree (%v) on %s vs %s", in, attrJSON, ruleJSON)
				}
			}
		}
		// A rule that passes validation must also survive a JSON round trip.
		rule := Rule{Attribute: "a", Operator: op, Value: want}
		if rule.validate() == nil {
			b, err := json.Marshal(rule)
			if err != nil {
				t.Fatalf("marshal valid rule: %v", err)
			}
			var back Rule
			if err := decodeJSON(string(b), &back); err != nil {
				t.Fatalf("decode %s: %v", b, err)
			}
			if match(back.Operator, back.Value) != m {
				t.Fatalf("rule %s matches differently after a round trip", b)
			}
		}
	})
}
