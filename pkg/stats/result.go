package stats

// Result is what [Compare] returns: the variants, srm and warnings of the
// report JSON in DESIGN.md, with the settings they were computed under. The
// aggregator's report embeds it next to the experiment, metric and dates.
type Result struct {
	Confidence       float64         `json:"confidence"`
	Power            float64         `json:"power"` // of mde_rel, mde_abs and users_per_arm_10pct
	Control          string          `json:"control"`
	SequentialTuning float64         `json:"sequential_tuning"`
	Variants         []VariantResult `json:"variants"`
	SRM              SRM             `json:"srm"`
	Warnings         []Warning       `json:"warnings"`
}

// VariantResult holds one variant's figures; VsControl is nil for the
// control itself.
type VariantResult struct {
	Variant     string `json:"variant"`
	Users       int64  `json:"users"`
	Converters  int64  `json:"converters"`
	Conversions int64  `json:"conversions"`
	ValueSum    Number `json:"value_sum"` // the input's, null only if it was not a number
	// Rate is converters/users with its Wilson score interval.
	Rate   Number   `json:"rate"`
	RateCI Interval `json:"rate_ci"`
	// ValuePerUser is value_sum/users; ValueVariance the sample variance
	// (n − 1 in the denominator) of the per-user totals.
	ValuePerUser  Number      `json:"value_per_user"`
	ValueVariance Number      `json:"value_variance"`
	VsControl     *Comparison `json:"vs_control,omitempty"`
}

// Comparison holds a treatment's tests against the control: on the
// conversion rate and on the value per user.
type Comparison struct {
	Rate  RateTest `json:"rate"`
	Value MeanTest `json:"value"`
}

// RateTest compares conversion rates: an unpooled two-sample z-test.
type RateTest struct {
	Lift
	Z Number `json:"z"`
	Inference
}

// MeanTest compares values per user: Welch's t-test.
type MeanTest struct {
	Lift
	T  Number `json:"t"`
	DF Number `json:"df"` // Welch–Satterthwaite degrees of freedom
	Inference
}

// Lift is the treatment minus the control, absolute and relative to the
// control, with confidence intervals.
type Lift struct {
	AbsLift Number   `json:"abs_lift"`
	AbsCI   Interval `json:"abs_ci"`
	RelLift Number   `json:"rel_lift"`
	RelCI   Interval `json:"rel_ci"`
}

// Inference holds the fixed-horizon, Bayesian, sequential and power figures
// of one comparison. Significant is nil when the p-value is undefined.
type Inference struct {
	PValue      Number `json:"p_value"`      // two-sided
	PValueHolm  Number `json:"p_value_holm"` // Holm-adjusted across the treatments
	Significant *bool  `json:"significant"`  // PValueHolm < alpha
	// ChanceToBeatControl is the posterior probability that the treatment's
	// true figure exceeds the control's.
	ChanceToBeatControl Number `json:"chance_to_beat_control"`
	// ExpectedLoss is the posterior expected loss of shipping the treatment,
	// E[max(control − treatment, 0)]; ExpectedLossKeepControl that of
	// keeping the control, E[max(treatment − control, 0)]. Both are in the
	// metric's units (rate, or value per user).
	ExpectedLoss            Number `json:"expected_loss"`
	ExpectedLossKeepControl Number `json:"expected_loss_keep_control"`
	// SequentialPValue and SequentialCI are always valid (mSPRT): they may be
	// read after any number of looks. Over a daily series, report the
	// running minimum of the p-value (see [RunningMin]).
	SequentialPValue Number   `json:"sequential_p_value"`
	SequentialCI     Interval `json:"sequential_ci"`
	// MDERel and MDEAbs are the effects (relative to the control, and
	// absolute) detectable with the result's power (default 80%) at the
	// current sample sizes; UsersPerArm10Pct is the users per arm needed to
	// detect a 10% relative lift with that power.
	MDERel           Number `json:"mde_rel"`
	MDEAbs           Number `json:"mde_abs"`
	UsersPerArm10Pct Number `json:"users_per_arm_10pct"`
}

// SRM is the sample-ratio-mismatch check: a chi-square test of the users
// per variant against the flag's weights, over the variants with weight > 0.
type SRM struct {
	ChiSquare Number `json:"chi2"`
	DF        Number `json:"df"`
	PValue    Number `json:"p_value"`
	// Warn is set when PValue < 0.001: the split is not what the flag asks
	// for, and every comparison is suspect.
	Warn bool `json:"warn"`
	// ExpectedShare is each variant's normalised weight.
	ExpectedShare map[string]float64 `json:"expected_share"`
}

// SRMThreshold is the p-value below which [SRM.Warn] is set.
const SRMThreshold = 0.001

// Warning explains an undefined figure or a problem with the data. Code is
// stable and machine-readable (see the Code constants); Variant and Fields
// say which figures it concerns: JSON paths inside that variant's object,
// or inside the result when Variant is empty (e.g. "srm.chi2").
type Warning struct {
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Variant string   `json:"variant,omitempty"`
	Fields  []string `json:"fields,omitempty"`
}

// Warning codes.
const (
	CodeNoVariants        = "no_variants"           // nothing to compute
	CodeSingleVariant     = "single_variant"        // a control only: nothing to compare
	CodeInvalidCounts     = "invalid_counts"        // impossible counts (see Input.Validate)
	CodeNoUsers           = "no_users"              // an arm has no users
	CodeTooFewUsers       = "too_few_users"         // an arm has one user: no sample variance
	CodeZeroVariance      = "zero_variance"         // no variation to test against
	CodeZeroBaseline      = "zero_baseline"         // control rate or mean is 0: no relative lift
	CodeTargetAboveOne    = "target_rate_above_one" // a 10% lift would push the rate past 1
	CodeOverflow          = "overflow"              // a figure too large for a float64
	CodeInvalidConfidence = "invalid_confidence"    // out of (0, 1): the default was used
	CodeInvalidTuning     = "invalid_sequential_tuning"
	CodeInvalidPower      = "invalid_power" // outside ((1 − confidence)/2, 1): the default was used
	CodeSRMNoWeights      = "srm_no_weights"
	CodeSRMInvalidWeights = "srm_invalid_weights"
	CodeSRMDuplicate      = "srm_duplicate_variant"
	CodeSRMTooFewVariants = "srm_too_few_variants"
	CodeSRMNoUsers        = "srm_no_users"
	CodeSRMUnexpected     = "srm_unexpected_users" // users in a variant of weight 0
	CodeSampleRatio       = "sample_ratio_mismatch"
)

// warnings collects Warnings, merging those with the same code, variant
// and message into one with all their fields.
type warnings struct{ list []Warning }

func (w *warnings) add(code, variant, message string, fields ...string) {
	for i := range w.list {
		x := &w.list[i]
		if x.Code == code && x.Variant == variant && x.Message == message {
			for _, f := range fields {
				if !contains(x.Fields, f) {
					x.Fields = append(x.Fields, f)
				}
			}
			return
		}
	}
	w.list = append(w.list, Warning{Code: code, Message: message, Variant: variant,
		Fields: append([]string(nil), fields...)})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// scope writes the figures of one object (a variant, or one of its test
// blocks) and the warnings about them.
type scope struct {
	w       *warnings
	variant string
	prefix  string // path of the object inside the variant, e.g. "vs_control.rate."
}

// null records why fields stay undefined.
func (s scope) null(code, message string, fields ...string) {
	full := make([]string, len(fields))
	for i, f := range fields {
		full[i] = s.prefix + f
	}
	s.w.add(code, s.variant, message, full...)
}

// nullAgain records fields left undefined by a condition already reported
// for this variant under code (its counts invalid, no users, a single
// user): they join that warning rather than repeat it in other words.
// Without one, it records a new warning as null does.
func (s scope) nullAgain(code, message string, fields ...string) {
	for i := range s.w.list {
		if x := &s.w.list[i]; x.Code == code && x.Variant == s.variant {
			message = x.Message
			break
		}
	}
	s.null(code, message, fields...)
}

// num returns x as a Number, recording an overflow if it is not finite.
func (s scope) num(x float64, field string) Number {
	n := Num(x)
	if !n.Valid {
		s.null(CodeOverflow, "the figure is too large to represent; the input values are too extreme", field)
	}
	return n
}

// span returns [lo, hi] as an Interval, recording an overflow if an end is
// not finite.
func (s scope) span(lo, hi float64, field string) Interval {
	iv := Span(lo, hi)
	if !iv.Valid {
		s.null(CodeOverflow, "the figure is too large to represent; the input values are too extreme", field)
	}
	return iv
}
