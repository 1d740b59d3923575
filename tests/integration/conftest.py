"""Shared fixtures: start the real nacos-dns binary on a free loopback port and query it."""
import os
import signal
import random
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.query
import pytest

BINARY = os.environ.get("NACOS_DNS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "resolver", "nacos-dns")
SOURCE_ROOT = os.environ.get("NACOS_DNS_SOURCE_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))


def _port_range():
    """Ports below the kernel's ephemeral range: a port picked there cannot be taken meanwhile
    by some process's outgoing connection (binding port 0 would hand out exactly those)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    return max(1025, low // 2), max(1026, low - 1)


def free_port(kind=socket.SOCK_DGRAM, host="127.0.0.1"):
    """A port free for both UDP and TCP on host, outside the ephemeral range."""
    lo, hi = _port_range()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(200):
        port = random.randint(lo, hi)
        u = socket.socket(family, socket.SOCK_DGRAM)
        t = socket.socket(family, socket.SOCK_STREAM)
        try:
            u.bind((host, port))
            t.bind((host, port))
            return port
        except OSError:
            continue
        finally:
            t.close()
            u.close()
    raise RuntimeError("no free port")


class NacosDns:
    """One nacos-dns process. Its stderr goes to a file; start() waits for the "started" line
    (the sockets are bound; "serving" comes once the data is in)."""

    def __init__(self, args, workdir, host="127.0.0.1", port=None):
        self.host = host
        self.port = port or free_port(host=host)
        self.args = [BINARY, "--listen", f"{host}:{self.port}" if ":" not in host
                     else f"[{host}]:{self.port}"] + list(args)
        self.log_path = os.path.join(workdir, f"nacos-dns-{self.port}.log")
        self.proc = None

    def start(self, timeout=10.0, wait_ready=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self.log, stderr=self.log,
                                     stdin=subprocess.DEVNULL)
        if wait_ready:
            self.wait_log('msg="started', timeout)
        return self

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, needle, timeout=10.0, count=1):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.log_text().count(needle) >= count:
                return
            if self.proc.poll() is not None:
                raise AssertionError(f"nacos-dns exited {self.proc.returncode}:\n{self.log_text()}")
            time.sleep(0.02)
        raise AssertionError(f"no {needle!r} in log after {timeout}s:\n{self.log_text()}")

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=10.0):
        """SIGTERM; returns the exit code (the caller asserts on it)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("nacos-dns did not exit on SIGTERM:\n" + self.log_text())
        finally:
            self.log.close()

    def query(self, name, rdtype="A", tcp=False, timeout=3.0, **kw):
        q = dns.message.make_query(name, rdtype, **kw)
        return self.send(q, tcp=tcp, timeout=timeout)

    def send(self, q, tcp=False, timeout=3.0):
        if tcp:
            return dns.query.tcp(q, self.host, port=self.port, timeout=timeout)
        return dns.query.udp(q, self.host, port=self.port, timeout=timeout, ignore_trailing=True)


@pytest.fixture
def workdir():
    with tempfile.TemporaryDirectory(prefix="nacos-dns-test-") as d:
        yield d


@pytest.fixture
def nacos_dns(workdir):
    """Factory: nacos_dns(args...) starts a server; every server is stopped (and must exit 0)."""
    started = []

    def start(*args, **kw):
        wait_ready = kw.pop("wait_ready", True)
        srv = NacosDns(args, workdir, **kw)
        started.append(srv)
        return srv.start(wait_ready=wait_ready)

    yield start
    for srv in started:
        rc = srv.stop()
        assert rc == 0, f"nacos-dns exited {rc}:\n{srv.log_text()}"


def write_registry(workdir, namespaces, name="registry.json"):
    """Writes a snapshot file {"namespaces": {...}} and returns its path."""
    import json
    path = os.path.join(workdir, name)
    with open(path, "w") as f:
        json.dump({"namespaces": namespaces}, f)
    return path


def service_info(name, hosts, group="DEFAULT_GROUP", **extra):
    """A ServiceInfo as Nacos 2.x's /nacos/v1/ns/instance/list returns it."""
    full_hosts = []
    for h in hosts:
        h = dict(h)
        h.setdefault("port", 8080)
        h.setdefault("weight", 1.0)
        h.setdefault("healthy", True)
        h.setdefault("enabled", True)
        h.setdefault("ephemeral", True)
        h.setdefault("clusterName", "DEFAULT")
        h.setdefault("metadata", {})
        h.setdefault("serviceName", f"{group}@@{name}")
        h.setdefault("instanceId",
                     f"{h['ip']}#{h['port']}#{h['clusterName']}#{group}@@{name}")
        full_hosts.append(h)
    info = {"name": f"{group}@@{name}", "groupName": group, "clusters": "", "cacheMillis": 10000,
            "hosts": full_hosts, "lastRefTime": int(time.time() * 1000), "checksum": "",
            "allIPs": False, "reachProtectionThreshold": False, "valid": True}
    info.update(extra)
    return info


DEMO_REGISTRY = os.path.join(SOURCE_ROOT, "contrib", "demo", "registry.json")


def serve_services(nacos_dns, workdir, services, *args, namespace="public", **kw):
    """Writes services (a list of ServiceInfo) as namespace's registry and starts a server on it."""
    path = write_registry(workdir, {namespace: list(services)})
    srv = nacos_dns("--nacos", f"file:{path}", *args, **kw)
    srv.registry_path = path
    return srv


def rdatas(msg, name, rdtype, section="answer"):
    """The rdata of every record of type rdtype owned by name in a section of msg (a list)."""
    rdtype = dns.rdatatype.from_text(rdtype) if isinstance(rdtype, str) else rdtype
    owner = dns.name.from_text(name) if isinstance(name, str) else name
    out = []
    for rrset in getattr(msg, section):
        if rrset.rdtype == rdtype and (name is None or rrset.name == owner):
            out.extend(rrset)
    return out


def addresses(msg, name, rdtype="A"):
    """The sorted address strings of name's A or AAAA records in the answer of msg."""
    return sorted(r.address for r in rdatas(msg, name, rdtype))


def soa_serial(srv, zone="svc."):
    """The zone's SOA serial as srv answers it now."""
    r = srv.query(zone, "SOA")
    assert r.rcode() == dns.rcode.NOERROR, r
    return rdatas(r, zone, "SOA")[0].serial


def wait_for(predicate, timeout=10.0, what="condition"):
    """Polls predicate until it returns something true; returns that value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} not reached after {timeout}s")
        time.sleep(0.05)


def http_get(port, path):
    """(status, body) of GET http://127.0.0.1:port/path."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def wait_until(check, timeout=8.0, step=0.05):
    """Polls check() until it returns a true value; returns that value or fails.
    Unlike wait_for, an exception from check() (a query timing out while the server is busy)
    counts as "not yet"."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = check()
            if last:
                return last
        except Exception as e:  # a timeout while the server is busy: try again
            last = e
        time.sleep(step)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


from fake_nacos_fixture import *  # noqa: F401,F403  (fake_nacos fixture)
