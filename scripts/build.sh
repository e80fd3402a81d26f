#!/usr/bin/env bash
# Configure and build into build/ (or $1), warnings as errors.
# Extra CMake arguments may follow the build folder.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
shift || true
cmake -S . -B "$dir" -G Ninja -DUDOS_WERROR=ON \
	-DPython3_EXECUTABLE=/usr/bin/python3 "$@" >/dev/null
ninja -C "$dir" >/dev/null
