#!/bin/bash
# Runs the steps of contrib/container/Containerfile in a fresh Debian 12 chroot, for machines
# without podman or buildah: debootstrap (needs network to the Debian mirror, and root), the
# .deb of this tree (contrib/debian/build.sh, or DEB=PATH), apt install of it on the base, then
# the image's own check and a start of the daemon inside the chroot.
#   bash contrib/container/test-chroot.sh            # exit 77 when debootstrap or root is missing
#   ROOTFS=DIR  a bootstrapped Debian 12 to copy instead of running debootstrap
#   MIRROR=URL  (default http://deb.debian.org/debian)
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
[ "$(id -u)" -eq 0 ] || { echo "test-chroot.sh: needs root" >&2; exit 77; }
command -v debootstrap >/dev/null || [ -n "${ROOTFS:-}" ] ||
	{ echo "test-chroot.sh: no debootstrap" >&2; exit 77; }
work=$(mktemp -d /var/tmp/nacos-dns-chroot.XXXXXX)
root=$work/root
cleanup() {
	for m in proc dev/pts dev; do umount "$root/$m" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${ROOTFS:-}" ]; then
	cp -a "$ROOTFS" "$root"
else
	debootstrap --variant=minbase bookworm "$root" "${MIRROR:-http://deb.debian.org/debian}" \
		>"$work/debootstrap.log" 2>&1 || {
		tail -n 20 "$work/debootstrap.log" >&2
		echo "test-chroot.sh: debootstrap failed (no network?)" >&2
		exit 77
	}
fi
deb=${DEB:-}
if [ -z "$deb" ]; then
	DEB_BUILD_OPTIONS=nocheck bash "$src/contrib/debian/build.sh" "$work" >/dev/null
	deb=$(ls "$work"/nacos-dns_*.deb)
fi
mkdir -p "$root/tmp/deb"
cp "$deb" "$root/tmp/deb/"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --bind /dev "$root/dev"

# The Containerfile's RUN step, as written there.
chroot "$root" sh -c 'apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends /tmp/deb/nacos-dns_*.deb iproute2 &&
	rm -rf /tmp/deb /var/lib/apt/lists/* &&
	nacos-dns --check-config /etc/nacos-dns/nacos-dns.conf' >"$work/install.log" 2>&1 || {
	tail -n 30 "$work/install.log" >&2
	echo "test-chroot.sh: installing the package failed" >&2
	exit 1
}
# The ENTRYPOINT starts and answers.
chroot "$root" /usr/sbin/nacos-dns --version
echo '{"namespaces": {"public": []}}' >"$root/tmp/registry.json"
chroot "$root" /usr/sbin/nacos-dns --listen 127.0.0.1:5399 --upstream 127.0.0.1:9 \
	--nacos file:/tmp/registry.json >"$work/run.log" 2>&1 &
pid=$!
for _ in $(seq 100); do
	grep -q "started nacos-dns" "$work/run.log" && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
kill "$pid" 2>/dev/null || true
wait "$pid" || true
grep -q "started nacos-dns" "$work/run.log" || {
	cat "$work/run.log" >&2
	echo "test-chroot.sh: nacos-dns did not start in the chroot" >&2
	exit 1
}
echo "test-chroot.sh: the image steps work on Debian 12 ($(basename "$deb"))"
