"""Answers bigger than a UDP reply: TC and the TCP retry, the subset option, the EDNS cap."""
import socket

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from conftest import addresses, rdatas, serve_services, service_info

HUGE = "huge.DEFAULT_GROUP.svc."
IPS = sorted(f"10.3.{i // 100}.{i % 100 + 1}" for i in range(200))


def huge_service():
    return service_info("huge", [{"ip": ip, "port": 8000 + n % 7, "weight": 1.0 + n % 5}
                                 for n, ip in enumerate(IPS)])


@pytest.fixture
def server(nacos_dns, workdir):
    return serve_services(nacos_dns, workdir, [huge_service()])


def udp_exchange(srv, q, timeout=3.0):
    """(reply bytes, parsed reply) for q over UDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(q.to_wire(), (srv.host, srv.port))
        wire = s.recv(65535)
    return wire, dns.message.from_wire(wire)


def srv_targets(r, name):
    return sorted((s.target.to_text().lower(), s.port) for s in rdatas(r, name, "SRV"))


def assert_additional_matches_targets(r, name):
    """Every address in the additional section belongs to an SRV target and matches its label."""
    targets = {s.target for s in rdatas(r, name, "SRV")}
    for rrset in r.additional:
        if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            assert rrset.name in targets, r
            assert [a.address.replace(".", "-") for a in rrset] == [
                rrset.name.labels[0].decode()]


@pytest.mark.parametrize("edns", [None, 1232])
def test_udp_sets_tc_and_fits_the_buffer(server, edns):
    kw = {"use_edns": 0, "payload": edns} if edns else {}
    for rdtype in ("A", "SRV", "TXT"):
        wire, r = udp_exchange(server, dns.message.make_query(HUGE, rdtype, **kw))
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.TC, f"{rdtype} {edns}"
        assert len(wire) <= (edns or 512)


def test_tcp_gets_all_200_addresses(server):
    r = server.query(HUGE, "A", tcp=True)
    assert not r.flags & dns.flags.TC
    assert addresses(r, HUGE) == IPS


def test_tcp_gets_the_full_srv_set(server):
    r = server.query(HUGE, "SRV", tcp=True)
    assert not r.flags & dns.flags.TC
    expected = sorted((f"{ip.replace('.', '-')}.{HUGE}".lower(), 8000 + n % 7)
                      for n, ip in enumerate(IPS))
    assert srv_targets(r, HUGE) == expected
    assert_additional_matches_targets(r, HUGE)
    extra = sum(len(rrset) for rrset in r.additional if rrset.rdtype == dns.rdatatype.A)
    assert extra == 200  # everything fits in a TCP reply


def test_tcp_gets_every_txt(server):
    r = server.query(HUGE, "TXT", tcp=True)
    assert len(rdatas(r, HUGE, "TXT")) == 200


def test_udp_with_fallback_gets_everything(server):
    q = dns.message.make_query(HUGE, "A", use_edns=0, payload=1232)
    r, used_tcp = dns.query.udp_with_fallback(q, server.host, port=server.port, timeout=3.0)
    assert used_tcp
    assert addresses(r, HUGE) == IPS


def test_edns_4096_is_capped_at_1232(server):
    wire, r = udp_exchange(server, dns.message.make_query(HUGE, "A", use_edns=0, payload=4096))
    assert r.flags & dns.flags.TC
    assert len(wire) <= 1232


def test_raised_cap_lets_4096_through(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, [huge_service()], "--edns-buffer", "4096")
    wire, r = udp_exchange(srv, dns.message.make_query(HUGE, "A", use_edns=0, payload=4096))
    assert not r.flags & dns.flags.TC
    assert len(wire) <= 4096
    assert addresses(r, HUGE) == IPS
    wire, r = udp_exchange(srv, dns.message.make_query(HUGE, "A", use_edns=0, payload=1232))
    assert r.flags & dns.flags.TC and len(wire) <= 1232


@pytest.mark.parametrize("edns", [None, 1232])
def test_subset_mode_fits_without_tc(nacos_dns, workdir, edns):
    srv = serve_services(nacos_dns, workdir, [huge_service()], "--truncate", "subset")
    kw = {"use_edns": 0, "payload": edns} if edns else {}
    for _ in range(5):
        wire, r = udp_exchange(srv, dns.message.make_query(HUGE, "A", **kw))
        assert r.rcode() == dns.rcode.NOERROR
        assert not r.flags & dns.flags.TC
        assert len(wire) <= (edns or 512)
        got = addresses(r, HUGE)
        assert 0 < len(got) < 200 and set(got) <= set(IPS)
        assert len(got) == len(set(got))
    wire, r = udp_exchange(srv, dns.message.make_query(HUGE, "SRV", **kw))
    assert not r.flags & dns.flags.TC and len(wire) <= (edns or 512)
    targets = srv_targets(r, HUGE)
    assert 0 < len(targets) < 200
    assert_additional_matches_targets(r, HUGE)
    # TCP still gets everything in subset mode
    assert addresses(srv.query(HUGE, "A", tcp=True), HUGE) == IPS
