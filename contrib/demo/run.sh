#!/usr/bin/env bash
# Builds nacos-dns, starts a local Nacos stand-in (tests/fake_nacos) loaded with
# contrib/demo/registry.json and nacos-dns in front of it, shows what dig sees, registers a new
# instance through the Nacos HTTP API and shows the SRV answer follow, then stops both.
# Installs the build dependencies first when missing.
#   BUILD_DIR   build directory (default: build)
#   NACOS_MODE  Nacos version the stand-in imitates: 1.x, 2.x or 3.1 (default: 2.x; the
#               stand-in has no v3 admin service list, which a 3.2 catalog needs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
NACOS_MODE=${NACOS_MODE:-2.x}
REGISTRY=$ROOT/contrib/demo/registry.json
SERVICE=order-service.DEFAULT_GROUP.svc
NEW_IP=10.0.0.16
PACKAGES=(libldns-dev libuv1-dev libcurl4-openssl-dev libjansson-dev libinih-dev
	libmicrohttpd-dev libnghttp2-dev libssl-dev zlib1g-dev libfstrm-dev meson ninja-build pkg-config gcc dnsutils python3 curl)

install_missing() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "== installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -q
	DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}

build() {
	[ -f "$BUILD_DIR/build.ninja" ] || meson setup "$BUILD_DIR" "$ROOT"
	ninja -C "$BUILD_DIR" resolver/nacos-dns
}

# Waits up to 10 s for pattern in file while process pid lives.
wait_for() {
	local pattern=$1 file=$2 pid=$3
	for _ in $(seq 200); do
		grep -q "$pattern" "$file" && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.05
	done
	return 1
}

# Starts the Nacos stand-in on a free port. Sets NACOS_PORT and NACOS_PID.
start_nacos() {
	NACOS_LOG=$(mktemp)
	/usr/bin/env python3 "$ROOT/tests/fake_nacos/fake_nacos.py" --port 0 --mode "$NACOS_MODE" \
		--data "$REGISTRY" >"$NACOS_LOG" 2>&1 &
	NACOS_PID=$!
	if ! wait_for 'fake-nacos ready port=' "$NACOS_LOG" "$NACOS_PID"; then
		echo "the Nacos stand-in did not start:" >&2
		cat "$NACOS_LOG" >&2
		return 1
	fi
	NACOS_PORT=$(sed -n 's/.*fake-nacos ready port=\([0-9]*\).*/\1/p' "$NACOS_LOG" | head -n1)
}

# Starts nacos-dns on a random high port; a port that turns out to be taken makes it exit, and
# the next one is tried. Waits until the service resolves (the first catalog sync has been
# published). Sets PORT and PID.
start_server() {
	LOG=$(mktemp)
	for _ in $(seq 20); do
		PORT=$((20000 + RANDOM % 40000))
		"$BUILD_DIR/resolver/nacos-dns" --listen "127.0.0.1:$PORT" \
			--nacos "http://127.0.0.1:$NACOS_PORT" --poll-interval 1 2>"$LOG" &
		PID=$!
		if wait_for 'catalog synced' "$LOG" "$PID"; then
			for _ in $(seq 100); do
				dig @127.0.0.1 -p "$PORT" +norecurse "$SERVICE" | grep -q 'status: NOERROR' &&
					return 0
				sleep 0.1
			done
		fi
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	done
	echo "nacos-dns did not start:" >&2
	cat "$LOG" >&2
	return 1
}

stop_one() {
	local pid=$1
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

stop_all() {
	stop_one "${PID:-}"
	stop_one "${NACOS_PID:-}"
	rm -f "${LOG:-}" "${NACOS_LOG:-}"
	PID= NACOS_PID=
}

show() {
	echo
	echo "\$ dig @127.0.0.1 -p $PORT $*"
	dig @127.0.0.1 -p "$PORT" +norecurse +nocmd +nostats "$@"
}

srv_targets() {
	dig @127.0.0.1 -p "$PORT" +norecurse +short SRV "$SERVICE"
}

install_missing "${PACKAGES[@]}"
build
trap stop_all EXIT
start_nacos
echo "== Nacos stand-in ($NACOS_MODE) serving $REGISTRY on 127.0.0.1:$NACOS_PORT"
start_server
echo "== nacos-dns on 127.0.0.1:$PORT, syncing from http://127.0.0.1:$NACOS_PORT every 1 s"
show A "$SERVICE"
show SRV "$SERVICE"
show TXT "$SERVICE"
show TXT "_info.$SERVICE"

echo
echo "== registering $NEW_IP:8080 as an instance of order-service in Nacos"
url="http://127.0.0.1:$NACOS_PORT/nacos/v1/ns/instance?serviceName=order-service&ip=$NEW_IP&port=8080"
echo "\$ curl -X POST '$url'"
curl -sS -X POST "$url"
echo
label=${NEW_IP//./-}
for _ in $(seq 50); do
	srv_targets | grep -q "$label" && break
	sleep 0.2
done
show SRV "$SERVICE"
srv_targets | grep -q "$label" || { echo "the new instance did not show up" >&2; exit 1; }
stop_all
echo
echo "== stopped"
