#!/usr/bin/env bash
# The whole pipeline over HTTP: POST /v1/events (gzipped NDJSON batches of
# 500, 8 connections) for 60 s into one ingest and one aggregate, then until
# the report counts exactly what ingest accepted. Prints the intake rate, the
# end-to-end rate (every event in the report), and both processes' RSS.
#
#   scripts/bench-pipeline.sh     (make bench runs it; BENCH_PIPELINE_DURATION=60s)
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
OUT=.run/bench
mkdir -p "$OUT"
DURATION=${BENCH_PIPELINE_DURATION:-60s}
NS=BENCHP_
INGEST_ADDR=127.0.0.1:18086
AGGREGATE_ADDR=127.0.0.1:18087
log() { printf '[bench-pipeline] %s\n' "$*" >&2; }

eval "$(scripts/services.sh up)"
go build -o "$OUT/" ./cmd/ingest ./cmd/aggregate ./scripts/bench/postload ./scripts/bench/rawload
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
prefix="benchpipe:$$:"
redis_port=${FLAGSTREAM_REDIS_URL##*:}
redis_port=${redis_port%%/*}

pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT
start() { # name addr args...
	local name=$1 addr=$2
	shift 2
	FLAGSTREAM_REDIS_PREFIX=$prefix FLAGSTREAM_NATS_NAMESPACE=$NS FLAGSTREAM_HTTP_ADDR=$addr FLAGSTREAM_LOG_LEVEL=warn \
		"$OUT/$name" "$@" >>"$OUT/$name-pipeline.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 1 300); do
		curl -sf "http://$addr/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "$name not ready; see $OUT/$name-pipeline.log"
	return 1
}
start ingest "$INGEST_ADDR"
ingest_pid=${pids[-1]}
start aggregate "$AGGREGATE_ADDR" serve
aggregate_pid=${pids[-1]}

rss_file=$OUT/pipeline-rss
echo "0 0" >"$rss_file"
(
	max_i=0 max_a=0
	while kill -0 "$ingest_pid" 2>/dev/null; do
		i=$(awk '/^VmRSS/ {print $2}' "/proc/$ingest_pid/status" 2>/dev/null || echo 0)
		a=$(awk '/^VmRSS/ {print $2}' "/proc/$aggregate_pid/status" 2>/dev/null || echo 0)
		((i > max_i)) && max_i=$i
		((a > max_a)) && max_a=$a
		echo "$max_i $max_a" >"$rss_file"
		sleep 0.5
	done
) &
sampler=$!

result=$("$OUT/postload" -ingest-url "http://$INGEST_ADDR" -aggregate-url "http://$AGGREGATE_ADDR" \
	-experiment "bench_pipeline_$$" -duration "$DURATION")
kill "$sampler" 2>/dev/null || true
read -r rss_i rss_a <"$rss_file"
field() { sed -n "s/.*$1 .*$2=\([0-9.]*\).*/\1/p" <<<"$result"; }
printf '\n| pipeline: POST /v1/events → exact report (one ingest, one aggregate) | value |\n|---|---|\n'
printf '| intake: events accepted over %s | %s (%s events/s, %s batches refused) |\n' "$DURATION" \
	"$(field RESULT_INTAKE events)" "$(field RESULT_INTAKE rate)" "$(field RESULT_INTAKE refused_batches)"
printf '| every event in the report after | %s s (%s events/s end to end) |\n' "$(field RESULT_EXACT seconds)" "$(field RESULT_EXACT rate)"
printf '| max RSS: ingest, aggregate | %.0f MiB, %.0f MiB |\n' "$(awk -v k="$rss_i" 'BEGIN { print k / 1024 }')" "$(awk -v k="$rss_a" 'BEGIN { print k / 1024 }')"
cleanup
trap - EXIT
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
redis-cli -p "$redis_port" --scan --pattern "${prefix}*" | xargs -r -n 1000 redis-cli -p "$redis_port" del >/dev/null
