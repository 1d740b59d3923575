"""Forwarding: names outside the zones go to upstream resolvers (a real Unbound, and a scripted
responder for the faults), the recursion ACL, and the defences against spoofed replies."""
import concurrent.futures
import time

import dns.edns
import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import free_port, service_info, write_registry
from upstream import GOOD_IP, SPOOF_IP, FaultResponder, Unbound

UNBOUND_RECORDS = [
    "www.example.test. 300 IN A 192.0.2.80",
    "www.example.test. 300 IN AAAA 2001:db8::80",
    'www.example.test. 300 IN TXT "hello from unbound"',
]


@pytest.fixture
def registry(workdir):
    return write_registry(workdir, {"public": [
        service_info("order-service", [{"ip": "10.0.0.7"}, {"ip": "10.0.0.8"}])]})


@pytest.fixture
def unbound(workdir):
    u = Unbound(workdir, UNBOUND_RECORDS).start()
    yield u
    u.stop()


@pytest.fixture
def responders():
    """Factory: responders(mode) starts a FaultResponder; all are stopped afterwards."""
    started = []

    def start(mode, **kw):
        r = FaultResponder(mode, **kw).start()
        started.append(r)
        return r

    yield start
    for r in started:
        r.stop()


def upstream_args(*ups):
    args = []
    for u in ups:
        args += ["--upstream", f"127.0.0.1:{u.port}"]
    return args


def edes(reply):
    """The extended errors (RFC 8914) in the reply's OPT: [(code, text)]."""
    return [(o.code, o.text) for o in reply.options if o.otype == dns.edns.EDE]


def a_records(reply):
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A
                  for rd in rrset)


def test_forwards_to_unbound_with_client_id_and_case(nacos_dns, registry, unbound):
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(unbound))
    q = dns.message.make_query("WwW.ExAmple.TEST.", "A")
    q.id = 0x2b2b
    r = srv.send(q)
    assert r.id == 0x2b2b
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.RA
    assert a_records(r) == ["192.0.2.80"]
    assert r.question[0].name.to_text() == "WwW.ExAmple.TEST."  # case restored byte for byte

    r = srv.query("www.example.test.", "AAAA", tcp=True)
    assert [rd.address for rrset in r.answer for rd in rrset] == ["2001:db8::80"]
    r = srv.query("www.example.test.", "TXT", use_edns=0, payload=4096)
    assert r.edns == 0
    assert [s for rrset in r.answer for rd in rrset for s in rd.strings] == [
        b"hello from unbound"]
    r = srv.query("missing.example.test.", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN

    # the zone is still answered from the snapshot, not forwarded
    r = srv.query("order-service.DEFAULT_GROUP.svc.", "A")
    assert a_records(r) == ["10.0.0.7", "10.0.0.8"]


@pytest.mark.parametrize("mode", ["wrong-id", "other-port", "other-address", "wrong-question"])
def test_spoofed_replies_ignored(nacos_dns, registry, responders, mode):
    """The bad reply arrives first; the forwarder drops it and keeps waiting for the real one."""
    up = responders(mode)
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(up))
    for i in range(5):
        r = srv.query(f"Host{i}.Outside.TEST.", "A")
        assert r.rcode() == dns.rcode.NOERROR
        assert a_records(r) == [GOOD_IP], f"spoofed {SPOOF_IP} accepted?"
    assert len(up.udp_queries) == 5


def test_truncated_upstream_reply_retried_over_tcp(nacos_dns, registry, responders):
    up = responders("truncate")
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(up))
    r = srv.query("tc.outside.test.", "A")
    assert a_records(r) == [GOOD_IP]
    assert not r.flags & dns.flags.TC
    assert len(up.udp_queries) == 1 and len(up.tcp_queries) == 1


def test_big_upstream_answer_truncated_for_client(nacos_dns, registry, responders):
    """An answer over the client's UDP size comes back with TC; over TCP the client gets it all."""
    up = responders("big", big_count=100)
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(up))
    q = dns.message.make_query("Big.Outside.TEST.", "A")
    wire = dns.query.udp(q, srv.host, port=srv.port, timeout=3)
    assert wire.flags & dns.flags.TC
    assert wire.id == q.id and wire.question[0].name.to_text() == "Big.Outside.TEST."
    assert not wire.answer
    r = srv.send(dns.message.make_query("big.outside.test.", "A"), tcp=True)
    assert len(a_records(r)) == 100 and not r.flags & dns.flags.TC

    r = srv.query("big2.outside.test.", "A", use_edns=0, payload=1232)
    assert r.flags & dns.flags.TC and r.edns == 0  # an EDNS client keeps its OPT


def test_silent_upstream_fails_over_to_next(nacos_dns, registry, responders):
    dead, good = responders("silent"), responders("good")
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(dead, good))
    r = srv.query("failover.outside.test.", "A", timeout=6)
    assert a_records(r) == [GOOD_IP]
    assert len(dead.udp_queries) == 1 and len(good.udp_queries) == 1


def test_upstream_servfail_fails_over_to_next(nacos_dns, registry, responders):
    bad, good = responders("servfail"), responders("good")
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(bad, good))
    assert a_records(srv.query("sf.outside.test.", "A")) == [GOOD_IP]


def test_all_upstreams_silent_gives_servfail_in_bounded_time(nacos_dns, registry, responders):
    ups = [responders("silent"), responders("silent")]
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(*ups))
    q = dns.message.make_query("Dead.Outside.TEST.", "A", use_edns=0)
    start = time.monotonic()
    r = srv.send(q, timeout=10)
    elapsed = time.monotonic() - start
    assert r.rcode() == dns.rcode.SERVFAIL
    assert r.id == q.id and r.question[0].name.to_text() == "Dead.Outside.TEST."
    assert r.edns == 0
    # dig shows "EDE: 22 (No Reachable Authority): (no upstream resolver answered)"
    assert edes(r) == [(dns.edns.EDECode.NO_REACHABLE_AUTHORITY, "no upstream resolver answered")]
    assert elapsed < 6, f"SERVFAIL after {elapsed:.1f}s with a 2 s budget"
    assert all(len(u.udp_queries) == 1 for u in ups)
    # still serving
    assert a_records(srv.query("order-service.DEFAULT_GROUP.svc.", "A")) == ["10.0.0.7",
                                                                              "10.0.0.8"]


def test_fresh_id_and_source_port_per_upstream_query(nacos_dns, registry, responders):
    up = responders("good")
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(up))
    for i in range(20):
        q = dns.message.make_query(f"r{i}.outside.test.", "A")
        q.id = 4321
        r = srv.send(q)
        assert r.id == 4321 and a_records(r) == [GOOD_IP]
    ids = [q.id for q, _ in up.udp_queries]
    ports = [peer[1] for _, peer in up.udp_queries]
    assert len(ids) == 20
    assert ids.count(4321) <= 1  # not the client's ID
    assert len(set(ids)) >= 18 and len(set(ports)) >= 18  # random, not sequential or reused


def test_inflight_cap(nacos_dns, registry, responders):
    up = responders("silent")
    srv = nacos_dns("--nacos", f"file:{registry}", "--forward-max-inflight", "2",
                    *upstream_args(up))
    with concurrent.futures.ThreadPoolExecutor(5) as pool:
        replies = list(pool.map(lambda i: srv.query(f"cap{i}.outside.test.", "A", timeout=8,
                                                    use_edns=0), range(5)))
    assert all(r.rcode() == dns.rcode.SERVFAIL for r in replies)
    # the two in flight timed out; the other three were turned away at once, and say so
    assert sorted(edes(r)[0] for r in replies) == sorted(
        2 * [(dns.edns.EDECode.NO_REACHABLE_AUTHORITY, "no upstream resolver answered")] +
        3 * [(dns.edns.EDECode.OTHER, "too many queries at upstream resolvers")])
    assert len(up.udp_queries) == 2  # the others were answered without an upstream query


def test_never_forwards_to_itself(nacos_dns, registry):
    port = free_port()
    srv = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{port}", port=port)
    r = srv.query("loop.outside.test.", "A", timeout=6, use_edns=0)
    assert r.rcode() == dns.rcode.SERVFAIL
    assert edes(r) == [(dns.edns.EDECode.NO_REACHABLE_AUTHORITY,
                        "no upstream resolver configured")]
    assert "skipped" in srv.log_text()


def test_refused_outside_allow_recursion(nacos_dns, registry, unbound):
    srv = nacos_dns("--nacos", f"file:{registry}", "--allow-recursion", "127.0.0.1/32",
                    *upstream_args(unbound))
    q = dns.message.make_query("www.example.test.", "A")
    r = dns.query.udp(q, srv.host, port=srv.port, source="127.0.0.2", timeout=3)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
    # inside the zones the same client is answered
    q = dns.message.make_query("order-service.DEFAULT_GROUP.svc.", "A")
    r = dns.query.udp(q, srv.host, port=srv.port, source="127.0.0.2", timeout=3)
    assert a_records(r) == ["10.0.0.7", "10.0.0.8"]
    # and an allowed client is forwarded
    assert a_records(srv.query("www.example.test.", "A")) == ["192.0.2.80"]


def test_rd0_outside_names_refused(nacos_dns, registry, unbound):
    srv = nacos_dns("--nacos", f"file:{registry}", *upstream_args(unbound))
    q = dns.message.make_query("www.example.test.", "A")
    q.flags &= ~dns.flags.RD
    r = srv.send(q)
    assert r.rcode() == dns.rcode.REFUSED and not r.answer
