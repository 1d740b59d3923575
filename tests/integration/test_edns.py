"""EDNS(0) and protocol edges: RFC 6891, RFC 3225 and the checks of RFC 8906 section 8."""
import socket
import struct
import subprocess

import dns.edns
import dns.flags
import dns.message
import dns.opcode
import dns.rcode
import pytest

from conftest import addresses, rdatas, serve_services, service_info

SVC = "order-service.DEFAULT_GROUP.svc."
BIG = "big.DEFAULT_GROUP.svc."      # 40 IPv4 addresses: over 512 octets, under 1232
MEDIUM = "medium.DEFAULT_GROUP.svc."  # 10 IPv4 addresses: over 100 octets, under 512
UNKNOWN_OPTION = 65001
UNKNOWN_FLAG = 0x4000  # an EDNS Z bit nobody has assigned


@pytest.fixture
def server(nacos_dns, workdir):
    return serve_services(nacos_dns, workdir, [
        service_info("order-service", [{"ip": "10.0.0.11"}, {"ip": "10.0.0.12"}]),
        service_info("big", [{"ip": f"10.1.0.{i}"} for i in range(1, 41)]),
        service_info("medium", [{"ip": f"10.2.0.{i}"} for i in range(1, 11)]),
    ])


def edns_query(name, rdtype, version, **kw):
    """A query with an OPT record of the given EDNS version (make_query only makes version 0)."""
    q = dns.message.make_query(name, rdtype)
    q.use_edns(version, **kw)
    return q


def send_raw(srv, wire, timeout=2.0):
    """One datagram to srv; the reply's bytes, or None when none came within timeout."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        s.sendto(bytes(wire), (srv.host, srv.port))
        try:
            return s.recv(65535)
        except socket.timeout:
            return None


def header(wire):
    """(id, flags, qdcount, ancount, nscount, arcount) of a DNS message."""
    return struct.unpack("!HHHHHH", wire[:12])


def rcode_of(wire):
    return header(wire)[1] & 0xF


def query_wire(name=SVC, rdtype="A", **kw):
    return bytearray(dns.message.make_query(name, rdtype, **kw).to_wire())


def opt_rr(owner=b"\x00", payload=1232):
    return owner + struct.pack("!HHIH", 41, payload, 0, 0)


def with_additional(wire, *records):
    wire = bytearray(wire)
    struct.pack_into("!H", wire, 10, len(records))
    return wire + b"".join(records)


# --- RFC 6891 / RFC 8906 section 8 -----------------------------------------------------------

def test_no_edns_no_opt_in_reply(server):
    r = server.query("svc.", "SOA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == -1


def test_no_edns_means_512_octets(server):
    reply = send_raw(server, query_wire(BIG))
    assert reply is not None and len(reply) <= 512
    assert header(reply)[1] & dns.flags.TC


def test_plain_edns_is_echoed(server):
    r = server.query("svc.", "SOA", use_edns=0)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.edns == 0 and r.payload >= 512
    assert rdatas(r, "svc.", "SOA")
    assert not r.ednsflags & dns.flags.DO


def test_edns_version_1_gets_badvers(server):
    q = edns_query("svc.", "SOA", 1)
    assert q.edns == 1
    r = server.send(q)
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0  # the highest version we speak
    assert r.answer == []


def test_edns_version_1_with_unknown_option_and_flag_gets_badvers(server):
    r = server.send(edns_query("svc.", "SOA", 1, ednsflags=UNKNOWN_FLAG,
                               options=[dns.edns.GenericOption(UNKNOWN_OPTION, b"x")]))
    assert r.rcode() == dns.rcode.BADVERS
    assert r.edns == 0
    assert not r.ednsflags & UNKNOWN_FLAG
    assert all(o.otype != UNKNOWN_OPTION for o in r.options)


def test_unknown_option_ignored(server):
    r = server.query(SVC, "A", use_edns=0, options=[dns.edns.GenericOption(UNKNOWN_OPTION, b"abc")])
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, SVC) == ["10.0.0.11", "10.0.0.12"]
    assert r.edns == 0
    assert all(o.otype != UNKNOWN_OPTION for o in r.options)


NSID = 3  # RFC 5001


def test_nsid_names_the_server_when_asked(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", [{"ip": "10.0.0.11"}])],
                         "--hostname", "dns-7.example")
    r = srv.query(SVC, "A", use_edns=0, options=[dns.edns.GenericOption(NSID, b"")])
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, SVC) == ["10.0.0.11"]
    assert [bytes(o.to_wire()) for o in r.options if o.otype == NSID] == [b"dns-7.example"]
    assert not srv.query(SVC, "A", use_edns=0).options  # not asked, not sent
    out = subprocess.run(["dig", f"@{srv.host}", "-p", str(srv.port), "+nsid", "+time=3", SVC],
                         capture_output=True, text=True, check=True).stdout
    assert 'NSID: 64 6e 73 2d 37 2e 65 78 61 6d 70 6c 65 ("dns-7.example")' in out, out


def test_option_overrunning_the_opt_is_formerr(server):
    q = dns.message.make_query(SVC, "A", use_edns=0)
    wire = bytearray(q.to_wire())
    assert wire[-2:] == b"\x00\x00"  # RDLENGTH 0: the OPT record is last
    wire[-2:] = b"\x00\x05"
    wire += b"\x00\x03\x00\x02\x00"  # NSID claiming 2 octets, with 1
    assert rcode_of(send_raw(server, wire)) == dns.rcode.FORMERR


def test_unknown_flag_ignored_and_not_echoed(server):
    r = server.query(SVC, "A", use_edns=0, ednsflags=UNKNOWN_FLAG)
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, SVC) == ["10.0.0.11", "10.0.0.12"]
    assert r.edns == 0
    assert r.ednsflags & 0x7FFF == 0  # Z bits are cleared in replies


def test_do_bit_echoed(server):
    r = server.query("svc.", "SOA", use_edns=0, want_dnssec=True)
    assert r.rcode() == dns.rcode.NOERROR
    assert r.ednsflags & dns.flags.DO
    r = server.send(edns_query("svc.", "SOA", 1, ednsflags=dns.flags.DO))
    assert r.rcode() == dns.rcode.BADVERS
    assert r.ednsflags & dns.flags.DO


def test_edns_over_tcp(server):
    r = server.query("svc.", "SOA", use_edns=0, tcp=True)
    assert r.rcode() == dns.rcode.NOERROR and r.edns == 0
    assert rdatas(r, "svc.", "SOA")


def test_edns_size_below_512_treated_as_512(server):
    r = server.query(MEDIUM, "A", use_edns=0, payload=100)
    assert not r.flags & dns.flags.TC
    assert len(addresses(r, MEDIUM)) == 10


def test_edns_size_raises_the_limit(server):
    r = server.query(BIG, "A", use_edns=0, payload=1232)
    assert not r.flags & dns.flags.TC
    assert len(addresses(r, BIG)) == 40


def test_opt_with_non_root_owner_is_formerr(server):
    reply = send_raw(server, with_additional(query_wire(), opt_rr(owner=b"\x01x\x00")))
    assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


def test_two_opts_are_formerr(server):
    reply = send_raw(server, with_additional(query_wire(), opt_rr(), opt_rr()))
    assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


# --- header edges ----------------------------------------------------------------------------

@pytest.mark.parametrize("opcode", [dns.opcode.NOTIFY, dns.opcode.UPDATE, dns.opcode.IQUERY,
                                    dns.opcode.STATUS])
def test_other_opcodes_are_notimp(server, opcode):
    wire = query_wire("svc.", "SOA")
    wire[2] = (wire[2] & 0x87) | (opcode << 3)
    reply = send_raw(server, wire)
    assert reply is not None
    assert header(reply)[0] == header(wire)[0]
    assert rcode_of(reply) == dns.rcode.NOTIMP


def test_qdcount_0_is_formerr(server):
    wire = struct.pack("!HHHHHH", 0x1234, 0x0100, 0, 0, 0, 0)
    reply = send_raw(server, wire)
    assert reply is not None and header(reply)[0] == 0x1234
    assert rcode_of(reply) == dns.rcode.FORMERR


def test_qdcount_2_is_formerr(server):
    q = query_wire(SVC)
    question = bytes(q[12:])
    wire = bytearray(q[:12]) + question + question
    struct.pack_into("!H", wire, 4, 2)
    reply = send_raw(server, wire)
    assert reply is not None and rcode_of(reply) == dns.rcode.FORMERR


def test_qr_set_is_dropped_and_server_keeps_answering(server):
    wire = query_wire(SVC)
    wire[2] |= 0x80
    assert send_raw(server, wire, timeout=0.5) is None
    r = server.query(SVC, "A")
    assert addresses(r, SVC) == ["10.0.0.11", "10.0.0.12"]


def test_reply_id_and_question_match(server):
    q = dns.message.make_query("OrDeR-SeRvIcE.default_group.svc.", "A", use_edns=0)
    reply = send_raw(server, q.to_wire())
    r = dns.message.from_wire(reply)
    assert r.id == q.id and r.flags & dns.flags.QR
    assert r.question[0].name.to_text() == "OrDeR-SeRvIcE.default_group.svc."
    assert r.flags & dns.flags.RD  # RD is copied from the query
