// Package flags holds flagstream's flag model, its validation, the evaluation
// engine, the Redis store in the seed tutorial's layout, and the cached client
// that Go apps embed.
//
// [Evaluate] is pure: a flag and an evaluation context in, a [Result] out. The
// SDK ([Client]), flagd's native API and its OFREP API all call it, so they
// cannot disagree. Bucketing is the seed's: md5("<flag>:<user>"), first four
// bytes big-endian, scaled to [0, 100), so users keep their bucket when a team
// moves over from the seed's Python or Node code.
//
// [Store] reads and writes flags in Redis; [Client] keeps every flag in memory,
// evaluates without touching Redis and without taking a lock, and refreshes on
// change notices plus a periodic full resync.
package flags
