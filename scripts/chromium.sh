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

. "$(dirname "$0")/apt.sh"
apt_install chromium || die "chromium could not be installed"

path=$(find_chromium) || die "chromium installed but no binary found on PATH"
echo "$path"
