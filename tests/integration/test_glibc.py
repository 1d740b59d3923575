"""glibc as a client: in a network namespace whose resolv.conf names nacos-dns on 127.0.0.1:53
(with the search domains of a node resolver), getent resolves Nacos services by their short
name and other names through the forwarder to an Unbound in the same namespace."""
import os
import shutil
import subprocess

import pytest

from conftest import NacosDns, service_info, write_registry
from upstream import Unbound

UNBOUND_PORT = 5353  # a fresh namespace has every port free
RESOLV_CONF = "nameserver 127.0.0.1\nsearch DEFAULT_GROUP.svc svc\noptions timeout:2 attempts:2\n"


def run(*cmd, check=True):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=30, check=check)


@pytest.fixture
def netns():
    """A network namespace with lo up and its own /etc/netns/NAME/resolv.conf."""
    name = f"nacosdns-test-{os.getpid()}"
    etc = os.path.join("/etc/netns", name)
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root (ip netns add)")
    had_etc_netns = os.path.isdir("/etc/netns")
    r = run("ip", "netns", "add", name, check=False)
    if r.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {r.stderr.strip()}")
    try:
        os.makedirs(etc, exist_ok=True)
        with open(os.path.join(etc, "resolv.conf"), "w") as f:
            f.write(RESOLV_CONF)
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        run("ip", "netns", "del", name, check=False)
        shutil.rmtree(etc, ignore_errors=True)
        if not had_etc_netns:
            shutil.rmtree("/etc/netns", ignore_errors=True)


def in_ns(ns, *cmd):
    return run("ip", "netns", "exec", ns, *cmd, check=False)


def test_getent_resolves_services_and_forwards(netns, workdir):
    registry = write_registry(workdir, {"public": [
        service_info("order-service", [{"ip": "10.0.0.7"}, {"ip": "10.0.0.8"},
                                       {"ip": "10.0.0.9", "healthy": False}])]})
    unbound = Unbound(workdir, ["www.example.test. 300 IN A 192.0.2.80"], port=UNBOUND_PORT,
                      netns=netns).start()
    srv = NacosDns(["--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{UNBOUND_PORT}"],
                   workdir, port=53)
    srv.args = ["ip", "netns", "exec", netns] + srv.args
    try:
        unbound.wait_ready(probe=lambda q: probe_in_ns(netns, UNBOUND_PORT))
        srv.start()

        r = in_ns(netns, "getent", "ahosts", "order-service")
        assert r.returncode == 0, f"getent ahosts failed: {r.stderr}\n{srv.log_text()}"
        ips = {line.split()[0] for line in r.stdout.splitlines() if line.strip()}
        assert ips == {"10.0.0.7", "10.0.0.8"}, r.stdout  # the unhealthy one is not usable
        assert "order-service.DEFAULT_GROUP.svc" in r.stdout  # found through the search list

        r = in_ns(netns, "getent", "hosts", "www.example.test")
        assert r.returncode == 0, f"getent hosts failed: {r.stderr}\n{srv.log_text()}"
        assert r.stdout.split()[0] == "192.0.2.80"

        r = in_ns(netns, "getent", "hosts", "no-such-service")
        assert r.returncode == 2  # not found, and nothing hangs
    finally:
        rc = srv.stop() if srv.proc else 0
        unbound.stop()
    assert rc == 0, srv.log_text()


def probe_in_ns(ns, port):
    r = in_ns(ns, "dig", "+time=1", "+tries=1", "@127.0.0.1", "-p", str(port),
              "probe.example.test", "A")
    if "status:" not in r.stdout:
        raise ConnectionError("no answer yet")
