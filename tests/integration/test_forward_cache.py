"""The forward cache: names outside the zones answered from the cache (TTLs counted down, negative
answers per RFC 2308, no poisoning, bounded memory), served stale while the upstreams are down
(RFC 8767), refreshed before they expire; against an upstream that counts what it is asked."""
import socket
import threading
import time
import urllib.request

import dns.edns
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import free_port, wait_for

SOA = "example.org. 3600 IN SOA ns.example.org. admin.example.org. 1 3600 600 86400 60"


class CountingUpstream:
    """A UDP resolver answering from zone (name -> list of "TTL TYPE DATA"), counting every
    question by (name, type), following a CNAME to its target. dead: it reads and never answers.
    poison: extra records it adds to its answers for attacker.example.org, in the answer and
    additional sections."""

    def __init__(self, zone, poison=None):
        self.zone = zone
        self.poison = poison or []
        self.counts = {}
        self.dead = False
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def count(self, name, rdtype="A"):
        with self.lock:
            return self.counts.get((name.lower().rstrip(".") + ".", rdtype), 0)

    def stop(self):
        self.stopping = True
        self.thread.join()
        self.sock.close()

    def _answer(self, q):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        qname = q.question[0].name.to_text().lower()
        rdtype = dns.rdatatype.to_text(q.question[0].rdtype)
        records = list(self.zone[qname]) if qname in self.zone else None
        if records is None:
            r.set_rcode(dns.rcode.NXDOMAIN)
        owner = qname
        for rec in records or []:
            ttl, t, data = rec.split(" ", 2)
            if t == rdtype or t == "CNAME":
                r.answer.append(dns.rrset.from_text(owner, int(ttl), "IN", t, data))
            if t == "CNAME":
                owner = data
                records.extend(self.zone.get(data, []))
        if not r.answer:
            r.authority.append(dns.rrset.from_text(*SOA.split(" ", 4)[:1], 3600, "IN", "SOA",
                                                   SOA.split(" ", 4)[4]))
        for section, text in self.poison if qname == "attacker.example.org." else []:
            name, ttl, _, t, data = text.split(" ", 4)
            getattr(r, section).append(dns.rrset.from_text(name, int(ttl), "IN", t, data))
        return r

    def _run(self):
        while not self.stopping:
            try:
                data, peer = self.sock.recvfrom(65535)
            except socket.timeout:
                continue
            q = dns.message.from_wire(data)
            key = (q.question[0].name.to_text().lower(),
                   dns.rdatatype.to_text(q.question[0].rdtype))
            with self.lock:
                self.counts[key] = self.counts.get(key, 0) + 1
            if not self.dead:
                self.sock.sendto(self._answer(q).to_wire(), peer)


ZONE = {
    "www.example.org.": ["300 A 192.0.2.1"],
    "short.example.org.": ["2 A 192.0.2.2"],
    "soon.example.org.": ["5 A 192.0.2.3"],
    "nodata.example.org.": ["300 A 192.0.2.4"],
    "alias.example.org.": ["300 CNAME www.example.org."],
    "attacker.example.org.": ["300 A 192.0.2.66"],
    "victim.example.org.": ["300 A 192.0.2.77"],
    "bystander.example.org.": ["300 A 192.0.2.88"],
}


@pytest.fixture
def upstream():
    u = CountingUpstream(ZONE)
    yield u
    u.stop()


def start(nacos_dns, upstream, *args):
    http_port = free_port(kind=socket.SOCK_STREAM)
    srv = nacos_dns("--upstream", f"127.0.0.1:{upstream.port}", "--forward-timeout", "600ms",
                    "--http", f"127.0.0.1:{http_port}", *args)
    srv.http_port = http_port
    return srv


def metric(srv, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
    raise AssertionError(f"no {name} in /metrics")


def ttls(msg):
    return [rrset.ttl for rrset in msg.answer + msg.authority]


@pytest.mark.parametrize("threads", ["1", "2"])
def test_repeated_lookup_is_answered_from_the_cache(nacos_dns, upstream, threads):
    srv = start(nacos_dns, upstream, "--threads", threads)
    first = srv.query("www.example.org", "A")
    assert first.rcode() == dns.rcode.NOERROR
    for name in ("www.example.org", "WWW.Example.ORG"):
        again = srv.query(name, "A")
        assert again.answer[0].to_text().split()[-1] == "192.0.2.1"
        assert again.question[0].name.to_text() == name + "."  # the client's case
        assert again.flags & dns.flags.RA
    assert upstream.count("www.example.org") == 1
    assert metric(srv, "nacosdns_cache_hits_total") == 2


def test_ttl_counts_down(nacos_dns, upstream):
    srv = start(nacos_dns, upstream)
    assert ttls(srv.query("www.example.org", "A")) == [300]
    time.sleep(2.1)
    later = srv.query("www.example.org", "A")
    assert ttls(later)[0] <= 298
    assert upstream.count("www.example.org") == 1


def test_ttl_clamped_by_cache_max_ttl(nacos_dns, upstream):
    srv = start(nacos_dns, upstream, "--cache-max-ttl", "60")
    srv.query("www.example.org", "A")
    assert ttls(srv.query("www.example.org", "A"))[0] <= 60


def test_cname_chain_is_cached(nacos_dns, upstream):
    srv = start(nacos_dns, upstream)
    first = srv.query("alias.example.org", "A")
    again = srv.query("alias.example.org", "A")
    assert [(r.name, r.rdtype) for r in again.answer] == [(r.name, r.rdtype)
                                                          for r in first.answer]
    assert [r.rdtype for r in again.answer] == [dns.rdatatype.CNAME, dns.rdatatype.A]
    assert upstream.count("alias.example.org") == 1


def test_nxdomain_and_nodata_are_cached_with_the_soa(nacos_dns, upstream):
    srv = start(nacos_dns, upstream)
    for name, rdtype, rcode in (("nx.example.org", "A", dns.rcode.NXDOMAIN),
                                ("nodata.example.org", "AAAA", dns.rcode.NOERROR)):
        for _ in range(3):
            r = srv.query(name, rdtype)
            assert r.rcode() == rcode
            assert not r.answer
            soa = r.authority[0]
            assert soa.rdtype == dns.rdatatype.SOA
            assert soa.ttl <= 60  # the SOA minimum (RFC 2308)
        assert upstream.count(name, rdtype) == 1


def test_negative_ttl_clamped(nacos_dns, upstream):
    srv = start(nacos_dns, upstream, "--cache-max-negative-ttl", "1")
    assert srv.query("nx.example.org", "A").authority[0].ttl <= 1
    time.sleep(1.2)
    srv.query("nx.example.org", "A")
    assert upstream.count("nx.example.org") == 2


def test_poisoned_records_never_answer_another_name(nacos_dns):
    up = CountingUpstream(ZONE, poison=[
        ("additional", "victim.example.org. 86400 IN A 203.0.113.66"),
        ("answer", "bystander.example.org. 86400 IN A 203.0.113.66")])
    try:
        srv = start(nacos_dns, up)
        srv.query("attacker.example.org", "A")
        assert up.count("attacker.example.org") == 1
        for name, good in (("victim.example.org", "192.0.2.77"),
                           ("bystander.example.org", "192.0.2.88")):
            r = srv.query(name, "A")
            assert up.count(name) == 1  # asked upstream: nothing cached answered it
            got = [rr.to_text() for rrset in r.answer if rrset.name.to_text() == name + "."
                   for rr in rrset]
            assert got == [good]
        cached = srv.query("attacker.example.org", "A")
        assert up.count("attacker.example.org") == 1
        assert [rrset.name.to_text() for rrset in cached.answer] == ["attacker.example.org."]
        assert not cached.additional
    finally:
        up.stop()


def test_stale_answer_with_ede_3_while_the_upstream_is_dead(nacos_dns, upstream):
    srv = start(nacos_dns, upstream)
    q = dns.message.make_query("short.example.org", "A", use_edns=0)
    assert srv.send(q).answer[0].ttl == 2
    time.sleep(2.2)
    upstream.dead = True
    for _ in range(2):  # after the upstream failed once, at once from the cache
        r = srv.send(dns.message.make_query("short.example.org", "A", use_edns=0))
        assert r.rcode() == dns.rcode.NOERROR
        assert r.answer[0].ttl == 30
        assert r.answer[0].to_text().split()[-1] == "192.0.2.2"
        assert [o.code for o in r.options if isinstance(o, dns.edns.EDEOption)] == [3]
    assert metric(srv, "nacosdns_cache_stale_answers_total") == 2
    upstream.dead = False
    wait_for(lambda: srv.query("short.example.org", "A").answer[0].ttl != 30,
             what="a fresh answer once the upstream is back")


def test_no_stale_answer_when_disabled(nacos_dns, upstream):
    srv = start(nacos_dns, upstream, "--cache-stale-max", "0")
    srv.query("short.example.org", "A")
    time.sleep(2.2)
    upstream.dead = True
    assert srv.query("short.example.org", "A").rcode() == dns.rcode.SERVFAIL


def test_prefetch_refreshes_a_popular_name(nacos_dns, upstream):
    srv = start(nacos_dns, upstream)
    for _ in range(3):  # the query must land in the last tenth (0.5 s) of the 5 s TTL
        srv.query("soon.example.org", "A")
        time.sleep(4.6)
        before = upstream.count("soon.example.org")
        r = srv.query("soon.example.org", "A")
        if r.answer[0].ttl == 0 and metric(srv, "nacosdns_cache_prefetches_total") >= 1:
            break
        time.sleep(1)
    assert metric(srv, "nacosdns_cache_prefetches_total") >= 1
    wait_for(lambda: upstream.count("soon.example.org") == before + 1, what="the prefetch")
    assert srv.query("soon.example.org", "A").answer[0].ttl >= 4  # the refreshed entry
    assert upstream.count("soon.example.org") == before + 1


def test_size_cap_holds_under_a_flood_of_names(nacos_dns, upstream):
    cap = 256 * 1024
    srv = start(nacos_dns, upstream, "--cache-size", str(cap), "--threads", "1")
    for i in range(4000):
        srv.query(f"n{i}.flood.example.org", "A")
    assert metric(srv, "nacosdns_cache_bytes") <= cap
    assert metric(srv, "nacosdns_cache_evictions_total") > 0
    with open(f"/proc/{srv.proc.pid}/status") as f:
        rss_kb = int(next(line for line in f if line.startswith("VmRSS")).split()[1])
    assert rss_kb < 64 * 1024


def test_cache_off_forwards_every_query(nacos_dns, upstream):
    srv = start(nacos_dns, upstream, "--cache", "off")
    for _ in range(3):
        srv.query("www.example.org", "A")
    assert upstream.count("www.example.org") == 3


def test_sighup_keeps_the_cache(nacos_dns, upstream):
    import signal
    srv = start(nacos_dns, upstream)
    srv.query("www.example.org", "A")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration")
    srv.query("www.example.org", "A")
    assert upstream.count("www.example.org") == 1


def test_sighup_flushes_the_cache_when_the_upstreams_change(nacos_dns, upstream, workdir):
    import os
    import signal
    other = CountingUpstream(ZONE)
    try:
        conf = os.path.join(workdir, "nacos-dns.conf")
        with open(conf, "w") as f:
            f.write(f"upstream = 127.0.0.1:{upstream.port}\n")
        srv = nacos_dns("-c", conf)
        srv.query("www.example.org", "A")
        with open(conf, "w") as f:
            f.write(f"upstream = 127.0.0.1:{other.port}\n")
        srv.signal(signal.SIGHUP)
        srv.wait_log("reloaded configuration")
        srv.query("www.example.org", "A")
        assert upstream.count("www.example.org") == 1
        assert other.count("www.example.org") == 1  # not answered by the old upstream's entry
    finally:
        other.stop()


@pytest.mark.parametrize("mode", ["wrong-id", "other-port", "other-address", "wrong-question"])
def test_spoofed_replies_are_never_cached(nacos_dns, mode):
    from upstream import GOOD_IP, FaultResponder
    r = FaultResponder(mode).start()
    try:
        srv = nacos_dns("--upstream", f"127.0.0.1:{r.port}")
        for name in ("spoof.example.test", "other.spoof.example.test", "spoof.example.test"):
            got = [rr.address for rrset in srv.query(name, "A").answer for rr in rrset]
            assert got == [GOOD_IP]
        assert len(r.udp_queries) == 2  # the repeat came from the cache, with the real answer
    finally:
        r.stop()
