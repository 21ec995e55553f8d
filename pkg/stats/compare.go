package stats

import (
	"fmt"
	"math"
)

// Compare computes every figure of one metric's report from the counts: per
// variant the rate with its Wilson interval and the value per user with its
// variance; for every treatment against the control (the first variant) the
// rate and value tests, Holm-adjusted across the treatments, with their
// Bayesian, sequential and power figures; and the sample-ratio-mismatch
// check. It never fails: a figure that cannot be computed is left undefined
// (JSON null) and a [Warning] says why. Use [Input.Validate] to refuse bad
// input up front.
func Compare(in Input) Result {
	var w warnings
	cfg := newConfig(in, &w)
	res := Result{
		Confidence:       cfg.conf,
		Power:            cfg.power,
		SequentialTuning: cfg.tuning,
		Variants:         make([]VariantResult, len(in.Variants)),
	}
	arms := make([]arm, len(in.Variants))
	for i, c := range in.Variants {
		arms[i], res.Variants[i] = describe(c, cfg, &w)
	}
	switch len(in.Variants) {
	case 0:
		w.add(CodeNoVariants, "", "no variants were given")
	case 1:
		w.add(CodeSingleVariant, in.Variants[0].Variant, "only the control was given: there is nothing to compare it with")
	}
	if len(in.Variants) > 0 {
		res.Control = in.Variants[0].Variant
	}
	for i := 1; i < len(arms); i++ {
		v := &res.Variants[i]
		v.VsControl = &Comparison{
			Rate:  compareRates(&arms[0], &arms[i], cfg, scope{w: &w, variant: v.Variant, prefix: "vs_control.rate."}),
			Value: compareMeans(&arms[0], &arms[i], cfg, scope{w: &w, variant: v.Variant, prefix: "vs_control.value."}),
		}
	}
	adjust(res.Variants[min(1, len(res.Variants)):], cfg.alpha)
	res.SRM = srmCheck(in.Variants, in.Weights, &w)
	res.Warnings = w.list
	if res.Warnings == nil {
		res.Warnings = []Warning{}
	}
	return res
}

// config holds the settings of one computation.
type config struct {
	conf, alpha float64
	power       float64
	tuning      float64
	zq          float64 // z(1 − α/2)
	k           float64 // z(1 − α/2) + z(power)
	rho2        float64 // mSPRT mixing variance per user, see seqRho2
}

func newConfig(in Input, w *warnings) *config {
	c := &config{conf: in.Confidence, power: in.Power, tuning: in.SequentialTuning}
	switch {
	case c.conf == 0:
		c.conf = DefaultConfidence
	case !(c.conf > 0 && c.conf < 1):
		w.add(CodeInvalidConfidence, "", fmt.Sprintf("confidence %v is not between 0 and 1; %v was used", c.conf, DefaultConfidence))
		c.conf = DefaultConfidence
	}
	switch {
	case c.tuning == 0:
		c.tuning = DefaultSequentialTuning
	case !(c.tuning > 0 && !math.IsInf(c.tuning, 1)):
		w.add(CodeInvalidTuning, "", fmt.Sprintf("sequential_tuning %v is not a positive number; %v was used", c.tuning, DefaultSequentialTuning))
		c.tuning = DefaultSequentialTuning
	}
	c.alpha = 1 - c.conf
	switch reason := powerProblem(c.power, c.conf); {
	case c.power == 0:
		c.power = DefaultPower
	case reason != "":
		w.add(CodeInvalidPower, "", fmt.Sprintf("power %s; %v was used", reason, DefaultPower))
		c.power = DefaultPower
	}
	c.zq = normalUpperQuantile(c.alpha / 2)
	c.k = c.zq + zOfPower(c.power)
	c.rho2 = seqRho2(c.alpha, c.tuning)
	return c
}

// arm holds one variant's derived figures.
type arm struct {
	valid bool    // the counts are possible
	n, c  float64 // users and converters
	p, v  float64 // rate and its Bernoulli variance p(1−p)
	mean  float64 // value per user
	s2    float64 // sample variance of the per-user totals, when n ≥ 2
}

// zeroVarTol is the relative size below which a variance computed from
// sums is indistinguishable from rounding in those sums, and is taken as 0.
const zeroVarTol = 1e-9

func describe(c Counts, cfg *config, w *warnings) (arm, VariantResult) {
	v := VariantResult{Variant: c.Variant, Users: c.Users, Converters: c.Converters,
		Conversions: c.Conversions, ValueSum: Num(c.ValueSum)}
	sc := scope{w: w, variant: c.Variant}
	if field, reason := countsProblem(c); field != "" {
		fields := []string{"rate", "rate_ci", "value_per_user", "value_variance"}
		if !v.ValueSum.Valid {
			fields = append(fields, "value_sum")
		}
		sc.null(CodeInvalidCounts, field+" "+reason, fields...)
		return arm{}, v
	}
	a := arm{valid: true, n: float64(c.Users), c: float64(c.Converters)}
	if a.n == 0 {
		sc.null(CodeNoUsers, "the variant has no users yet", "rate", "rate_ci", "value_per_user", "value_variance")
		return a, v
	}
	a.p = a.c / a.n
	a.v = a.p * ((a.n - a.c) / a.n) // exactly 0 at c = 0 and c = n
	v.Rate = Num(a.p)
	lo, hi := wilson(a.c, a.n, cfg.zq)
	v.RateCI = Span(lo, hi)
	a.mean = c.ValueSum / a.n
	v.ValuePerUser = Num(a.mean)
	if a.n < 2 {
		sc.null(CodeTooFewUsers, "the variant has a single user, so its sample variance (n − 1) is undefined", "value_variance")
		return a, v
	}
	// Σx² − (Σx)²/n in floats: the difference of two sums that each carry
	// rounding; below zeroVarTol of Σx² it is noise.
	if ss := c.ValueSumSq - c.ValueSum*a.mean; ss > zeroVarTol*c.ValueSumSq {
		a.s2 = ss / (a.n - 1)
	}
	v.ValueVariance = sc.num(a.s2, "value_variance")
	return a, v
}

// adjust fills the Holm-adjusted p-values and significance of the
// treatments, separately for the rate tests and for the value tests: each is
// its own family of hypotheses over the treatments of this metric.
func adjust(treatments []VariantResult, alpha float64) {
	for _, block := range []func(*Comparison) *Inference{
		func(c *Comparison) *Inference { return &c.Rate.Inference },
		func(c *Comparison) *Inference { return &c.Value.Inference },
	} {
		p := make([]float64, len(treatments))
		for i := range treatments {
			p[i] = math.NaN()
			if x := block(treatments[i].VsControl).PValue; x.Valid {
				p[i] = x.Value
			}
		}
		for i, adj := range holm(p) {
			if !math.IsNaN(adj) {
				inf := block(treatments[i].VsControl)
				inf.PValueHolm = Num(adj)
				sig := adj < alpha
				inf.Significant = &sig
			}
		}
	}
}
