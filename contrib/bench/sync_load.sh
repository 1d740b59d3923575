#!/bin/sh
# Nacos load of one nacos-dns node, against the fake Nacos of tests/fake_nacos:
#   1. requests per minute at steady state for a node that queries Q of N services (tracked),
#   2. the same with --track all,
#   3. time to the first full sync of N services x K instances (--track all).
# Usage: contrib/bench/sync_load.sh [BUILD_DIR] ; environment: SERVICES (10000), INSTANCES (5),
# QUERIED (20), WINDOW (60 s of steady state), POLL (5s), CATALOG (30s).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BIN=$BUILD/resolver/nacos-dns
SERVICES=${SERVICES:-10000}
INSTANCES=${INSTANCES:-5}
QUERIED=${QUERIED:-20}
WINDOW=${WINDOW:-60}
POLL=${POLL:-5s}
CATALOG=${CATALOG:-30s}
PY=/usr/bin/python3
[ -x "$BIN" ] || { echo "no $BIN: build first (meson setup build && ninja -C build)" >&2; exit 1; }
TMP=$(mktemp -d)
FAKE_PID=
DNS_PID=
cleanup() {
	[ -n "$DNS_PID" ] && kill "$DNS_PID" 2>/dev/null || true
	[ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null || true
	wait 2>/dev/null || true
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
	$PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() {
	$PY -c 'import time; print(time.monotonic())'
}
control() { # METHOD PATH [JSON]
	curl -sf -X "$1" -H 'Content-Type: application/json' ${3:+-d "$3"} "$NACOS/__fake/$2"
}
total_requests() {
	control GET requests | $PY -c 'import json,sys; print(json.load(sys.stdin)["total"])'
}
list_requests() {
	control GET requests | $PY -c 'import json,sys
print(json.load(sys.stdin)["by_path"].get("/nacos/v1/ns/instance/list", 0))'
}

FPORT=$(free_port)
$PY "$ROOT/tests/fake_nacos/fake_nacos.py" --port "$FPORT" --mode 2.x >"$TMP/fake.log" 2>&1 &
FAKE_PID=$!
NACOS=http://127.0.0.1:$FPORT
for _ in $(seq 100); do grep -q ready "$TMP/fake.log" && break; sleep 0.1; done
control POST bulk "{\"namespaceId\":\"public\",\"groupName\":\"DEFAULT_GROUP\",\"services\":$SERVICES,\"instances\":$INSTANCES,\"prefix\":\"svc-\"}" >/dev/null

start_dns() { # extra flags...
	DPORT=$(free_port)
	"$BIN" --listen "127.0.0.1:$DPORT" --nacos "$NACOS" --poll-interval "$POLL" \
		--catalog-interval "$CATALOG" "$@" >"$TMP/dns.log" 2>&1 &
	DNS_PID=$!
	for _ in $(seq 600); do grep -q 'catalog synced' "$TMP/dns.log" && break; sleep 0.1; done
}
stop_dns() {
	kill "$DNS_PID"
	wait "$DNS_PID" || true
	DNS_PID=
}
query_some() { # the QUERIED services a node uses, again and again
	i=0
	while [ $i -lt "$QUERIED" ]; do
		dig +short +tries=1 +time=2 -p "$DPORT" @127.0.0.1 "svc-$i.DEFAULT_GROUP.svc" >/dev/null
		i=$((i + 1))
	done
}
per_minute() { # requests counted over WINDOW seconds
	control POST reset-counters '{}' >/dev/null
	end=$(($(date +%s) + WINDOW))
	while [ "$(date +%s)" -lt "$end" ]; do
		[ "${1:-}" = query ] && query_some
		sleep 1
	done
	echo "$(total_requests) $WINDOW" | awk '{ printf "%.0f", $1 * 60 / $2 }'
}

echo "registry: $SERVICES services x $INSTANCES instances; poll $POLL, catalog $CATALOG"

start_dns
query_some
sleep 2
query_some
TRACKED=$(per_minute query)
stop_dns
echo "tracked ($QUERIED of $SERVICES queried): $TRACKED Nacos requests/minute"

control POST reset-counters '{}' >/dev/null
T0=$(now)
start_dns --track all
while [ "$(list_requests)" -lt "$SERVICES" ]; do sleep 0.2; done
T1=$(now)
last=$((SERVICES - 1))
until dig +short -p "$DPORT" @127.0.0.1 "svc-$last.DEFAULT_GROUP.svc" | grep -q .; do sleep 0.2; done
T2=$(now)
echo "$T0 $T1 $T2" | awk '{ printf "first full sync (--track all): %.1f s (last answer served at %.1f s)\n", $2 - $1, $3 - $1 }'
ALL=$(per_minute)
stop_dns
echo "--track all: $ALL Nacos requests/minute"
echo "(the fake Nacos is a single Python process: with --track all it may be the bottleneck)"
