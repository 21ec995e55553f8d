#!/usr/bin/env bash
# The whole pipeline over HTTP: POST /v1/events (gzipped NDJSON batches of
# 500, 8 connections) for 60 s into one ingest and one aggregate, then until
# the report counts exactly what ingest accepted. Prints the intake rate, the
# end-to-end rate (every event in the report), and both processes' RSS.
#
#   scripts/bench-pipeline.sh     (make bench runs it; BENCH_PIPELINE_DURATION=60s)
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/bench/lib.sh" bench-pipeline
DURATION=${BENCH_PIPELINE_DURATION:-60s}
NS=BENCHP_
INGEST_ADDR=127.0.0.1:18086
AGGREGATE_ADDR=127.0.0.1:18087

go build -o "$OUT/" ./cmd/ingest ./cmd/aggregate ./scripts/bench/postload ./scripts/bench/rawload
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
prefix="benchpipe:$$:"

bench_start "$INGEST_ADDR" "$prefix" "$OUT/ingest-pipeline.log" "$OUT/ingest"
ingest_pid=${pids[-1]}
bench_start "$AGGREGATE_ADDR" "$prefix" "$OUT/aggregate-pipeline.log" "$OUT/aggregate" serve
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
bench_stop
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
redis_del_prefix "$prefix"
