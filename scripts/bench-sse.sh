#!/usr/bin/env bash
# OFREP event streams (ADR 0008) on loopback: 10,000 streams on one flagd,
# each its own context, flagd's RSS, heap and goroutines per stream, and the
# time from one flag change (admin API) until every stream got its refetch
# event (must be under 1 s; the program exits 1 otherwise).
#
#   scripts/bench-sse.sh            (make bench runs it; BENCH_SSE_STREAMS=10000)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
OUT=.run/bench
mkdir -p "$OUT"
N=${BENCH_SSE_STREAMS:-10000}
ADDR=127.0.0.1:18180
log() { printf '[bench-sse] %s\n' "$*" >&2; }

eval "$(scripts/services.sh up)"
# flagd and the clients are separate processes, each with N descriptors and
# some more: raise the soft limit to the hard one.
ulimit -n "$(ulimit -Hn)"
if (($(ulimit -n) < N + 200)); then
	log "ulimit -n is $(ulimit -n): too low for $N streams per process"
	exit 1
fi
go build -o "$OUT/" ./cmd/flagd ./scripts/bench/sse

pid=
prefix="bench:sse:$$:"
cleanup() {
	if [[ -n $pid ]]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	redis-cli -u "$FLAGSTREAM_REDIS_URL" --scan --pattern "${prefix}*" | xargs -r -n 500 redis-cli -u "$FLAGSTREAM_REDIS_URL" del >/dev/null
}
trap cleanup EXIT

FLAGSTREAM_REDIS_PREFIX=$prefix FLAGSTREAM_NATS_NAMESPACE=BENCHSSE_ FLAGSTREAM_HTTP_ADDR=$ADDR FLAGSTREAM_LOG_LEVEL=warn \
	"$OUT/flagd" >>"$OUT/flagd-sse.log" 2>&1 &
pid=$!
for _ in $(seq 1 300); do
	curl -sf "http://$ADDR/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
curl -sf "http://$ADDR/readyz" >/dev/null || { log "flagd not ready (see $OUT/flagd-sse.log)"; exit 1; }
"$OUT/sse" -flagd "http://$ADDR" -pid "$pid" -n "$N"
