#!/bin/sh
# nacos-dns against NSD, Knot and Unbound serving the same records (gen_zone.py), in one run:
# each server on 127.0.0.1 pinned to CPU 1, dnsperf pinned to CPU 0, the same query files.
# Per server and query mix: queries/s, average latency, server CPU seconds per million answers
# (utime+stime of the server's processes from /proc), memory (PSS, so forked servers are not
# counted twice); then p99 latency at a fixed rate, and the ratios of nacos-dns to each peer.
# Every server runs all the time, and the runs go round the servers ROUNDS times, so that a
# slow moment of the machine hits every server alike; each figure is the median of its rounds.
# The "out" run asks SERVICES names outside the zones (o<N>.example.org, from an authority on
# CPU 0), answered from the forward cache by nacos-dns and from its cache by an Unbound that
# forwards example.org there: nacos-dns's cached outside names against its zone names (queries/s)
# and against Unbound's cache (CPU per answer), measured in the same run.
#
# Usage: contrib/bench/dns_bench.sh [BUILD_DIR] [SERVICES [INSTANCES]]   (default 1000 x 3)
# Environment: DURATION seconds per run (10), ROUNDS (3), RATE for the p99 run (20000), SERVERS
# ("nacos-dns nsd knot unbound"; a missing server is skipped), THREADS for nacos-dns (1),
# CHURN=1 adds a churn run to each round (the registry file replaced and SIGHUP every 100 ms,
# by churn.py, during dnsperf) and then a dnspython pass that checks no answer is wrong or torn.
# BEFORE=PATH adds another nacos-dns binary as the peer "before" (an earlier build, same flags),
# so a change's cost is read as a ratio measured in the same run.
# Needs: dnsperf, taskset, dig, /usr/bin/python3 with dnspython; nsd, knot, unbound to compare.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
SERVICES=${2:-1000}
INSTANCES=${3:-3}
BIN=$BUILD/resolver/nacos-dns
DURATION=${DURATION:-10}
RATE=${RATE:-20000}
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-3}
SERVERS=${SERVERS:-nacos-dns nsd knot unbound}
BEFORE=${BEFORE:-}
[ -z "$BEFORE" ] || SERVERS="$SERVERS before"
CHURN=${CHURN:-0}
PY=/usr/bin/python3
BENCH=$ROOT/contrib/bench
[ -x "$BIN" ] || { echo "no $BIN: build first (meson setup build && ninja -C build)" >&2; exit 1; }
command -v dnsperf >/dev/null || { echo "dnsperf missing (apt-get install dnsperf)" >&2; exit 1; }
TMP=$(mktemp -d)
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM
BASE=$((20000 + $$ % 20000))
CPU_SRV=1
CPU_CLIENT=0
[ "$(nproc)" -ge 2 ] || CPU_SRV=0

# ---- servers ----

start_nacos_dns() { # port [binary]
	taskset -c $CPU_SRV "${2:-$BIN}" --listen "127.0.0.1:$1" --nacos "file:$TMP/registry.json" \
		--threads "$THREADS" --log-level warn --upstream "127.0.0.1:$AUTH_PORT" \
		2>"$TMP/nacos-dns-$1.log" &
	PID=$!
}

start_before() { # port
	start_nacos_dns "$1" "$BEFORE"
}

# The settings every Unbound here starts with, in $TMP/DIR/unbound.conf.
unbound_conf() { # dir port
	mkdir -p "$TMP/$1"
	cat >"$TMP/$1/unbound.conf" <<EOF
server:
	interface: 127.0.0.1@$2
	port: $2
	num-threads: 1
	username: ""
	chroot: ""
	directory: "$TMP/$1"
	pidfile: "$TMP/$1/unbound.pid"
	use-syslog: no
	logfile: ""
	verbosity: 0
EOF
}

# The authority of the outside names: an Unbound serving example.org from local data, on the
# client's CPU (it only answers the cache fills).
start_authority() { # port
	unbound_conf auth "$1"
	cat >>"$TMP/auth/unbound.conf" <<EOF
	access-control: 127.0.0.0/8 allow
	local-zone: "example.org." static
	include: "$TMP/outside.zone"
remote-control:
	control-enable: no
EOF
	taskset -c $CPU_CLIENT unbound -d -c "$TMP/auth/unbound.conf" 2>"$TMP/auth/stderr" &
	PID=$!
}

outside_names() { # the query file and the authority's data: o<N>.example.org A, one day TTL
	: >"$TMP/q-out.txt"
	: >"$TMP/outside.zone"
	awk -v n="$SERVICES" -v q="$TMP/q-out.txt" -v z="$TMP/outside.zone" 'BEGIN {
		for (i = 0; i < n; i++) {
			printf "o%d.example.org A\n", i >q
			printf "local-data: \"o%d.example.org. 86400 IN A 198.51.%d.%d\"\n", i,
				int(i / 250) % 250, i % 250 + 1 >z
		}
	}'
}

start_nsd() {
	mkdir -p "$TMP/nsd"
	cat >"$TMP/nsd/nsd.conf" <<EOF
server:
	ip-address: 127.0.0.1@$1
	port: $1
	server-count: 1
	username: ""
	chroot: ""
	zonesdir: "$TMP"
	pidfile: "$TMP/nsd/nsd.pid"
	database: ""
	zonelistfile: "$TMP/nsd/zone.list"
	xfrdfile: "$TMP/nsd/xfrd.state"
	xfrdir: "$TMP/nsd"
	logfile: "$TMP/nsd/nsd.log"
	verbosity: 0
	rrl-ratelimit: 0
remote-control:
	control-enable: no
zone:
	name: svc.
	zonefile: svc.zone
EOF
	taskset -c $CPU_SRV nsd -d -c "$TMP/nsd/nsd.conf" 2>"$TMP/nsd/stderr" &
	PID=$!
}

start_knot() {
	mkdir -p "$TMP/knot"
	cat >"$TMP/knot/knot.conf" <<EOF
server:
    rundir: "$TMP/knot"
    listen: 127.0.0.1@$1
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
log:
  - target: stderr
    any: error
database:
    storage: "$TMP/knot"
template:
  - id: default
    storage: "$TMP"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: svc.
    file: "$TMP/svc.zone"
EOF
	taskset -c $CPU_SRV knotd -c "$TMP/knot/knot.conf" 2>"$TMP/knot/stderr" &
	PID=$!
}

start_unbound() {
	unbound_conf unbound "$1"
	cat >>"$TMP/unbound/unbound.conf" <<EOF
	do-not-query-localhost: no
	access-control: 127.0.0.0/8 allow
	local-zone: "svc." static
	include: "$TMP/unbound.zone"
	msg-cache-size: 64m
	rrset-cache-size: 64m
forward-zone:
	name: "example.org."
	forward-addr: 127.0.0.1@$AUTH_PORT
remote-control:
	control-enable: no
EOF
	taskset -c $CPU_SRV unbound -d -c "$TMP/unbound/unbound.conf" 2>"$TMP/unbound/stderr" &
	PID=$!
}

wait_ready() { # port pid: until the apex SOA answers (a big zone takes a while to load)
	i=0
	while [ $i -lt 600 ]; do
		kill -0 "$2" 2>/dev/null || return 1
		dig +norec +time=1 +tries=1 @127.0.0.1 -p "$1" SOA svc. 2>/dev/null |
			grep -q 'status: NOERROR' && return 0
		sleep 0.2
		i=$((i + 1))
	done
	return 1
}

# ---- /proc accounting over the server's process tree ----

tree_pids() { # pid: it and its descendants
	echo "$1"
	for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do tree_pids "$c"; done
}

cpu_ticks() { # pid: utime+stime of the tree, in clock ticks
	t=0
	for p in $(tree_pids "$1"); do
		v=$(awk '{sub(/.*\) /, ""); print $12 + $13}' /proc/"$p"/stat 2>/dev/null || echo 0)
		t=$((t + ${v:-0}))
	done
	echo $t
}

mem_kb() { # pid: PSS of the tree in KiB (RSS where smaps_rollup is missing)
	k=0
	for p in $(tree_pids "$1"); do
		v=$(awk '/^Pss:/ {print $2}' /proc/"$p"/smaps_rollup 2>/dev/null ||
			awk '/^VmRSS:/ {print $2}' /proc/"$p"/status)
		k=$((k + ${v:-0}))
	done
	echo $k
}

HZ=$(getconf CLK_TCK)

# dnsperf at full speed: prints "qps avg_ms cpu_s_per_million"
run_load() { # port pid queryfile
	c0=$(cpu_ticks "$2")
	taskset -c $CPU_CLIENT dnsperf -s 127.0.0.1 -p "$1" -d "$3" -l "$DURATION" -c 1 -T 1 \
		-q 200 >"$TMP/dnsperf.out" 2>&1 || true
	c1=$(cpu_ticks "$2")
	awk -v c="$((c1 - c0))" -v hz="$HZ" '
		/Queries completed:/ { n = $3 }
		/Queries per second:/ { q = $4 }
		/Average Latency/ { a = $4 }
		END { printf "%.0f %.3f %.2f\n", q, a * 1000, n ? c / hz / (n / 1e6) : 0 }' \
		"$TMP/dnsperf.out"
}

# dnsperf at RATE queries/s, every latency kept: prints "p99_ms lost"
run_p99() { # port queryfile
	taskset -c $CPU_CLIENT dnsperf -s 127.0.0.1 -p "$1" -d "$2" -l "$DURATION" -Q "$RATE" \
		-v 2>&1 | awk '/^> / { print $NF } /Queries lost:/ { print "lost", $3 > "/dev/stderr" }' \
		2>"$TMP/lost" | sort -n >"$TMP/lat"
	n=$(wc -l <"$TMP/lat")
	idx=$(((n * 99 + 99) / 100))
	p=$(sed -n "${idx}p" "$TMP/lat")
	awk -v p="${p:-0}" -v l="$(awk '{print $2}' "$TMP/lost")" 'BEGIN {
		printf "%.3f %s\n", p * 1000, l }'
}

# ---- churn: the registry file replaced and SIGHUP every 100 ms ----

# dnsperf at full speed while churn.py swaps the registry: prints what run_load prints
run_churn() { # port pid
	taskset -c $CPU_CLIENT "$PY" "$BENCH/churn.py" "$2" "$TMP" "$((DURATION + 1))" \
		>>"$TMP/churn.log" 2>&1 &
	cpid=$!
	run_load "$1" "$2" "$TMP/q-mix.txt"
	wait "$cpid" || true
}

# dnspython checks every answer while the registry keeps changing: no wrong or torn answer
verify_churn() { # port pid
	taskset -c $CPU_CLIENT "$PY" "$BENCH/churn.py" "$2" "$TMP" "$((DURATION + 1))" \
		>>"$TMP/churn.log" 2>&1 &
	cpid=$!
	if "$PY" "$BENCH/verify_churn.py" "$1" "$SERVICES" "$INSTANCES" "$DURATION" \
		>"$TMP/verify.out" 2>&1; then
		echo "verify: ok, $(cat "$TMP/verify.out")"
	else
		echo "verify: FAILED: $(cat "$TMP/verify.out")"
	fi
	wait "$cpid" || true
}

# ---- servers ----

start_server() { # name port: starts it and appends "name port pid" to $TMP/servers
	command -v "$(case $1 in knot) echo knotd ;; *) echo "$1" ;; esac)" >/dev/null ||
		[ "$1" = nacos-dns ] || [ "$1" = before ] ||
		{ echo "skipping $1: not installed" >&2; return 0; }
	"start_$(echo "$1" | tr - _)" "$2"
	PIDS="$PIDS $PID"
	if ! wait_ready "$2" "$PID"; then
		echo "skipping $1: did not answer on port $2" >&2
		kill "$PID" 2>/dev/null || true
		return 0
	fi
	echo "$1 $2 $PID" >>"$TMP/servers"
}

# Fills the caches of the servers that forward: every outside name asked once.
warm_outside() {
	while read -r name port pid; do
		case $name in nacos-dns | before | unbound) ;; *) continue ;; esac
		dnsperf -s 127.0.0.1 -p "$port" -d "$TMP/q-out.txt" -n 1 -q 200 >/dev/null 2>&1 || true
	done <"$TMP/servers"
}

# One round: every server in turn, every mix, then the p99 run; nacos-dns under churn too.
bench_round() { # round
	while read -r name port pid; do
		echo "round $1: $name" >&2
		mixes="a mix nx"
		case $name in nacos-dns | before | unbound) [ "$AUTH_OK" = 1 ] && mixes="$mixes out" ;; esac
		for mix in $mixes; do
			echo "$name $mix $1 $(run_load "$port" "$pid" "$TMP/q-$mix.txt")" >>"$TMP/results"
			# a cached outside name is a NOERROR with its address, never a SERVFAIL
			[ "$mix" != out ] || grep -q 'NOERROR [0-9]* (100.00%)' "$TMP/dnsperf.out" ||
				echo "$name out: $(grep 'Response codes' "$TMP/dnsperf.out")" >&2
		done
		echo "$name p99 $1 $(run_p99 "$port" "$TMP/q-mix.txt")" >>"$TMP/results"
		if [ "$CHURN" = 1 ] && [ "$name" = nacos-dns ]; then
			echo "$name churn $1 $(run_churn "$port" "$pid")" >>"$TMP/results"
		fi
	done <"$TMP/servers"
}

median() { # column: the median of that column of stdin
	sort -g -k"$1","$1" | awk -v c="$1" '{ v[NR] = $c } END { print NR ? v[int((NR + 1) / 2)] : 0 }'
}

# "server kind" -> the median over the rounds of each figure: "qps avg cpu" or "p99 lost"
medians() { # server kind
	grep "^$1 $2 " "$TMP/results" >"$TMP/sel" || true
	if [ "$2" = p99 ]; then
		echo "$(median 4 <"$TMP/sel") $(median 5 <"$TMP/sel")"
	else
		echo "$(median 4 <"$TMP/sel") $(median 5 <"$TMP/sel") $(median 6 <"$TMP/sel")"
	fi
}

report() {
	: >"$TMP/summary"
	while read -r name port pid; do
		for kind in a mix nx out p99 churn; do
			grep -q "^$name $kind " "$TMP/results" &&
				echo "$name $kind $(medians "$name" "$kind")" >>"$TMP/summary"
		done
		echo "$name mem $(cat "$TMP/mem.$name")" >>"$TMP/summary"
	done <"$TMP/servers"
	awk -v rate="$RATE" '
	$2 == "a" || $2 == "mix" || $2 == "nx" || $2 == "out" || $2 == "churn" {
		qps[$1, $2] = $3; avg[$1, $2] = $4; cpu[$1, $2] = $5 }
	$2 == "p99" { p99[$1] = $3; lost[$1] = $4 }
	$2 == "mem" { mem[$1] = $3 }
	!seen[$1]++ { order[++n] = $1 }
	END {
		printf "%-10s %-4s %10s %9s %16s\n", "server", "mix", "queries/s", "avg ms", "CPU s/M answers"
		split("a mix nx out", ms, " ")
		for (i = 1; i <= n; i++) for (m = 1; m <= 4; m++) {
			s = order[i]; x = ms[m]
			if (!((s, x) in qps)) continue
			printf "%-10s %-4s %10d %9.3f %16.2f\n", s, x, qps[s, x], avg[s, x], cpu[s, x]
		}
		printf "\n%-10s %22s %8s %12s\n", "server", "p99 ms at " rate " q/s", "lost", "memory MiB"
		for (i = 1; i <= n; i++) {
			s = order[i]
			printf "%-10s %22.3f %8s %12.1f\n", s, p99[s], lost[s], mem[s] / 1024
		}
		if (!("nacos-dns" in mem)) exit
		printf "\nnacos-dns / peer      qps(mix)  CPU/answer(mix)  p99  memory\n"
		for (i = 1; i <= n; i++) {
			s = order[i]
			if (s == "nacos-dns") continue
			printf "%-18s %10.2f %16.2f %5.2f %7.2f\n", "vs " s,
				qps[s, "mix"] ? qps["nacos-dns", "mix"] / qps[s, "mix"] : 0,
				cpu[s, "mix"] ? cpu["nacos-dns", "mix"] / cpu[s, "mix"] : 0,
				p99[s] ? p99["nacos-dns"] / p99[s] : 0,
				mem[s] ? mem["nacos-dns"] / mem[s] : 0
		}
		if (("nacos-dns", "out") in qps) {
			printf "\ncached outside names (out): nacos-dns %.2fx the queries/s of its zone names (a)",
				qps["nacos-dns", "a"] ? qps["nacos-dns", "out"] / qps["nacos-dns", "a"] : 0
			if (("unbound", "out") in qps)
				printf "; vs the cache of unbound: %.2fx the queries/s, %.2fx the CPU per answer",
					qps["unbound", "out"] ? qps["nacos-dns", "out"] / qps["unbound", "out"] : 0,
					cpu["unbound", "out"] ? cpu["nacos-dns", "out"] / cpu["unbound", "out"] : 0
			printf "\n"
		}
		if (("nacos-dns", "churn") in qps)
			printf "\nnacos-dns under churn (mix): %d q/s, %.2f CPU s/M answers: %.2fx the steady rate\n",
				qps["nacos-dns", "churn"], cpu["nacos-dns", "churn"],
				qps["nacos-dns", "mix"] ? qps["nacos-dns", "churn"] / qps["nacos-dns", "mix"] : 0
	}' "$TMP/summary"
	return 0
}

echo "generating $SERVICES services x $INSTANCES instances" >&2
"$PY" "$BENCH/gen_zone.py" "$TMP" "$SERVICES" "$INSTANCES"
cp "$TMP/registry.json" "$TMP/registry-a.json"
: >"$TMP/results"
: >"$TMP/servers"
AUTH_PORT=$((BASE + 100))
AUTH_OK=0
outside_names
if command -v unbound >/dev/null; then
	start_authority "$AUTH_PORT"
	PIDS="$PIDS $PID"
	i=0
	while [ $i -lt 100 ]; do
		dig +norec +time=1 +tries=1 @127.0.0.1 -p "$AUTH_PORT" A o0.example.org 2>/dev/null |
			grep -q 'status: NOERROR' && AUTH_OK=1 && break
		sleep 0.2
		i=$((i + 1))
	done
fi
[ "$AUTH_OK" = 1 ] || echo "no outside-name run: the authority (unbound) did not start" >&2
port=$BASE
for s in $SERVERS; do
	start_server "$s" "$port"
	port=$((port + 1))
done
[ "$AUTH_OK" = 1 ] && warm_outside
r=1
while [ $r -le "$ROUNDS" ]; do
	bench_round $r
	r=$((r + 1))
done
while read -r name port pid; do
	mem_kb "$pid" >"$TMP/mem.$name"
	[ "$CHURN" = 1 ] && [ "$name" = nacos-dns ] && verify_churn "$port" "$pid" >"$TMP/verify"
done <"$TMP/servers"
echo "$SERVICES services x $INSTANCES instances, $ROUNDS rounds of $DURATION s per run (medians)," \
	"servers on CPU $CPU_SRV, dnsperf on CPU $CPU_CLIENT; nacos-dns --threads $THREADS"
report
[ -f "$TMP/verify" ] && cat "$TMP/verify"
exit 0
