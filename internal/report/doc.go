// Package report turns an experiment's counts into the report of DESIGN.md:
// it resolves a request's parameters (metric, dates, confidence, control,
// weights) against what the experiment holds, asks a [Source] for the
// counts, and computes every figure with stats.Compare, the one code path
// that POST /v1/stats uses too. The same Report is written as JSON, as CSV
// (WriteCSV) and as a table for terminals (WriteTable); Daily gives the
// cumulative series per day with the sequential p-value as its running
// minimum.
package report
