package flags

import "errors"

// EvalContext is what an evaluation knows about the caller.
type EvalContext struct {
	UserID     string         // the targeting key; empty when unknown
	Groups     []string       // matched against allowed_groups; also the rule attribute "groups"
	Attributes map[string]any // everything else rules may look at
}

// attribute resolves a rule's attribute: "user_id" and "groups" are the
// context's own fields (as in the seed's user_context), the rest come from
// Attributes. A missing value is nil.
func (ec *EvalContext) attribute(name string) any {
	switch name {
	case "user_id":
		if ec.UserID != "" {
			return ec.UserID
		}
	case "groups":
		if ec.Groups != nil {
			return ec.Groups
		}
	}
	return ec.Attributes[name]
}

// Reason says why an evaluation came out as it did (OpenFeature's reasons).
type Reason string

// The reasons of DESIGN.md's evaluation order.
const (
	ReasonStatic         Reason = "STATIC"
	ReasonTargetingMatch Reason = "TARGETING_MATCH"
	ReasonSplit          Reason = "SPLIT"
	ReasonDisabled       Reason = "DISABLED"
	ReasonDefault        Reason = "DEFAULT"
	ReasonError          Reason = "ERROR"
)

// ErrorCode qualifies a result that the caller may want to treat as an error.
type ErrorCode string

// Error codes, named as OFREP names them.
const (
	ErrorFlagNotFound        ErrorCode = "FLAG_NOT_FOUND"
	ErrorTargetingKeyMissing ErrorCode = "TARGETING_KEY_MISSING"
)

// Result is the outcome of one evaluation.
type Result struct {
	Enabled   bool
	Variant   string // "" when the flag has no variants or is off
	Reason    Reason
	Version   int64
	ErrorCode ErrorCode // "" unless the flag is missing or needed a user id it did not get
}

// Exposed reports whether this result put a user into a variant by the bucket,
// which is exactly when an exposure event is due.
func (r Result) Exposed() bool {
	return r.Variant != "" && r.Reason == ReasonSplit
}

// Evaluate decides a flag for a context, in DESIGN.md's order:
//
//  1. no flag: ERROR / FLAG_NOT_FOUND
//  2. disabled: off, DISABLED
//  3. user in allowed_users or a group in allowed_groups: on, TARGETING_MATCH
//  4. rules present and not matched: off, DEFAULT
//  5. percentage: on iff a user id is given and bucket < percentage, SPLIT
//     (no user id: off, DEFAULT, TARGETING_KEY_MISSING); the bucket is the
//     salted [RolloutBucket] when variant_hash is "plain", else [Bucket]
//  6. targeted: off, DEFAULT; enabled: on, TARGETING_MATCH through rules, else STATIC
//  7. on with variants: the variant by bucket (SPLIT), or the first one with
//     DEFAULT when there is no user id; the bucket is [VariantBucket] when
//     variant_hash is "salted" or absent under status percentage, else [Bucket].
//
// Evaluate is pure and safe for concurrent use. It runs fastest on a flag that
// went through [Flag.Prepare] (every flag from a [Store] or [Client] has).
func Evaluate(f *Flag, ec EvalContext) Result {
	if f == nil {
		return Result{Reason: ReasonError, ErrorCode: ErrorFlagNotFound}
	}
	p := f.prep
	if p == nil {
		p = f.compile()
	}
	r := Result{Version: f.Version}
	if f.Status == StatusDisabled {
		r.Reason = ReasonDisabled
		return r
	}
	if p.allowed(f, &ec) {
		r.Enabled, r.Reason = true, ReasonTargetingMatch
		return f.pickVariant(p, r, &ec)
	}
	if len(p.rules) > 0 && !p.rulesMatch(&ec) {
		r.Reason = ReasonDefault
		return r
	}
	switch f.Status {
	case StatusPercentage:
		if ec.UserID == "" {
			r.Reason, r.ErrorCode = ReasonDefault, ErrorTargetingKeyMissing
			return r
		}
		r.Reason = ReasonSplit
		if p.gateBucket(f.Key, ec.UserID) >= f.Percentage {
			return r
		}
		r.Enabled = true
	case StatusEnabled:
		r.Enabled, r.Reason = true, ReasonStatic
		if len(p.rules) > 0 {
			r.Reason = ReasonTargetingMatch
		}
	default: // targeted without a match, or a status only other tools write
		r.Reason = ReasonDefault
		return r
	}
	return f.pickVariant(p, r, &ec)
}

// pickVariant walks the cumulative weights as the seed's get_variant does: the
// first variant whose cumulative weight exceeds the bucket, else the first.
func (f *Flag) pickVariant(p *prepared, r Result, ec *EvalContext) Result {
	if len(f.Variants) == 0 {
		return r
	}
	if ec.UserID == "" {
		r.Variant, r.Reason = f.Variants[0].Name, ReasonDefault
		return r
	}
	var b float64
	if p.saltedVariants {
		b = VariantBucket(f.Key, ec.UserID)
	} else {
		b = Bucket(f.Key, ec.UserID)
	}
	r.Variant, r.Reason = f.Variants[0].Name, ReasonSplit
	cum := 0.0
	for _, v := range f.Variants {
		cum += v.Weight
		if b < cum {
			r.Variant = v.Name
			break
		}
	}
	return r
}

// prepared holds what Prepare derives from a flag for fast evaluation.
type prepared struct {
	users    map[string]struct{} // nil when the list is short: a scan is faster
	groups   map[string]struct{}
	rules    []compiledRule
	matchAny bool
	problem  error              // why the API would refuse this flag, if it would (it is served anyway)
	weights  map[string]float64 // variant → weight, for exposures; nil without variants

	// Which buckets this flag uses (see VariantHash): the variant draw is
	// salted, or the percentage gate is; never both, so the two draws stay
	// independent under status percentage.
	saltedVariants bool
	saltedGate     bool
}

// gateBucket is the bucket a percentage flag compares with its percentage.
func (p *prepared) gateBucket(flagKey, userID string) float64 {
	if p.saltedGate {
		return RolloutBucket(flagKey, userID)
	}
	return Bucket(flagKey, userID)
}

// setThreshold is the list length from which a map beats a linear scan.
const setThreshold = 8

// Prepare derives the evaluation tables of a flag (sets of allowed users and
// groups, compiled rules) and records whether the flag would pass [Flag.Validate]
// (see [Flag.Problem]). Call it once before sharing the flag between goroutines;
// afterwards the flag must not change.
func (f *Flag) Prepare() *Flag {
	f.prep = f.compile()
	return f
}

// Problem returns why the admin API would refuse this flag (for example an
// unknown operator written by another tool), or nil. Such a flag is still served
// as the seed serves it. Valid only after [Flag.Prepare].
func (f *Flag) Problem() error {
	if f.prep == nil {
		return errors.New("flag not prepared")
	}
	return f.prep.problem
}

func (f *Flag) compile() *prepared {
	p := &prepared{
		users:    toSet(f.AllowedUsers),
		groups:   toSet(f.AllowedGroups),
		matchAny: f.MatchType != "" && f.MatchType != MatchAll, // the seed: anything but "all" means any
		problem:  f.Validate(),
	}
	switch f.VariantHash {
	case VariantHashPlain:
		p.saltedGate = true
	case VariantHashSalted:
		p.saltedVariants = true
	default: // the seed's rule (an unknown stored value is reported as a problem)
		p.saltedVariants = f.Status == StatusPercentage
	}
	if len(f.Variants) > 0 {
		p.weights = make(map[string]float64, len(f.Variants))
		for _, v := range f.Variants {
			p.weights[v.Name] += v.Weight
		}
	}
	if len(f.Rules) > 0 {
		p.rules = make([]compiledRule, len(f.Rules))
		for i, r := range f.Rules {
			p.rules[i] = compileRule(r)
		}
	}
	return p
}

func toSet(list []string) map[string]struct{} {
	if len(list) < setThreshold {
		return nil
	}
	m := make(map[string]struct{}, len(list))
	for _, s := range list {
		m[s] = struct{}{}
	}
	return m
}

func inList(set map[string]struct{}, list []string, s string) bool {
	if set != nil {
		_, ok := set[s]
		return ok
	}
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (p *prepared) allowed(f *Flag, ec *EvalContext) bool {
	if ec.UserID != "" && len(f.AllowedUsers) > 0 && inList(p.users, f.AllowedUsers, ec.UserID) {
		return true
	}
	if len(f.AllowedGroups) > 0 {
		for _, g := range ec.Groups {
			if inList(p.groups, f.AllowedGroups, g) {
				return true
			}
		}
	}
	return false
}

func (p *prepared) rulesMatch(ec *EvalContext) bool {
	for i := range p.rules {
		ok := p.rules[i].match(ec.attribute(p.rules[i].attr))
		if p.matchAny && ok {
			return true
		}
		if !p.matchAny && !ok {
			return false
		}
	}
	return !p.matchAny
}
