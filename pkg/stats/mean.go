package stats

import "math"

// Values per user, treatment B against control A:
//
//   - Welch's t-test (Welch 1947): se² = s_A²/n_A + s_B²/n_B with the sample
//     variances, and the Welch–Satterthwaite degrees of freedom
//     df = se⁴ / ((s_A²/n_A)²/(n_A−1) + (s_B²/n_B)²/(n_B−1));
//   - absolute and relative intervals with the t quantile at df; the relative
//     lift is (μ_B − μ_A)/|μ_A| (so it has the sign of the absolute lift even
//     when values are negative, e.g. refunds) with the delta-method error
//     se_rel² = (s_B²/n_B + s_A²/n_A·(μ_B/μ_A)²)/μ_A²;
//   - Bayesian figures from the flat-prior normal approximation: the
//     difference of means is N(μ_B − μ_A, se²) a posteriori.

var meanFields = []string{"abs_lift", "abs_ci", "rel_lift", "rel_ci", "t", "df", "p_value", "p_value_holm", "significant",
	"chance_to_beat_control", "expected_loss", "expected_loss_keep_control", "sequential_p_value", "sequential_ci",
	"mde_rel", "mde_abs", "users_per_arm_10pct"}

func compareMeans(a, b *arm, cfg *config, sc scope) MeanTest {
	var r MeanTest
	if reason, code := unusable(a, b); reason != "" {
		sc.nullAgain(code, reason, meanFields...)
		return r
	}
	d := b.mean - a.mean
	r.AbsLift = sc.num(d, "abs_lift")
	if a.mean == 0 {
		sc.null(CodeZeroBaseline, "the control's value per user is 0, so a lift relative to it is undefined",
			"rel_lift", "rel_ci", "mde_rel", "users_per_arm_10pct")
	} else {
		r.RelLift = sc.num(d/math.Abs(a.mean), "rel_lift")
	}
	if a.n < 2 || b.n < 2 {
		sc.nullAgain(CodeTooFewUsers, "an arm has a single user, so its sample variance (n − 1) is undefined",
			"abs_ci", "rel_ci", "t", "df", "p_value", "p_value_holm", "significant", "chance_to_beat_control",
			"expected_loss", "expected_loss_keep_control", "sequential_p_value", "sequential_ci",
			"mde_rel", "mde_abs", "users_per_arm_10pct")
		return r
	}

	vA, vB := a.s2/a.n, b.s2/b.n
	if se := math.Sqrt(vA + vB); se == 0 {
		sc.null(CodeZeroVariance, "every user in both arms has the same value, so there is no sampling variance to test against",
			"abs_ci", "rel_ci", "t", "df", "p_value", "p_value_holm", "significant", "chance_to_beat_control",
			"expected_loss", "expected_loss_keep_control", "sequential_p_value", "sequential_ci")
	} else {
		t := d / se
		df := welchDF(vA, vB, a.n, b.n)
		r.T = sc.num(t, "t")
		r.DF = sc.num(df, "df")
		r.PValue = Num(2 * tTail(math.Abs(t), df))
		tq := tUpperQuantile(cfg.alpha/2, df)
		r.AbsCI = sc.span(d-tq*se, d+tq*se, "abs_ci")
		if a.mean != 0 {
			rel, q := d/math.Abs(a.mean), b.mean/a.mean
			if seRel := math.Sqrt(vB+vA*q*q) / math.Abs(a.mean); seRel == 0 {
				sc.null(CodeZeroVariance, "the treatment's values are all 0 and do not vary, so the relative lift has no sampling variance", "rel_ci")
			} else {
				r.RelCI = sc.span(rel-tq*seRel, rel+tq*seRel, "rel_ci")
			}
		}
		r.ChanceToBeatControl = Num(NormalCDF(t))
		ship, keep := normalLosses(d, se)
		r.ExpectedLoss = sc.num(ship, "expected_loss")
		r.ExpectedLossKeepControl = sc.num(keep, "expected_loss_keep_control")
		n := a.n + b.n
		r.SequentialPValue = Num(seqPValue(t, n, cfg.rho2))
		hw := seqHalfWidth(se, n, cfg.rho2, cfg.alpha)
		r.SequentialCI = sc.span(d-hw, d+hw, "sequential_ci")
	}

	if a.s2 == 0 {
		sc.null(CodeZeroVariance, "the control's values do not vary, so the detectable effect, based on their variance, is 0",
			"mde_abs", "mde_rel")
	} else {
		m := mde(cfg.k, a.s2, a.n, b.n)
		r.MDEAbs = sc.num(m, "mde_abs")
		if a.mean != 0 {
			r.MDERel = sc.num(m/math.Abs(a.mean), "mde_rel")
		}
	}
	if a.mean != 0 {
		if a.s2+b.s2 == 0 {
			sc.null(CodeZeroVariance, "neither arm's values vary, so no sample size can be derived from their variance", "users_per_arm_10pct")
		} else {
			r.UsersPerArm10Pct = sc.num(usersPerArm(cfg.k, a.s2, b.s2, 0.1*math.Abs(a.mean)), "users_per_arm_10pct")
		}
	}
	return r
}

// welchDF returns the Welch–Satterthwaite degrees of freedom for squared
// standard errors vA = s_A²/n_A and vB = s_B²/n_B, written with the shares
// of se² so that no square can overflow.
func welchDF(vA, vB, nA, nB float64) float64 {
	fA := vA / (vA + vB)
	fB := vB / (vA + vB)
	return 1 / (fA*fA/(nA-1) + fB*fB/(nB-1))
}

// normalLosses returns E[(−Δ)⁺] (shipping the treatment) and E[Δ⁺]
// (keeping the control) for Δ ~ N(d, se²). With g(z) = φ(z) − z·Φ̄(z), the
// expected shortfall of a standard normal beyond z, these are se·g(d/se) and
// se·g(−d/se), which differ by exactly d; the smaller is computed directly
// (g(z) for z ≥ 0 loses only about log₁₀ z² digits) and the larger from it.
func normalLosses(d, se float64) (ship, keep float64) {
	z := d / se
	if z >= 0 {
		ship = math.Max(0, se*(normalPDF(z)-z*NormalTail(z)))
		return ship, ship + d
	}
	keep = math.Max(0, se*(normalPDF(-z)+z*NormalTail(-z)))
	return keep - d, keep
}
