package stats

import "math"

// Power: with k = z(1−α/2) + z(power) and σ² the control's variance (for a
// rate, p(1−p)), the minimum detectable effect at n_A and n_B users is
// k·√(σ²(1/n_A + 1/n_B)) (the normal-approximation power formula, two-sided,
// as Evan Miller's and GrowthBook's calculators use it), and the users per
// arm needed for an absolute effect δ are ⌈k²(σ_A² + σ_B²)/δ²⌉.

// power is the power the MDE and sample-size figures are computed for.
const power = 0.8

// zPower is Φ⁻¹(0.8).
const zPower = 0.8416212335729142

func mde(k, varA, nA, nB float64) float64 {
	return k * math.Sqrt(varA*(1/nA+1/nB))
}

func usersPerArm(k, varA, varB, delta float64) float64 {
	return math.Ceil(k * k * (varA + varB) / (delta * delta))
}
