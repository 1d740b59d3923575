#!/bin/bash
# Builds the libFuzzer targets in a clang build directory, replays every regression input, then
# fuzzes each target for FUZZ_SECONDS (default 30). Fails on any crash, leak or sanitizer report.
#   bash tests/fuzz/run.sh [target...]      FUZZ_SECONDS=300 bash tests/fuzz/run.sh query
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$src/build-fuzz}
seconds=${FUZZ_SECONDS:-30}
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(query nacos registry fwdmsg config push sdnotify msgcache addr wire grpcmsg)

if ! command -v clang >/dev/null; then
	echo "fuzz: clang not found (apt-get install clang)" >&2
	exit 1
fi
if [ ! -f "$build/build.ninja" ]; then
	CC=clang CFLAGS=-fsanitize=fuzzer-no-link meson setup "$build" "$src" -Dfuzz=true \
		-Db_sanitize=address,undefined -Db_lundef=false >/dev/null
fi
# Quiet on success; on failure the compiler's messages are the point.
if ! ninja -C "$build" $(printf 'tests/fuzz/fuzz_%s ' "${targets[@]}") >"$build/fuzz-build.log" 2>&1; then
	echo "fuzz: building the targets failed:" >&2
	grep -E -A3 'error|FAILED' "$build/fuzz-build.log" | head -n 60 >&2
	exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
status=0
for t in "${targets[@]}"; do
	bin=$build/tests/fuzz/fuzz_$t
	reg=$src/tests/fuzz/regressions/$t
	if [ -d "$reg" ] && [ -n "$(ls -A "$reg")" ]; then
		if ! "$bin" -runs=0 "$reg"/* >"$work/$t.replay.log" 2>&1; then
			echo "fuzz $t: a regression input fails again:" >&2
			tail -n 40 "$work/$t.replay.log" >&2
			status=1
			continue
		fi
	fi
	# A scratch copy of the seeds, so the checked-in corpus only changes on purpose.
	mkdir -p "$work/corpus-$t"
	cp "$src/tests/fuzz/corpus/$t"/* "$work/corpus-$t/"
	if ! "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=4096 -print_final_stats=1 \
		-artifact_prefix="$work/$t-" "$work/corpus-$t" >"$work/$t.log" 2>&1; then
		echo "fuzz $t: FAILED; reproducer(s) in $build/fuzz-failures: $(ls "$work"/"$t"-* 2>/dev/null | tr '\n' ' ')" >&2
		tail -n 60 "$work/$t.log" >&2
		mkdir -p "$build/fuzz-failures"
		cp "$work"/"$t"-* "$build/fuzz-failures/" 2>/dev/null || true
		status=1
		continue
	fi
	execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$t.log" | grep -o '[0-9]*$' ||
		grep -o '^#[0-9]*' "$work/$t.log" | tail -n 1 | tr -d '#')
	echo "fuzz $t: ok, ${execs:-?} executions in ${seconds}s"
done
exit $status
