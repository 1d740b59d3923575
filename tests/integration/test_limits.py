"""Limits: many idle or slow TCP clients do not starve anyone else, and the memory caps on what
Nacos sends (max-response-size, max-services, max-instances, max-tracked), on queries waiting
for Nacos (fetch-max-waiting) and on forwarded queries hold, are counted in /metrics, and keep
the data held before served.

Waits are bounded polls, not timing assertions.
"""
import concurrent.futures
import socket
import struct
import threading
import time
import urllib.request

import dns.message
import dns.rcode
import pytest

from conftest import addresses, free_port, serve_services, service_info, wait_for
from upstream import FaultResponder

NAME = "order-service.DEFAULT_GROUP.svc."
HOSTS = [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def sample(text, name):
    """The value of the sample line that starts with name (the full name with labels)."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in /metrics:\n{text}")


def limit_hits(port, limit):
    return sample(metrics(port), f'nacosdns_limit_hits_total{{limit="{limit}"}}')


def frame(name, rdtype="A"):
    wire = dns.message.make_query(name, rdtype).to_wire()
    return struct.pack("!H", len(wire)) + wire


def tcp_ask(srv, name=NAME, timeout=5.0):
    r = srv.query(name, "A", tcp=True, timeout=timeout)
    assert r.rcode() == dns.rcode.NOERROR, r
    return r


def udp_ok(srv):
    r = srv.query(NAME, "A", timeout=3.0)
    return r.rcode() == dns.rcode.NOERROR and addresses(r, NAME) == ["10.0.0.1", "10.0.0.2"]


def connect_many(srv, n):
    socks = []
    for _ in range(n):
        s = socket.create_connection((srv.host, srv.port), timeout=5)
        socks.append(s)
    return socks


def closed_by_peer(sock, timeout):
    """True once the server closed sock (EOF or reset) within timeout, False if still open."""
    sock.settimeout(timeout)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


class SlowClients:
    """Clients that each send a query frame one byte per second, from one thread."""

    def __init__(self, srv, n):
        self.socks = connect_many(srv, n)
        self.data = frame(NAME)
        self.sent = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set() and self.sent < len(self.data):
            for s in self.socks:
                try:
                    s.send(self.data[self.sent:self.sent + 1])
                except OSError:
                    pass
            self.sent += 1
            self.stop.wait(1.0)

    def close(self):
        self.stop.set()
        self.thread.join(5)
        for s in self.socks:
            s.close()


@pytest.fixture
def http_port():
    return free_port(kind=socket.SOCK_STREAM)


def test_idle_and_slow_tcp_clients_do_not_stop_udp_or_new_tcp_clients(nacos_dns, workdir,
                                                                       http_port):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", HOSTS)],
                         "--tcp-idle-timeout", "60s", "--http", f"127.0.0.1:{http_port}")
    idle = connect_many(srv, 300)
    slow = SlowClients(srv, 20)
    try:
        # The server holds every one of them open (accepted, not just queued by the kernel).
        wait_for(lambda: sample(metrics(http_port), "nacosdns_tcp_open_connections") >= 320,
                 what="320 open TCP connections")
        for _ in range(20):
            assert udp_ok(srv)
        for _ in range(5):
            tcp_ask(srv)
        assert slow.sent < len(slow.data)  # the slow queries are still incomplete
        assert all(not closed_by_peer(s, 0.01) for s in idle[:10])
    finally:
        slow.close()
        for s in idle:
            s.close()


def test_connection_cap_reached_udp_still_answers(nacos_dns, workdir, http_port):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", HOSTS)],
                         "--tcp-idle-timeout", "60s", "--tcp-max-connections", "50",
                         "--http", f"127.0.0.1:{http_port}")
    idle = connect_many(srv, 50)
    try:
        wait_for(lambda: sample(metrics(http_port), "nacosdns_tcp_open_connections") == 50,
                 what="50 open TCP connections")
        over = connect_many(srv, 20)  # accepted by the kernel, closed at once by the server
        assert all(closed_by_peer(s, 5.0) for s in over)
        for s in over:
            s.close()
        assert limit_hits(http_port, "tcp-max-connections") >= 20
        for _ in range(20):
            assert udp_ok(srv)
    finally:
        for s in idle:
            s.close()
    # Once the idle clients are gone, TCP is served again.
    wait_for(lambda: sample(metrics(http_port), "nacosdns_tcp_open_connections") == 0,
             what="connections closed")
    tcp_ask(srv)


def test_partial_frame_is_closed_by_the_idle_timeout(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", HOSTS)],
                         "--tcp-idle-timeout", "1s")
    stalled = socket.create_connection((srv.host, srv.port), timeout=5)
    stalled.sendall(frame(NAME)[:5])  # length prefix and three bytes, then nothing
    trickle = socket.create_connection((srv.host, srv.port), timeout=5)
    data = frame(NAME)  # ~50 bytes at 4 per second would take over 10 s
    closed = False
    for i in range(len(data)):
        try:
            trickle.send(data[i:i + 1])
        except OSError:
            closed = True
            break
        if closed_by_peer(trickle, 0.25):
            closed = True
            break
    assert closed, "a client trickling one query was never closed"
    assert closed_by_peer(stalled, 10.0)
    stalled.close()
    trickle.close()
    tcp_ask(srv)


def test_client_that_never_reads_its_replies_is_closed(nacos_dns, workdir, http_port):
    hosts = [{"ip": f"10.0.{i // 200}.{i % 200 + 1}"} for i in range(40)]
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", hosts)],
                         "--tcp-idle-timeout", "1s", "--http", f"127.0.0.1:{http_port}")
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.connect((srv.host, srv.port))
    s.setblocking(False)
    burst = frame(NAME) * 20000  # ~14 MB of replies, more than the socket buffers hold
    sent = 0
    deadline = time.monotonic() + 5
    while sent < len(burst) and time.monotonic() < deadline:
        try:
            sent += s.send(burst[sent:sent + 65536])
        except BlockingIOError:
            time.sleep(0.05)
    # The replies can never be written; the server gives up on the client after the timeout.
    wait_for(lambda: sample(metrics(http_port), "nacosdns_tcp_open_connections") == 0,
             timeout=20, what="the non-reading client closed")
    s.close()
    assert len(addresses(tcp_ask(srv), NAME)) == 40


# ---- memory caps on data from Nacos ----------------------------------------------------------

def start_synced(nacos_dns, nacos, http_port, *extra):
    srv = nacos_dns("--nacos", nacos.url, "--poll-interval", "1", "--catalog-interval", "1",
                    "--fetch-wait", "2s", "--http", f"127.0.0.1:{http_port}",
                    "--push", "off", *extra)  # the caps on polled answers; push: test_push.py
    wait_for(lambda: sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"], what="first data")
    return srv


def addr(srv, name=NAME):
    r = srv.query(name, "A")
    return addresses(r, name) if r.rcode() == dns.rcode.NOERROR else [dns.rcode.to_text(r.rcode())]


def info_txt(srv):
    r = srv.query("_info." + NAME, "TXT")
    return " ".join(s.decode() for rrset in r.answer for rd in rrset for s in rd.strings)


def fetches(port):
    return sample(metrics(port), 'nacosdns_sync_fetches_total{call="instances",result="ok"}')


def registry_with(services):
    return {"namespaces": {"public": services}}


def test_answer_over_max_response_size_is_refused_and_old_data_served(fake_nacos, nacos_dns,
                                                                      http_port):
    nacos = fake_nacos(mode="2.x", data=registry_with([service_info("order-service", HOSTS)]))
    srv = start_synced(nacos_dns, nacos, http_port, "--max-response-size", "8192")
    big = HOSTS + [{"ip": f"10.1.{i // 200}.{i % 200 + 1}", "metadata": {"pad": "x" * 100}}
                   for i in range(100)]
    nacos.load(registry_with([service_info("order-service", big)]))
    wait_for(lambda: limit_hits(http_port, "max-response-size") >= 2, what="refusals")
    assert sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"]
    assert "stale=yes" in info_txt(srv)
    # Back under the cap: served again.
    nacos.load(registry_with([service_info("order-service", HOSTS[:1])]))
    wait_for(lambda: addr(srv) == ["10.0.0.1"], what="small answer served")


def test_instance_list_over_max_instances_is_refused_and_old_data_served(fake_nacos, nacos_dns,
                                                                         http_port):
    nacos = fake_nacos(mode="2.x", data=registry_with([service_info("order-service", HOSTS)]))
    srv = start_synced(nacos_dns, nacos, http_port, "--max-instances", "5")
    for i in range(3, 9):
        nacos.register("order-service", f"10.0.0.{i}", 8080)  # 8 instances
    wait_for(lambda: limit_hits(http_port, "max-instances") >= 2, what="refusals")
    assert sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"]
    for i in range(6, 9):
        nacos.deregister("order-service", f"10.0.0.{i}", 8080)  # 5: at the cap, accepted
    wait_for(lambda: len(addr(srv)) == 5, what="5 instances served")


def test_listing_over_max_services_is_refused_and_known_names_kept(fake_nacos, nacos_dns,
                                                                   http_port):
    nacos = fake_nacos(mode="2.x", data=registry_with(
        [service_info("order-service", HOSTS), service_info("pay-service", HOSTS[:1])]))
    srv = start_synced(nacos_dns, nacos, http_port, "--max-services", "3")
    for i in range(4):
        nacos.register(f"extra-{i}", "10.9.0.1", 80)  # 6 services
    wait_for(lambda: limit_hits(http_port, "max-services") >= 2, what="refusals")
    assert sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"]
    assert addr(srv, "pay-service.DEFAULT_GROUP.svc.") == ["10.0.0.1"]
    assert addr(srv, "extra-0.DEFAULT_GROUP.svc.") == ["NXDOMAIN"]


def test_services_beyond_max_tracked_get_servfail(fake_nacos, nacos_dns, http_port):
    nacos = fake_nacos(mode="2.x", data=registry_with(
        [service_info("order-service", HOSTS)] +
        [service_info(f"svc-{i}", [{"ip": f"10.2.0.{i + 1}"}]) for i in range(3)]))
    srv = start_synced(nacos_dns, nacos, http_port, "--max-tracked", "2")
    assert addr(srv, "svc-0.DEFAULT_GROUP.svc.") == ["10.2.0.1"]
    assert addr(srv, "svc-1.DEFAULT_GROUP.svc.") == ["SERVFAIL"]
    assert limit_hits(http_port, "max-tracked") >= 1
    assert sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"]  # the tracked ones stay served
    assert sample(metrics(http_port), "nacosdns_sync_tracked_services") == 2


def test_queries_beyond_fetch_max_waiting_get_servfail_at_once(fake_nacos, nacos_dns, http_port):
    nacos = fake_nacos(mode="2.x", data=registry_with(
        [service_info("order-service", HOSTS)] +
        [service_info(f"svc-{i}", [{"ip": f"10.2.0.{i + 1}"}]) for i in range(2)]))
    srv = start_synced(nacos_dns, nacos, http_port, "--fetch-max-waiting", "1")
    nacos.fault("slow", path="/nacos/v1/ns/instance/list", delay=1)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        first = pool.submit(addr, srv, "svc-0.DEFAULT_GROUP.svc.")  # waits for its fetch
        time.sleep(0.3)  # its fetch takes a second
        r = srv.query("svc-1.DEFAULT_GROUP.svc.", "A", use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL  # the one waiting place is taken
        assert first.result() == ["10.2.0.1"]
    assert limit_hits(http_port, "fetch-max-waiting") == 1
    nacos.fault("none")
    wait_for(lambda: addr(srv, "svc-1.DEFAULT_GROUP.svc.") == ["10.2.0.2"], what="svc-1")


def test_a_query_that_waited_for_the_catalog_keeps_its_place_for_the_fetch(fake_nacos, nacos_dns,
                                                                           http_port):
    """A query waits first for the catalog, then for its service's fetch: with room for one
    waiting query it must still get the data, not a SERVFAIL for waiting twice."""
    nacos = fake_nacos(mode="2.x", data=registry_with([service_info("order-service", HOSTS)]))
    nacos.fault("slow", path="/nacos/v1/ns/service/list", delay=0.5)
    srv = nacos_dns("--nacos", nacos.url, "--fetch-wait", "2s", "--http", f"127.0.0.1:{http_port}",
                    "--push", "off", "--fetch-max-waiting", "1")
    assert sorted(addr(srv)) == ["10.0.0.1", "10.0.0.2"]  # sent before the catalog is listed
    assert limit_hits(http_port, "fetch-max-waiting") == 0


def test_forwarder_inflight_cap_is_counted(nacos_dns, workdir, http_port):
    up = FaultResponder("silent").start()
    try:
        srv = serve_services(nacos_dns, workdir, [service_info("order-service", HOSTS)],
                             "--forward-max-inflight", "2", "--upstream",
                             f"127.0.0.1:{up.port}", "--http", f"127.0.0.1:{http_port}")
        with concurrent.futures.ThreadPoolExecutor(6) as pool:
            replies = list(pool.map(lambda i: srv.query(f"cap{i}.outside.test.", "A",
                                                        timeout=8), range(6)))
        assert all(r.rcode() == dns.rcode.SERVFAIL for r in replies)
        assert limit_hits(http_port, "forward-max-inflight") >= 1
        assert udp_ok(srv)
    finally:
        up.stop()


def test_one_client_cannot_hold_every_tcp_slot(nacos_dns, workdir, http_port):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", HOSTS)],
                         "--tcp-idle-timeout", "60s", "--tcp-max-per-client", "5",
                         "--http", f"127.0.0.1:{http_port}")
    mine = connect_many(srv, 5)  # from 127.0.0.1, one /24
    try:
        wait_for(lambda: sample(metrics(http_port), "nacosdns_tcp_open_connections") == 5,
                 what="5 open TCP connections")
        over = connect_many(srv, 3)
        assert all(closed_by_peer(s, 5.0) for s in over)
        for s in over:
            s.close()
        assert limit_hits(http_port, "tcp-max-per-client") >= 3
        # Another /24 still gets in and is answered.
        other = socket.socket()
        other.bind(("127.0.1.1", 0))
        other.settimeout(5)
        other.connect((srv.host, srv.port))
        other.sendall(frame(NAME))
        head = other.recv(2)
        assert len(head) == 2 and struct.unpack("!H", head)[0] > 12
        other.close()
        assert all(not closed_by_peer(s, 0.01) for s in mine)
    finally:
        for s in mine:
            s.close()
