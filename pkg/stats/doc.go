// Package stats computes conversion rates and significance for experiments.
//
// Everything here is pure: counts in, numbers out; no I/O and no clock.
// Start with [Compare]: it takes one metric's [Counts] per variant (the
// first is the control) and returns the report's figures as a [Result],
// whose JSON is the variants, srm and warnings of the report in DESIGN.md.
// The aggregator's report and POST /v1/stats both call it, so they cannot
// disagree.
//
// For each variant: the conversion rate with its Wilson score interval, and
// the value per user with its sample variance. For each treatment against
// the control, on the rate and on the value per user:
//
//   - the absolute and relative lift (treatment − control) with intervals;
//   - a two-sided test: unpooled z-test for rates, Welch's t-test for values,
//     Holm-adjusted across the treatments;
//   - the Bayesian chance to beat the control and the expected loss of
//     shipping the treatment and of keeping the control (exact Beta
//     posteriors for rates, a flat-prior normal approximation for values);
//   - an always-valid sequential p-value and interval (mSPRT), for teams
//     that look every day ([RunningMin] over a daily series);
//   - the minimum detectable effect and the users per arm needed for a 10%
//     relative lift, at the input's power (default 80%);
//
// and a sample-ratio-mismatch check against the flag's weights.
//
// A figure that cannot be computed (no users, no variance, a control rate of
// 0 for a relative lift) is a null [Number] or [Interval] with a [Warning]
// giving a reason code; NaN and Inf never reach JSON, and no made-up 0 stands
// in for a missing value. docs/STATISTICS.md gives every formula, its source
// and a worked example.
//
// The distributions behind the tests are exported: [NormalTail],
// [NormalQuantile], [StudentTTail], [StudentTCDF], [StudentTQuantile] and
// [ChiSquareTail]. Tails are computed as tails (never 1 − CDF), so p-values
// far below 1e-100 keep their digits; Student's t is accurate to 1e-10
// relative from df = 1 to 1e9 and beyond, deep into the tail.
package stats
