package stats

import (
	"math/big"
)

// Exact references for the Bayesian comparison of rates with integer Beta
// parameters, in rational arithmetic (so no rounding at all).

type factorials []*big.Int

func (f *factorials) get(n int) *big.Int {
	for len(*f) <= n {
		if len(*f) == 0 {
			*f = append(*f, big.NewInt(1))
			continue
		}
		k := len(*f)
		*f = append(*f, new(big.Int).Mul((*f)[k-1], big.NewInt(int64(k))))
	}
	return (*f)[n]
}

// betaFn returns B(x, y) = (x−1)!(y−1)!/(x+y−1)! for positive integers.
func (f *factorials) betaFn(x, y int) *big.Rat {
	num := new(big.Int).Mul(f.get(x-1), f.get(y-1))
	return new(big.Rat).SetFrac(num, f.get(x+y-1))
}

// evanMiller returns P(p_B > p_A) for p_A ~ Beta(aA, bA), p_B ~ Beta(aB, bB):
//
//	Σ_{i=0}^{aB−1} B(aA+i, bA+bB) / ((bB+i) B(1+i, bB) B(aA, bA))
//
// (Evan Miller, "Formulas for Bayesian A/B Testing", 2015).
func (f *factorials) evanMiller(aA, bA, aB, bB int) *big.Rat {
	sum := new(big.Rat)
	den0 := f.betaFn(aA, bA)
	for i := range aB {
		t := f.betaFn(aA+i, bA+bB)
		d := new(big.Rat).Mul(f.betaFn(1+i, bB), den0)
		d.Mul(d, new(big.Rat).SetInt64(int64(bB+i)))
		sum.Add(sum, t.Quo(t, d))
	}
	return sum
}

// exactBayes returns P(p_B > p_A), E[(p_A − p_B)⁺] and E[(p_B − p_A)⁺] for
// c converters out of n users per arm and uniform priors. The losses use
// size-biasing: E[p_A·1{p_A > p_B}] = E[p_A]·P(A⁺ > B) with A⁺ ~ Beta(a+1, b).
func (f *factorials) exactBayes(cA, nA, cB, nB int) (chance, lossShip, lossKeep *big.Rat) {
	aA, bA, aB, bB := cA+1, nA-cA+1, cB+1, nB-cB+1
	mA := big.NewRat(int64(aA), int64(aA+bA))
	mB := big.NewRat(int64(aB), int64(aB+bB))
	one := big.NewRat(1, 1)
	chance = f.evanMiller(aA, bA, aB, bB)
	// P(A⁺ > B) = 1 − P(B > A⁺);  P(A > B⁺) = 1 − P(B⁺ > A)
	pAplus := new(big.Rat).Sub(one, f.evanMiller(aA+1, bA, aB, bB))
	pBplus := new(big.Rat).Sub(one, f.evanMiller(aA, bA, aB+1, bB))
	lossShip = new(big.Rat).Sub(new(big.Rat).Mul(mA, pAplus), new(big.Rat).Mul(mB, pBplus))
	lossKeep = new(big.Rat).Add(lossShip, new(big.Rat).Sub(mB, mA))
	return chance, lossShip, lossKeep
}

// evanMillerWindow returns P(p_B > p_A) and P(p_B < p_A) for integer Beta
// parameters of any size. The terms tᵢ of Evan Miller's sum (i ≥ 0) form a
// probability distribution — they sum to 1 as a_B → ∞ — with
// t_{i+1}/tᵢ = (a_A+i)(b_B+i)/((a_A+b_A+b_B+i)(i+1)), so
// P(p_B > p_A) = Σ_{i<a_B} tᵢ / Σ tᵢ. The terms are summed in 192-bit floats
// outward from the largest, until they fall below 2^-150 of it; no
// normalising constant (a ratio of huge Beta functions) is ever formed.
func evanMillerWindow(aA, bA, aB, bB int64) (gt, lt *big.Float) {
	const prec = 192
	s := aA + bA + bB
	peak := max(int64(0), (aA*bB-s)/(bA+1)+1)
	ratio := func(i int64) *big.Float { // t_{i+1}/t_i
		num := new(big.Int).Mul(big.NewInt(aA+i), big.NewInt(bB+i))
		den := new(big.Int).Mul(big.NewInt(s+i), big.NewInt(i+1))
		return bigF(prec).Quo(bigF(prec).SetInt(num), bigF(prec).SetInt(den))
	}
	gt, lt = bigF(prec), bigF(prec)
	add := func(i int64, r *big.Float) {
		if i < aB {
			gt.Add(gt, r)
		} else {
			lt.Add(lt, r)
		}
	}
	tiny := bigF(prec).SetMantExp(bigF(prec).SetInt64(1), -150)
	r := bigF(prec).SetInt64(1)
	add(peak, r)
	for i := peak; r.Cmp(tiny) > 0; i++ {
		r.Mul(r, ratio(i))
		add(i+1, r)
	}
	r.SetInt64(1)
	for i := peak - 1; i >= 0 && r.Cmp(tiny) > 0; i-- {
		r.Quo(r, ratio(i))
		add(i, r)
	}
	total := bigF(prec).Add(gt, lt)
	return gt.Quo(gt, total), lt.Quo(lt, total)
}

// windowBayes returns P(p_B > p_A), min(P, 1−P) and the two expected losses
// for c converters out of n users per arm, from evanMillerWindow and the
// size-biasing identity of exactBayes.
func windowBayes(cA, nA, cB, nB int64) (chance, tail, lossShip, lossKeep float64) {
	const prec = 192
	aA, bA, aB, bB := cA+1, nA-cA+1, cB+1, nB-cB+1
	gt, lt := evanMillerWindow(aA, bA, aB, bB)
	_, pAplus := evanMillerWindow(aA+1, bA, aB, bB) // P(B < A⁺)
	_, pBplus := evanMillerWindow(aA, bA, aB+1, bB) // P(B⁺ < A)
	mA := bigF(prec).Quo(bigF(prec).SetInt64(aA), bigF(prec).SetInt64(aA+bA))
	mB := bigF(prec).Quo(bigF(prec).SetInt64(aB), bigF(prec).SetInt64(aB+bB))
	ship := bigF(prec).Sub(bigF(prec).Mul(mA, pAplus), bigF(prec).Mul(mB, pBplus))
	keep := bigF(prec).Add(ship, bigF(prec).Sub(mB, mA))
	chance, _ = gt.Float64()
	tail, _ = gt.Float64()
	if gt.Cmp(lt) > 0 {
		tail, _ = lt.Float64()
	}
	lossShip, _ = ship.Float64()
	lossKeep, _ = keep.Float64()
	return chance, tail, lossShip, lossKeep
}
