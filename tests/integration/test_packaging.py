"""What a new machine needs: every library meson asks for is named in every install list."""
import os
import re
import subprocess

import pytest

from conftest import SOURCE_ROOT


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
