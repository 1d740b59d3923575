"""Running as the shipped systemd unit runs it: its system-call filter, sd_notify, journald."""
import os
import re
import shutil
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import BINARY, NacosDns, addresses, free_port, wait_until, write_registry

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.environ.get("NACOS_DNS_UNIT") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(BINARY))), "nacos-dns.service")
SVC = "order-service.DEFAULT_GROUP.svc."


def service(ip):
    return {"name": "DEFAULT_GROUP@@order-service", "groupName": "DEFAULT_GROUP",
            "hosts": [{"ip": ip, "port": 8080, "healthy": True, "enabled": True,
                       "weight": 1.0}]}


@pytest.fixture
def under_unit_filter(workdir, monkeypatch):
    """Factory: a NacosDns started through unit_seccomp.py with the built unit's filter."""
    # In a sanitizer build, LeakSanitizer stops the world at exit with ptrace, which the
    # filter denies as it should; every other test checks for leaks.
    asan = os.environ.get("ASAN_OPTIONS")
    monkeypatch.setenv("ASAN_OPTIONS", (asan + ":" if asan else "") + "detect_leaks=0")
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian: systemd)")
    try:
        import seccomp  # noqa: F401
    except ImportError:
        pytest.skip("libseccomp's Python binding not installed (Debian: python3-seccomp)")
    assert os.path.exists(UNIT), f"no built unit at {UNIT}"
    started = []

    def start(*args):
        srv = NacosDns(args, workdir)
        srv.args = [sys.executable, os.path.join(HERE, "unit_seccomp.py"), UNIT, "--"] + srv.args
        started.append(srv)
        return srv.start()

    yield start
    for srv in started:
        rc = srv.stop()
        assert rc == 0, f"nacos-dns exited {rc} under the unit's filter:\n{srv.log_text()}"


def test_the_filter_is_the_units():
    """The wrapper reads the unit as systemd does: the denied groups really are denied."""
    sys.path.insert(0, HERE)
    import unit_seccomp
    if not shutil.which("systemd-analyze"):
        pytest.skip("systemd-analyze not installed (Debian: systemd)")
    filters, errno_name = unit_seccomp.unit_settings(UNIT)
    allowed = unit_seccomp.allowed_calls(filters)
    assert errno_name == "EPERM"
    assert "recvmmsg" in allowed and "setpriority" in allowed
    for denied in ("setrlimit", "sched_setaffinity", "setuid", "chroot", "reboot"):
        assert denied not in allowed, denied


def test_serves_and_reloads_a_file_source_under_the_unit_filter(under_unit_filter, workdir):
    path = write_registry(workdir, {"public": [service("10.0.0.1")]})
    srv = under_unit_filter("--nacos", f"file:{path}")
    assert addresses(srv.query(SVC), SVC) == ["10.0.0.1"]
    write_registry(workdir, {"public": [service("10.0.0.2")]})
    srv.signal(signal.SIGHUP)  # the reload parses on a pool thread, which lowers its priority
    wait_until(lambda: addresses(srv.query(SVC), SVC) == ["10.0.0.2"])
    assert srv.proc.poll() is None


def test_syncs_and_reloads_from_nacos_under_the_unit_filter(under_unit_filter, fake_nacos):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = under_unit_filter("--nacos", nacos.url, "--poll-interval", "1", "--push", "off")
    wait_until(lambda: addresses(srv.query(SVC), SVC) == ["10.0.0.1"])
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration")
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv.query(SVC), SVC) == ["10.0.0.1", "10.0.0.2"])
    assert srv.proc.poll() is None


class NotifySocket:
    """The service manager's end of sd_notify: a datagram socket at $NOTIFY_SOCKET."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)

    def next(self, timeout=10.0):
        """The next message as a dict of its KEY=VALUE lines."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096).decode()
        return dict(line.split("=", 1) for line in data.split("\n") if line)

    def until(self, key, timeout=10.0):
        """Messages up to and including the first that has key; returns them all."""
        seen = []
        while not seen or key not in seen[-1]:
            seen.append(self.next(timeout))
        return seen

    def pending(self):
        """Every message already queued, without waiting."""
        out = []
        self.sock.setblocking(False)
        try:
            while True:
                data = self.sock.recv(4096).decode()
                out.append(dict(line.split("=", 1) for line in data.split("\n") if line))
        except BlockingIOError:
            return out


@pytest.fixture
def notify(workdir, monkeypatch):
    path = os.path.join(workdir, "notify")
    sock = NotifySocket(path)
    monkeypatch.setenv("NOTIFY_SOCKET", path)
    monkeypatch.delenv("WATCHDOG_USEC", raising=False)
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    yield sock
    sock.sock.close()


def http_get(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def test_ready_reloading_and_stopping_reach_the_notify_socket(notify, nacos_dns, workdir):
    path = write_registry(workdir, {"public": [service("10.0.0.1")]})
    srv = nacos_dns("--nacos", f"file:{path}")
    ready = notify.until("READY")[-1]
    assert ready["READY"] == "1"
    assert ready["STATUS"].startswith("serving 1 zone(s), 1 service(s), 1 instance(s)")
    assert addresses(srv.query(SVC), SVC) == ["10.0.0.1"]
    srv.wait_log('msg="serving 1 zone(s)')

    before = time.clock_gettime(time.CLOCK_MONOTONIC)
    srv.signal(signal.SIGHUP)
    msgs = notify.until("READY")
    reloading = [m for m in msgs if "RELOADING" in m]
    assert reloading and reloading[0]["RELOADING"] == "1", msgs
    stamp = int(reloading[0]["MONOTONIC_USEC"]) / 1e6
    assert before <= stamp <= time.clock_gettime(time.CLOCK_MONOTONIC), (before, stamp)
    assert msgs.index(reloading[0]) < len(msgs) - 1  # READY=1 comes after RELOADING=1

    srv.signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    assert any(m.get("STOPPING") == "1" for m in notify.until("STOPPING"))


def test_no_ready_before_the_data_is_in(notify, nacos_dns, workdir):
    dead = f"http://127.0.0.1:{free_port()}"
    port = free_port(kind=socket.SOCK_STREAM)
    srv = nacos_dns("--nacos", dead, "--http", f"127.0.0.1:{port}")
    assert wait_until(lambda: http_get(port, "/readyz") == 503)
    srv.wait_log('msg="started')
    assert not [m for m in notify.pending() if "READY" in m]
    assert 'msg="serving' not in srv.log_text()


def test_ready_once_nacos_answers(notify, nacos_dns, fake_nacos):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    port = free_port(kind=socket.SOCK_STREAM)
    nacos_dns("--nacos", nacos.url, "--http", f"127.0.0.1:{port}", "--push", "off")
    assert notify.until("READY")[-1]["READY"] == "1"
    assert http_get(port, "/readyz") == 200


def test_watchdog_pings_from_the_loop(notify, nacos_dns, workdir, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    path = write_registry(workdir, {"public": [service("10.0.0.1")]})
    nacos_dns("--nacos", f"file:{path}")
    pings = 0
    while pings < 3:
        pings += notify.next().get("WATCHDOG") == "1"


def test_a_watchdog_meant_for_another_process_is_ignored(notify, nacos_dns, workdir,
                                                         monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.setenv("WATCHDOG_PID", "1")
    path = write_registry(workdir, {"public": [service("10.0.0.1")]})
    srv = nacos_dns("--nacos", f"file:{path}")
    notify.until("READY")
    srv.signal(signal.SIGTERM)
    assert srv.proc.wait(10) == 0
    msgs = notify.until("STOPPING")
    assert not [m for m in msgs if "WATCHDOG" in m], msgs


def start_with_journal_stream(workdir, monkeypatch, args, same_file=True):
    """A server whose $JOURNAL_STREAM names its stderr (or, same_file=False, another file)."""
    srv = NacosDns(args, workdir)
    open(srv.log_path, "ab").close()
    st = os.stat(srv.log_path if same_file else workdir)
    monkeypatch.setenv("JOURNAL_STREAM", f"{st.st_dev}:{st.st_ino}")
    return srv.start()


def test_log_lines_carry_journald_priorities(workdir, monkeypatch):
    conf = os.path.join(workdir, "nacos-dns.conf")
    with open(conf, "w") as f:
        f.write("log-level = debug\n")
    # Nobody listens there: the failed READY=1 is logged at debug level.
    monkeypatch.setenv("NOTIFY_SOCKET", os.path.join(workdir, "nobody"))
    srv = start_with_journal_stream(workdir, monkeypatch, ["--config", conf])
    try:
        srv.wait_log("cannot send READY=1")
        with open(conf, "w") as f:
            f.write("log-level = debug\nttl = soon\n")
        srv.signal(signal.SIGHUP)
        srv.wait_log("configuration rejected")
    finally:
        assert srv.stop() == 0
    lines = srv.log_text().splitlines()
    assert lines and all(re.match(r"<[3467]>", line) for line in lines), lines
    levels = {"error": "<3>", "warn": "<4>", "info": "<6>", "debug": "<7>"}
    for line in lines:
        m = re.search(r" level=(\w+) ", line)
        if m:
            assert line.startswith(levels[m.group(1)] + "ts="), line
    assert any(line.startswith("<4>") and "no --nacos source" in line for line in lines)
    assert any(line.startswith("<7>") for line in lines)
    assert f"<3>{conf}:2: ttl: " in srv.log_text()


def test_no_priority_prefix_when_stderr_is_not_the_journal(workdir, monkeypatch):
    srv = start_with_journal_stream(workdir, monkeypatch, [], same_file=False)
    assert srv.stop() == 0
    assert srv.log_text().startswith("ts="), srv.log_text()
    assert "<4>" not in srv.log_text() and "<6>" not in srv.log_text()


def test_the_units_reload_command_reloads(nacos_dns, workdir):
    """ExecReload= as systemd runs it: split into words, $MAINPID in the environment."""
    with open(UNIT) as f:
        command = re.search(r"^ExecReload=(.*)$", f.read(), re.M).group(1)
    path = write_registry(workdir, {"public": [service("10.0.0.1")]})
    srv = nacos_dns("--nacos", f"file:{path}")
    write_registry(workdir, {"public": [service("10.0.0.2")]})
    r = subprocess.run(shlex.split(command), env=dict(os.environ, MAINPID=str(srv.proc.pid)),
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    srv.wait_log("reloaded configuration")
    wait_until(lambda: addresses(srv.query(SVC), SVC) == ["10.0.0.2"])
