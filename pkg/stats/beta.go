package stats

import "math"

// Bayesian comparison of two conversion rates with independent uniform
// Beta(1, 1) priors: after c converters among n users the posterior of a
// rate is Beta(c+1, n−c+1). We need, for control A and treatment B,
//
//	P(p_B > p_A),  E[(p_A − p_B)⁺] (loss of shipping B),  E[(p_B − p_A)⁺] (loss of keeping A).
//
// Evan Miller's closed form for P(p_B > p_A) is a sum of about c_B terms,
// far too slow at n = 1e8, and Monte Carlo is not exact. Here both come from
// one sweep of composite Gauss–Legendre quadrature (see quad.go) over the
// region where the two posteriors overlap:
//
//	P(X > Y)    = ∫ f_X(t) F_Y(t) dt
//	E[(X − Y)⁺] = ∫ P(Y < t < X) dt = ∫ F_Y(t) (1 − F_X(t)) dt
//
// with F the distribution functions, accumulated panel by panel from the
// far ends so every quantity is a sum of positive terms. X is always the
// posterior with the lower mean, so both results are the small ("tail")
// side and keep their relative precision; the other side follows exactly
// from P(Y > X) = 1 − P(X > Y) and E[(Y−X)⁺] − E[(X−Y)⁺] = E[Y] − E[X].

// betaPost is the Beta(A+1, B+1) posterior after A successes and B failures.
type betaPost struct {
	A, B        float64
	mode, modeC float64 // A/(A+B) and B/(A+B), each without cancellation
	invMode     float64 // 1/mode and 1/modeC, as multiplications are cheaper
	invModeC    float64
	growL       float64 // e^(c/(A+1)) − 1: geometric panel growth below the mode (see width)
	growR       float64 // 1 − e^(−c/(B+1)): the same above
	logPeak     float64 // log density at the mode
	sd          float64 // 1/√(−g″(mode)) for the log density g: the scale of the peak
	mean        float64 // (A+1)/(A+B+2)
}

func newBetaPost(successes, failures float64) betaPost {
	A, B := successes, failures
	N := A + B
	p := betaPost{A: A, B: B, mean: (A + 1) / (N + 2),
		growL: math.Expm1(panelSlope / (A + 1)), growR: -math.Expm1(-panelSlope / (B + 1))}
	switch {
	case A == 0 && B == 0: // the prior itself
		p.mode, p.modeC, p.logPeak, p.sd = 0.5, 0.5, 0, 0.5
	case A == 0:
		p.mode, p.modeC, p.logPeak, p.sd = 0, 1, math.Log1p(B), 1/math.Sqrt(B)
	case B == 0:
		p.mode, p.modeC, p.logPeak, p.sd = 1, 0, math.Log1p(A), 1/math.Sqrt(A)
	default:
		p.mode, p.modeC = A/N, B/N
		p.invMode, p.invModeC = N/A, N/B
		p.sd = math.Sqrt(p.mode * p.modeC / N)
		// ln f(mode) = ln(N+1) − ½ ln(2πAB/N) − δ(A) − δ(B) + δ(N), from
		// B(A+1, B+1) = A!B!/(N+1)! and Stirling's formula with its error δ:
		// the huge A·ln A-type terms cancel on paper and are never formed.
		p.logPeak = math.Log1p(N) - 0.5*math.Log(2*math.Pi*p.mode*B) -
			stirlingErr(A) - stirlingErr(B) + stirlingErr(N)
	}
	return p
}

// logRel returns ln f(x) − ln f(mode), accurate to about 1e-13 absolute even
// for counts of 1e8 (see log1pmx).
func (p *betaPost) logRel(x float64) float64 {
	switch {
	case p.A == 0 && p.B == 0:
		return 0
	case p.A == 0:
		return p.B * math.Log1p(-x)
	case p.B == 0:
		return p.A * math.Log(x)
	}
	// A·ln(x/mode) + B·ln((1−x)/(1−mode)); the linear terms A·d/mode and
	// B·d/(1−mode) are both N·d and cancel, so they are left out.
	d := x - p.mode
	return p.A*log1pmx(d*p.invMode) + p.B*log1pmx(-d*p.invModeC)
}

// densities sets f to the density at the Gauss–Legendre nodes of the panel
// centred at mid with half-width h.
//
// When the panel is narrow against the distance to 0 and 1 (large counts)
// the log density is expanded around mid: with ρ_A = h/mid, ρ_B = h/(1−mid),
//
//	g(mid + h·t) = g(mid) + Σ_k e_k t^k,  e_k = ((−1)^(k−1)·A·ρ_A^k − B·ρ_B^k)/k,
//
// truncated where A·ρ_A^k + B·ρ_B^k bounds the rest below 1e-16. That costs
// one full evaluation per panel instead of one per node. Otherwise (few
// counts, wide panels) every node is evaluated directly.
func (p *betaPost) densities(f *[glN]float64, mid, h float64) {
	var e [taylorMax + 1]float64
	k := 0
	if p.A > 0 && p.B > 0 {
		rA, rB := h/mid, h/(1-mid)
		tA, tB, sign := p.A*rA, p.B*rB, 1.0
		for k = 1; k <= taylorMax && tA+tB > 1e-16; k++ {
			e[k] = (sign*tA - tB) / float64(k)
			tA, tB, sign = tA*rA, tB*rB, -sign
		}
	}
	if k == 0 || k > taylorMax {
		for i := range glN {
			f[i] = p.logRel(mid + h*glNode[i])
		}
	} else {
		g0 := p.logRel(mid)
		for i, t := range glNode {
			s := e[k-1]
			for j := k - 2; j >= 1; j-- {
				s = s*t + e[j]
			}
			f[i] = g0 + s*t
		}
	}
	for i := range glN {
		if f[i] < -800 {
			f[i] = 0
		} else {
			f[i] = expFast(p.logPeak + f[i])
		}
	}
}

// taylorMax is the longest expansion densities uses.
const taylorMax = 16

// slope returns |g′(x)| for the log density g.
func (p *betaPost) slope(x float64) float64 {
	var s float64
	if p.A > 0 {
		s = p.A / x
	}
	if p.B > 0 {
		s -= p.B / (1 - x)
	}
	return math.Abs(s)
}

// lowerCut returns a point below the mode under which the posterior has
// less than e^(−drop) of its mass. Two bounds hold there, and the larger
// point of the two is used: by log-concavity the mass below x is at most
// f(x)/g′(x), so it suffices that the density has fallen by e^(−drop) (the
// Gaussian-like case); and since ln f(x) − ln f(mode) ≤ A·ln(x/mode) +
// A·(1 − x/mode) below the mode, the mass below x is at most
// f(mode)·mode·e^A·(x/mode)^(A+1)/(A+1) (the case of few converters, where
// the density falls off only like x^A).
func (p *betaPost) lowerCut(drop float64) float64 {
	if p.A == 0 {
		return 0
	}
	A := p.A
	lr := (-drop + math.Log1p(A) - p.logPeak - math.Log(p.mode) - A) / (A + 1)
	x := p.mode * math.Exp(math.Min(lr, 0))
	if p.logRel(x) >= -drop {
		return x
	}
	if g := p.mode - 1.2*math.Sqrt(2*drop)*p.sd; g > x && p.logRel(g) < -drop {
		x = g
	}
	// Newton on the concave, increasing h = logRel + drop from the left
	// stays left of the root.
	for range 50 {
		step := -(p.logRel(x) + drop) / (A/x - p.B/(1-x))
		x += step
		if step < 1e-3*p.sd {
			break
		}
	}
	return x
}

// upperCut mirrors lowerCut above the mode.
func (p *betaPost) upperCut(drop float64) float64 {
	if p.B == 0 {
		return 1
	}
	B := p.B
	lr := (-drop + math.Log1p(B) - p.logPeak - math.Log(p.modeC) - B) / (B + 1)
	x := 1 - p.modeC*math.Exp(math.Min(lr, 0))
	if x >= 1 {
		x = math.Nextafter(1, 0)
	}
	if p.logRel(x) >= -drop {
		return x
	}
	if g := p.mode + 1.2*math.Sqrt(2*drop)*p.sd; g < x && p.logRel(g) < -drop {
		x = g
	}
	for range 50 {
		step := -(p.logRel(x) + drop) / (p.A/x - B/(1-x))
		x += step
		if -step < 1e-3*p.sd {
			break
		}
	}
	return x
}

// panelSlope bounds how much the log density may change across one panel:
// Gauss–Legendre with 10 nodes integrates e^(ct) over a unit interval to
// about c²⁰/(21·(20!)³/(10!)⁴) relative, 2e-15 for c = 6.
const panelSlope = 6

// width returns the largest panel width starting at x that this posterior
// allows: at most 2 sd, and such that the log density changes by at most
// panelSlope. Near 0 (and near 1) the log density is dominated by A·ln x
// (B·ln(1−x)), a polynomial factor that the rule integrates far better than
// its slope suggests; there panels may grow geometrically, each spanning a
// factor e^(c/(A+1)) in x, as long as the other factor stays smooth.
func (p *betaPost) width(x float64) float64 {
	w := panelSlope / p.slope(x)
	switch {
	case x < p.mode && p.A > 0:
		wp := x * p.growL
		if p.B > 0 && panelSlope*(1-x) < p.B*wp {
			wp = panelSlope * (1 - x) / p.B
		}
		if wp > w {
			w = wp
		}
	case x > p.mode && p.B > 0:
		wp := (1 - x) * p.growR
		if p.A > 0 && panelSlope*x < p.A*wp {
			wp = panelSlope * x / p.A
		}
		if wp > w {
			w = wp
		}
	}
	if c := panelCap * p.sd; c < w {
		w = c
	}
	return w
}

// panelCap caps a panel at 2 sd of the posterior: near the mode the density
// is a Gaussian bump that ten nodes resolve to 1e-15 over that width.
const panelCap = 2

// panel returns the width of a panel starting at x, below end, that the
// posterior allows at both of its ends: away from the mode the log slope
// grows, so the width allowed at the far end can be the smaller. Halving
// until both ends agree keeps a far end deep in a steep tail from shrinking
// the panel to that tail's scale.
func (p *betaPost) panel(x, end float64) float64 {
	w := p.width(x)
	for range 64 {
		if x+w >= end {
			break
		}
		we := p.width(x + w)
		if we >= w {
			break
		}
		w = math.Max(we, w/2)
	}
	return w
}

// maxPanels bounds the work of one sweep; no case met in testing needs a
// tenth of it.
const maxPanels = 4000

// tailLoss returns P(X > Y) and E[(X − Y)⁺] for E[X] ≤ E[Y]. A sweep that
// covers where each density is within e^(−drop) of its peak leaves out mass
// of order e^(−drop), negligible against a result above e^(−drop/2): so it
// starts at drop = 50 and, when the result is smaller (the posteriors barely
// overlap and the answer lives in their far tails), doubles the drop until
// it is not, or until it covers everything a float64 can hold.
func tailLoss(x, y *betaPost) (p, loss float64) {
	for drop := 50.0; ; drop = math.Min(2*drop, 745) {
		p, loss, ok := sweep(x, y, drop)
		if ok && p > math.Exp(-drop/2) || drop == 745 {
			return p, loss
		}
	}
}

// sweep integrates over [y's lower cut, x's upper cut]: below it F_Y and
// above it 1 − F_X are below e^(−drop) of their scale.
func sweep(x, y *betaPost, drop float64) (p, loss float64, ok bool) {
	var bpBuf [64]float64 // typical sweeps fit on the stack
	bp := grid(x, y, drop, bpBuf[:0])
	if bp == nil {
		return 0, 0, false
	}
	np := len(bp) - 1

	// Right to left: the density of X at every node and S_X = P(X > t).
	var buf [2 * 48 * glN]float64
	fx := buf[:]
	if 2*np*glN > len(buf) {
		fx = make([]float64, 2*np*glN)
	}
	sx := fx[np*glN:]
	var f [glN]float64
	s := 0.0
	for i := np - 1; i >= 0; i-- {
		h := (bp[i+1] - bp[i]) / 2
		mid := bp[i] + h
		x.densities(&f, mid, h)
		for k := range glN {
			acc := 0.0
			for j := range glN {
				acc += glRight[k][j] * f[j]
			}
			sx[i*glN+k] = s + h*acc
			fx[i*glN+k] = f[k]
		}
		acc := 0.0
		for j := range glN {
			acc += glWeight[j] * f[j]
		}
		s += h * acc
	}
	// Left to right: F_Y = P(Y < t) at every node, and the two integrals.
	F := 0.0
	for i := range np {
		h := (bp[i+1] - bp[i]) / 2
		mid := bp[i] + h
		y.densities(&f, mid, h)
		pp, ll := 0.0, 0.0
		for k := range glN {
			acc := 0.0
			for j := range glN {
				acc += glLeft[k][j] * f[j]
			}
			fy := F + h*acc
			if fy < 0 { // rounding in the far tail
				fy = 0
			}
			pp += glWeight[k] * fx[i*glN+k] * fy
			ll += glWeight[k] * sx[i*glN+k] * fy
		}
		p += h * pp
		loss += h * ll
		acc := 0.0
		for j := range glN {
			acc += glWeight[j] * f[j]
		}
		F += h * acc
	}
	return p, loss, true
}

// grid appends to bp the panel breakpoints of a sweep, or returns nil when
// the ranges of the two posteriors do not meet.
func grid(x, y *betaPost, drop float64, bp []float64) []float64 {
	xlo, xhi := x.lowerCut(drop), x.upperCut(drop)
	ylo, yhi := y.lowerCut(drop), y.upperCut(drop)
	if !(ylo < xhi) {
		return nil
	}
	return breakpoints(bp, ylo, xhi, [2]*betaPost{x, y}, [2][2]float64{{xlo, xhi}, {ylo, yhi}})
}

// breakpoints appends to bp breakpoints over [lo, hi] for panels each as
// wide as every posterior whose range covers it allows.
func breakpoints(bp []float64, lo, hi float64, post [2]*betaPost, rng [2][2]float64) []float64 {
	bp = append(bp, lo)
	for cur := lo; cur < hi; {
		w := hi - cur
		for i, p := range post {
			switch {
			case cur >= rng[i][0] && cur < rng[i][1]:
				w = math.Min(w, p.panel(cur, rng[i][1]))
			case rng[i][0] > cur && rng[i][0]-cur < w:
				w = rng[i][0] - cur // stop at the start of a range
			}
		}
		next := cur + w
		if next >= hi || !(next > cur) || len(bp) >= maxPanels {
			next = hi
		}
		bp = append(bp, next)
		cur = next
	}
	return bp
}

// bayesRates returns P(p_B > p_A) and the expected losses, in rate units, of
// shipping B (E[(p_A − p_B)⁺]) and of keeping A (E[(p_B − p_A)⁺]), for
// converters c out of users n in each arm (n ≥ 1) and uniform priors.
func bayesRates(cA, nA, cB, nB float64) (chance, lossShip, lossKeep float64) {
	a, b := newBetaPost(cA, nA-cA), newBetaPost(cB, nB-cB)
	if a.mean+b.mean > 1 {
		// Work with the non-conversion rates 1 − p, whose posteriors sit
		// nearer 0, where floats are dense: near 1 a node spacing of 1e-16
		// would be coarse against a posterior width of 1e-9. B beats A
		// exactly when 1 − p_A beats 1 − p_B, so the roles swap.
		a, b = newBetaPost(nB-cB, cB), newBetaPost(nA-cA, cA)
	}
	if a.mean <= b.mean {
		t, l := tailLoss(&a, &b) // P(A > B), E[(A−B)⁺]
		return 1 - t, l, l + (b.mean - a.mean)
	}
	t, l := tailLoss(&b, &a) // P(B > A), E[(B−A)⁺]
	return t, l + (a.mean - b.mean), l
}
