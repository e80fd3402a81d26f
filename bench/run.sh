#!/usr/bin/env bash
# bench/run.sh - udos ingest against baselines on the same data, in one run.
#
#   bench/run.sh [--quick] [--small N] [--large K] [--large-mib M] [--reps R]
#                [--data DIR] [--out FILE] [--no-cold] [--scale N]
#                [--peers "udos tar git restic borg dos dos-z rsdos udos-py"|none]
#                [--peer-reps R] [--src "DIR..."]
#
# Scenarios run alternating (round-robin per repetition); the table gives the
# median of R runs (min..max), files/s, MB/s, peak RSS, stored size and each
# row's time relative to `udos pack (uring)`. Warm cache: one untimed warm-up
# read first. Cold cache (when /proc/sys/vm/drop_caches is writable): caches
# dropped before every timed run. --quick: a small run for CI (checks only
# that everything runs). Then the peers (bench/peers.sh): ingest, ingest
# again, read back and restore with each tool, on the small tree, a real
# source tree (a copy of the regular files of --src, default /usr/include
# /usr/share; not in --quick) and the large files; --quick runs only the
# udos, tar and git peers, on the small tree.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
small=100000 large=2 large_mib=1024 reps=3 quick=0 cold=1 scale=0
data=/work/bench-data out="" peers="udos tar git restic borg dos dos-z rsdos udos-py"
peer_reps=3 srcdirs="/usr/include /usr/share"
while [ $# -gt 0 ]; do
	case $1 in
	--quick) quick=1 small=2000 large=2 large_mib=8 reps=3 peer_reps=1
		peers="udos tar git" ;;
	--small) small=$2; shift ;;
	--large) large=$2; shift ;;
	--large-mib) large_mib=$2; shift ;;
	--reps) reps=$2; shift ;;
	--data) data=$2; shift ;;
	--out) out=$2; shift ;;
	--no-cold) cold=0 ;;
	--scale) scale=$2; shift ;;
	--peers) peers=$2; [ "$peers" = none ] && peers=""; shift ;;
	--peer-reps) peer_reps=$2; shift ;;
	--src) srcdirs=$2; shift ;;
	*) echo "usage: see the header of $0" >&2; exit 2 ;;
	esac
	shift
done

build=${UDOS_BENCH_BUILD:-$root/build-bench}
work=$(mktemp -d "${TMPDIR:-/tmp}/udos-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT
raw=$work/raw.tsv
: > "$raw"

# ---- build -------------------------------------------------------------
if [ ! -f "$build/libudos.a" ] || [ -n "${UDOS_BENCH_REBUILD:-}" ]; then
	cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
		-DUDOS_TESTS=OFF -DUDOS_PYTHON=OFF >/dev/null
fi
ninja -C "$build" udos udos_cli >/dev/null
libs="$(pkg-config --libs liburing libzstd zlib libxxhash libcrypto sqlite3 libcurl) -lrocksdb -lpthread -lstdc++"
for p in ingest_run scale; do
	cc -O2 -o "$build/$p" "$here/$p.c" -I"$root/include" -I"$build/include" \
		"$build/libudos.a" $libs
done
ing=$build/ingest_run

# ---- data --------------------------------------------------------------
sdir=$data/small$small
ldir=$data/large${large}x${large_mib}m
mkdir -p "$data"
[ -d "$sdir" ] || python3 "$here/gen_tree.py" small "$sdir" "$small"
[ -d "$ldir" ] || python3 "$here/gen_tree.py" large "$ldir" "$large" "$large_mib"
sbytes=$(du -sb --apparent-size "$sdir" | cut -f1)
lbytes=$(du -sb --apparent-size "$ldir" | cut -f1)

can_drop=0
if [ "$cold" = 1 ] && [ -w /proc/sys/vm/drop_caches ]; then can_drop=1; fi
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# run NAME SET CACHE FILES BYTES CMD...: one timed run, appended to $raw
run() {
	local name=$1 set=$2 cache=$3 files=$4 bytes=$5; shift 5
	local o=$work/out
	rm -rf "$o" && mkdir -p "$o"
	if [ "$cache" = cold ]; then drop; fi
	/usr/bin/time -f "%e %M" -o "$work/time" bash -c "$*" >"$work/log" 2>&1 || {
		echo "FAILED: $name: $*" >&2; cat "$work/log" >&2; return 1; }
	read -r secs rss < <(tail -n1 "$work/time")
	local stored
	stored=$(du -sb --apparent-size "$o" | cut -f1)
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$set" "$cache" "$files" \
		"$bytes" "$secs" "$rss" "$stored" >> "$raw"
	rm -rf "$o"
}

O=$work/out
scen_small() {
	local cache=$1 f=$small b=$sbytes
	run "udos pack (uring)" small "$cache" $f $b "$ing --init zstd:1 --io uring $O/c $sdir"
	run "udos pack (threads)" small "$cache" $f $b "$ing --init zstd:1 --io threads $O/c $sdir"
	[ "$cache" = warm ] && run "udos loose (no-sync)" small "$cache" $f $b \
		"$ing --init zstd:1 --to loose --no-sync $O/c $sdir"
	run "tar | zstd -1 -T2" small "$cache" $f $b "tar -C $sdir -cf - . | zstd -q -1 -T2 > $O/t.zst"
	[ "$cache" = warm ] && run "cp -r" small "$cache" $f $b "cp -r $sdir $O/copy"
	run "find | xargs cat" small "$cache" $f $b "cd $sdir && find . -type f -print0 | xargs -0 cat > /dev/null"
	[ "$cache" = warm ] && run "find | xargs -P2 sha256sum" small "$cache" $f $b \
		"cd $sdir && find . -type f -print0 | xargs -0 -P2 sha256sum > /dev/null"
	[ "$cache" = warm ] && run "git add -A" small "$cache" $f $b \
		"git init -q $O/g && GIT_DIR=$O/g/.git GIT_WORK_TREE=$sdir git add -A"
	return 0
}
scen_large() {
	local cache=$1 f=$large b=$lbytes
	run "udos pack (uring)" large "$cache" $f $b "$ing --init zstd:1 --io uring $O/c $ldir"
	run "udos pack (threads)" large "$cache" $f $b "$ing --init zstd:1 --io threads $O/c $ldir"
	run "udos pack --compress no" large "$cache" $f $b "$ing --init zstd:1 --compress no $O/c $ldir"
	run "udos pack zstd:1 yes" large "$cache" $f $b "$ing --init zstd:1 --compress yes $O/c $ldir"
	run "zstd -1 -T2" large "$cache" $f $b "cat $ldir/* | zstd -q -1 -T2 > $O/z.zst"
	run "cat" large "$cache" $f $b "cat $ldir/* > /dev/null"
	run "sha256sum" large "$cache" $f $b "sha256sum $ldir/* > /dev/null"
	return 0
}

# warm-up read, then alternating repetitions
cat "$sdir"/*/* > /dev/null 2>&1 || find "$sdir" -type f -print0 | xargs -0 cat > /dev/null
cat "$ldir"/* > /dev/null
for ((i = 1; i <= reps; i++)); do
	echo "warm repetition $i/$reps" >&2
	scen_small warm
	scen_large warm
done
if [ "$can_drop" = 1 ]; then
	for ((i = 1; i <= reps; i++)); do
		echo "cold repetition $i/$reps" >&2
		scen_small cold
	done
fi

# ---- peers ---------------------------------------------------------------
. "$here/peers.sh"
if [ -n "$peers" ]; then
	# the real tree: regular files only (symlinks are kept by some tools
	# and skipped by others)
	rdir=$data/realtree
	if [ "$quick" = 0 ] && [ ! -d "$rdir" ]; then
		rm -rf "$rdir.tmp" && mkdir -p "$rdir.tmp"
		# shellcheck disable=SC2086
		cp -a $srcdirs "$rdir.tmp/"
		find "$rdir.tmp" ! -type f ! -type d -delete
		mv "$rdir.tmp" "$rdir"
	fi
	for ((i = 1; i <= peer_reps; i++)); do
		echo "peers repetition $i/$peer_reps" >&2
		peer_round small "$sdir" "$small" "$sbytes"
		if [ "$quick" = 0 ]; then
			peer_round "real tree ($srcdirs)" "$rdir" \
				"$(find "$rdir" -type f | wc -l)" \
				"$(du -sb --apparent-size "$rdir" | cut -f1)"
			peer_round large "$ldir" "$large" "$lbytes"
		fi
	done
fi

sha_speed=$(openssl speed -evp sha256 -bytes 16384 -seconds 1 2>/dev/null |
	awk '/^sha256/ {print $NF}' | tr -d k)

{
	echo "## udos ingest benchmark"
	echo
	echo "- date: $(date -u +%Y-%m-%d), command: \`bench/run.sh $([ $quick = 1 ] && echo --quick)\` (small=$small, large=${large}x${large_mib} MiB, reps=$reps)"
	echo "- machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), $(free -g | awk '/Mem:/ {print $2}') GiB RAM"
	echo "- udos rows: \`bench/ingest_run\` (udos_ingest_paths), container zstd:1, pack target synced (group commit) unless said"
	echo "- openssl speed -evp sha256, 16 KiB blocks, one core: ${sha_speed:-?} kB/s"
	if [ "$can_drop" = 1 ]; then echo "- cold cache: caches dropped before each run"; else echo "- cold cache: not measured (/proc/sys/vm/drop_caches not writable)"; fi
	echo
	python3 - "$raw" <<'PY'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    name, set_, cache, files, nbytes, secs, rss, stored = line.rstrip("\n").split("\t")
    r = rows.setdefault((set_, cache, name), dict(files=int(files), bytes=int(nbytes), secs=[], rss=[], stored=int(stored)))
    r["secs"].append(float(secs)); r["rss"].append(int(rss))
groups = collections.OrderedDict()
for (set_, cache, name), r in rows.items():
    groups.setdefault((set_, cache), []).append((name, r))
for (set_, cache), items in groups.items():
    ref = dict(items).get("udos pack (uring)")
    refmed = statistics.median(ref["secs"]) if ref else None
    print(f"### {set_} files, {cache} cache\n")
    print("| command | seconds median (min..max) | files/s | MB/s | peak RSS MiB | stored MB | time vs udos pack (uring) |")
    print("|---|---|---|---|---|---|---|")
    for name, r in items:
        med = statistics.median(r["secs"])
        fps = r["files"] / med if med else 0
        mbs = r["bytes"] / med / 1e6 if med else 0
        ratio = f"{med / refmed:.2f}x" if refmed else "-"
        print(f"| {name.replace('|', chr(92) + '|')} | {med:.2f} ({min(r['secs']):.2f}..{max(r['secs']):.2f}) | {fps:,.0f} | {mbs:,.0f} | {max(r['rss'])/1024:.0f} | {r['stored']/1e6:,.0f} | {ratio} |")
    print()
PY
	if [ -n "$peers" ]; then peer_report; fi
} | tee "${out:-/dev/null}"

if [ "$scale" != 0 ]; then
	echo "### scale: $scale tiny objects through udos_writer_add_buf (no-sync)"
	echo '```'
	rm -rf "$work/scale"
	"$build/scale" "$work/scale" "$scale" | awk 'NR == 1 || /total/ || NR % 10 == 1'
	echo '```'
fi
