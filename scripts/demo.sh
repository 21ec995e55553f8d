#!/usr/bin/env bash
# make demo: the whole product on this machine.
#
#   scripts/demo.sh up     install what is missing, start Redis, NATS and ClickHouse
#                          (scripts/services.sh), build bin/, apply the migrations, start
#                          flagd, ingest and aggregate on loopback, run the simulated
#                          experiment (bin/simulate), print the report and the dashboard
#   scripts/demo.sh stop   stop the three services started by `up` (by their pid files)
#
# The services listen on 127.0.0.1:8080/8081/8082 (FLAGSTREAM_DEMO_FLAGD_ADDR,
# _INGEST_ADDR, _AGGREGATE_ADDR change them); logs and pid files are under .run/apps/.
# The demo keeps its data apart from anything else on the local servers (Redis prefix
# demo:, NATS namespace DEMO_, ClickHouse database flagstream_demo) and starts that data
# afresh on every `up`, so that a run always shows the same simulated experiment (seed and
# users fixed) and running it twice gives the same report.
set -euo pipefail
cd "$(dirname "$0")/.."

RUN_DIR=${FLAGSTREAM_RUN_DIR:-$PWD/.run}
APPS_DIR=$RUN_DIR/apps
APPS=(flagd ingest aggregate)
declare -A ADDR=(
	[flagd]=${FLAGSTREAM_DEMO_FLAGD_ADDR:-127.0.0.1:8080}
	[ingest]=${FLAGSTREAM_DEMO_INGEST_ADDR:-127.0.0.1:8081}
	[aggregate]=${FLAGSTREAM_DEMO_AGGREGATE_ADDR:-127.0.0.1:8082}
)
# The simulated period: 14 days ending yesterday, so ingest must accept 15-day-old events.
DAYS=${FLAGSTREAM_DEMO_DAYS:-14}
USERS=${FLAGSTREAM_DEMO_USERS:-100000}
# With 100,000 users the design detects variant_b's +10% with about 94% power and calls
# variant_a (no effect) a winner 5% of the time; seed 7 is a typical draw (+10.0% and +0.3%
# before noise in the values). Other seeds show the spread.
SEED=${FLAGSTREAM_DEMO_SEED:-7}

DEMO_REDIS_PREFIX=demo:
DEMO_NATS_NAMESPACE=DEMO_
DEMO_DATABASE=flagstream_demo

log() { printf '[demo] %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

pid_file() { printf '%s/%s.pid' "$APPS_DIR" "$1"; }

# app_pid <app>: the pid from the pid file if that process still runs our binary.
app_pid() {
	local file pid exe
	file=$(pid_file "$1")
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
	exe=$(readlink -- "/proc/$pid/exe" 2>/dev/null || true)
	[[ ${exe% (deleted)} == "$PWD/bin/$1" ]] || return 1
	echo "$pid"
}

stop_apps() {
	local app pid i
	for app in "${APPS[@]}"; do
		if pid=$(app_pid "$app"); then
			log "stopping $app (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
			for ((i = 0; i < 150; i++)); do # flagd drains and flushes: up to 15 s
				kill -0 "$pid" 2>/dev/null || break
				sleep 0.1
			done
			if kill -0 "$pid" 2>/dev/null; then
				log "$app did not stop within 15 s; killing it"
				kill -KILL "$pid" 2>/dev/null || true
			fi
		fi
		rm -f "$(pid_file "$app")"
	done
}

port_free() {
	local port=${1##*:}
	! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
}

wait_ready() {
	local app=$1 i
	for ((i = 0; i < 600; i++)); do # 60 s; the binary's own probe: GET /readyz
		if FLAGSTREAM_HTTP_ADDR=${ADDR[$app]} "bin/$app" healthcheck >/dev/null 2>&1; then
			return 0
		fi
		app_pid "$app" >/dev/null || die "$app exited; its log: $APPS_DIR/$app.log
$(tail -n 20 "$APPS_DIR/$app.log")"
		sleep 0.1
	done
	die "$app is not ready at ${ADDR[$app]} after 60 s: $(FLAGSTREAM_HTTP_ADDR=${ADDR[$app]} "bin/$app" healthcheck 2>&1); its log: $APPS_DIR/$app.log"
}

start_app() {
	local app=$1
	shift
	port_free "${ADDR[$app]}" || die "${ADDR[$app]} is in use by another process; set FLAGSTREAM_DEMO_${app^^}_ADDR to a free address"
	FLAGSTREAM_HTTP_ADDR=${ADDR[$app]} nohup "bin/$app" "$@" >>"$APPS_DIR/$app.log" 2>&1 &
	echo $! >"$(pid_file "$app")"
	log "started $app on ${ADDR[$app]} (pid $!, log $APPS_DIR/$app.log)"
}

# hostport <url>: "host:port" of a redis://, nats:// or clickhouse:// URL.
hostport() {
	local rest=${1#*://}
	rest=${rest%%/*}
	echo "${rest##*@}"
}

# reset_data: drop what an earlier demo left in its own namespaces (nothing else).
reset_data() {
	local redis ch
	redis=$(hostport "$FLAGSTREAM_REDIS_URL")
	ch=$(hostport "$FLAGSTREAM_CLICKHOUSE_DSN")
	log "starting the demo's data afresh (Redis keys $DEMO_REDIS_PREFIX*, NATS streams ${DEMO_NATS_NAMESPACE}*, ClickHouse database $DEMO_DATABASE)"
	redis-cli -h "${redis%:*}" -p "${redis##*:}" --scan --pattern "$DEMO_REDIS_PREFIX*" |
		xargs -r -n 500 redis-cli -h "${redis%:*}" -p "${redis##*:}" del >/dev/null
	go run ./scripts/bench/rawload -nats-url "$FLAGSTREAM_NATS_URL" -ns "$DEMO_NATS_NAMESPACE" -delete >/dev/null
	clickhouse-client --host "${ch%:*}" --port "${ch##*:}" -q "DROP DATABASE IF EXISTS $DEMO_DATABASE"
	clickhouse-client --host "${ch%:*}" --port "${ch##*:}" -q "CREATE DATABASE $DEMO_DATABASE"
}

up() {
	mkdir -p "$APPS_DIR"
	log "starting Redis, NATS and ClickHouse (installs them the first time)"
	eval "$(scripts/services.sh up)"
	log "building bin/"
	go build -o bin/ ./cmd/...
	stop_apps
	reset_data
	export FLAGSTREAM_REDIS_PREFIX=$DEMO_REDIS_PREFIX FLAGSTREAM_NATS_NAMESPACE=$DEMO_NATS_NAMESPACE
	export FLAGSTREAM_CLICKHOUSE_DSN=${FLAGSTREAM_CLICKHOUSE_DSN%/*}/$DEMO_DATABASE
	export FLAGSTREAM_LOG_LEVEL=${FLAGSTREAM_LOG_LEVEL:-info}
	# Room for the demo's whole run in each stream, should a consumer stop.
	export FLAGSTREAM_STREAM_MAX_MESSAGES=${FLAGSTREAM_STREAM_MAX_MESSAGES:-1000000}
	log "applying migrations"
	bin/aggregate migrate
	# The simulator reports each user's exposures itself, backdated to the simulated day, so
	# flagd does not publish its own (--exposures=false; see the README).
	start_app flagd --exposures=false --max-event-age "$(((DAYS + 1) * 24))h"
	# The live counters take the simulated days too (--dedup-window), as the report does.
	start_app ingest --max-event-age "$(((DAYS + 1) * 24))h" --dedup-window "$(((DAYS + 1) * 24))h"
	start_app aggregate
	for app in "${APPS[@]}"; do wait_ready "$app"; done
	bin/simulate --days "$DAYS" --users "$USERS" --run-tag demo --seed "$SEED" \
		--flagd-url "http://${ADDR[flagd]}" --ingest-url "http://${ADDR[ingest]}" \
		--aggregate-url "http://${ADDR[aggregate]}"
	log "the services keep running; make down stops them and the servers"
}

case ${1:-up} in
up) up ;;
stop) stop_apps ;;
*) die "usage: scripts/demo.sh up|stop" ;;
esac
