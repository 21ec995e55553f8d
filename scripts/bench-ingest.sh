#!/usr/bin/env bash
# ingest's throughput: a backlog of raw events drained by one ingest process
# (raw stream → Redis counters → analytics stream, all acknowledged), its RSS
# while draining, and next to it the ceiling of the same Redis for the same
# per-event command mix, measured with redis-benchmark in the same run.
#
#   scripts/bench-ingest.sh          (make bench runs it; BENCH_EVENTS=1000000)
#
# BENCH_INGEST_DIR: take ingest and rawload from that checkout instead (to
# measure an older version next to this one on the same machine, same run).
# BENCH_RAW_BATCH: events per raw message (default 500, as flagd packs them;
# 1: one event a message, as a publisher that does not batch).
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/bench/lib.sh" bench-ingest
N=${BENCH_EVENTS:-1000000}
NS=BENCHI_
ADDR=127.0.0.1:18085

if [[ -n ${BENCH_INGEST_DIR:-} ]]; then
	(cd "$BENCH_INGEST_DIR" && go build -o "$ROOT/$OUT/" ./cmd/ingest ./scripts/bench/rawload)
else
	go build -o "$OUT/" ./cmd/ingest ./scripts/bench/rawload
fi
redis_port=${FLAGSTREAM_REDIS_URL##*:}
redis_port=${redis_port%%/*}

# The Redis ceiling: per event, the exposure mix ingest's script runs
# (dedup marker SADD into the day's set, HINCRBY, PFADD, HSET) as one EVAL,
# pipelined.
mix='redis.call("SADD", "benchmix:seen:day", ARGV[1]) redis.call("HINCRBY", "benchmix:exposures", "control", 1) redis.call("PFADD", "benchmix:users", ARGV[1]) redis.call("HSET", "benchmix:assign", ARGV[1], "control") return 1'
ceiling=$(redis-benchmark -p "$redis_port" -n 300000 -P 100 -r 100000000 -q eval "$mix" 0 __rand_int__ | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
redis_del_prefix benchmix:

"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
load_args=()
[[ -n ${BENCH_RAW_BATCH:-} ]] && load_args=(-batch "$BENCH_RAW_BATCH")
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -n "$N" "${load_args[@]}"
# Redis CPU per event: the server's user + system ticks over the drain.
redis_pid=$(<.run/redis/redis.pid)
redis_ticks() { awk '{print $14 + $15}' "/proc/$redis_pid/stat"; }
ticks0=$(redis_ticks)
prefix="benchingest:$$:"
start=$(date +%s.%N)
bench_run "$ADDR" "$prefix" "$OUT/ingest.log" "$OUT/ingest"
pid=${pids[-1]}
max_rss=0
done_n=0
for _ in $(seq 1 1200); do
	sleep 0.5
	rss=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
	((rss > max_rss)) && max_rss=$rss
	done_n=$(curl -s "http://$ADDR/metrics" | awk '/^flagstream_ingest_events_forwarded_total/ {s += $2} END {printf "%d", s}')
	((done_n >= N)) && break
done
end=$(date +%s.%N)
ticks1=$(redis_ticks)
bench_stop
secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
rate=$(awk -v n="$done_n" -v s="$secs" 'BEGIN { printf "%.0f", n / s }')
printf '\n| ingest (one process, default flags; raw messages of %s events) | value |\n|---|---|\n' "${BENCH_RAW_BATCH:-500}"
printf '| backlog drained | %s of %s events in %s s |\n' "$done_n" "$N" "$secs"
printf '| sustained throughput (raw → Redis → analytics, acked) | %s events/s |\n' "$rate"
printf '| Redis ceiling, same command mix (redis-benchmark EVAL, -P 100) | %s events/s |\n' "${ceiling:-?}"
printf '| ingest max RSS while draining | %.1f MiB |\n' "$(awk -v k="$max_rss" 'BEGIN { print k / 1024 }')"
printf '| Redis CPU per event | %s µs |\n' "$(awk -v a="$ticks0" -v b="$ticks1" -v n="$done_n" -v hz="$(getconf CLK_TCK)" 'BEGIN { if (n > 0) printf "%.1f", (b - a) / hz * 1e6 / n; else print "?" }')"
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
redis_del_prefix "$prefix"
