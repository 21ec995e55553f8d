// Package live keeps an experiment's live counters in Redis, in the seed
// tutorial's ExperimentTracker layout, so the seed's get_experiment_results
// reads what ingest writes and the reverse:
//
//	experiment:<e>:exposures:<day>                        hash variant → count
//	experiment:<e>:users:<variant>:<day>                  HyperLogLog of users
//	experiment:<e>:assignments                            hash user → variant
//	experiment:<e>:conversions:<type>:<day>               hash variant → count
//	experiment:<e>:value:<type>:<day>                     hash variant → sum of values
//	experiment:<e>:converters:<type>:<variant>:<day>      HyperLogLog of users
//
// and, beyond the seed, experiment:<e>:conversion_types (the types seen, so
// results are not limited to the seed's hard-coded three),
// experiment:<e>:seen:<event id> (the dedup marker), flagstream:experiments
// (every experiment) and flagstream:user_experiments:<user> (the experiments a
// user was exposed to, for conversions that name none).
//
// Every event is applied at most once: one Lua script per experiment and
// batch sets the event's dedup marker (SET NX EX) and, only if it was new,
// changes the counters, atomically. A redelivered or resent event finds its
// marker and changes nothing. On a Redis Cluster the experiment's keys carry
// the hash tag {<e>} so each script stays in one slot.
package live
