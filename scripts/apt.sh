# shellcheck shell=bash
# apt_install PACKAGE... installs Debian packages, the one way the scripts do:
# as root (or through sudo -n), non-interactive, without recommends, waiting
# a bounded time for a dpkg lock held by another run, each apt-get call bounded
# (a stuck mirror fails with a message instead of hanging), and apt-get's
# output shown only when it fails. Source it: . "$(dirname "$0")/apt.sh"
apt_install() {
	local sudo=() out
	if ((EUID != 0)); then
		command -v sudo >/dev/null 2>&1 || {
			printf 'apt: %s missing and installing needs root (or sudo)\n' "$*" >&2
			return 1
		}
		sudo=(sudo -n)
	fi
	printf 'apt: installing the Debian packages %s (once)\n' "$*" >&2
	out=$(mktemp)
	if ! timeout 900 ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
		apt-get -qq -o DPkg::Lock::Timeout=300 update >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		printf 'apt: apt-get update failed\n' >&2
		return 1
	fi
	if ! timeout 900 ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
		apt-get -qq -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@" >"$out" 2>&1; then
		cat "$out" >&2
		rm -f "$out"
		printf 'apt: apt-get install %s failed\n' "$*" >&2
		return 1
	fi
	rm -f "$out"
}
