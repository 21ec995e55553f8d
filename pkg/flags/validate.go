package flags

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"
)

// Limits on names, shared with the event pipeline (pkg/events uses the same rules
// for experiment, variant and conversion-type names and for user ids).
const (
	MaxKeyLen    = 128 // flag keys, variant and experiment names
	MaxUserIDLen = 256 // bytes of UTF-8
)

// ValidKey reports whether s is 1–128 characters of A–Z a–z 0–9 _ . -
// (a ':' would break the Redis key layout).
func ValidKey(s string) bool {
	if len(s) == 0 || len(s) > MaxKeyLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// CheckKey explains why s is not a valid key, or returns nil.
func CheckKey(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > MaxKeyLen:
		return fmt.Errorf("is %d characters long, the limit is %d", len(s), MaxKeyLen)
	case !ValidKey(s):
		return fmt.Errorf("%q may only hold A-Z a-z 0-9 _ . -", s)
	}
	return nil
}

// CheckUserID explains why s is not a valid user id (1–256 bytes of UTF-8 without
// control characters), or returns nil.
func CheckUserID(s string) error {
	switch {
	case s == "":
		return errors.New("is empty")
	case len(s) > MaxUserIDLen:
		return fmt.Errorf("is %d bytes long, the limit is %d", len(s), MaxUserIDLen)
	case !utf8.ValidString(s):
		return errors.New("is not valid UTF-8")
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("holds control character %U", r)
		}
	}
	return nil
}

// Validate checks a flag as the admin API writes it and returns a *FieldError
// (an [ErrInvalid]) naming the first field at fault.
func (f *Flag) Validate() error {
	if err := CheckKey(f.Key); err != nil {
		return &FieldError{"key", err.Error()}
	}
	switch f.Status {
	case StatusEnabled, StatusDisabled, StatusPercentage, StatusTargeted:
	case "":
		return &FieldError{"status", "is required: enabled, disabled, percentage or targeted"}
	default:
		return &FieldError{"status", fmt.Sprintf("%q is not one of enabled, disabled, percentage, targeted", f.Status)}
	}
	if err := checkPercentage(f.Percentage); err != nil {
		return &FieldError{"percentage", err.Error()}
	}
	if len(f.Description) > 4096 {
		return &FieldError{"description", "is longer than 4096 bytes"}
	}
	for i, u := range f.AllowedUsers {
		if err := CheckUserID(u); err != nil {
			return &FieldError{fmt.Sprintf("allowed_users[%d]", i), err.Error()}
		}
	}
	if err := checkGroups("allowed_groups", f.AllowedGroups); err != nil {
		return err
	}
	switch f.MatchType {
	case "", MatchAll, MatchAny:
	default:
		return &FieldError{"match_type", fmt.Sprintf("%q is not all or any", f.MatchType)}
	}
	for i, r := range f.Rules {
		if err := r.validate(); err != nil {
			err.Field = fmt.Sprintf("rules[%d].%s", i, err.Field)
			return err
		}
	}
	if err := f.VariantHash.validate(); err != nil {
		return err
	}
	return f.Variants.validate()
}

func (h VariantHash) validate() error {
	switch h {
	case VariantHashDefault, VariantHashPlain, VariantHashSalted:
		return nil
	}
	return &FieldError{"variant_hash", fmt.Sprintf("%q is not plain or salted (or absent: salted under status percentage, plain otherwise)", string(h))}
}

func checkPercentage(p float64) error {
	if math.IsNaN(p) || p < 0 || p > 100 {
		return fmt.Errorf("%v is outside 0..100", p)
	}
	return nil
}

func checkGroups(field string, groups []string) error {
	for i, g := range groups {
		if err := CheckUserID(g); err != nil { // same shape as a user id: free text without control characters
			return &FieldError{fmt.Sprintf("%s[%d]", field, i), err.Error()}
		}
	}
	return nil
}

func (vs Variants) validate() error {
	if len(vs) == 0 {
		return nil
	}
	seen := make(map[string]bool, len(vs))
	sum := 0.0
	for i, v := range vs {
		if err := CheckKey(v.Name); err != nil {
			return &FieldError{fmt.Sprintf("variants[%d].name", i), err.Error()}
		}
		if seen[v.Name] {
			return &FieldError{fmt.Sprintf("variants[%d].name", i), fmt.Sprintf("%q appears twice", v.Name)}
		}
		seen[v.Name] = true
		if math.IsNaN(v.Weight) || math.IsInf(v.Weight, 0) || v.Weight < 0 {
			return &FieldError{fmt.Sprintf("variants[%d].weight", i), fmt.Sprintf("%v is not a non-negative number", v.Weight)}
		}
		sum += v.Weight
	}
	if math.Abs(sum-100) > 1e-9 {
		return &FieldError{"variants", fmt.Sprintf("weights sum to %v, they must sum to 100", sum)}
	}
	return nil
}

// validate checks that the operator is known and the value has a type the
// operator can use; Field is relative to the rule.
func (r Rule) validate() *FieldError {
	if r.Attribute == "" {
		return &FieldError{"attribute", "is empty"}
	}
	op, ok := operatorByName[r.Operator]
	if !ok {
		return &FieldError{"operator", fmt.Sprintf("%q is not one of eq ne gt gte lt lte in not_in contains starts_with ends_with", r.Operator)}
	}
	var okType bool
	switch v := normalize(r.Value); op {
	case opEq, opNe:
		_, isMap := v.(map[string]any)
		okType = v != nil && !isMap
	case opGt, opGte, opLt, opLte:
		_, isNum := v.(float64)
		_, isStr := v.(string)
		okType = isNum || isStr
	case opIn, opNotIn:
		_, okType = v.([]any)
	case opContains:
		switch v.(type) {
		case float64, string, bool:
			okType = true
		}
	case opStartsWith, opEndsWith:
		_, isNum := v.(float64)
		_, isStr := v.(string)
		okType = isNum || isStr
	}
	if !okType {
		return &FieldError{"value", fmt.Sprintf("%s needs %s, got %s", r.Operator, operandWanted[op], jsonTypeName(r.Value))}
	}
	return nil
}

func jsonTypeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	if _, ok := asNumber(v); ok {
		return "a number"
	}
	return fmt.Sprintf("%T", v)
}

var operandWanted = map[operator]string{
	opEq: "a string, number, boolean or list", opNe: "a string, number, boolean or list",
	opGt: "a number or string", opGte: "a number or string", opLt: "a number or string", opLte: "a number or string",
	opIn: "a list", opNotIn: "a list",
	opContains:   "a string, number or boolean",
	opStartsWith: "a string or number", opEndsWith: "a string or number",
}
