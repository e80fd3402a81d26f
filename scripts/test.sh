#!/usr/bin/env bash
# Run every test: install dependencies, build with -Werror, run ctest (C
# units, header checks, CLI and Python suites); then again with
# AddressSanitizer + UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
jobs=$(nproc)

echo "== build (RelWithDebInfo, -Werror)"
scripts/build.sh build -DUDOS_PYTHON=ON
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
echo "== build (fault injection, ASan + UBSan)"
# Every fsync, write and allocation point of a few operations is made to
# fail in turn: each must fail cleanly and leave a store that validates.
scripts/build.sh build-fault -DCMAKE_BUILD_TYPE=Debug -DUDOS_SANITIZE=ON \
	-DUDOS_PYTHON=OFF -DUDOS_FAULT_INJECTION=ON
echo "== fault-injection tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	ctest --test-dir build-fault --output-on-failure -R test_faults
echo "all tests passed"
