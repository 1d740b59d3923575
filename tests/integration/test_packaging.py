"""What a new machine needs (every library meson asks for is named in every install list), what
`meson install` puts where, and the Debian package: it builds, installs, verifies, purges."""
import glob
import os
import re
import shutil
import subprocess
import time

import pytest

from conftest import BINARY, SOURCE_ROOT

BUILD_ROOT = os.path.dirname(os.environ.get("NACOS_DNS_UNIT") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(BINARY))), "nacos-dns.service"))


def meson_dependencies():
    """The pkg-config names of every dependency() in the meson files (threads is the compiler's)."""
    names = set()
    for base, dirs, files in os.walk(SOURCE_ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(("build", "."))]
        if "meson.build" in files:
            with open(os.path.join(base, "meson.build")) as f:
                names.update(re.findall(r"\bdependency\('([^']+)'", f.read()))
    names.discard("threads")
    return sorted(names)


def debian_package_of(pc_name):
    """The Debian package that ships pc_name's .pc file, or None where this is not Debian."""
    path = subprocess.run(["pkg-config", "--path", pc_name], capture_output=True, text=True)
    if path.returncode != 0:
        return None
    owner = subprocess.run(["dpkg-query", "-S", os.path.realpath(path.stdout.strip())],
                           capture_output=True, text=True)
    if owner.returncode != 0:
        owner = subprocess.run(["dpkg-query", "-S", path.stdout.strip()],
                               capture_output=True, text=True)
    if owner.returncode != 0:
        return None
    return owner.stdout.split(":")[0].strip()


def install_list(path, pattern):
    with open(os.path.join(SOURCE_ROOT, path)) as f:
        m = re.search(pattern, f.read(), re.S)
    assert m, f"no install list in {path}"
    return set(re.findall(r"[a-z0-9][a-z0-9.+-]+", m.group(1)))


INSTALL_LISTS = {
    "contrib/test.sh": r"PACKAGES=\(([^)]*)\)",
    "contrib/demo/run.sh": r"PACKAGES=\(([^)]*)\)",
    "README.md": r"Building by hand needs (.*?) and a C11 compiler",
    "contrib/debian/control": r"Build-Depends:(.*?)\n\S",
}


def test_the_build_dependencies_are_found():
    """The parser of the meson files itself: it finds the libraries we know of."""
    deps = meson_dependencies()
    for known in ("libuv", "zlib", "libmicrohttpd", "inih"):
        assert known in deps, deps


@pytest.mark.parametrize("path", sorted(INSTALL_LISTS))
def test_every_install_list_names_every_build_dependency(path):
    if subprocess.run(["which", "dpkg-query"], capture_output=True).returncode != 0:
        pytest.skip("not a Debian system: no dpkg-query to map .pc files to packages")
    listed = install_list(path, INSTALL_LISTS[path])
    for tool in ("meson", "ninja-build", "pkg-config"):
        assert tool in listed, f"{path} does not name {tool}"
    for dep in meson_dependencies():
        pkg = debian_package_of(dep)
        assert pkg, f"no Debian package found for the meson dependency {dep}"
        assert pkg in listed, f"{path} does not name {pkg} (meson's dependency('{dep}'))"


def exec_start(unit_path):
    with open(unit_path) as f:
        return re.search(r"^ExecStart=(\S+)", f.read(), re.M).group(1)


def test_meson_install_gives_a_unit_that_starts_the_installed_binary(workdir):
    """The build's own prefix, installed under a DESTDIR."""
    dest = os.path.join(workdir, "dest")
    r = subprocess.run(["meson", "install", "-C", BUILD_ROOT, "--no-rebuild", "--quiet",
                        "--destdir", dest], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    units = glob.glob(os.path.join(dest, "**", "systemd", "system", "nacos-dns.service"),
                      recursive=True)
    assert len(units) == 1, units
    binary = exec_start(units[0])
    assert os.path.isabs(binary) and binary.endswith("/sbin/nacos-dns"), binary
    installed = dest + binary
    assert os.access(installed, os.X_OK), f"ExecStart={binary}, but {installed} was not installed"
    out = subprocess.run([installed, "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and "nacos-dns" in out.stdout, out


@pytest.mark.parametrize("prefix", ["/opt/nacos-dns", "/usr"])
def test_the_unit_follows_any_prefix(workdir, prefix):
    build = os.path.join(workdir, "build")
    r = subprocess.run(["meson", "setup", "--prefix", prefix, build, SOURCE_ROOT],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    assert exec_start(os.path.join(build, "nacos-dns.service")) == prefix + "/sbin/nacos-dns"


def dpkg(*args):
    """dpkg, waiting while another apt or dpkg holds the lock."""
    deadline = time.monotonic() + 300
    while True:
        r = subprocess.run(["dpkg", *args], capture_output=True, text=True,
                           env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
        if r.returncode == 0 or "lock" not in r.stderr or time.monotonic() > deadline:
            return r
        time.sleep(2)


PACKAGE_FILES = ["/usr/sbin/nacos-dns", "/lib/systemd/system/nacos-dns.service",
                 "/usr/share/man/man8/nacos-dns.8.gz", "/etc/nacos-dns/nacos-dns.conf",
                 "/usr/share/doc/nacos-dns/examples/nacos-dns.conf.example",
                 "/usr/share/doc/nacos-dns/copyright"]


def test_debian_package_builds_installs_verifies_and_purges(workdir):
    if os.geteuid() != 0:
        pytest.skip("installing a package needs root")
    for tool in ("dpkg-buildpackage", "dh", "systemd-analyze"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not installed (Debian: dpkg-dev, debhelper, systemd)")
    if dpkg("-s", "nacos-dns").returncode == 0:
        pytest.skip("a nacos-dns package is installed on this machine; not touching it")
    out = os.path.join(workdir, "deb")
    r = subprocess.run(["bash", os.path.join(SOURCE_ROOT, "contrib", "debian", "build.sh"), out],
                       capture_output=True, text=True, timeout=900,
                       env=dict(os.environ, DEB_BUILD_OPTIONS="nocheck"))
    assert r.returncode == 0, r.stdout + r.stderr
    [deb] = glob.glob(os.path.join(out, "nacos-dns_*.deb"))
    listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True).stdout
    for path in PACKAGE_FILES:
        assert f".{path}\n" in listing, f"{path} not in the package:\n{listing}"
    conffiles = subprocess.run(["dpkg-deb", "-I", deb, "conffiles"], capture_output=True,
                               text=True).stdout.split()
    assert conffiles == ["/etc/nacos-dns/nacos-dns.conf"], conffiles
    try:
        r = dpkg("-i", deb)
        assert r.returncode == 0, r.stdout + r.stderr
        for path in PACKAGE_FILES:
            assert os.path.exists(path), path
        unit = "/lib/systemd/system/nacos-dns.service"
        assert exec_start(unit) == "/usr/sbin/nacos-dns"
        v = subprocess.run(["systemd-analyze", "verify", "--man=no", unit], capture_output=True,
                           text=True)
        assert v.returncode == 0 and "nacos-dns.service:" not in v.stdout + v.stderr, \
            v.stdout + v.stderr
        check = subprocess.run(["/usr/sbin/nacos-dns", "--check-config",
                                "/etc/nacos-dns/nacos-dns.conf"], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    finally:
        r = dpkg("--purge", "nacos-dns")
    assert r.returncode == 0, r.stdout + r.stderr
    assert dpkg("-s", "nacos-dns").returncode != 0
    for path in PACKAGE_FILES + ["/etc/nacos-dns"]:
        assert not os.path.exists(path), f"{path} left after purge"
