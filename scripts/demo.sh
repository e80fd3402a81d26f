#!/usr/bin/env bash
# The main job on real folders of this machine: install, build, ingest
# /usr/share and /usr/include (or the folders given) straight into packs
# with the bulk ingest engine, validate, check every file against the
# manifest with sha256sum -c, read objects back, show status.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh build
udos=$PWD/build/cli/udos
if [ $# -gt 0 ]; then src=("$@"); else src=(/usr/share /usr/include); fi
work=$(mktemp -d "${TMPDIR:-/tmp}/udos-demo-XXXXXX")
trap 'rm -rf "$work"' EXIT
store=$work/store

echo "== udos init $store"
"$udos" init "$store"
echo "== udos add -r ${src[*]} (to packs: parallel read, hash, compress; symlinks and special files are skipped)"
# stdout is the manifest (sha256sum format); the progress line shows on a
# terminal, the summary line (files/s, MB/s) comes last on stderr
"$udos" -C "$store" add -r "${src[@]}" >"$work/manifest" 2>"$work/warnings" || true
echo "   $(wc -l <"$work/manifest") files added"
# what was skipped, counted by kind (add -v lists each one)
{ grep -m1 '^udos add: skipped' "$work/warnings" || true; } | sed 's/^/   /'
tail -1 "$work/warnings" | sed 's/^/   /'   # the summary line
echo "== udos validate --full (every record decompressed and re-hashed)"
time "$udos" -C "$store" validate --full
echo "== sha256sum -c on the manifest (originals match what udos recorded)"
sha256sum --quiet -c "$work/manifest" && echo "   all $(wc -l <"$work/manifest") files verified"
echo "== every object reads back identical (udos cat | sha256sum)"
bad=0
while read -r hash path; do
	got=$("$udos" -C "$store" cat "$hash" | sha256sum | cut -d' ' -f1)
	[ "$got" = "$hash" ] || { echo "   MISMATCH $hash $path"; bad=1; }
done < <(grep -v '^\\' "$work/manifest" | shuf -n 200 --random-source=<(yes))
[ $bad -eq 0 ] && echo "   200 sampled objects read back identical"
echo "== udos status"
"$udos" -C "$store" status
echo "== udos ls -l (first 5)"
"$udos" -C "$store" ls -l >"$work/ls"
head -5 "$work/ls"
