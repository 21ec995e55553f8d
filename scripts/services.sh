#!/usr/bin/env bash
# Local Redis, NATS (JetStream) and ClickHouse for flagstream development and tests.
#
#   eval "$(scripts/services.sh up)"   install what is missing, start all three, print the exports
#   scripts/services.sh env            print the export lines only
#   scripts/services.sh status         one line per service
#   scripts/services.sh stop  <redis|nats|clickhouse>
#   scripts/services.sh start <redis|nats|clickhouse>   same port and data as before
#   scripts/services.sh down [--purge] stop everything started here (--purge: delete the data too)
#
# Servers listen on 127.0.0.1 only, on non-default ports, with config, data, logs and pid files
# under .run/<service>/ at the repository root. Ports can be changed with FLAGSTREAM_REDIS_PORT,
# FLAGSTREAM_NATS_PORT, FLAGSTREAM_NATS_MONITOR_PORT, FLAGSTREAM_CLICKHOUSE_PORT and
# FLAGSTREAM_CLICKHOUSE_HTTP_PORT. Only the export lines go to stdout; everything else to stderr.
# The distro packages' own init/systemd services are never used: the binaries are run directly,
# and only the processes recorded in our pid files are ever signalled.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)
ROOT_DIR=$(cd -- "$SCRIPT_DIR/.." && pwd -P)
RUN_DIR=$ROOT_DIR/.run
TEMPLATE_DIR=$SCRIPT_DIR/services

REDIS_PORT=${FLAGSTREAM_REDIS_PORT:-16379}
NATS_PORT=${FLAGSTREAM_NATS_PORT:-14222}
NATS_MONITOR_PORT=${FLAGSTREAM_NATS_MONITOR_PORT:-18222}
CLICKHOUSE_PORT=${FLAGSTREAM_CLICKHOUSE_PORT:-19000}
CLICKHOUSE_HTTP_PORT=${FLAGSTREAM_CLICKHOUSE_HTTP_PORT:-18123}
# Seconds to wait for a service to answer after starting, and for one to exit after SIGTERM.
START_TIMEOUT=${FLAGSTREAM_SERVICES_START_TIMEOUT:-60}
STOP_TIMEOUT=${FLAGSTREAM_SERVICES_STOP_TIMEOUT:-20}

CLIENT_TIMEOUT=10
SERVICES=(redis nats clickhouse)
PACKAGES=(redis-server redis-tools nats-server clickhouse-server clickhouse-client)

log() { printf '[services] %s\n' "$*" >&2; }
die() {
	printf '[services] error: %s\n' "$*" >&2
	exit 1
}

usage() {
	cat >&2 <<'EOF'
usage: scripts/services.sh up | env | status | down [--purge] | start <service> | stop <service>
services: redis nats clickhouse
EOF
}

is_service() {
	case ${1:-} in
	redis | nats | clickhouse) return 0 ;;
	*) return 1 ;;
	esac
}

validate_ports() {
	local name value seen=" "
	for name in REDIS_PORT NATS_PORT NATS_MONITOR_PORT CLICKHOUSE_PORT CLICKHOUSE_HTTP_PORT; do
		value=${!name}
		if [[ ! $value =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
			die "FLAGSTREAM_$name must be a TCP port number, got '$value'"
		fi
		if [[ $seen == *" $value "* ]]; then
			die "port $value is configured for two services (check the FLAGSTREAM_*_PORT variables)"
		fi
		seen+="$value "
	done
}

# ---------------------------------------------------------------------------------------------
# Output for callers

print_env() {
	printf 'export FLAGSTREAM_REDIS_URL=redis://127.0.0.1:%s/0\n' "$REDIS_PORT"
	printf 'export FLAGSTREAM_NATS_URL=nats://127.0.0.1:%s\n' "$NATS_PORT"
	printf 'export FLAGSTREAM_CLICKHOUSE_DSN=clickhouse://127.0.0.1:%s/default\n' "$CLICKHOUSE_PORT"
}

write_env_file() {
	local tmp=$RUN_DIR/env.tmp.$$
	print_env >"$tmp"
	mv -f -- "$tmp" "$RUN_DIR/env"
}

# ---------------------------------------------------------------------------------------------
# Packages

package_installed() {
	[[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null || true) == "install ok installed" ]]
}

ensure_packages() {
	local missing=() pkg
	for pkg in "${PACKAGES[@]}"; do
		package_installed "$pkg" || missing+=("$pkg")
	done
	# curl is only a convenience for the NATS health check (there is a /dev/tcp fallback), but it
	# costs nothing to add when apt-get runs anyway.
	if ((${#missing[@]} > 0)) && ! command -v curl >/dev/null 2>&1; then
		missing+=(curl)
	fi
	if ((${#missing[@]} == 0)); then
		return 0
	fi
	. "$SCRIPT_DIR/apt.sh"
	apt_install "${missing[@]}" || die "could not install ${missing[*]}"
	# The packages' postinst scripts may try to start default instances through invoke-rc.d
	# (on 6379, 4222, 9000/8123). We never use them and use other ports, so they are left alone.
}

# Binaries (resolved lazily, after any installation).
redis_server_bin() { command -v redis-server || echo /usr/bin/redis-server; }
nats_server_bin() { command -v nats-server || echo /usr/sbin/nats-server; }
clickhouse_server_bin() {
	if command -v clickhouse-server >/dev/null 2>&1; then
		command -v clickhouse-server
	elif [[ -x /usr/sbin/clickhouse-server ]]; then
		echo /usr/sbin/clickhouse-server
	elif command -v clickhouse >/dev/null 2>&1; then
		command -v clickhouse # upstream packages: `clickhouse server`
	else
		echo /usr/sbin/clickhouse-server
	fi
}
# Runs the ClickHouse client (an external command, so it can be wrapped in `timeout`).
clickhouse_client() {
	if command -v clickhouse-client >/dev/null 2>&1; then
		timeout "$CLIENT_TIMEOUT" clickhouse-client "$@"
	else
		timeout "$CLIENT_TIMEOUT" clickhouse client "$@"
	fi
}

require_binaries() {
	local svc=$1 bin
	case $svc in
	redis) bin=$(redis_server_bin) ;;
	nats) bin=$(nats_server_bin) ;;
	clickhouse) bin=$(clickhouse_server_bin) ;;
	esac
	[[ -x $bin ]] || die "$svc: server binary not found ($bin); is its Debian package installed?"
	if [[ $svc == redis ]] && ! command -v redis-cli >/dev/null 2>&1; then
		die "redis: redis-cli not found (package redis-tools)"
	fi
	if [[ $svc == clickhouse ]] && ! command -v clickhouse-client >/dev/null 2>&1 &&
		! command -v clickhouse >/dev/null 2>&1; then
		die "clickhouse: clickhouse-client not found (package clickhouse-client)"
	fi
}

# ---------------------------------------------------------------------------------------------
# Per-service layout

svc_dir() { printf '%s/%s' "$RUN_DIR" "$1"; }
pid_file() { printf '%s/%s/%s.pid' "$RUN_DIR" "$1" "$1"; }
ports_file() { printf '%s/%s/ports' "$RUN_DIR" "$1"; }
out_log() { printf '%s/%s/%s.log' "$RUN_DIR" "$1" "$1"; }

# Names of the variables holding a service's ports (main port first).
svc_port_vars() {
	case $1 in
	redis) echo REDIS_PORT ;;
	nats) echo NATS_PORT NATS_MONITOR_PORT ;;
	clickhouse) echo CLICKHOUSE_PORT CLICKHOUSE_HTTP_PORT ;;
	esac
}

svc_ports() {
	local var ports=()
	for var in $(svc_port_vars "$1"); do
		ports+=("${!var}")
	done
	echo "${ports[*]}"
}

svc_main_port() {
	case $1 in
	redis) echo "$REDIS_PORT" ;;
	nats) echo "$NATS_PORT" ;;
	clickhouse) echo "$CLICKHOUSE_PORT" ;;
	esac
}

svc_logs() {
	local dir
	dir=$(svc_dir "$1")
	out_log "$1"
	echo
	if [[ $1 == clickhouse ]]; then
		echo "$dir/log/clickhouse-server.err.log"
		echo "$dir/log/clickhouse-server.log"
	fi
}

# ---------------------------------------------------------------------------------------------
# Processes: a pid is "ours" only if it is the pid recorded in our pid file and that process
# is still running the expected server binary (guards against stale files and pid reuse).

read_pid() {
	local file pid
	file=$(pid_file "$1")
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	echo "$pid"
}

expected_exe() {
	local bin
	case $1 in
	redis) bin=$(redis_server_bin) ;;
	nats) bin=$(nats_server_bin) ;;
	clickhouse) bin=$(clickhouse_server_bin) ;;
	esac
	readlink -f -- "$bin" 2>/dev/null || echo "$bin"
}

# pid_is_ours <service> <pid>
pid_is_ours() {
	local svc=$1 pid=$2 exe state
	kill -0 "$pid" 2>/dev/null || return 1
	state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
	[[ -n $state && $state != Z && $state != X ]] || return 1
	exe=$(readlink -- "/proc/$pid/exe" 2>/dev/null || true)
	exe=${exe% (deleted)}
	[[ -n $exe && $exe == "$(expected_exe "$svc")" ]]
}

# Prints the pid if the service's pid file names a live process of ours.
running_pid() {
	local pid
	pid=$(read_pid "$1") || return 1
	pid_is_ours "$1" "$pid" || return 1
	echo "$pid"
}

port_listening() {
	local port=$1
	if command -v ss >/dev/null 2>&1; then
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null) ]]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
	fi
}

# describe_port_holder <port>: "python3 (pid 123: python3 -m http.server ...)" when ss can tell.
describe_port_holder() {
	local port=$1 line rest name pid cmdline desc=""
	if ! command -v ss >/dev/null 2>&1; then
		printf 'another process (install iproute2 for ss to see which)'
		return 0
	fi
	line=$(ss -Hltnp "sport = :$port" 2>/dev/null | tr '\n' ' ' || true)
	rest=$line
	while [[ $rest =~ \(\"([^\"]*)\",pid=([0-9]+) ]]; do
		name=${BASH_REMATCH[1]}
		pid=${BASH_REMATCH[2]}
		rest=${rest#*"${BASH_REMATCH[0]}"}
		[[ $desc == *"pid $pid"* ]] && continue
		cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null || true)
		cmdline=${cmdline% }
		[[ -n $desc ]] && desc+=", "
		desc+="$name (pid $pid${cmdline:+: $cmdline})"
	done
	if [[ -n $desc ]]; then
		printf '%s' "$desc"
	else
		printf 'another process (ss does not show which; as root try: ss -ltnp "sport = :%s")' "$port"
	fi
}

# ---------------------------------------------------------------------------------------------
# Configuration from templates

escape_xml() {
	local s=$1
	s=${s//&/&amp;}
	s=${s//</&lt;}
	s=${s//>/&gt;}
	printf '%s' "$s"
}

escape_quoted() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	printf '%s' "$s"
}

# render <template> <output> KEY=value...   replaces @KEY@ with value
render() {
	local template=$TEMPLATE_DIR/$1 output=$2 content pair
	shift 2
	[[ -f $template ]] || die "template missing: $template"
	content=$(<"$template")
	for pair in "$@"; do
		content=${content//"@${pair%%=*}@"/"${pair#*=}"}
	done
	printf '%s\n' "$content" >"$output.tmp.$$"
	mv -f -- "$output.tmp.$$" "$output"
}

write_config() {
	local svc=$1 dir
	dir=$(svc_dir "$svc")
	case $svc in
	redis)
		mkdir -p "$dir/data"
		render redis.conf.tmpl "$dir/redis.conf" \
			"PORT=$REDIS_PORT" "DATA_DIR=$(escape_quoted "$dir/data")"
		;;
	nats)
		mkdir -p "$dir/jetstream"
		render nats.conf.tmpl "$dir/nats.conf" \
			"PORT=$NATS_PORT" "MONITOR_PORT=$NATS_MONITOR_PORT" \
			"STORE_DIR=$(escape_quoted "$dir")"
		;;
	clickhouse)
		mkdir -p "$dir/data" "$dir/tmp" "$dir/user_files" "$dir/format_schemas" "$dir/log"
		render clickhouse-config.xml.tmpl "$dir/config.xml" \
			"TCP_PORT=$CLICKHOUSE_PORT" "HTTP_PORT=$CLICKHOUSE_HTTP_PORT" \
			"CH_DIR=$(escape_xml "$dir")"
		render clickhouse-users.xml.tmpl "$dir/users.xml"
		;;
	esac
}

# ---------------------------------------------------------------------------------------------
# Health checks (one quick attempt each)

http_get() {
	if command -v curl >/dev/null 2>&1; then
		curl -sf --max-time 3 "http://127.0.0.1:$1$2"
	else
		http_get_devtcp "$1" "$2"
	fi
}

# Minimal HTTP/1.0 GET with bash's /dev/tcp (for machines without curl); body on stdout.
http_get_devtcp() (
	local status line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' "$2" >&3
	IFS= read -r -t 3 status <&3 || exit 1
	[[ $status == "HTTP/1."?" 200"* ]] || exit 1
	while IFS= read -r -t 3 line <&3; do
		[[ $line == $'\r' || -z $line ]] && break
	done
	timeout 3 cat <&3
) 2>/dev/null

# The NATS server sends "INFO {...}" as soon as a client connects.
nats_client_port_ready() (
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	IFS= read -r -t 3 line <&3 || exit 1
	[[ $line == INFO* ]]
) 2>/dev/null

probe() {
	case $1 in
	redis)
		[[ $(timeout 3 redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null) == PONG ]]
		;;
	nats)
		# healthz can answer before the client listener accepts, so check both.
		http_get "$NATS_MONITOR_PORT" "/healthz?js-enabled-only=true" >/dev/null 2>&1 &&
			nats_client_port_ready "$NATS_PORT"
		;;
	clickhouse)
		[[ $(CLIENT_TIMEOUT=5 clickhouse_client --host 127.0.0.1 --port "$CLICKHOUSE_PORT" \
			--query 'SELECT 1' 2>/dev/null) == 1 ]]
		;;
	esac
}

show_log_tail() {
	local svc=$1 file
	while IFS= read -r file; do
		[[ -n $file && -s $file ]] || continue
		printf '[services] ---- last lines of %s ----\n' "$file" >&2
		tail -n 25 -- "$file" >&2
	done < <(svc_logs "$svc")
}

# wait_ready <service> <pid>
wait_ready() {
	local svc=$1 pid=$2 deadline
	deadline=$((SECONDS + START_TIMEOUT))
	while :; do
		if probe "$svc"; then
			return 0
		fi
		if ! pid_is_ours "$svc" "$pid"; then
			log "$svc (pid $pid) exited while starting"
			show_log_tail "$svc"
			rm -f -- "$(pid_file "$svc")"
			return 1
		fi
		if ((SECONDS >= deadline)); then
			log "$svc (pid $pid) did not answer on 127.0.0.1:$(svc_main_port "$svc") within ${START_TIMEOUT}s"
			show_log_tail "$svc"
			return 1
		fi
		sleep 0.5
	done
}

# ---------------------------------------------------------------------------------------------
# Start / stop

# check_can_start <service>: prints the reason and returns 1 if a port is taken or our running
# instance was started with other ports; returns 0 otherwise (running or not).
check_can_start() {
	local svc=$1 pid var port recorded status=0
	if pid=$(running_pid "$svc"); then
		recorded=$(cat -- "$(ports_file "$svc")" 2>/dev/null || true)
		if [[ -n $recorded && $recorded != "$(svc_ports "$svc")" ]]; then
			printf '[services] error: %s is already running (pid %s) on port(s) %s, but port(s) %s are configured now; run "scripts/services.sh stop %s" first\n' \
				"$svc" "$pid" "$recorded" "$(svc_ports "$svc")" "$svc" >&2
			return 1
		fi
		return 0
	fi
	for var in $(svc_port_vars "$svc"); do
		port=${!var}
		if port_listening "$port"; then
			printf '[services] error: %s cannot start: port %s on 127.0.0.1 is already in use by %s; stop that process or pick another port with FLAGSTREAM_%s\n' \
				"$svc" "$port" "$(describe_port_holder "$port")" "$var" >&2
			status=1
		fi
	done
	return "$status"
}

# launch <service>: starts the server in the background (own session, detached from the
# terminal and from our stdout/stderr) and records its pid. Prints the pid.
launch() {
	local svc=$1 dir pid argv
	dir=$(svc_dir "$svc")
	mkdir -p "$dir"
	write_config "$svc"
	case $svc in
	redis) argv=("$(redis_server_bin)" "$dir/redis.conf") ;;
	nats) argv=("$(nats_server_bin)" -c "$dir/nats.conf") ;;
	clickhouse)
		local bin
		bin=$(clickhouse_server_bin)
		if [[ ${bin##*/} == clickhouse ]]; then
			argv=("$bin" server "--config-file=$dir/config.xml")
		else
			argv=("$bin" "--config-file=$dir/config.xml")
		fi
		;;
	esac
	printf '\n===== %s starting %s =====\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${argv[*]}" >>"$(out_log "$svc")"
	# setsid execs in place (we are not a process-group leader), so $! is the server's pid.
	# The server runs in the service dir, in its own session, with stdin from /dev/null, output
	# to its log, and no other inherited descriptor (our lock on fd 9, a caller's pipes, ...).
	(
		local fd_path fd
		cd -- "$dir"
		exec </dev/null >>"$(out_log "$svc")" 2>&1
		for fd_path in /proc/"$BASHPID"/fd/*; do
			fd=${fd_path##*/}
			if [[ $fd =~ ^[0-9]+$ ]] && ((fd > 2)); then
				exec {fd}>&-
			fi
		done
		exec setsid "${argv[@]}"
	) &
	pid=$!
	echo "$pid" >"$(pid_file "$svc")"
	svc_ports "$svc" >"$(ports_file "$svc")"
	# Until the exec chain (subshell -> setsid -> server) completes, /proc/<pid>/exe is not the
	# server yet; wait for that (bounded) so later liveness checks are meaningful.
	local deadline=$((SECONDS + 10))
	while ! pid_is_ours "$svc" "$pid" && kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
		sleep 0.05
	done
	echo "$pid"
}

# start_services <service>...: starts those not running (after checking every port first),
# then waits until each answers.
start_services() {
	local svc pid failed=0
	local -A pids=()
	for svc in "$@"; do
		require_binaries "$svc"
		check_can_start "$svc" || failed=1
	done
	((failed == 0)) || exit 1
	for svc in "$@"; do
		if pid=$(running_pid "$svc"); then
			log "$svc already running (pid $pid)"
		else
			rm -f -- "$(pid_file "$svc")"
			pid=$(launch "$svc")
			log "$svc starting (pid $pid) on 127.0.0.1:$(svc_ports "$svc" | tr ' ' ',')"
		fi
		pids[$svc]=$pid
	done
	for svc in "$@"; do
		if wait_ready "$svc" "${pids[$svc]}"; then
			log "$svc ready (pid ${pids[$svc]})"
		else
			failed=1
		fi
	done
	((failed == 0)) || die "not every service answered; see the logs under $RUN_DIR"
}

stop_service() {
	local svc=$1 pid file deadline
	file=$(pid_file "$svc")
	if ! pid=$(read_pid "$svc"); then
		rm -f -- "$file"
		log "$svc: not running"
		return 0
	fi
	if ! pid_is_ours "$svc" "$pid"; then
		log "$svc: not running (removing stale pid file for pid $pid)"
		rm -f -- "$file"
		return 0
	fi
	log "$svc: stopping pid $pid"
	kill -TERM "$pid" 2>/dev/null || true
	deadline=$((SECONDS + STOP_TIMEOUT))
	while pid_is_ours "$svc" "$pid" && ((SECONDS < deadline)); do
		sleep 0.2
	done
	if pid_is_ours "$svc" "$pid"; then
		log "$svc: pid $pid still running after ${STOP_TIMEOUT}s, sending KILL"
		kill -KILL "$pid" 2>/dev/null || true
		deadline=$((SECONDS + 5))
		while pid_is_ours "$svc" "$pid" && ((SECONDS < deadline)); do
			sleep 0.2
		done
		pid_is_ours "$svc" "$pid" && die "$svc: pid $pid did not exit after KILL"
	fi
	rm -f -- "$file"
	log "$svc: stopped"
}

# ---------------------------------------------------------------------------------------------
# Commands

# Serialise commands that start or stop things (e.g. two `make test` runs at once).
take_lock() {
	mkdir -p "$RUN_DIR"
	exec 9>"$RUN_DIR/.lock"
	if ! flock -w 600 9; then
		die "another scripts/services.sh is still running (lock $RUN_DIR/.lock)"
	fi
}

cmd_up() {
	local t0=$SECONDS
	take_lock
	ensure_packages
	start_services "${SERVICES[@]}"
	write_env_file
	log "all services ready in $((SECONDS - t0))s; settings in $RUN_DIR/env"
	print_env
}

cmd_start() {
	take_lock
	ensure_packages
	start_services "$1"
}

cmd_stop() {
	take_lock
	stop_service "$1"
}

cmd_down() {
	local purge=0 svc i
	case ${1:-} in
	"") ;;
	--purge) purge=1 ;;
	*)
		usage
		exit 2
		;;
	esac
	take_lock
	for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
		stop_service "${SERVICES[i]}"
	done
	if ((purge)); then
		for svc in "${SERVICES[@]}"; do
			rm -rf -- "${RUN_DIR:?}/$svc"
		done
		rm -f -- "$RUN_DIR/env"
		log "purged data under $RUN_DIR"
	fi
}

cmd_status() {
	local svc pid
	for svc in "${SERVICES[@]}"; do
		if pid=$(running_pid "$svc"); then
			if probe "$svc"; then
				printf '%-10s running (pid %s) on 127.0.0.1:%s\n' "$svc" "$pid" "$(svc_ports "$svc" | tr ' ' ',')"
			else
				printf '%-10s running (pid %s) but not answering on 127.0.0.1:%s\n' "$svc" "$pid" "$(svc_main_port "$svc")"
			fi
		else
			printf '%-10s stopped\n' "$svc"
		fi
	done
}

main() {
	local action=${1:-}
	(($# > 0)) && shift
	validate_ports
	case $action in
	up)
		(($# == 0)) || {
			usage
			exit 2
		}
		cmd_up
		;;
	env) print_env ;;
	status) cmd_status ;;
	down) cmd_down "$@" ;;
	start | stop)
		if (($# != 1)) || ! is_service "$1"; then
			usage
			exit 2
		fi
		"cmd_$action" "$1"
		;;
	-h | --help | help) usage ;;
	*)
		usage
		exit 2
		;;
	esac
}

main "$@"
