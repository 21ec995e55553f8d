package stats

import (
	"math"
	"math/big"
	"sync"
)

// High-precision references built on math/big only, independent of the
// package's float64 code: series that converge to any precision asked for.

func bigF(prec uint) *big.Float { return new(big.Float).SetPrec(prec) }

func bigFrom(x float64, prec uint) *big.Float { return bigF(prec).SetFloat64(x) }

// small reports whether term is below sum·2^(−prec).
func small(term, sum *big.Float, prec uint) bool {
	if term.Sign() == 0 {
		return true
	}
	return sum.Sign() != 0 && term.MantExp(nil) < sum.MantExp(nil)-int(prec)
}

// bigAtanh returns atanh(s) = Σ s^(2k+1)/(2k+1) for |s| < 1.
func bigAtanh(s *big.Float, prec uint) *big.Float {
	s2 := bigF(prec).Mul(s, s)
	pow := bigF(prec).Set(s)
	sum := bigF(prec).Set(s)
	for k := int64(1); ; k++ {
		pow.Mul(pow, s2)
		term := bigF(prec).Quo(pow, bigF(prec).SetInt64(2*k+1))
		sum.Add(sum, term)
		if small(term, sum, prec) {
			return sum
		}
	}
}

// bigAtanInv returns atan(1/n) = Σ (−1)^k / ((2k+1) n^(2k+1)).
func bigAtanInv(n int64, prec uint) *big.Float {
	x := bigF(prec).Quo(bigF(prec).SetInt64(1), bigF(prec).SetInt64(n))
	x2 := bigF(prec).Mul(x, x)
	pow := bigF(prec).Set(x)
	sum := bigF(prec).Set(x)
	for k := int64(1); ; k++ {
		pow.Mul(pow, x2)
		term := bigF(prec).Quo(pow, bigF(prec).SetInt64(2*k+1))
		if k%2 == 1 {
			sum.Sub(sum, term)
		} else {
			sum.Add(sum, term)
		}
		if small(term, sum, prec) {
			return sum
		}
	}
}

var bigConst struct {
	sync.Mutex
	pi, ln2 map[uint]*big.Float
}

// bigPi returns π by Machin's formula π = 16 atan(1/5) − 4 atan(1/239).
func bigPi(prec uint) *big.Float {
	bigConst.Lock()
	defer bigConst.Unlock()
	if p, ok := bigConst.pi[prec]; ok {
		return p
	}
	wp := prec + 32
	p := bigF(wp).Mul(bigF(wp).SetInt64(16), bigAtanInv(5, wp))
	p.Sub(p, bigF(wp).Mul(bigF(wp).SetInt64(4), bigAtanInv(239, wp)))
	p.SetPrec(prec)
	if bigConst.pi == nil {
		bigConst.pi = map[uint]*big.Float{}
	}
	bigConst.pi[prec] = p
	return p
}

// bigLn2 returns ln 2 = 2 atanh(1/3).
func bigLn2(prec uint) *big.Float {
	bigConst.Lock()
	defer bigConst.Unlock()
	if l, ok := bigConst.ln2[prec]; ok {
		return l
	}
	wp := prec + 32
	third := bigF(wp).Quo(bigF(wp).SetInt64(1), bigF(wp).SetInt64(3))
	l := bigF(wp).Mul(bigF(wp).SetInt64(2), bigAtanh(third, wp))
	l.SetPrec(prec)
	if bigConst.ln2 == nil {
		bigConst.ln2 = map[uint]*big.Float{}
	}
	bigConst.ln2[prec] = l
	return l
}

// bigExp returns e^x: the Taylor series of x/2^k, squared k times.
func bigExp(x *big.Float, prec uint) *big.Float {
	k := 0
	if e := x.MantExp(nil); e > -8 {
		k = e + 8
	}
	wp := prec + 64 + uint(k)
	r := bigF(wp).SetMantExp(bigF(wp).Set(x), -k)
	sum := bigF(wp).SetInt64(1)
	term := bigF(wp).SetInt64(1)
	for i := int64(1); ; i++ {
		term.Mul(term, r)
		term.Quo(term, bigF(wp).SetInt64(i))
		sum.Add(sum, term)
		if small(term, sum, wp) {
			break
		}
	}
	for range k {
		sum.Mul(sum, sum)
	}
	return sum.SetPrec(prec)
}

// bigLog returns ln x for x > 0: x = m·2^e with m in [½, 1), and
// ln m = 2 atanh((m−1)/(m+1)).
func bigLog(x *big.Float, prec uint) *big.Float {
	wp := prec + 64
	m := bigF(wp)
	e := x.MantExp(m)
	s := bigF(wp).Quo(bigF(wp).Sub(m, bigF(wp).SetInt64(1)), bigF(wp).Add(m, bigF(wp).SetInt64(1)))
	l := bigF(wp).Mul(bigF(wp).SetInt64(2), bigAtanh(s, wp))
	l.Add(l, bigF(wp).Mul(bigF(wp).SetInt64(int64(e)), bigLn2(wp)))
	return l.SetPrec(prec)
}

// bernoulli returns B_2, B_4, …, B_2n exactly (Akiyama–Tanigawa).
var bernoulli = sync.OnceValue(func() []*big.Rat {
	const n = 40
	a := make([]*big.Rat, 2*n+1)
	b := make([]*big.Rat, 0, n)
	for m := 0; m <= 2*n; m++ {
		a[m] = big.NewRat(1, int64(m+1))
		for j := m; j >= 1; j-- {
			d := new(big.Rat).Sub(a[j-1], a[j])
			a[j-1] = d.Mul(d, big.NewRat(int64(j), 1))
		}
		if m >= 2 && m%2 == 0 {
			b = append(b, new(big.Rat).Set(a[0]))
		}
	}
	return b
})

// bigLgamma returns ln Γ(x) for x > 0: Stirling's series at x + N ≥ 40,
// minus ln(x(x+1)…(x+N−1)). With 40 Bernoulli terms the series is exact
// to well below 2^-240 there.
func bigLgamma(x *big.Float, prec uint) *big.Float {
	wp := prec + 64
	y := bigF(wp).Set(x)
	prod := bigF(wp).SetInt64(1)
	shifted := false
	for y.Cmp(bigF(wp).SetInt64(40)) < 0 {
		prod.Mul(prod, y)
		y.Add(y, bigF(wp).SetInt64(1))
		shifted = true
	}
	half := bigF(wp).SetFloat64(0.5)
	// (y − ½) ln y − y + ½ ln 2π
	res := bigF(wp).Mul(bigF(wp).Sub(y, half), bigLog(y, wp))
	res.Sub(res, y)
	twoPi := bigF(wp).Mul(bigF(wp).SetInt64(2), bigPi(wp))
	res.Add(res, bigF(wp).Mul(half, bigLog(twoPi, wp)))
	inv := bigF(wp).Quo(bigF(wp).SetInt64(1), y)
	inv2 := bigF(wp).Mul(inv, inv)
	pow := bigF(wp).Set(inv) // y^-(2k-1)
	for k, b := range bernoulli() {
		kk := int64(k + 1)
		c := bigF(wp).SetRat(b)
		c.Quo(c, bigF(wp).SetInt64(2*kk*(2*kk-1)))
		term := bigF(wp).Mul(c, pow)
		res.Add(res, term)
		if small(term, res, wp) {
			break
		}
		pow.Mul(pow, inv2)
	}
	if shifted {
		res.Sub(res, bigLog(prod, wp))
	}
	return res.SetPrec(prec)
}

// bigErfc returns erfc(x) for x ≥ 0 from the everywhere-positive series
// erf(x) = (2/√π)·e^(−x²)·Σ 2ⁿx^(2n+1)/(1·3·…·(2n+1)), with enough extra
// precision to survive the subtraction from 1.
func bigErfc(x *big.Float, prec uint) *big.Float {
	xf, _ := x.Float64()
	wp := prec + 64 + uint(xf*xf*1.4427)
	xx := bigF(wp).Set(x)
	x2 := bigF(wp).Mul(xx, xx)
	twoX2 := bigF(wp).Mul(x2, bigF(wp).SetInt64(2))
	term := bigF(wp).Set(xx)
	sum := bigF(wp).Set(xx)
	for n := int64(0); ; n++ {
		term.Mul(term, twoX2)
		term.Quo(term, bigF(wp).SetInt64(2*n+3))
		sum.Add(sum, term)
		if n > int64(xf*xf) && small(term, sum, wp) {
			break
		}
	}
	erf := bigF(wp).Mul(sum, bigExp(bigF(wp).Neg(x2), wp))
	erf.Mul(erf, bigF(wp).SetInt64(2))
	erf.Quo(erf, bigF(wp).Sqrt(bigPi(wp)))
	return bigF(wp).Sub(bigF(wp).SetInt64(1), erf).SetPrec(prec)
}

// refNormalTail returns P(Z > z) for z ≥ 0.
func refNormalTail(z float64) float64 {
	const prec = 128
	x := bigF(prec+64).Quo(bigFrom(z, prec+64), bigF(prec+64).Sqrt(bigFrom(2, prec+64)))
	q := bigF(prec).Mul(bigErfc(x, prec), bigFrom(0.5, prec))
	f, _ := q.Float64()
	return f
}

// refChiSquareTail returns P(X > x) for chi-square with an integer k
// degrees of freedom, from the closed forms of Q(k/2, y), y = x/2:
// e^(−y) Σ_{i<k/2} yⁱ/i! for even k, and
// erfc(√y) + e^(−y) Σ_{i=0}^{(k−3)/2} y^(i+½)/Γ(i+3/2) for odd k.
func refChiSquareTail(x float64, k int) float64 {
	const prec = 160
	y := bigFrom(x/2, prec) // exact: x/2 only shifts the exponent
	ey := bigExp(bigF(prec).Neg(y), prec)
	sum := bigF(prec)
	if k%2 == 0 {
		term := bigF(prec).SetInt64(1)
		for i := 0; i < k/2; i++ {
			if i > 0 {
				term.Mul(term, y)
				term.Quo(term, bigF(prec).SetInt64(int64(i)))
			}
			sum.Add(sum, term)
		}
		sum.Mul(sum, ey)
	} else {
		sy := bigF(prec).Sqrt(y)
		// y^(i+½)/Γ(i+3/2): start at y^½/Γ(3/2) = 2√y/√π, then ·y/(i+3/2).
		term := bigF(prec).Quo(bigF(prec).Mul(bigF(prec).SetInt64(2), sy), bigF(prec).Sqrt(bigPi(prec)))
		for i := 0; i <= (k-3)/2; i++ {
			if i > 0 {
				term.Mul(term, y)
				term.Quo(term, bigFrom(float64(i)+0.5, prec))
			}
			sum.Add(sum, term)
		}
		sum.Mul(sum, ey)
		sum.Add(sum, bigErfc(sy, prec))
	}
	f, _ := sum.Float64()
	return f
}

// refTTail returns P(T > t) for Student's t with ν degrees of freedom and
// t ≥ 0, from hypergeometric series (DLMF 8.17.8 and the t CDF's ₂F₁ form):
//
//	t²/ν ≥ ½:  ½·I_x(ν/2, ½),  x = ν/(ν+t²) ≤ ⅔,
//	           I_x(a,b) = x^a(1−x)^b/(a·B(a,b)) · Σ (a+b)ₙ/(a+1)ₙ xⁿ  (positive terms)
//	t²/ν < ½:  ½ − t·Γ((ν+1)/2)/(√(νπ)Γ(ν/2)) · Σ ((ν+1)/2)ₙ (−t²/ν)ⁿ / (n!(2n+1))
//
// The alternating second series is summed with t²·1.45 extra bits.
func refTTail(t, nu float64) float64 {
	const prec = 128
	wp := uint(prec + 64)
	a := nu / 2
	if t*t/nu >= 0.5 {
		bt, bn := bigFrom(t, wp), bigFrom(nu, wp)
		den := bigF(wp).Add(bn, bigF(wp).Mul(bt, bt))
		x := bigF(wp).Quo(bn, den)
		y := bigF(wp).Quo(bigF(wp).Mul(bt, bt), den)
		ba, bb := bigFrom(a, wp), bigFrom(0.5, wp)
		ab := bigF(wp).Add(ba, bb)
		sum := bigF(wp).SetInt64(1)
		term := bigF(wp).SetInt64(1)
		for n := 0; ; n++ {
			fn := bigFrom(float64(n), wp)
			term.Mul(term, bigF(wp).Add(ab, fn))
			term.Quo(term, bigF(wp).Add(bigF(wp).Add(ba, bigFrom(1, wp)), fn))
			term.Mul(term, x)
			sum.Add(sum, term)
			if small(term, sum, wp) {
				break
			}
		}
		// ln prefactor = a ln x + ½ ln y − ln a − (lnΓ(a) + lnΓ(½) − lnΓ(a+½))
		lp := bigF(wp).Mul(ba, bigLog(x, wp))
		lp.Add(lp, bigF(wp).Mul(bb, bigLog(y, wp)))
		lp.Sub(lp, bigLog(ba, wp))
		lp.Sub(lp, bigLgamma(ba, wp))
		lp.Sub(lp, bigF(wp).Mul(bb, bigLog(bigPi(wp), wp)))
		lp.Add(lp, bigLgamma(ab, wp))
		r := bigF(wp).Mul(bigExp(lp, wp), sum)
		r.Mul(r, bb)
		f, _ := r.Float64()
		return f
	}
	wp += uint(t*t*1.45) + 32
	bt, bn := bigFrom(t, wp), bigFrom(nu, wp)
	z := bigF(wp).Quo(bigF(wp).Mul(bt, bt), bn)
	z.Neg(z)
	c := bigFrom(a+0.5, wp) // (ν+1)/2, exact for the ν used in tests
	sum := bigF(wp).SetInt64(1)
	pow := bigF(wp).SetInt64(1) // ((ν+1)/2)ₙ zⁿ / n!
	for n := int64(1); ; n++ {
		pow.Mul(pow, bigF(wp).Add(c, bigF(wp).SetInt64(n-1)))
		pow.Mul(pow, z)
		pow.Quo(pow, bigF(wp).SetInt64(n))
		term := bigF(wp).Quo(pow, bigF(wp).SetInt64(2*n+1))
		sum.Add(sum, term)
		if n > 8 && small(term, sum, wp) && small(pow, sum, wp) {
			break
		}
	}
	lc := bigF(wp).Sub(bigLgamma(c, wp), bigLgamma(bigFrom(a, wp), wp))
	cst := bigExp(lc, wp)
	cst.Quo(cst, bigF(wp).Sqrt(bigF(wp).Mul(bn, bigPi(wp))))
	r := bigF(wp).Mul(bigF(wp).Mul(bt, cst), sum)
	r.Sub(bigFrom(0.5, wp), r)
	f, _ := r.Float64()
	return f
}

// relErr returns |got/want − 1|, or |got| when want is 0.
func relErr(got, want float64) float64 {
	if want == 0 {
		return math.Abs(got)
	}
	return math.Abs(got/want - 1)
}
