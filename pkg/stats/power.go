package stats

import (
	"errors"
	"fmt"
	"math"
)

// Power: with k = z(1−α/2) + z(power) and σ² the control's variance (for a
// rate, p(1−p)), the minimum detectable effect at n_A and n_B users is
// k·√(σ²(1/n_A + 1/n_B)) (the normal-approximation power formula, two-sided,
// as Evan Miller's and GrowthBook's calculators use it), and the users per
// arm needed for an absolute effect δ are ⌈k²(σ_A² + σ_B²)/δ²⌉. The power
// is Input.Power (default DefaultPower).

// zPower is Φ⁻¹(0.8), the z of DefaultPower, as a constant so the default
// figures do not depend on the last bit of a quantile solved at run time.
const zPower = 0.8416212335729142

// CheckPower explains why power cannot serve as [Input.Power] at the given
// confidence (0: the default), or returns nil.
func CheckPower(power, confidence float64) error {
	if !(confidence > 0 && confidence < 1) {
		confidence = DefaultConfidence
	}
	if reason := powerProblem(power, confidence); reason != "" {
		return errors.New(reason)
	}
	return nil
}

// zOfPower is z(power) for a power in (0, 1).
func zOfPower(power float64) float64 {
	if power == DefaultPower {
		return zPower
	}
	return NormalQuantile(power)
}

// powerProblem explains why power cannot be used at confidence conf, or
// returns "". The formula ignores the far tail of the two-sided test, which
// is only right when the effect is positive: power must exceed α/2, where k
// (and so every MDE) reaches 0.
func powerProblem(power, conf float64) string {
	if !(power > 0 && power < 1) {
		return fmt.Sprintf("is %v, want a number strictly between 0 and 1 such as 0.8 or 0.9", power)
	}
	if alpha := 1 - conf; !(power > alpha/2) {
		return fmt.Sprintf("is %v, at or below (1 − confidence)/2 = %v, where every effect would count as detectable", power, alpha/2)
	}
	return ""
}

func mde(k, varA, nA, nB float64) float64 {
	return k * math.Sqrt(varA*(1/nA+1/nB))
}

func usersPerArm(k, varA, varB, delta float64) float64 {
	return math.Ceil(k * k * (varA + varB) / (delta * delta))
}
