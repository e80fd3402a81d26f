#!/usr/bin/env bash
# Fuzz each target with clang libFuzzer + ASan + UBSan for SECONDS (default
# 60), built straight from core/*.c (the CMake library is gcc-built, without
# coverage). Crashers are copied into tests/fuzz/corpus/<target>/ so that the
# ctest replays keep them. Not part of CI (time); needs clang and
# libclang-rt-14-dev. Env: UDOS_FUZZ_TARGETS, UDOS_FUZZ_BUILD, CC_FUZZ.
set -euo pipefail
secs=${1:-60}
cd "$(dirname "$0")/../.."
out=${UDOS_FUZZ_BUILD:-build-libfuzzer}
targets=${UDOS_FUZZ_TARGETS:-rec_header loc_value oid_parse config pack dos_config}
cc=${CC_FUZZ:-clang}
flags=(-g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined
       -fno-sanitize-recover=all -D_GNU_SOURCE -Iinclude -Icore)
libs=($(pkg-config --libs libzstd zlib libxxhash libcrypto sqlite3) -lrocksdb
      -lpthread)

mkdir -p "$out/obj"
# coverage-instrumented core, compiled once for every target
for src in core/*.c; do
	echo "$cc ${flags[*]} -fsanitize=fuzzer-no-link -c $src" \
		"-o $out/obj/$(basename "$src" .c).o"
done | xargs -P"$(nproc)" -I{} sh -c '{}'

status=0
for t in $targets; do
	"$cc" "${flags[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$t.c" \
		"$out"/obj/*.o "${libs[@]}" -o "$out/fuzz_$t"
	# new inputs go to a scratch folder; the committed seeds are only read
	mkdir -p "$out/work_$t" "$out/crash_$t"
	echo "== fuzz_$t for ${secs}s"
	if ! "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
		-artifact_prefix="$out/crash_$t/" "$out/work_$t" \
		"tests/fuzz/corpus/$t" 2>"$out/fuzz_$t.log"; then
		status=1
		tail -40 "$out/fuzz_$t.log"
	fi
	grep -E '^stat::(number_of_executed_units|new_units_added)' \
		"$out/fuzz_$t.log" || true
	for f in "$out/crash_$t"/*; do
		[ -e "$f" ] || continue
		cp "$f" "tests/fuzz/corpus/$t/$(basename "$f")"
		echo "crasher: tests/fuzz/corpus/$t/$(basename "$f")"
	done
done
exit $status
