"""HAProxy as a client: contrib/haproxy/haproxy.cfg, pointed at a nacos-dns on a test port, fills
its server-template from SRV records, sends requests to every registered backend, and stops
sending to one once it is removed from the registry and nacos-dns reloads (SIGHUP)."""
import collections
import http.server
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.request

import pytest

from conftest import SOURCE_ROOT, free_port, service_info, write_registry

BACKEND_IPS = ["127.0.0.11", "127.0.0.12", "127.0.0.13"]


class Backend:
    """An HTTP server on ip:port that answers every GET with its own name."""

    def __init__(self, name, ip):
        self.name = name
        self.ip = ip
        self.port = free_port(host=ip)
        body = name.encode()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802  (http.server's naming)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer((ip, self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def haproxy_config(dns_port, fe_port):
    """The contrib example with the test's nacos-dns and frontend ports."""
    with open(os.path.join(SOURCE_ROOT, "contrib", "haproxy", "haproxy.cfg")) as f:
        text = f.read()
    assert "nameserver nacos-dns 127.0.0.1:53\n" in text and "bind 127.0.0.1:8080\n" in text
    return (text.replace("nameserver nacos-dns 127.0.0.1:53\n",
                         f"nameserver nacos-dns 127.0.0.1:{dns_port}\n")
            .replace("bind 127.0.0.1:8080\n", f"bind 127.0.0.1:{fe_port}\n"))


def registry_of(workdir, backends):
    hosts = [{"ip": b.ip, "port": b.port} for b in backends]
    return write_registry(workdir, {"public": [service_info("order-service", hosts)]})


def fetch(port):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as r:
            return r.read().decode()
    except OSError:
        return None


def spread(port, n):
    return collections.Counter(fetch(port) for _ in range(n))


def srv_ports(srv):
    r = srv.query("_http._tcp.order-service.DEFAULT_GROUP.svc.", "SRV", tcp=True)
    return sorted(rd.port for rrset in r.answer for rd in rrset)


def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        ok, last = pred()
        if ok:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout}s; last: {last}")


@pytest.fixture
def backends():
    bs = [Backend(f"backend-{i}", ip) for i, ip in enumerate(BACKEND_IPS)]
    yield bs
    for b in bs:
        b.stop()


def test_haproxy_follows_srv_records(nacos_dns, workdir, backends):
    if not shutil.which("haproxy"):
        pytest.fail("haproxy is not installed (Debian package haproxy)")
    registry = registry_of(workdir, backends)
    srv = nacos_dns("--nacos", f"file:{registry}", "--ttl", "1")
    fe_port = free_port()
    cfg = os.path.join(workdir, "haproxy.cfg")
    with open(cfg, "w") as f:
        f.write(haproxy_config(srv.port, fe_port))
    log = open(os.path.join(workdir, "haproxy.log"), "wb")
    proxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=log,
                             stdin=subprocess.DEVNULL)
    try:
        names = {b.name for b in backends}
        # every registered instance gets traffic (SRV supplied the three different ports)
        wait_for(lambda: (lambda c: (names <= set(c), c))(spread(fe_port, 12)), 30,
                 "traffic to all three backends")

        removed = backends[1]
        registry_of(workdir, [backends[0], backends[2]])
        srv.signal(signal.SIGHUP)
        wait_for(lambda: (lambda r: (len(r) == 2, r))(srv_ports(srv)), 10,
                 "two SRV records after the reload")

        def settled():
            c = spread(fe_port, 12)
            return (removed.name not in c and
                    {backends[0].name, backends[2].name} <= set(c)), c
        wait_for(settled, 30, f"no traffic to {removed.name}")
        # and it stays that way
        c = spread(fe_port, 20)
        assert removed.name not in c and None not in c, c
    finally:
        proxy.terminate()
        try:
            proxy.wait(10)
        except subprocess.TimeoutExpired:
            proxy.kill()
            proxy.wait()
        log.close()
