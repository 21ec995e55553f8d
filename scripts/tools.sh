#!/usr/bin/env bash
# Installs the tools the tests use beside Go, if missing (Debian packages):
#   docker-compose   deploy/compose_test.go validates docker-compose.yml with
#                    `docker-compose config -q` (no Docker engine needed).
# Quiet when everything is present; apt-get's output goes to stderr otherwise.
set -euo pipefail

PACKAGES=(docker-compose)
COMMANDS=(docker-compose)

missing=()
for i in "${!COMMANDS[@]}"; do
	command -v "${COMMANDS[$i]}" >/dev/null 2>&1 || missing+=("${PACKAGES[$i]}")
done
((${#missing[@]} == 0)) && exit 0

SUDO=()
if ((EUID != 0)); then
	SUDO=(sudo)
fi
as_root() { ${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive "$@"; }

printf '[tools] installing missing Debian packages: %s\n' "${missing[*]}" >&2
# DPkg::Lock::Timeout: wait (bounded) if another apt/dpkg run holds the lock.
as_root apt-get -o DPkg::Lock::Timeout=300 -qq update >&2 ||
	{ echo "[tools] apt-get update failed" >&2; exit 1; }
as_root apt-get -o DPkg::Lock::Timeout=300 -qq install -y --no-install-recommends "${missing[@]}" >&2 ||
	{ echo "[tools] apt-get install ${missing[*]} failed" >&2; exit 1; }
