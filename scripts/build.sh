#!/usr/bin/env bash
# Configure and build into build/ (or $1), warnings as errors.
# Extra CMake arguments may follow the build folder.
# Quiet when it works; when a step fails, its output (the compiler's
# errors, without ninja's progress lines) goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
log=$(mktemp "${TMPDIR:-/tmp}/udos-build-XXXXXX")
trap 'rm -f "$log"' EXIT
run() {
	if ! "$@" >"$log" 2>&1; then
		grep -Ev '^\[[0-9]+/[0-9]+\] ' "$log" >&2 || true
		echo "build.sh: failed: $*" >&2
		exit 1
	fi
}
run cmake -S . -B "$dir" -G Ninja -DUDOS_WERROR=ON \
	-DPython3_EXECUTABLE=/usr/bin/python3 "$@"
run ninja -C "$dir"
