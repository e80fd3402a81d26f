#!/usr/bin/env bash
# Run every test: install dependencies, build with -Werror, run ctest (C
# units, header checks, CLI and Python suites); then again with
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo, -Werror)"
scripts/build.sh build
echo "== tests"
ctest --test-dir build --output-on-failure -j"$jobs"

echo "== build (ASan + UBSan)"
# The Python extension is left out here: an instrumented module cannot load
# into an uninstrumented interpreter without preloading the runtime.
scripts/build.sh build-asan -DCMAKE_BUILD_TYPE=Debug -DUDOS_SANITIZE=ON \
	-DUDOS_PYTHON=OFF
echo "== tests under sanitizers"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-asan --output-on-failure -j"$jobs"
echo "all tests passed"
