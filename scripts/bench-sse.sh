#!/usr/bin/env bash
# OFREP event streams (ADR 0008) on loopback: 10,000 streams on one flagd,
# each its own context, flagd's RSS, heap and goroutines per stream, and the
# time from one flag change (admin API) until every stream got its refetch
# event (must be under 1 s; the program exits 1 otherwise).
#
#   scripts/bench-sse.sh            (make bench runs it; BENCH_SSE_STREAMS=10000)
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/bench/lib.sh" bench-sse
N=${BENCH_SSE_STREAMS:-10000}
NS=BENCHSSE_
ADDR=127.0.0.1:18180

# flagd and the clients are separate processes, each with N descriptors and
# some more: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < N + 200)); then
	log "ulimit -n is $(ulimit -n): too low for $N streams per process"
	exit 1
fi
go build -o "$OUT/" ./cmd/flagd ./scripts/bench/sse

prefix="bench:sse:$$:"
trap 'bench_stop; redis_del_prefix "$prefix"' EXIT

bench_start "$ADDR" "$prefix" "$OUT/flagd-sse.log" "$OUT/flagd"
"$OUT/sse" -flagd "http://$ADDR" -pid "${pids[-1]}" -n "$N"
