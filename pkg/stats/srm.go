package stats

import "fmt"

// srmCheck compares the users per variant with the flag's weights: Pearson's
// chi-square over the variants with weight > 0, expected counts in
// proportion to the normalised weights, df = their number − 1, and a
// warning below p = 0.001 (the common strict threshold, GrowthBook's
// default: the check runs on every report, so false alarms must be rare).
func srmCheck(vars []Counts, weights []float64, w *warnings) SRM {
	var s SRM
	all := []string{"srm.chi2", "srm.df", "srm.p_value", "srm.expected_share"}
	test := all[:3]
	if len(weights) == 0 {
		w.add(CodeSRMNoWeights, "", "no weights were given, so the split of users cannot be checked", all...)
		return s
	}
	if reason := weightsProblem(weights, len(vars)); reason != "" {
		w.add(CodeSRMInvalidWeights, "", "weights "+reason+", so the split of users cannot be checked", all...)
		return s
	}
	s.ExpectedShare = make(map[string]float64, len(vars))
	for _, c := range vars {
		if _, dup := s.ExpectedShare[c.Variant]; dup {
			s.ExpectedShare = nil
			w.add(CodeSRMDuplicate, "", fmt.Sprintf("variant %q appears twice, so shares cannot be given by name", c.Variant), all...)
			return s
		}
		s.ExpectedShare[c.Variant] = 0
	}
	sum := 0.0
	for _, x := range weights {
		sum += x
	}
	var n, k float64
	for i, c := range vars {
		s.ExpectedShare[c.Variant] = weights[i] / sum
		switch {
		case weights[i] == 0 && c.Users > 0:
			w.add(CodeSRMUnexpected, c.Variant, fmt.Sprintf("the variant has weight 0 but %d users; they are left out of the check, but no user should be assigned to it", c.Users))
		case weights[i] == 0:
		case c.Users < 0:
			w.add(CodeInvalidCounts, "", fmt.Sprintf("variant %q has a negative number of users, so the split cannot be checked", c.Variant), test...)
			return s
		default:
			n += float64(c.Users)
			k++
		}
	}
	switch {
	case k < 2:
		w.add(CodeSRMTooFewVariants, "", "fewer than two variants have a positive weight, so there is no split to check", test...)
		return s
	case n == 0:
		w.add(CodeSRMNoUsers, "", "no users yet, so the split cannot be checked", test...)
		return s
	}
	chi2 := 0.0
	for i, c := range vars {
		if weights[i] > 0 {
			e := n * weights[i] / sum
			d := float64(c.Users) - e
			chi2 += d * d / e
		}
	}
	sc := scope{w: w, prefix: "srm."}
	s.ChiSquare = sc.num(chi2, "chi2")
	s.DF = Num(k - 1)
	s.PValue = sc.num(ChiSquareTail(chi2, k-1), "p_value")
	if s.Warn = s.PValue.Valid && s.PValue.Value < SRMThreshold; s.Warn {
		w.add(CodeSampleRatio, "", fmt.Sprintf("users per variant do not match the weights (chi-square p = %.2g): assignment or exposure logging is broken, and the comparisons cannot be trusted", s.PValue.Value))
	}
	return s
}
