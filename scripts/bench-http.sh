#!/usr/bin/env bash
# OFREP over HTTP on loopback, driven by wrk: flagd next to a bare net/http
# handler that returns a fixed OFREP body (the limit), measured in the same run.
# Also: bulk evaluation of 100 flags (p99), flagd's RSS with 10,000 flags, and a
# CPU profile of flagd under the 50/50 split load (.run/bench/flagd.cpu).
#
#   scripts/bench-http.sh            (make bench runs it; BENCH_DURATION=10s per run)
# shellcheck source=bench/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/bench/lib.sh" bench-http
DURATION=${BENCH_DURATION:-10s}
NS=BENCH_
BARE_ADDR=127.0.0.1:18090
FLAGD_ADDR=127.0.0.1:18080
PPROF_ADDR=127.0.0.1:18089
RSS_ADDR=127.0.0.1:18081

if ! command -v wrk >/dev/null; then
	log "installing wrk"
	. scripts/apt.sh
	apt_install wrk
fi
if ! command -v curl >/dev/null; then . scripts/apt.sh && apt_install curl; fi

go build -o "$OUT/" ./cmd/flagd ./scripts/bench/bare ./scripts/bench/seedflags ./scripts/bench/rawload
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete

start_flagd() { # addr prefix extra-args...
	local addr=$1 prefix=$2
	shift 2
	bench_start "$addr" "$prefix" "$OUT/flagd.log" "$OUT/flagd" "$@"
}

prefix="bench:$$:"
"$OUT/seedflags" -redis-url "$FLAGSTREAM_REDIS_URL" -redis-prefix "$prefix" -n 98
"$OUT/bare" -addr "$BARE_ADDR" >>"$OUT/bare.log" 2>&1 &
pids+=($!)
start_flagd "$FLAGD_ADDR" "$prefix" --pprof-addr "$PPROF_ADDR"
sleep 0.5

run_wrk() { # conns url path [threads]
	wrk -t"${4:-1}" -c"$1" -d"$DURATION" --timeout 5s -s scripts/bench/ofrep.lua "$2" -- "$3" | grep '^RESULT' | sed 's/^RESULT //'
}
field() { sed -n "s/.*$1=\([0-9]*\).*/\1/p" <<<"$2"; }

rows=()
for conns in 32 64; do
	bare=$(run_wrk "$conns" "http://$BARE_ADDR" /ofrep/v1/evaluate/flags/bench_boolean)
	bare_rps=$(field rps "$bare")
	rows+=("bare net/http, fixed body|$conns|$bare_rps|$(field p50_us "$bare")|$(field p99_us "$bare")|100%")
	for flag in bench_boolean bench_split; do
		if [[ $flag == bench_split && $conns == 64 ]]; then
			curl -s "http://$PPROF_ADDR/debug/pprof/profile?seconds=5" -o "$OUT/flagd.cpu" &
			prof=$!
		fi
		r=$(run_wrk "$conns" "http://$FLAGD_ADDR" "/ofrep/v1/evaluate/flags/$flag")
		[[ -n ${prof:-} ]] && { wait "$prof" || true; prof=; }
		rps=$(field rps "$r")
		pct=$(awk -v a="$rps" -v b="$bare_rps" 'BEGIN { printf "%.0f%%", 100 * a / b }')
		label="flagd OFREP boolean"
		[[ $flag == bench_split ]] && label="flagd OFREP 50/50 split (+ exposures)"
		rows+=("$label|$conns|$rps|$(field p50_us "$r")|$(field p99_us "$r")|$pct")
	done
done
bulk=$(wrk -t1 -c1 -d"$DURATION" --latency -s scripts/bench/ofrep.lua "http://$FLAGD_ADDR" -- /ofrep/v1/evaluate/flags | grep '^RESULT' | sed 's/^RESULT //')
rows+=("flagd OFREP bulk, 100 flags (exposes nobody)|1|$(field rps "$bulk")|$(field p50_us "$bulk")|$(field p99_us "$bulk")|")
# A web app's two requests, side by side at the same concurrency: the bulk
# fetch, and the exposure report of the one flag it used (which must keep up).
bulk32=$(run_wrk 32 "http://$FLAGD_ADDR" /ofrep/v1/evaluate/flags)
rows+=("flagd OFREP bulk, 100 flags|32|$(field rps "$bulk32")|$(field p50_us "$bulk32")|$(field p99_us "$bulk32")|")
expo=$(wrk -t1 -c32 -d"$DURATION" --timeout 5s -s scripts/bench/ofrep.lua "http://$FLAGD_ADDR" -- /v1/exposures bench_split | grep '^RESULT' | sed 's/^RESULT //')
ratio=$(awk -v a="$(field rps "$expo")" -v b="$(field rps "$bulk32")" 'BEGIN { printf "%.1f× bulk", a / b }')
rows+=("flagd POST /v1/exposures, 1 used flag|32|$(field rps "$expo")|$(field p50_us "$expo")|$(field p99_us "$expo")|$ratio")
# The same bulk with flags that expose nobody: the evaluation path alone.
plain_prefix="bench:plain:$$:"
"$OUT/seedflags" -redis-url "$FLAGSTREAM_REDIS_URL" -redis-prefix "$plain_prefix" -n 98 -variants=false
PLAIN_ADDR=127.0.0.1:18082
start_flagd "$PLAIN_ADDR" "$plain_prefix"
bulk=$(wrk -t1 -c1 -d"$DURATION" --latency -s scripts/bench/ofrep.lua "http://$PLAIN_ADDR" -- /ofrep/v1/evaluate/flags | grep '^RESULT' | sed 's/^RESULT //')
rows+=("flagd OFREP bulk, 100 flags (no variants)|1|$(field rps "$bulk")|$(field p50_us "$bulk")|$(field p99_us "$bulk")|")

metrics=$(curl -s "http://$FLAGD_ADDR/metrics")
# The loaded flagd's peak RSS: every run above, exposures of new users included.
load_rss_kb=$(awk '/^VmHWM/ {print $2}' "/proc/${pids[1]}/status")
published=$(awk '/^flagstream_flagd_exposures_published_total/ {print $2}' <<<"$metrics")
dropped=$(awk '/^flagstream_flagd_exposures_dropped_total/ {print $2}' <<<"$metrics")

# RSS with 10,000 flags: a fresh flagd on a prefix holding 10,000 more.
rss_prefix="bench:rss:$$:"
"$OUT/seedflags" -redis-url "$FLAGSTREAM_REDIS_URL" -redis-prefix "$rss_prefix" -n 10000
start_flagd "$RSS_ADDR" "$rss_prefix"
rss_pid=${pids[-1]}
for _ in $(seq 1 100); do
	n=$(curl -s "http://$RSS_ADDR/metrics" | awk '/^flagstream_flagd_flags / {print $2}')
	[[ ${n%.*} -ge 10002 ]] 2>/dev/null && break
	sleep 0.1
done
sleep 1
rss_kb=$(awk '/^VmRSS/ {print $2}' "/proc/$rss_pid/status")

printf '\n| %-40s | %5s | %8s | %8s | %8s | %8s |\n' "OFREP on loopback (wrk -t1, $DURATION)" conns "req/s" "p50 µs" "p99 µs" "of bare"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------------------------------------ ------- ---------- ---------- ---------- ----------
for r in "${rows[@]}"; do
	IFS='|' read -r a b c d e f <<<"$r"
	printf '| %-40s | %5s | %8s | %8s | %8s | %8s |\n' "$a" "$b" "$c" "$d" "$e" "$f"
done
printf '\nexposures published %s, dropped %s during the run\n' "${published:-?}" "${dropped:-?}"
printf 'flagd RSS with %s flags loaded: %.1f MiB\n' "$n" "$(awk -v k="$rss_kb" 'BEGIN { print k / 1024 }')"
printf 'flagd peak RSS under the runs above: %.1f MiB\n' "$(awk -v k="$load_rss_kb" 'BEGIN { print k / 1024 }')"
printf 'CPU profile of flagd under the 64-connection split load: go tool pprof -top %s/flagd %s/flagd.cpu\n' "$OUT" "$OUT"
if [[ -s $OUT/flagd.cpu ]]; then
	go tool pprof -top -nodecount 25 "$OUT/flagd" "$OUT/flagd.cpu" 2>/dev/null | sed -n '1,32p' >"$OUT/flagd.cpu.txt" || true
fi
# Remove the benchmark's streams and keys (prefixes of this run only).
bench_stop
"$OUT/rawload" -nats-url "$FLAGSTREAM_NATS_URL" -ns "$NS" -delete
for p in "$prefix" "$rss_prefix" "$plain_prefix"; do
	redis_del_prefix "$p"
done
