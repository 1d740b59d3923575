"""Running as the shipped systemd unit runs it: its system-call filter, sd_notify, journald."""
import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import BINARY, NacosDns, addresses, wait_until, write_registry

HERE = os.path.dirname(os.path.abspath(__file__))
UNIT = os.environ.get("NACOS_DNS_UNIT") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(BINARY))), "nacos-dns.service")
SVC = "order-service.DEFAULT_GROUP.svc."


def service(ip):
    return {"name": "DEFAULT_GROUP@@order-service", "groupName": "DEFAULT_GROUP",
            "hosts": [{"ip": ip, "port": 8080, "healthy": True, "enabled": True,
                       "weight": 1.0}]}


@pytest.fixture
def under_unit_filter(workdir):
    """Factory: a NacosDns started through unit_seccomp.py with the built unit's filter."""
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
