package flags

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The hash fields in Redis follow the seed's Python manager: scalars as
// strings, lists and maps as JSON strings. Its Node manager writes camelCase
// (allowedUsers, allowedGroups), which we read too. Rules live in a hash of
// their own (feature_flags:rules:<name>: rules, match_type), as in the seed.

// encodeHash returns the data hash of a flag, in the Python manager's layout
// (without version, which the write script sets).
func encodeHash(f *Flag) ([]string, error) {
	users, err := json.Marshal(nonNil(f.AllowedUsers))
	if err != nil {
		return nil, err
	}
	groups, err := json.Marshal(nonNil(f.AllowedGroups))
	if err != nil {
		return nil, err
	}
	meta := f.Metadata
	if meta == nil {
		meta = map[string]any{}
	}
	metaJSON, err := json.Marshal(meta)
	if err != nil {
		return nil, fmt.Errorf("metadata: %w", err)
	}
	h := []string{
		"name", f.Key,
		"status", string(f.Status),
		"description", f.Description,
		"percentage", formatNumber(f.Percentage),
		"allowed_users", string(users),
		"allowed_groups", string(groups),
		"variants", f.Variants.objectJSON(),
		"metadata", string(metaJSON),
	}
	// Only when set: a flag that never went on a plan keeps the seed's exact
	// hash (the seed's managers know no such field and ignore it).
	if f.VariantHash != VariantHashDefault {
		h = append(h, "variant_hash", string(f.VariantHash))
	}
	return h, nil
}

// encodeRules returns the rules hash, or nil when the flag has no rules (the
// seed keeps no rules key then).
func encodeRules(f *Flag) ([]string, error) {
	if len(f.Rules) == 0 {
		return nil, nil
	}
	rules, err := json.Marshal(f.Rules)
	if err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	mt := f.MatchType
	if mt == "" {
		mt = MatchAll
	}
	return []string{"rules", string(rules), "match_type", mt}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// decodeHash builds a flag from the data and rules hashes as any of the seed's
// managers or flagstream wrote them. It fails only on data it cannot read at all
// (malformed JSON, a percentage that is not a number); what it can read but the
// API would refuse is kept and reported by Flag.Problem after Prepare.
func decodeHash(name string, data, rules map[string]string) (*Flag, error) {
	f := &Flag{
		Key:         name,
		Status:      Status(data["status"]),
		Description: data["description"],
		// An unknown value is served by the default rule and reported by
		// Flag.Problem, like any value the API would refuse.
		VariantHash: VariantHash(data["variant_hash"]),
	}
	if n := data["name"]; n != "" && n != name {
		return nil, fmt.Errorf("hash for %q holds name %q", name, n)
	}
	if p := strings.TrimSpace(data["percentage"]); p != "" {
		v, err := strconv.ParseFloat(p, 64)
		if err != nil {
			return nil, fmt.Errorf("percentage %q is not a number", p)
		}
		f.Percentage = v
	}
	if v := data["version"]; v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("version %q is not an integer", v)
		}
		f.Version = n
	}
	var err error
	if f.AllowedUsers, err = stringList(data, "allowed_users", "allowedUsers"); err != nil {
		return nil, err
	}
	if f.AllowedGroups, err = stringList(data, "allowed_groups", "allowedGroups"); err != nil {
		return nil, err
	}
	if raw := data["variants"]; !emptyJSON(raw) {
		if err := f.Variants.decode([]byte(raw)); err != nil {
			return nil, fmt.Errorf("field variants: %w", err)
		}
	}
	if raw := data["metadata"]; !emptyJSON(raw) {
		if err := decodeJSON(raw, &f.Metadata); err != nil {
			return nil, fmt.Errorf("field metadata: %w", err)
		}
	}
	if len(f.Variants) == 0 {
		f.Variants = nil // the seed writes {} for "no variants"
	}
	if raw := rules["rules"]; !emptyJSON(raw) {
		if err := decodeJSON(raw, &f.Rules); err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
	}
	if len(f.Rules) == 0 {
		f.Rules = nil
	}
	f.MatchType = firstNonEmpty(rules["match_type"], rules["matchType"])
	return f, nil
}

func decodeJSON(raw string, dst any) error {
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	return dec.Decode(dst)
}

// emptyJSON spots the values the seed writes for "nothing", so a resync of
// thousands of flags does not run a JSON decoder on each of them.
func emptyJSON(raw string) bool {
	switch strings.TrimSpace(raw) {
	case "", "[]", "{}", "null":
		return true
	}
	return false
}

// stringList reads a JSON list of strings from the first of the given fields present.
func stringList(data map[string]string, names ...string) ([]string, error) {
	for _, n := range names {
		raw, ok := data[n]
		if !ok {
			continue
		}
		if emptyJSON(raw) {
			return nil, nil
		}
		var out []string
		if err := json.Unmarshal([]byte(raw), &out); err != nil {
			return nil, fmt.Errorf("field %s: %w", n, err)
		}
		return out, nil
	}
	return nil, nil
}
