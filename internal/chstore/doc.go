// Package chstore keeps flagstream's analytics in ClickHouse: it writes the
// analytics stream's events (Insert), keeps the per-user state the reports
// read up to date (Refresh), and answers the report queries (Counts, Daily,
// Experiments, Metrics). The schema is in the migrations package.
//
// # Exactness
//
// The raw table may hold an event twice (a redelivered or resent batch):
// every computation from it deduplicates by event id. The per-user state is a
// pure function of the deduplicated raw events of that (experiment, user),
// recomputed whole by Refresh for every pair a batch touched, so recomputing
// it again, in any order or concurrently, changes nothing: the state row
// computed from the most events (its version) wins. The reports read the
// state with FINAL, so they are exact before ClickHouse merges anything.
//
// # Attribution
//
// A user's first exposure in an experiment fixes the variant. A conversion
// counts for an experiment if it names it, or names none (then it counts for
// every experiment the user was exposed to), and only if it happened at or
// after the user's first exposure there. A user exposed to a second variant
// is left out of every report whose range reaches the day of that exposure
// and counted in its multiple_exposures.
//
// All SQL takes its values as bound parameters; sets of keys travel as
// external tables sent with the query.
package chstore
