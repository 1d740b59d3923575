#!/usr/bin/env bash
# Runs every test suite twice: in a normal build, then in an AddressSanitizer + UBSan build.
# Installs the build and test dependencies first when missing. Exits non-zero on any failure.
#   BUILD_DIR   normal build directory (default: build)
#   ASAN_DIR    sanitizer build directory (default: build-asan)
#   TSAN_DIR    ThreadSanitizer build directory (default: build-tsan)
#   FUZZ_DIR    libFuzzer build directory (default: build-fuzz); FUZZ_SECONDS per target (30)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD_DIR=${BUILD_DIR:-build}
ASAN_DIR=${ASAN_DIR:-build-asan}
TSAN_DIR=${TSAN_DIR:-build-tsan}
FUZZ_DIR=${FUZZ_DIR:-build-fuzz}
PACKAGES=(libldns-dev libuv1-dev libcurl4-openssl-dev libjansson-dev libinih-dev
	libmicrohttpd-dev libnghttp2-dev libssl-dev openssl zlib1g-dev meson ninja-build pkg-config gcc clang dnsutils knot-dnsutils
	python3-dnspython python3-pytest python3-seccomp python3-yaml python3-grpcio systemd dpkg-dev debhelper haproxy unbound iproute2 prometheus curl
	libfstrm-dev fstrm-bin debootstrap)

install_missing() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "== installing ${missing[*]}"
	local sudo=()
	[ "$(id -u)" -eq 0 ] || sudo=(sudo)
	"${sudo[@]}" apt-get update -q &&
		DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}

# setup_and_test DIR [meson options...]: configures DIR (again, if it exists) and runs every suite.
setup_and_test() {
	local dir=$1
	shift
	case $dir in /*) ;; *) dir=$ROOT/$dir ;; esac
	local reconf=()
	[ -f "$dir/build.ninja" ] && reconf=(--reconfigure)
	echo "== meson setup $dir $*"
	meson setup "${reconf[@]}" "$dir" "$ROOT" "$@" || return 1
	echo "== meson test -C $dir ${TEST_ARGS[*]}"
	meson test -C "$dir" --print-errorlogs "${TEST_ARGS[@]}"
}
TEST_ARGS=()

install_missing "${PACKAGES[@]}" || exit 1

status=0
setup_and_test "$BUILD_DIR" -Db_sanitize=none || status=1
# Sanitizer reports must fail the tests rather than scroll by.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
setup_and_test "$ASAN_DIR" -Db_sanitize=address,undefined || status=1

# Threads share the snapshot, the forward cache and the counters, and snapshots are built on the
# thread pool from services the sync lends: check publishing, the cache's lock-free readers, the
# worker threads, the sync (over HTTP and gRPC, whose descriptors the cache writer's thread
# reuses) and the dnstap writer thread under ThreadSanitizer.
unset ASAN_OPTIONS
echo "== ThreadSanitizer: snapstore, snapjob, msgcache, handoff, test_threads, test_transport, test_sync, test_grpc_sync, test_tls, test_nacos_versions, test_forward_cache, test_operating, test_metrics_obs"
TEST_ARGS=(snapstore snapjob msgcache handoff test_threads test_transport test_sync test_grpc_sync test_tls test_nacos_versions test_forward_cache test_operating test_metrics_obs)
setup_and_test "$TSAN_DIR" -Db_sanitize=thread -Db_lundef=false || status=1
TEST_ARGS=()

# Every parser and the query path under libFuzzer, time-boxed; any crash or leak fails.
echo "== fuzzing, ${FUZZ_SECONDS:-30} s per target"
FUZZ_BUILD_DIR=$ROOT/$FUZZ_DIR bash "$ROOT/tests/fuzz/run.sh" || status=1

if [ $status -eq 0 ]; then
	echo "== all suites passed, normal and sanitizer builds"
else
	echo "== FAILED: see the meson summaries above" >&2
fi
exit $status
