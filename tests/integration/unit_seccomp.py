"""Runs a command under the system-call filter a systemd unit file asks for.

    python3 unit_seccomp.py UNIT -- COMMAND [ARG...]

Reads SystemCallFilter= and SystemCallErrorNumber= as systemd does (systemd.exec(5)): a first
assignment without "~" makes an allow list that starts from @default, later "~" entries take
names out of it and plain entries put them back; a name outside the list kills the process
unless SystemCallErrorNumber= names an errno. Groups are expanded by `systemd-analyze
syscall-filter`, so the filter is the one this machine's systemd would load. Needs libseccomp's
Python binding (Debian: python3-seccomp). Exit 77: cannot build the filter here.
"""
import errno
import os
import re
import subprocess
import sys


def unit_settings(path):
    """The values of SystemCallFilter= (in order) and of the last SystemCallErrorNumber=."""
    filters, errno_name = [], None
    with open(path) as f:
        for line in f:
            m = re.match(r"\s*(SystemCallFilter|SystemCallErrorNumber)\s*=\s*(.*?)\s*$", line)
            if not m:
                continue
            if m.group(1) == "SystemCallFilter":
                filters.append(m.group(2))
            else:
                errno_name = m.group(2) or None
    return filters, errno_name


_groups = {}


def expand(name):
    """The system calls a name stands for: itself, or every member of an @group, recursively."""
    if not name.startswith("@"):
        return {name}
    if name not in _groups:
        out = subprocess.run(["systemd-analyze", "syscall-filter", name], capture_output=True,
                             text=True, check=True).stdout
        members = set()
        for line in out.splitlines()[1:]:
            word = line.strip()
            if word and not word.startswith("#"):
                members |= expand(word)
        _groups[name] = members
    return _groups[name]


def allowed_calls(filters):
    """systemd's reading of the SystemCallFilter= lines: the set of allowed names."""
    allow, allow_list = set(), None
    for value in filters:
        if value == "":
            allow, allow_list = set(), None
            continue
        invert = value.startswith("~")
        words = value[1:].split() if invert else value.split()
        if allow_list is None:
            allow_list = not invert
            if not allow_list:
                raise SystemExit("unit_seccomp: deny-list filters are not supported")
            allow |= expand("@default")
        for w in words:
            if invert:
                allow -= expand(w)
            else:
                allow |= expand(w)
    return allow


def load_filter(unit):
    import seccomp
    filters, errno_name = unit_settings(unit)
    if not filters:
        raise SystemExit(f"unit_seccomp: no SystemCallFilter= in {unit}")
    default = seccomp.ERRNO(getattr(errno, errno_name)) if errno_name else seccomp.KILL_PROCESS
    f = seccomp.SyscallFilter(defaction=default)
    for name in sorted(allowed_calls(filters)):
        try:
            f.add_rule(seccomp.ALLOW, name)
        except (RuntimeError, ValueError):
            pass  # a name this libseccomp or architecture does not know
    f.load()


def main():
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        raise SystemExit(__doc__)
    try:
        import seccomp  # noqa: F401
    except ImportError:
        print("unit_seccomp: python3-seccomp not installed", file=sys.stderr)
        sys.exit(77)
    load_filter(sys.argv[1])
    os.execv(sys.argv[3], sys.argv[3:])


if __name__ == "__main__":
    main()
