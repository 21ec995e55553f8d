// Package report turns an experiment's counts into the report of DESIGN.md:
// it resolves a request's parameters (metric, dates, confidence, power,
// control, weights) against what the experiment holds, asks a [Source] for
// the counts, and computes every figure with stats.Compare, the one code path
// that POST /v1/stats uses too. The same Report is written as JSON, as CSV
// (WriteCSV) and as a table for terminals (WriteTable); Daily gives the
// cumulative series per day with the sequential p-value as its running
// minimum.
//
// The control is the request's, else the flag's first variant as the
// exposures carried it (the event field control), else, for exposures that
// carried none, the variant named "control" or the first by name, with a
// control_assumed warning. A metric no conversion has used yet is reported
// as zeros with a metric_without_conversions warning, not refused.
package report
