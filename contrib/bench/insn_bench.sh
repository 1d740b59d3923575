#!/bin/sh
# Instructions per answer of two nacos-dns builds, counted by Valgrind's callgrind: a figure a
# busy or virtual machine cannot blur (its CPU time varies by 10 % and more from run to run,
# and virtual machines often have no hardware counters for perf). Each build serves the same
# registry (gen_zone.py) with --threads 1; callgrind's counters are zeroed once it answers, the
# same dnsperf query file is sent at a fixed low rate (Valgrind runs the server some 50 times
# slower), and the instructions counted (Ir) are divided by the queries answered. Start-up and
# loading are left out; the event loop's own work per batch is in, alike for both.
#
# Usage: contrib/bench/insn_bench.sh AFTER_BINARY BEFORE_BINARY [MIX]   (MIX: a, mix or nx)
# Environment: QUERIES per build (20000), RATE q/s (2000), SERVICES (1000), INSTANCES (3).
# Needs: valgrind, dnsperf, dig, /usr/bin/python3.
set -eu
AFTER=$1
BEFORE=$2
MIX=${3:-mix}
QUERIES=${QUERIES:-20000}
RATE=${RATE:-2000}
BENCH=$(cd "$(dirname "$0")" && pwd)
TMP=$(mktemp -d)
PID=
cleanup() {
	[ -z "$PID" ] || kill "$PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
for t in valgrind callgrind_control dnsperf dig; do
	command -v "$t" >/dev/null || { echo "$t missing" >&2; exit 1; }
done
/usr/bin/python3 "$BENCH/gen_zone.py" "$TMP" "${SERVICES:-1000}" "${INSTANCES:-3}" >/dev/null
head -n "$QUERIES" "$TMP/q-$MIX.txt" >"$TMP/q.txt"
PORT=$((20000 + $$ % 20000))

count() { # binary: prints "instructions answered"
	valgrind --tool=callgrind --callgrind-out-file="$TMP/cg.%p" "$1" \
		--listen "127.0.0.1:$PORT" --nacos "file:$TMP/registry.json" --threads 1 \
		--log-level warn --upstream 127.0.0.1:9 2>"$TMP/valgrind.log" &
	PID=$!
	i=0
	until dig +short +time=1 +tries=1 -p "$PORT" @127.0.0.1 svc. SOA | grep -q .; do
		i=$((i + 1))
		[ $i -lt 120 ] || { echo "$1 did not answer" >&2; cat "$TMP/valgrind.log" >&2; exit 1; }
		sleep 1
	done
	callgrind_control --zero "$PID" >/dev/null 2>&1
	dnsperf -s 127.0.0.1 -p "$PORT" -d "$TMP/q.txt" -n 1 -Q "$RATE" -q 50 -t 10 >"$TMP/dnsperf.out"
	callgrind_control --dump "$PID" >/dev/null 2>&1
	sleep 1
	pid=$PID
	kill -TERM "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
	# the dump requested after the zeroing is part 1; the file written at exit is not read
	ir=$(awk '/^summary:/ { print $2 }' "$TMP/cg.$pid.1")
	ok=$(awk '/Queries completed:/ { print $3 }' "$TMP/dnsperf.out")
	rm -f "$TMP"/cg.*
	echo "$ir $ok"
}

set -- $(count "$AFTER") $(count "$BEFORE")
awk -v ai="$1" -v aq="$2" -v bi="$3" -v bq="$4" -v mix="$MIX" 'BEGIN {
	printf "query mix %s, %d and %d queries answered\n", mix, aq, bq
	printf "after   %8.0f instructions per answer\n", ai / aq
	printf "before  %8.0f instructions per answer\n", bi / bq
	printf "after / before: %.3f\n", (ai / aq) / (bi / bq)
}'
