#!/usr/bin/env bash
# Installs what the browser test (e2e/web/browser_test.go) bundles its page with, and prints the
# node_modules directory it installed into:
#
#   export FLAGSTREAM_TEST_WEB=$(scripts/web.sh)
#
# Node.js and npm come from the Debian packages `nodejs` and `npm` when missing; the npm
# packages (the OpenFeature web SDK, the OFREP web provider, esbuild) are installed with
# `npm ci` from e2e/web/package-lock.json into .run/web/node_modules, never into the source
# tree. Once installed, nothing is fetched again until the lock file changes: the test runs
# offline after the first install. Install scripts are not run (--ignore-scripts): esbuild
# finds its binary in its platform package without its postinstall step.
#
# Only the path goes to stdout; progress goes to stderr, and npm's output only on failure.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[web] %s\n' "$*" >&2; }
die() {
	printf '[web] error: %s\n' "$*" >&2
	exit 1
}

src=e2e/web
dir=$PWD/.run/web

missing=()
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
if ((${#missing[@]})); then
	. scripts/apt.sh
	apt_install "${missing[@]}" || die "${missing[*]} could not be installed"
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		die "nodejs and npm installed but node or npm is not on PATH"
	fi
fi

# The stamp is the lock file the installed tree came from: the same lock means the same
# packages, so nothing is installed (or fetched) again.
mkdir -p "$dir"
if [[ -x $dir/node_modules/.bin/esbuild ]] && cmp -s "$src/package-lock.json" "$dir/.installed-lock.json"; then
	echo "$dir/node_modules"
	exit 0
fi
cp "$src/package.json" "$src/package-lock.json" "$dir/"
rm -f "$dir/.installed-lock.json"
log "npm ci into $dir (once per change of $src/package-lock.json)"
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! (cd "$dir" && timeout 600 npm ci --ignore-scripts --no-audit --no-fund) >"$out" 2>&1; then
	cat "$out" >&2
	die "npm ci failed (the npm registry must be reachable for the first install)"
fi
[[ -x $dir/node_modules/.bin/esbuild ]] || die "npm ci left no node_modules/.bin/esbuild"
cp "$src/package-lock.json" "$dir/.installed-lock.json"
echo "$dir/node_modules"
