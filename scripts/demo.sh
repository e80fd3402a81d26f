#!/usr/bin/env bash
# The main job on a real folder of this machine: install, build, ingest
# /usr/share/doc (or $1) into a fresh container, pack, validate, show status,
# and check every file against the manifest with sha256sum -c.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
udos=$PWD/build/cli/udos
src=${1:-/usr/share/doc}
work=$(mktemp -d "${TMPDIR:-/tmp}/udos-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
store=$work/store

echo "== udos init $store"
"$udos" init "$store"
echo "== udos add -r $src --to loose (symlinks and special files are skipped)"
time "$udos" -C "$store" add --to loose -r "$src" >"$work/manifest" 2>"$work/warnings" || true
echo "   $(wc -l <"$work/manifest") files added; $(grep -c skipping "$work/warnings") symlinks or special files skipped (first 3:)"
grep skipping "$work/warnings" | head -3 | sed 's/^/   /'
tail -1 "$work/warnings" | sed 's/^/   /'   # the summary line
echo "== udos status (before packing)"
"$udos" -C "$store" status
echo "== udos pack"
time "$udos" -C "$store" pack
echo "== udos validate --full"
"$udos" -C "$store" validate --full
echo "== udos status"
"$udos" -C "$store" status
echo "== sha256sum -c on the manifest (originals match what udos recorded)"
sha256sum --quiet -c "$work/manifest" && echo "   all $(wc -l <"$work/manifest") files verified"
echo "== every object reads back identical (udos cat | sha256sum)"
bad=0
while read -r hash path; do
	got=$("$udos" -C "$store" cat "$hash" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$hash" ] || { echo "   MISMATCH $hash $path"; bad=1; }
done < <(shuf -n 200 --random-source=<(yes) "$work/manifest")
[ $bad -eq 0 ] && echo "   200 sampled objects read back identical"
echo "== udos ls -l (first 5)"
"$udos" -C "$store" ls -l >"$work/ls"
head -5 "$work/ls"
