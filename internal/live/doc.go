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
// and, beyond the seed:
//
//	experiment:<e>:conversion_types     set: the types seen (results are not limited to the seed's three)
//	experiment:<e>:seen:<day>           set: the dedup markers of the events of that UTC day ([Marker]: user and id)
//	experiment:<e>:pending:<user>       list: conversions held for their user's exposure
//	experiment:<e>:pending_users        sorted set: held users by deadline (SweepHeld)
//	experiment:<e>:lost:held_expired    count of held conversions that expired
//	experiment:<e>:archived             set by Archive: the counters take no more events
//	flagstream:experiments              set: every experiment counted
//	flagstream:user_experiments:<user>  set: the experiments a user was exposed to (conversions naming none)
//
// Every key has a lifetime ([Options]): per-day counters Retention after their
// day, markers Window plus a day and an hour, per-user state UserTTL after its
// last write, held conversions PendingTTL (then SweepHeld counts them); the
// experiments list and the lost count stay until Archive.
//
// Every event is applied at most once: one Lua script per experiment and
// batch adds the event's marker to its day's set (SADD) and, only if it was
// new, changes the counters, atomically. A redelivered or resent event finds
// its marker and changes nothing; one older than the window is not counted
// live at all ([ReportOnly]), so no resend ever counts twice. On a Redis
// Cluster the experiment's keys carry the hash tag {<e>} so each script stays
// in one slot.
package live
