"""Response rate limiting over UDP: a flood from one client prefix is limited (every 2nd limited
reply slips as TC, the rest are dropped), while a client in another prefix and TCP are not."""
import select
import socket
import subprocess
import time

import dns.flags
import dns.message
import dns.name
import dns.rcode

from conftest import BINARY, serve_services, service_info

SVC = "order-service.DEFAULT_GROUP.svc."
BATCH = 25  # small batches, so the server's socket buffer never overflows


def udp_client(source):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((source, 0))
    return s


def flood(srv, source, count):
    """Sends count queries from source; returns (full answers, TC replies, unanswered, seconds)."""
    sock = udp_client(source)
    full = tc = 0
    start = time.monotonic()
    try:
        for base in range(0, count, BATCH):
            ids = set()
            for i in range(base, min(base + BATCH, count)):
                q = dns.message.make_query(SVC, "A")
                q.id = i
                ids.add(i)
                sock.sendto(q.to_wire(), (srv.host, srv.port))
            while ids and select.select([sock], [], [], 0.3)[0]:
                r = dns.message.from_wire(sock.recv(65535))
                assert r.id in ids
                ids.discard(r.id)
                assert r.rcode() == dns.rcode.NOERROR
                assert r.question[0].name == dns.name.from_text(SVC)
                if r.flags & dns.flags.TC:
                    assert not r.answer and not r.additional
                    tc += 1
                else:
                    assert [rr.address for rr in r.answer[0]] == ["10.0.0.1"]
                    full += 1
    finally:
        sock.close()
    return full, tc, count - full - tc, time.monotonic() - start


def start(nacos_dns, workdir, *args):
    return serve_services(nacos_dns, workdir,
                          [service_info("order-service", [{"ip": "10.0.0.1"}])], *args)


def test_flood_is_limited_other_prefix_and_tcp_are_not(nacos_dns, workdir):
    srv = start(nacos_dns, workdir, "--rrl-rate", "10", "--rrl-slip", "2")
    full, tc, lost, seconds = flood(srv, "127.0.0.1", 300)
    # A burst of 10, then 10 per second (plus a second of slack for a slow machine).
    assert 10 <= full <= 10 + 10 * (seconds + 1), (full, tc, lost, seconds)
    limited = 300 - full
    # Limited replies alternate between dropped and TC (a refill in between may shift one).
    assert abs(tc - lost) <= full + 1, (full, tc, lost)
    assert tc >= limited // 3 and lost >= limited // 3, (full, tc, lost)

    # Another /24 (127.0.1.0/24) has its own bucket: every query answered in full.
    other = flood(srv, "127.0.1.1", 8)
    assert other[:3] == (8, 0, 0), other
    # TCP is never limited: the TC reply's client gets its answer there.
    r = srv.query(SVC, "A", tcp=True)
    assert r.rcode() == dns.rcode.NOERROR and not r.flags & dns.flags.TC
    assert [rr.address for rr in r.answer[0]] == ["10.0.0.1"]


def test_slip_zero_drops_everything_over_the_rate(nacos_dns, workdir):
    srv = start(nacos_dns, workdir, "--rrl-rate", "5", "--rrl-slip", "0")
    full, tc, lost, seconds = flood(srv, "127.0.0.1", 100)
    assert 5 <= full <= 5 + 5 * (seconds + 1), (full, tc, lost, seconds)
    assert tc == 0 and lost == 100 - full


def test_loopback_listener_unlimited_by_default(nacos_dns, workdir):
    srv = start(nacos_dns, workdir)
    full, tc, lost, _ = flood(srv, "127.0.0.1", 400)
    assert (full, tc, lost) == (400, 0, 0)


def test_rate_zero_is_off(nacos_dns, workdir):
    srv = start(nacos_dns, workdir, "--rrl-rate", "0")
    assert flood(srv, "127.0.0.1", 200)[:3] == (200, 0, 0)


def test_bad_rate_is_a_config_error(workdir):
    for bad in ("-1", "fast", "2000000", ""):
        p = subprocess.run([BINARY, "--rrl-rate", bad, "--nacos", "file:/nonexistent"],
                           capture_output=True, text=True, timeout=10)
        assert p.returncode == 2 and "rrl-rate" in p.stderr, (bad, p.stderr)
