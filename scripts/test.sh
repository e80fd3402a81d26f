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
echo "== build (ThreadSanitizer)"
# The ingest engine's reader, worker and appender threads, and concurrent
# readers of one store; tests that fork after starting threads are left to
# the builds above (TSan cannot follow them).
scripts/build.sh build-tsan -DCMAKE_BUILD_TYPE=Debug -DUDOS_TSAN=ON \
	-DUDOS_PYTHON=OFF
echo "== threaded tests under ThreadSanitizer"
TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$PWD/tests/tsan.supp \
	ctest --test-dir build-tsan --output-on-failure -j"$jobs" \
	-R '^(test_ingest|test_ingest_threads|test_ingest_mix|test_object)$'
echo "== pip install . (the Python module as users install it)"
venv=$(mktemp -d "${TMPDIR:-/tmp}/udos-venv-XXXXXX")
trap 'rm -rf "$venv"' EXIT
/usr/bin/python3 -m venv "$venv"
"$venv/bin/pip" install -q .
(cd "$venv" && "$venv/bin/python" -c '
import importlib.metadata, tempfile, udos
# one version: the wheel (pyproject reads CMakeLists.txt) and the headers
assert udos.__version__ == importlib.metadata.version("udos"), udos.__version__
c = udos.Container(tempfile.mkdtemp() + "/c")
c.init_container()
k = c.add_objects_to_pack([b"installed"])[0]
assert c.get_object_content(k) == b"installed"
print("pip-installed udos works:", k)')
# the wheel carries the CLI (bin/udos), `python -m udos`, stubs and py.typed
"$venv/bin/udos" --version
"$venv/bin/python" -m udos --help >/dev/null
"$venv/bin/pip" install -q mypy
cat >"$venv/typed.py" <<'PY'
import tempfile

import udos
from udos import _udos

c = udos.Container(tempfile.mkdtemp() + "/c")
c.init_container()
key: str = c.add_objects_to_pack([b"typed"])[0]
with _udos.Store(str(c.get_folder())) as st:
    size: int = st.stat(key)[1]
    with st.open(key) as r:
        head: bytes = r.read(2)
PY
(cd "$venv" && "$venv/bin/mypy" --strict typed.py)
# the package itself against its own stubs (aiida is not installed here)
"$venv/bin/mypy" --ignore-missing-imports python/udos

echo "== benchmark harness, quick run (checks that it runs, not speed)"
bench/run.sh --quick --no-cold --data "$venv/bench-data" --out "$venv/results.md" >/dev/null
echo "bench/run.sh --quick ran"
echo "== scripts/demo.sh (the README's main job, end to end)"
scripts/demo.sh >"$venv/demo.log" 2>&1 || { tail -20 "$venv/demo.log"; exit 1; }
grep -E "0 findings|verified|read back identical" "$venv/demo.log"
echo "all tests passed"
