#!/usr/bin/env bash
# Prints the path of a headless-capable Chromium for the dashboard's browser tests, installing
# the Debian package `chromium` first when none is present.
#
#   export FLAGSTREAM_TEST_CHROMIUM=$(scripts/chromium.sh)
#
# Only the path goes to stdout; apt-get's output goes to stderr (or nowhere when it succeeds,
# to keep `make test` quiet). Needs root, or sudo, only when something must be installed.
set -euo pipefail

log() { printf '[chromium] %s\n' "$*" >&2; }
die() {
	printf '[chromium] error: %s\n' "$*" >&2
	exit 1
}

find_chromium() {
	local c
	for c in chromium chromium-browser google-chrome-stable google-chrome; do
		if command -v "$c" >/dev/null 2>&1; then
			command -v "$c"
			return 0
		fi
	done
	[[ -x /usr/bin/chromium ]] && echo /usr/bin/chromium && return 0
	return 1
}

if path=$(find_chromium); then
	echo "$path"
	exit 0
fi

SUDO=()
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null 2>&1 || die "chromium is missing and installing it needs root (or sudo)"
	SUDO=(sudo -n)
fi

# Bounded: the lock wait and the whole run each have a limit, so a stuck mirror fails the run
# with a message instead of hanging it. Output is kept and shown only on failure.
out=$(mktemp)
trap 'rm -f "$out"' EXIT
log "installing the Debian package chromium (once; a few minutes)"
if ! timeout 900 ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
	apt-get -qq -o DPkg::Lock::Timeout=300 update >"$out" 2>&1; then
	cat "$out" >&2
	die "apt-get update failed"
fi
if ! timeout 900 ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive \
	apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium >"$out" 2>&1; then
	cat "$out" >&2
	die "apt-get install chromium failed"
fi

path=$(find_chromium) || die "chromium installed but no binary found on PATH"
echo "$path"
