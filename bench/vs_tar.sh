#!/bin/bash
# bench/vs_tar.sh DIR [N] - `udos add -r .` against `tar -cf - . | zstd -1 -T2`
# on the same folder, alternating N times (default 5): a new container and
# `sync` before each udos run; prints wall medians (min..max), CPU medians
# and the ratio tar time / udos time (above 1: udos is faster).
# UDOS is the CLI to run (default: build-bench/cli/udos of this checkout).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dir=$1
n=${2:-5}
udos=${UDOS:-$here/../build-bench/cli/udos}
work=$(mktemp -d "${TMPDIR:-/tmp}/udos-vs-tar.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$dir"
for _ in $(seq 1 "$n"); do
	rm -rf "$work/c"
	"$udos" init "$work/c" >/dev/null
	sync
	/usr/bin/time -f "udos %e %U %S" "$udos" -C "$work/c" -q add -r . \
		>/dev/null
	sync
	/usr/bin/time -f "tar %e %U %S" \
		bash -c "tar -cf - . | zstd -1 -T2 -q > '$work/t.zst'"
	rm -f "$work/t.zst"
done 2>&1 | python3 -c '
import statistics as st, sys
runs = {}
for line in sys.stdin:
    p = line.split()
    if len(p) == 4 and p[0] in ("udos", "tar"):
        runs.setdefault(p[0], []).append([float(x) for x in p[1:]])
for tool, v in runs.items():
    wall = [x[0] for x in v]
    print("%-4s wall median %.2f s (%.2f..%.2f), CPU median %.2f s, n %d" % (
        tool, st.median(wall), min(wall), max(wall),
        st.median([x[1] + x[2] for x in v]), len(v)))
print("tar time / udos time: %.2f" % (
    st.median(x[0] for x in runs["tar"]) / st.median(x[0] for x in runs["udos"])))
'
