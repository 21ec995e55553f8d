# shellcheck shell=bash
# What the bench scripts share. Each sources it first, naming itself for its
# log lines:
#
#   . "$(dirname -- "${BASH_SOURCE[0]}")/bench/lib.sh" bench-http
#
# It stops the script at the first error, moves to the repository root,
# makes $OUT and starts the shared servers (scripts/services.sh, which sets
# FLAGSTREAM_REDIS_URL, FLAGSTREAM_NATS_URL, ...). The services a script
# starts with bench_run or bench_start are stopped when it exits, or by bench_stop.
set -euo pipefail
ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
cd "$ROOT"
OUT=.run/bench
mkdir -p "$OUT"
BENCH_NAME=$1

log() { printf '[%s] %s\n' "$BENCH_NAME" "$*" >&2; }

eval "$(scripts/services.sh up)"

# The processes bench_run started, oldest first: ${pids[-1]} is the last.
pids=()
bench_stop() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
trap bench_stop EXIT

# wait_ready URL [LOG]: until URL/readyz answers 200, at most 30 s; fails
# naming URL (and the log to read) if it never does.
wait_ready() {
	for _ in $(seq 1 300); do
		curl -sf "$1/readyz" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	log "not ready: $1${2:+ (see $2)}"
	return 1
}

# bench_run ADDR PREFIX LOG COMMAND [ARGS...]: runs a flagstream service in
# the background on ADDR, with its Redis keys under PREFIX and its streams
# in the namespace $NS, logging warnings and errors to LOG.
bench_run() {
	local addr=$1 prefix=$2 logfile=$3
	shift 3
	FLAGSTREAM_REDIS_PREFIX=$prefix FLAGSTREAM_NATS_NAMESPACE=$NS FLAGSTREAM_HTTP_ADDR=$addr FLAGSTREAM_LOG_LEVEL=warn \
		"$@" >>"$logfile" 2>&1 &
	pids+=($!)
}

# bench_start ADDR PREFIX LOG COMMAND [ARGS...]: bench_run, then waits until
# the service is ready.
bench_start() {
	bench_run "$@"
	wait_ready "http://$1" "$3"
}

# redis_del_prefix PREFIX: deletes the Redis keys under PREFIX (a run's own).
redis_del_prefix() {
	redis-cli -u "$FLAGSTREAM_REDIS_URL" --scan --pattern "$1*" | xargs -r -n 500 redis-cli -u "$FLAGSTREAM_REDIS_URL" del >/dev/null
}
