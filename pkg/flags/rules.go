package flags

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Rules compare values the way the seed's Python does (operator module on
// json.loads values), because flags written for the seed must keep matching the
// same users:
//   - numbers compare with numbers, integer or not (30 == 30.0); booleans are the
//     numbers 1 and 0, as Python's bool is an int;
//   - strings compare with strings, by code point;
//   - across types eq is false, ne true, and an ordering false (Python raises
//     TypeError, which the seed turns into false); "30" is a string, not 30;
//   - in / not_in test membership in the rule's list (a rule string: substring);
//   - contains is a substring of a string attribute or membership in a list one;
//   - starts_with / ends_with compare Python's str() of both sides.
// A missing attribute (or JSON null) makes any rule false, not_in and ne included.

type operator uint8

const (
	opUnknown operator = iota // from data the API would refuse: the rule is false
	opEq
	opNe
	opGt
	opGte
	opLt
	opLte
	opIn
	opNotIn
	opContains
	opStartsWith
	opEndsWith
)

var operatorByName = map[string]operator{
	"eq": opEq, "ne": opNe, "gt": opGt, "gte": opGte, "lt": opLt, "lte": opLte,
	"in": opIn, "not_in": opNotIn, "contains": opContains,
	"starts_with": opStartsWith, "ends_with": opEndsWith,
}

// compiledRule is a rule ready for evaluation: the operator resolved and the
// expected value normalised once (numbers as float64), so the hot path does no
// parsing.
type compiledRule struct {
	attr string
	op   operator
	want any    // normalised rule value
	str  string // Python str() of the rule value, for starts_with / ends_with
}

func compileRule(r Rule) compiledRule {
	want := normalize(r.Value)
	return compiledRule{attr: r.Attribute, op: operatorByName[r.Operator], want: want, str: pyStr(r.Value)}
}

// normalize turns decoded JSON into the few types the comparisons know:
// float64, string, bool, nil, []any, map[string]any. Booleans stay booleans so
// that str() can still print True.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case []string:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = e
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	}
	if f, ok := asNumber(v); ok {
		if _, isBool := v.(bool); !isBool {
			return f
		}
	}
	return v
}

// match evaluates one rule against the context's attribute value.
func (r *compiledRule) match(got any) bool {
	if got == nil {
		return false
	}
	switch r.op {
	case opEq:
		return pyEqual(got, r.want)
	case opNe:
		return !pyEqual(got, r.want)
	case opGt:
		c, ok := pyCompare(got, r.want)
		return ok && c > 0
	case opGte:
		c, ok := pyCompare(got, r.want)
		return ok && c >= 0
	case opLt:
		c, ok := pyCompare(got, r.want)
		return ok && c < 0
	case opLte:
		c, ok := pyCompare(got, r.want)
		return ok && c <= 0
	case opIn:
		in, ok := pyContains(r.want, got)
		return ok && in
	case opNotIn:
		in, ok := pyContains(r.want, got)
		return ok && !in
	case opContains:
		in, ok := pyContains(got, r.want)
		return ok && in
	case opStartsWith:
		return strings.HasPrefix(pyStr(got), r.str)
	case opEndsWith:
		return strings.HasSuffix(pyStr(got), r.str)
	}
	return false
}

// asNumber reads any numeric Go value (and bool, which Python treats as 0/1).
func asNumber(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case float32:
		return float64(x), true
	case int32:
		return float64(x), true
	case uint:
		return float64(x), true
	case uint64:
		return float64(x), true
	case uint32:
		return float64(x), true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		return f, err == nil || isRangeErr(err)
	case bool:
		if x {
			return 1, true
		}
		return 0, true
	}
	return 0, false
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

func asList(v any) ([]any, []string, bool) {
	switch x := v.(type) {
	case []any:
		return x, nil, true
	case []string:
		return nil, x, true
	}
	return nil, nil, false
}

// pyEqual is Python's == on JSON values.
func pyEqual(a, b any) bool {
	if na, ok := asNumber(a); ok {
		nb, ok := asNumber(b)
		return ok && na == nb
	}
	switch x := a.(type) {
	case string:
		y, ok := b.(string)
		return ok && x == y
	case nil:
		return b == nil
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !pyEqual(xv, yv) {
				return false
			}
		}
		return true
	}
	la, sa, ok := asList(a)
	if !ok {
		return false
	}
	lb, sb, ok := asList(b)
	if !ok || listLen(la, sa) != listLen(lb, sb) {
		return false
	}
	for i := range listLen(la, sa) {
		if !pyEqual(listAt(la, sa, i), listAt(lb, sb, i)) {
			return false
		}
	}
	return true
}

// pyCompare orders a and b as Python's < does; ok is false where Python raises
// TypeError (mixed types, dicts) or the comparison is undefined (NaN).
func pyCompare(a, b any) (c int, ok bool) {
	if na, ok := asNumber(a); ok {
		nb, ok := asNumber(b)
		if !ok || math.IsNaN(na) || math.IsNaN(nb) {
			return 0, false
		}
		switch {
		case na < nb:
			return -1, true
		case na > nb:
			return 1, true
		}
		return 0, true
	}
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		return strings.Compare(sa, sb), ok
	}
	la, sa, okA := asList(a)
	lb, sb, okB := asList(b)
	if !okA || !okB {
		return 0, false
	}
	na, nb := listLen(la, sa), listLen(lb, sb)
	for i := 0; i < na && i < nb; i++ {
		x, y := listAt(la, sa, i), listAt(lb, sb, i)
		if !pyEqual(x, y) {
			return pyCompare(x, y)
		}
	}
	return cmpInt(na, nb), true
}

// pyContains is Python's `item in container`; ok is false where Python raises.
func pyContains(container, item any) (in, ok bool) {
	switch c := container.(type) {
	case string:
		s, isStr := item.(string)
		return isStr && strings.Contains(c, s), isStr
	case map[string]any:
		s, isStr := item.(string)
		if !isStr { // a dict's keys here are strings; other hashables are simply absent
			_, hashable := asNumber(item)
			return false, hashable || item == nil
		}
		_, in := c[s]
		return in, true
	}
	l, s, isList := asList(container)
	if !isList {
		return false, false
	}
	if s != nil {
		str, isStr := item.(string)
		if !isStr {
			return false, true
		}
		for _, e := range s {
			if e == str {
				return true, true
			}
		}
		return false, true
	}
	for _, e := range l {
		if pyEqual(item, e) {
			return true, true
		}
	}
	return false, true
}

func listLen(l []any, s []string) int {
	if s != nil {
		return len(s)
	}
	return len(l)
}

func listAt(l []any, s []string, i int) any {
	if s != nil {
		return s[i]
	}
	return l[i]
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// pyStr is Python's str() of a JSON value: True/False/None, integers without a
// fraction, floats in repr form (30.0, 1e-05, 1e+16). A float64 whose JSON text is
// unknown prints as an integer when it is integral; json.Number keeps the
// literal's int-or-float nature exactly.
func pyStr(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		if x {
			return "True"
		}
		return "False"
	case nil:
		return "None"
	case json.Number:
		if !strings.ContainsAny(string(x), ".eE") {
			return strings.TrimPrefix(string(x), "+")
		}
		f, _ := strconv.ParseFloat(string(x), 64)
		return pyFloatRepr(f)
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1e16 {
			return strconv.FormatFloat(x, 'f', 0, 64)
		}
		return pyFloatRepr(x)
	case []any, []string, map[string]any:
		return pyRepr(v)
	}
	if f, ok := asNumber(v); ok {
		return pyStr(f)
	}
	return ""
}

// pyFloatRepr formats like Python's repr(float): shortest round-trip digits,
// exponent form below 1e-4 and from 1e16 up.
func pyFloatRepr(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	if f != 0 {
		e := strconv.FormatFloat(f, 'e', -1, 64) // "1.5e-05": Python's exponent style too
		exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
		if exp < -4 || exp >= 16 {
			return e
		}
	}
	s := strconv.FormatFloat(f, 'f', -1, 64)
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// pyRepr prints lists and dicts roughly as Python does, enough for a
// starts_with on a list attribute to behave as in the seed for simple values.
func pyRepr(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), "'", `\'`) + "'"
	case []string:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = pyRepr(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(x))
		for k, e := range x { // Python keeps insertion order; Go maps have none to keep
			parts = append(parts, pyRepr(k)+": "+pyRepr(e))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return pyStr(v)
}
