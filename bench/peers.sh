# bench/peers.sh - sourced by bench/run.sh: udos against the tools a user
# would pick instead, four operations each on the same data, alternating.
#
# Operations, per tool and data set, in one fresh store per repetition:
#   ingest   the tree into an empty store
#   again    the same tree again (everything already stored)
#   read     every object (file content) back, to /dev/null
#   restore  the files of the tree into an empty folder
# then, untimed, a check: one file in 50 of the tree compared (cmp) with
# its restored copy; the row says "ok" or the count that differ.
#
# Tools (a missing one is skipped and said so): udos (the CLI: add -r,
# cat of every id, restore), tar | zstd -1 -T2, git, restic (repository
# compression auto; restic always encrypts), borg (zstd,1, encryption
# none), disk-objectstore's add_streamed_objects_to_pack with compress off
# (dos) and on (dos-z), rsdos (add_objects_to_pack on batches of about
# 64 MiB read into memory: its stream calls commit every object). The Python peers run through
# bench/peer_py.py in $peer_python (a venv with disk-objectstore and rsdos;
# udos-py runs the same disk-objectstore calls on udos.Container from
# $UDOS_BENCH_PYPATH, default build/python).

peer_raw=$work/peers.tsv
: > "$peer_raw"
peer_python=${UDOS_BENCH_PYTHON:-/tmp/dosvenv/bin/python}
# udos-py: the Python module of a build with -DUDOS_PYTHON=ON
peer_pypath=${UDOS_BENCH_PYPATH:-$root/build/python}
udos_bin=$build/udos
[ -x "$udos_bin" ] || udos_bin=$build/cli/udos
export RESTIC_PASSWORD=bench BORG_UNKNOWN_UNENCRYPTED_REPO_ACCESS_IS_OK=yes \
	BORG_RELOCATED_REPO_ACCESS_IS_OK=yes

peer_have() {
	case $1 in
	udos|tar|git) return 0 ;;
	restic) command -v restic >/dev/null ;;
	borg) command -v borg >/dev/null ;;
	dos|dos-z) "$peer_python" -c 'import disk_objectstore' 2>/dev/null ;;
	rsdos) "$peer_python" -c 'import rsdos' 2>/dev/null ;;
	udos-py) PYTHONPATH=$peer_pypath "$peer_python" -c \
		'import udos, disk_objectstore' 2>/dev/null ;;
	*) return 1 ;;
	esac
}

# peer_cmd TOOL OP SRC S D: the shell command of one operation (S the store
# folder, D the restore folder, $S.m the manifest where a tool needs one)
peer_cmd() {
	local t=$1 op=$2 src=$3 s=$4 d=$5 py="$peer_python $here/peer_py.py"
	case $t:$op in
	udos:init) echo "$udos_bin -q init $s >/dev/null" ;;
	udos:ingest|udos:again) echo "cd $src && $udos_bin -q -C $s add -r . > $s.m" ;;
	udos:read) echo "$udos_bin -C $s ls | $udos_bin -C $s cat - > /dev/null" ;;
	udos:restore) echo "$udos_bin -q -C $s restore $s.m $d" ;;
	tar:init) echo "mkdir -p $s" ;;
	tar:ingest|tar:again) echo "tar -C $src -cf - . | zstd -q -1 -T2 > $s/t.zst" ;;
	tar:read) echo "zstd -q -d -c $s/t.zst > /dev/null" ;;
	tar:restore) echo "mkdir -p $d && zstd -q -d -c $s/t.zst | tar -C $d -xf -" ;;
	git:init) echo "git init -q $s" ;;
	git:ingest|git:again) echo "GIT_DIR=$s/.git GIT_WORK_TREE=$src git add -A" ;;
	git:read) echo "GIT_DIR=$s/.git git cat-file --batch-all-objects --batch > /dev/null" ;;
	git:restore) echo "GIT_DIR=$s/.git git checkout-index -a --prefix=$d/" ;;
	restic:init) echo "restic -q -r $s init >/dev/null" ;;
	restic:ingest|restic:again) echo "cd $src && restic -q -r $s --cache-dir $s.cache backup ." ;;
	restic:read) echo "restic -q -r $s --cache-dir $s.cache dump latest / > /dev/null" ;;
	restic:restore) echo "restic -q -r $s --cache-dir $s.cache restore latest --target $d" ;;
	borg:init) echo "BORG_BASE_DIR=$s.base borg init -e none $s" ;;
	borg:ingest) echo "cd $src && BORG_BASE_DIR=$s.base borg create --compression zstd,1 $s::a1 ." ;;
	borg:again) echo "cd $src && BORG_BASE_DIR=$s.base borg create --compression zstd,1 $s::a2 ." ;;
	borg:read) echo "BORG_BASE_DIR=$s.base borg export-tar $s::a1 - > /dev/null" ;;
	borg:restore) echo "mkdir -p $d && cd $d && BORG_BASE_DIR=$s.base borg extract $s::a1" ;;
	dos:init|dos-z:init|rsdos:init|udos-py:init) echo "true" ;;
	udos-py:*) py="PYTHONPATH=$peer_pypath $py"
		case $op in
		ingest|again) echo "$py $t ingest $src $s $s.m" ;;
		read) echo "$py $t read $s $s.m" ;;
		restore) echo "$py $t restore $s $s.m $d" ;;
		esac ;;
	*:ingest|*:again) echo "$py $t ingest $src $s $s.m" ;;
	*:read) echo "$py $t read $s $s.m" ;;
	*:restore) echo "$py $t restore $s $s.m $d" ;;
	esac
}

# One file in 50 of src compared with its copy under d: "ok" or "N differ".
peer_check() {
	local src=$1 d=$2 n=0
	while IFS= read -r -d '' f; do
		cmp -s "$src/$f" "$d/$f" || n=$((n + 1))
	done < <(cd "$src" && find . -type f -printf '%P\0' | sort -z | awk 'BEGIN{RS=ORS="\0"} NR % 50 == 1')
	[ "$n" = 0 ] && echo ok || echo "$n differ"
}

# peer_round SET SRC FILES BYTES: every present tool, the four operations
peer_round() {
	local set=$1 src=$2 files=$3 bytes=$4 t op s d stored check
	for t in $peers; do
		peer_have "$t" || continue
		s=$work/p/store d=$work/p/dest
		rm -rf "$work/p" && mkdir -p "$work/p"
		bash -c "$(peer_cmd "$t" init "$src" "$s" "$d")" >/dev/null 2>&1 || {
			echo "FAILED: $t init" >&2; continue; }
		for op in ingest again read restore; do
			if ! /usr/bin/time -f "%e %U %S %M" -o "$work/time" \
				bash -c "$(peer_cmd "$t" "$op" "$src" "$s" "$d")" \
				>"$work/log" 2>&1; then
				echo "FAILED: $t $op" >&2
				tail -5 "$work/log" >&2
				continue
			fi
			read -r secs usr sys rss < <(tail -n1 "$work/time")
			stored=0 check=-
			if [ "$op" = ingest ] || [ "$op" = again ]; then
				stored=$(du -sb --apparent-size "$s" | cut -f1)
			fi
			[ "$op" = restore ] && check=$(peer_check "$src" "$d")
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$set" \
				"$op" "$files" "$bytes" "$secs" \
				"$(awk "BEGIN {print $usr + $sys}")" "$rss" "$stored" \
				"$check" >> "$peer_raw"
		done
		rm -rf "$work/p"
	done
}

peer_report() {
	local t missing=""
	for t in $peers; do peer_have "$t" || missing="$missing $t"; done
	echo "## udos against its peers: ingest, ingest again, read back, restore"
	echo
	echo "- tools: udos $($udos_bin --version 2>/dev/null | head -1 | awk '{print $2}'), $(tar --version | head -1), zstd $(zstd -V | grep -o 'v[0-9.]*'), git $(git --version | awk '{print $3}')$(command -v restic >/dev/null && echo ", restic $(restic version | awk '{print $2}')")$(command -v borg >/dev/null && echo ", borg $(borg --version | awk '{print $2}')")$("$peer_python" -c 'import disk_objectstore as d; print(", disk-objectstore", d.__version__)' 2>/dev/null)$("$peer_python" -c 'import importlib.metadata as m; print(", rsdos", m.version("rsdos"))' 2>/dev/null)"
	[ -n "$missing" ] && echo "- not installed, skipped:$missing"
	echo "- warm cache; one fresh store per tool and repetition, tools alternating; stored MB: the store's folder after the operation (restic and borg caches kept outside); CPU: user + system seconds, median; check: one file in 50 compared with its restored copy"
	echo "- ratio: the tool's median time over udos's for the same operation (above 1: udos is faster)"
	echo
	python3 - "$peer_raw" <<'PY'
import sys, statistics, collections
rows = collections.OrderedDict()
for line in open(sys.argv[1]):
    tool, set_, op, files, nbytes, secs, cpu, rss, stored, check = line.rstrip("\n").split("\t")
    r = rows.setdefault((set_, op, tool), dict(files=int(files), bytes=int(nbytes), secs=[], cpu=[], rss=[], stored=[], check=[]))
    r["secs"].append(float(secs)); r["cpu"].append(float(cpu)); r["rss"].append(int(rss))
    r["stored"].append(int(stored)); r["check"].append(check)
groups = collections.OrderedDict()
for (set_, op, tool), r in rows.items():
    groups.setdefault((set_, op), []).append((tool, r))
for (set_, op), items in groups.items():
    ref = dict(items).get("udos")
    refmed = statistics.median(ref["secs"]) if ref else None
    print(f"### {set_}: {op}\n")
    print("| tool | seconds median (min..max) | files/s | MB/s | CPU s | peak RSS MiB | stored MB | ratio vs udos | check |")
    print("|---|---|---|---|---|---|---|---|---|")
    for tool, r in items:
        med = statistics.median(r["secs"])
        fps = r["files"] / med if med else 0
        mbs = r["bytes"] / med / 1e6 if med else 0
        ratio = f"{med / refmed:.2f}" if refmed else "-"
        stored = f"{max(r['stored'])/1e6:,.0f}" if max(r["stored"]) else "-"
        checks = sorted(set(r["check"]))
        print(f"| {tool} | {med:.2f} ({min(r['secs']):.2f}..{max(r['secs']):.2f}) | {fps:,.0f} | {mbs:,.0f} | "
              f"{statistics.median(r['cpu']):.2f} | {max(r['rss'])/1024:.0f} | {stored} | {ratio} | {', '.join(checks)} |")
    print()
PY
}
