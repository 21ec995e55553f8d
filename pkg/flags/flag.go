package flags

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// Status says how a flag decides who gets it.
type Status string

// The statuses of DESIGN.md.
const (
	StatusEnabled    Status = "enabled"    // on for everyone who passes the rules
	StatusDisabled   Status = "disabled"   // off for everyone
	StatusPercentage Status = "percentage" // on for a stable share of users
	StatusTargeted   Status = "targeted"   // on only for allowed users and groups
)

// Match types for a flag's rules.
const (
	MatchAll = "all"
	MatchAny = "any"
)

// Flag is one feature flag, as the admin API and Redis hold it.
//
// A Flag is immutable once handed to [Evaluate] or a [Client]: the engine keeps
// derived lookup tables next to it (see [Flag.Prepare]).
type Flag struct {
	Key           string         `json:"key"`
	Description   string         `json:"description"`
	Status        Status         `json:"status"`
	Percentage    float64        `json:"percentage"`
	AllowedUsers  []string       `json:"allowed_users"`
	AllowedGroups []string       `json:"allowed_groups"`
	Rules         []Rule         `json:"rules"`
	MatchType     string         `json:"match_type"`
	Variants      Variants       `json:"variants"`
	Metadata      map[string]any `json:"metadata"`
	// VariantHash says which bucket assigns the variants (see [VariantHash]);
	// "" is the seed's rule. A write that leaves it out keeps the stored one.
	VariantHash VariantHash `json:"variant_hash,omitempty"`
	Version     int64       `json:"version"`

	prep *prepared // derived tables; nil until Prepare
}

// VariantHash names the bucket that assigns a flag's variants. The store
// records it when a flag goes on a rollout plan, so that moving the plan (which
// sets status percentage) never moves a user to another variant.
type VariantHash string

// The variant hashes.
const (
	// VariantHashDefault (the field absent) is the seed-compatible rule: the
	// salted bucket under status percentage, the plain bucket otherwise.
	VariantHashDefault VariantHash = ""
	// VariantHashPlain assigns variants by the plain [Bucket] under every
	// status. Under status percentage the rollout gate then uses the salted
	// [RolloutBucket], so that who is rolled in stays independent of the
	// variant they get.
	VariantHashPlain VariantHash = "plain"
	// VariantHashSalted assigns variants by the salted [VariantBucket] under
	// every status; the rollout gate uses the plain [Bucket].
	VariantHashSalted VariantHash = "salted"
)

// Rule compares one attribute of the evaluation context with a value.
type Rule struct {
	Attribute string `json:"attribute"`
	Operator  string `json:"operator"`
	Value     any    `json:"value"`
}

// Variant is one arm of an experiment with its share of users in percent.
type Variant struct {
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// Variants is an ordered list of variants. It decodes from the list form
// [{"name":"control","weight":50},...] and from the seed's object form
// {"control":50,...}, keeping the object's order; it encodes as the list form.
type Variants []Variant

// UnmarshalJSON accepts both variant forms.
func (vs *Variants) UnmarshalJSON(b []byte) error {
	if err := vs.decode(bytes.TrimSpace(b)); err != nil {
		return &FieldError{Field: "variants", Reason: err.Error()}
	}
	return nil
}

func (vs *Variants) decode(b []byte) error {
	switch {
	case bytes.Equal(b, []byte("null")):
		*vs = nil
		return nil
	case len(b) > 0 && b[0] == '[':
		var list []Variant
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&list); err != nil {
			return err
		}
		*vs = list
		return nil
	case len(b) > 0 && b[0] == '{':
		return vs.decodeObject(b)
	}
	return errors.New(`variants must be a list [{"name":...,"weight":...}] or an object {"name": weight}`)
}

// decodeObject walks the object's tokens so the variants keep their written order.
func (vs *Variants) decodeObject(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		return err
	}
	out := Variants{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := t.(string)
		t, err = dec.Token()
		if err != nil {
			return err
		}
		n, ok := t.(json.Number)
		if !ok {
			return fmt.Errorf("weight of variant %q is not a number", name)
		}
		w, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return fmt.Errorf("weight of variant %q: %w", name, err)
		}
		out = append(out, Variant{Name: name, Weight: w})
	}
	if _, err := dec.Token(); err != nil { // }
		return err
	}
	*vs = out
	return nil
}

// objectJSON encodes the variants in the seed's object form, in order, as the
// Python manager writes them to Redis.
func (vs Variants) objectJSON() string {
	var sb strings.Builder
	sb.WriteByte('{')
	for i, v := range vs {
		if i > 0 {
			sb.WriteString(", ")
		}
		name, _ := json.Marshal(v.Name)
		sb.Write(name)
		sb.WriteString(": ")
		sb.WriteString(formatNumber(v.Weight))
	}
	sb.WriteByte('}')
	return sb.String()
}

// formatNumber writes integral values without a fraction ("50", not "50.0"),
// which both the seed's Python float() and Node's parseFloat read back exactly.
func formatNumber(f float64) string {
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// flagJSON is the wire form: the canonical snake_case names plus the aliases
// the seed's managers use ("name", camelCase from its Node manager).
type flagJSON struct {
	Key                string         `json:"key"`
	Name               string         `json:"name"`
	Description        string         `json:"description"`
	Status             Status         `json:"status"`
	Percentage         float64        `json:"percentage"`
	AllowedUsers       []string       `json:"allowed_users"`
	AllowedUsersCamel  []string       `json:"allowedUsers"`
	AllowedGroups      []string       `json:"allowed_groups"`
	AllowedGroupsCamel []string       `json:"allowedGroups"`
	Rules              []Rule         `json:"rules"`
	MatchType          string         `json:"match_type"`
	MatchTypeCamel     string         `json:"matchType"`
	Variants           Variants       `json:"variants"`
	Metadata           map[string]any `json:"metadata"`
	VariantHash        VariantHash    `json:"variant_hash"`
	Version            int64          `json:"version"`
}

// UnmarshalJSON decodes a flag strictly: an unknown field is an error naming it
// (a misspelt "percentge" must not silently leave a flag at 0%). Numbers in rule
// values and metadata keep their exact literal (json.Number).
func (f *Flag) UnmarshalJSON(b []byte) error {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(b, &fields); err != nil {
		return jsonFieldError(err)
	}
	for name := range fields {
		if !knownFlagFields[name] {
			return &FieldError{Field: name, Reason: "unknown field"}
		}
	}
	var w flagJSON
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return jsonFieldError(err)
	}
	if w.Key != "" && w.Name != "" && w.Key != w.Name {
		return &FieldError{Field: "name", Reason: fmt.Sprintf("%q differs from key %q", w.Name, w.Key)}
	}
	*f = Flag{
		Key:           firstNonEmpty(w.Key, w.Name),
		Description:   w.Description,
		Status:        w.Status,
		Percentage:    w.Percentage,
		AllowedUsers:  firstNonNil(w.AllowedUsers, w.AllowedUsersCamel),
		AllowedGroups: firstNonNil(w.AllowedGroups, w.AllowedGroupsCamel),
		Rules:         w.Rules,
		MatchType:     firstNonEmpty(w.MatchType, w.MatchTypeCamel),
		Variants:      w.Variants,
		Metadata:      w.Metadata,
		VariantHash:   w.VariantHash,
		Version:       w.Version,
	}
	return nil
}

// jsonFieldError turns encoding/json's errors into a FieldError naming the field.
func jsonFieldError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	var fieldErr *FieldError
	switch {
	case errors.As(err, &fieldErr):
		return fieldErr
	case errors.As(err, &typeErr):
		field := typeErr.Field
		if field == "" {
			field = "(body)"
		}
		return &FieldError{Field: field, Reason: fmt.Sprintf("expected %s, got JSON %s", typeErr.Type, typeErr.Value)}
	case errors.As(err, &syntaxErr):
		return &FieldError{Field: "(body)", Reason: fmt.Sprintf("malformed JSON at byte %d: %v", syntaxErr.Offset, err)}
	}
	return &FieldError{Field: "(body)", Reason: err.Error()}
}

// knownFlagFields are the JSON names flagJSON accepts; anything else is refused.
var knownFlagFields = func() map[string]bool {
	m := map[string]bool{}
	t := reflect.TypeFor[flagJSON]()
	for i := range t.NumField() {
		m[strings.Split(t.Field(i).Tag.Get("json"), ",")[0]] = true
	}
	return m
}()

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func firstNonNil(a, b []string) []string {
	if a != nil {
		return a
	}
	return b
}
