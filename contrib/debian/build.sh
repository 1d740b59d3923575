#!/bin/bash
# Builds the Debian package of this checkout: copies the tree (no build directories, no .git)
# to a scratch directory with contrib/debian as its debian/, runs dpkg-buildpackage -b and
# leaves nacos-dns_VERSION_ARCH.deb in OUT (default: the current directory).
#   bash contrib/debian/build.sh [OUT]
#   DEB_BUILD_OPTIONS=nocheck bash contrib/debian/build.sh    # without the unit tests
# Needs dpkg-dev, debhelper and the build dependencies named in contrib/debian/control.
set -euo pipefail

src=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath -m "${1:-.}")
version=$(sed -n "s/^project('nacos-dns'.*[ ,]version: '\([^']*\)'.*/\1/p" "$src/meson.build")
[ -n "$version" ] || { echo "build.sh: no version in meson.build" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/nacos-dns-$version

mkdir -p "$tree" "$out"
tar -C "$src" --exclude='./build*' --exclude=./.git --exclude=./debian -cf - . | tar -C "$tree" -xf -
cp -r "$tree/contrib/debian" "$tree/debian"
(cd "$tree" && dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
	tail -n 60 "$work/build.log" >&2
	echo "build.sh: dpkg-buildpackage failed" >&2
	exit 1
}
cp "$work"/nacos-dns_"$version"_*.deb "$out"/
ls "$out"/nacos-dns_"$version"_*.deb
