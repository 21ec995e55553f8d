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

. "$(dirname "$0")/apt.sh"
apt_install "${missing[@]}"
