#!/usr/bin/env bash
# Builds nacos-dns, serves contrib/demo/registry.json on 127.0.0.1 at a free port, shows what
# dig sees, and stops the server again. Installs the build dependencies first when missing.
#   BUILD_DIR   build directory (default: build)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
case $BUILD_DIR in /*) ;; *) BUILD_DIR=$ROOT/$BUILD_DIR ;; esac
REGISTRY=$ROOT/contrib/demo/registry.json
PACKAGES=(libldns-dev libuv1-dev libcurl4-openssl-dev libjansson-dev libinih-dev
	meson ninja-build pkg-config gcc dnsutils)

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

# Starts the server on a random high port; a port that turns out to be taken makes the server
# exit, and the next one is tried. Sets PORT and PID.
start_server() {
	LOG=$(mktemp)
	for _ in $(seq 20); do
		PORT=$((20000 + RANDOM % 40000))
		"$BUILD_DIR/resolver/nacos-dns" --listen "127.0.0.1:$PORT" \
			--nacos "file:$REGISTRY" 2>"$LOG" &
		PID=$!
		for _ in $(seq 100); do
			grep -q 'msg="ready' "$LOG" && return 0
			kill -0 "$PID" 2>/dev/null || break
			sleep 0.05
		done
		kill "$PID" 2>/dev/null || true
		wait "$PID" 2>/dev/null || true
	done
	echo "nacos-dns did not start:" >&2
	cat "$LOG" >&2
	return 1
}

stop_server() {
	[ -n "${PID:-}" ] || return 0
	kill -TERM "$PID" 2>/dev/null || true
	wait "$PID" 2>/dev/null || true
	rm -f "$LOG"
	PID=
}

show() {
	echo
	echo "\$ dig @127.0.0.1 -p $PORT $*"
	dig @127.0.0.1 -p "$PORT" +norecurse +nocmd +nostats "$@"
}

install_missing "${PACKAGES[@]}"
build
trap stop_server EXIT
start_server
echo "== nacos-dns serving $REGISTRY on 127.0.0.1:$PORT"
show A order-service.DEFAULT_GROUP.svc
show SRV order-service.DEFAULT_GROUP.svc
show TXT order-service.DEFAULT_GROUP.svc
show TXT _info.order-service.DEFAULT_GROUP.svc
stop_server
echo
echo "== stopped"
