package stats

import "math"

// Conversion rates, treatment B against control A:
//
//   - z-test with the unpooled standard error se = √(p_A(1−p_A)/n_A + p_B(1−p_B)/n_B),
//     the one the interval uses, so test and interval always agree; the
//     two-sided p-value is erfc(|z|/√2), never 1 − Φ, so tiny p-values keep
//     their digits;
//   - relative lift (p_B − p_A)/p_A with the delta-method standard error
//     se_rel² = v_B/(n_B p_A²) + v_A p_B²/(n_A p_A⁴), v = p(1−p);
//   - Bayesian chance to beat control and expected losses with Beta(1, 1)
//     priors (beta.go); sequential p-value and interval (sequential.go);
//     power (power.go).

var rateFields = []string{"abs_lift", "abs_ci", "rel_lift", "rel_ci", "z", "p_value", "p_value_holm", "significant",
	"chance_to_beat_control", "expected_loss", "expected_loss_keep_control", "sequential_p_value", "sequential_ci",
	"mde_rel", "mde_abs", "users_per_arm_10pct"}

func compareRates(a, b *arm, cfg *config, sc scope) RateTest {
	var r RateTest
	if reason, code := unusable(a, b); reason != "" {
		sc.nullAgain(code, reason, rateFields...)
		return r
	}
	d := b.p - a.p
	r.AbsLift = sc.num(d, "abs_lift")

	if se := math.Sqrt(a.v/a.n + b.v/b.n); se == 0 {
		sc.null(CodeZeroVariance, "both rates are 0 or 1, so the difference has no sampling variance to test against",
			"z", "p_value", "p_value_holm", "significant", "abs_ci", "sequential_p_value", "sequential_ci")
	} else {
		z := d / se
		r.Z = sc.num(z, "z")
		r.PValue = Num(math.Erfc(math.Abs(z) / math.Sqrt2))
		r.AbsCI = sc.span(d-cfg.zq*se, d+cfg.zq*se, "abs_ci")
		n := a.n + b.n
		r.SequentialPValue = Num(seqPValue(z, n, cfg.rho2))
		hw := seqHalfWidth(se, n, cfg.rho2, cfg.alpha)
		r.SequentialCI = sc.span(d-hw, d+hw, "sequential_ci")
	}

	if a.p == 0 {
		sc.null(CodeZeroBaseline, "the control's rate is 0, so a lift relative to it is undefined",
			"rel_lift", "rel_ci", "mde_rel", "users_per_arm_10pct")
	} else {
		rel := d / a.p
		r.RelLift = sc.num(rel, "rel_lift")
		q := b.p / a.p
		if seRel := math.Sqrt(b.v/b.n+a.v*q*q/a.n) / a.p; seRel == 0 {
			sc.null(CodeZeroVariance, "both rates are 0 or 1, so the relative lift has no sampling variance",
				"rel_ci")
		} else {
			r.RelCI = sc.span(rel-cfg.zq*seRel, rel+cfg.zq*seRel, "rel_ci")
		}
		if target := 1.1 * a.p; target > 1 {
			sc.null(CodeTargetAboveOne, "a 10% lift on the control's rate would exceed 1", "users_per_arm_10pct")
		} else {
			r.UsersPerArm10Pct = sc.num(usersPerArm(cfg.k, a.v, target*(1-target), 0.1*a.p), "users_per_arm_10pct")
		}
	}

	chance, ship, keep := bayesRates(a.c, a.n, b.c, b.n)
	r.ChanceToBeatControl = Num(chance)
	r.ExpectedLoss = Num(ship)
	r.ExpectedLossKeepControl = Num(keep)

	if a.v == 0 {
		sc.null(CodeZeroVariance, "the control's rate is 0 or 1, so its variance, on which the detectable effect is based, is 0",
			"mde_abs", "mde_rel")
	} else {
		m := mde(cfg.k, a.v, a.n, b.n)
		r.MDEAbs = sc.num(m, "mde_abs")
		r.MDERel = sc.num(m/a.p, "mde_rel")
	}
	return r
}

// unusable explains why a comparison of a and b cannot be made at all.
func unusable(a, b *arm) (reason, code string) {
	switch {
	case !a.valid:
		return "the control's counts are invalid, so nothing can be compared with it", CodeInvalidCounts
	case !b.valid:
		return "this variant's counts are invalid, so it cannot be compared", CodeInvalidCounts
	case a.n == 0:
		return "the control has no users yet", CodeNoUsers
	case b.n == 0:
		return "this variant has no users yet", CodeNoUsers
	}
	return "", ""
}
