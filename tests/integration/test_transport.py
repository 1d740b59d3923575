"""DNS transport: UDP and TCP listeners (RFC 7766 framing, pipelining, idle timeout, connection
cap), recursion permission and the RA bit, robustness against junk, and a clean SIGTERM."""
import random
import signal
import socket
import struct
import threading

import dns.exception
import dns.flags
import dns.message
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from conftest import free_port, service_info, write_registry

SVC = "order-service.DEFAULT_GROUP.svc."
IPS = {"10.0.0.1", "10.0.0.2"}
UPSTREAM_IP = "192.0.2.53"


class FakeUpstream:
    """A UDP resolver on loopback: answers every A query with UPSTREAM_IP. Queries for names
    starting with "hold" are answered only once release() is called."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", free_port()))
        self.port = self.sock.getsockname()[1]
        self.held = []
        self.released = threading.Event()
        self.got_held = threading.Event()
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def reply(self, q, addr):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if q.question[0].rdtype == dns.rdatatype.A:
            r.answer.append(dns.rrset.from_text(q.question[0].name, 30, "IN", "A", UPSTREAM_IP))
        self.sock.sendto(r.to_wire(), addr)

    def run(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65535)
                q = dns.message.from_wire(data)
            except OSError:
                return
            except Exception:
                continue
            with self.lock:
                if q.question[0].name.labels[0].startswith(b"hold") and not self.released.is_set():
                    self.held.append((q, addr))
                    self.got_held.set()
                    continue
            self.reply(q, addr)

    def release(self):
        with self.lock:
            self.released.set()
            for q, addr in self.held:
                self.reply(q, addr)
            self.held = []

    def close(self):
        self.sock.close()


@pytest.fixture
def upstream():
    u = FakeUpstream()
    yield u
    u.close()


@pytest.fixture
def registry(workdir):
    hosts = [{"ip": ip} for ip in sorted(IPS)]
    return write_registry(workdir, {"public": [service_info("order-service", hosts)]})


@pytest.fixture
def server(nacos_dns, registry, upstream):
    return nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}")


def frame(msg):
    wire = msg.to_wire() if hasattr(msg, "to_wire") else msg
    return struct.pack("!H", len(wire)) + wire


def tcp_connect(srv, timeout=10.0):
    family = socket.AF_INET6 if ":" in srv.host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.connect((srv.host, srv.port))
    return s


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            raise AssertionError(f"connection closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def recv_msg(s):
    (n,) = struct.unpack("!H", recv_exact(s, 2))
    return dns.message.from_wire(recv_exact(s, n))


def wait_closed(s):
    """True when the peer closes the connection (EOF or reset) before the socket timeout."""
    try:
        while True:
            if s.recv(65535) == b"":
                return True
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False


def a_set(reply):
    return {rr.address for rrset in reply.answer for rr in rrset if rrset.rdtype == dns.rdatatype.A}


def assert_service_answer(reply):
    assert reply.rcode() == dns.rcode.NOERROR, reply
    assert a_set(reply) == IPS, reply


def test_udp_and_tcp_answer_with_ra(server):
    for tcp in (False, True):
        r = server.query(SVC, "A", tcp=tcp)
        assert_service_answer(r)
        assert r.flags & dns.flags.QR
        assert r.flags & dns.flags.RA, "recursion is available to loopback clients"


def test_ipv6_listener(nacos_dns, registry, upstream):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.socket(socket.AF_INET6, socket.SOCK_DGRAM).bind(("::1", 0))
    except OSError:
        pytest.skip("no ::1")
    srv = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}",
                    host="::1")
    assert_service_answer(srv.query(SVC, "A"))
    assert_service_answer(srv.query(SVC, "A", tcp=True))


def test_tcp_pipelined_in_one_send(server):
    names = [(SVC, "A"), (SVC, "SRV"), (SVC, "TXT"), ("nope.DEFAULT_GROUP.svc.", "A"),
             ("DEFAULT_GROUP.svc.", "A"), ("svc.", "SOA"), ("www.example.", "A")]
    queries = {}
    for i in range(30):
        name, rdtype = names[i % len(names)]
        q = dns.message.make_query(name, rdtype)
        q.id = 1000 + i
        queries[q.id] = q
    s = tcp_connect(server)
    s.sendall(b"".join(frame(q) for q in queries.values()))
    replies = {}
    for _ in queries:
        r = recv_msg(s)
        assert r.id not in replies, "one reply per query"
        replies[r.id] = r
    s.close()
    assert set(replies) == set(queries)
    for qid, r in replies.items():
        q = queries[qid]
        assert r.question == q.question
        name = q.question[0].name.to_text()
        if name == SVC and q.question[0].rdtype == dns.rdatatype.A:
            assert_service_answer(r)
        elif name == "nope.DEFAULT_GROUP.svc.":
            assert r.rcode() == dns.rcode.NXDOMAIN
        elif name == "www.example.":
            assert r.rcode() == dns.rcode.NOERROR
            assert a_set(r) == {UPSTREAM_IP}
        else:
            assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.RA


def test_tcp_replies_complete_out_of_order(server, upstream):
    """A forwarded query still waiting upstream does not hold back later answers on the
    same connection."""
    held = dns.message.make_query("hold.example.", "A")
    held.id = 1
    local = dns.message.make_query(SVC, "A")
    local.id = 2
    s = tcp_connect(server)
    s.sendall(frame(held) + frame(local))
    assert upstream.got_held.wait(10), "the forwarded query reached the upstream"
    first = recv_msg(s)
    assert first.id == 2
    assert_service_answer(first)
    upstream.release()
    second = recv_msg(s)
    assert second.id == 1
    assert a_set(second) == {UPSTREAM_IP}
    s.close()


def test_tcp_query_split_across_segments(server):
    q = dns.message.make_query(SVC, "A")
    data = frame(q)
    s = tcp_connect(server)
    # Split inside the length prefix, inside the header, and inside the question.
    parts = (data[:1], data[1:5], data[5:20], data[20:])
    for i, part in enumerate(parts):
        s.sendall(part)
        # Nothing may come back before the message is complete.
        if i < len(parts) - 1:
            s.settimeout(0.05)
            with pytest.raises(socket.timeout):
                s.recv(1)
            s.settimeout(10)
    r = recv_msg(s)
    assert r.id == q.id
    assert_service_answer(r)
    # The connection stays usable for the next query.
    q2 = dns.message.make_query(SVC, "A")
    s.sendall(frame(q2))
    r2 = recv_msg(s)
    assert r2.id == q2.id
    assert_service_answer(r2)
    s.close()


def test_tcp_idle_timeout_closes(nacos_dns, registry, upstream):
    srv = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}",
                    "--tcp-idle-timeout", "1")
    s = tcp_connect(srv, timeout=30)
    q = dns.message.make_query(SVC, "A")
    s.sendall(frame(q))
    assert_service_answer(recv_msg(s))
    assert wait_closed(s), "an idle connection is closed by the server"
    s.close()
    # A connection that never sends anything is closed too.
    s = tcp_connect(srv, timeout=30)
    assert wait_closed(s)
    s.close()
    assert_service_answer(srv.query(SVC, "A", tcp=True))


def test_tcp_max_connections(nacos_dns, registry, upstream):
    srv = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}",
                    "--tcp-max-connections", "3")
    held = []
    for i in range(3):
        s = tcp_connect(srv)
        q = dns.message.make_query(SVC, "A")
        s.sendall(frame(q))
        assert_service_answer(recv_msg(s))
        held.append(s)
    extra = []
    for _ in range(3):
        s = tcp_connect(srv, timeout=10)
        try:
            s.sendall(frame(dns.message.make_query(SVC, "A")))
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert wait_closed(s), "a connection beyond the cap is closed"
        extra.append(s)
    # UDP is unaffected, and the connections within the cap still work.
    assert_service_answer(srv.query(SVC, "A"))
    for s in held:
        s.sendall(frame(dns.message.make_query(SVC, "A")))
        assert_service_answer(recv_msg(s))
    # Freeing a slot lets a new client in (the close is noticed asynchronously).
    held.pop().close()
    for _ in range(100):
        try:
            assert_service_answer(srv.query(SVC, "A", tcp=True, timeout=2))
            break
        except (ConnectionError, EOFError, OSError):
            continue
    else:
        raise AssertionError("no TCP answer after a slot was freed")
    for s in held + extra:
        s.close()


def junk_packets(rnd):
    """Random and malformed DNS messages."""
    q = dns.message.make_query(SVC, "A").to_wire()
    hdr = q[:12]
    qname_end = q.index(b"\x00", 12) + 1
    question = q[12:]
    pkts = []
    for _ in range(1500):
        pkts.append(rnd.randbytes(rnd.randrange(0, 600)))
    for n in range(12):
        pkts.append(q[:n])  # truncated header
    for n in range(12, len(q)):
        pkts.append(q[:n])  # truncated question
    pkts.append(hdr[:2] + bytes([hdr[2] | 0x80]) + hdr[3:] + question)  # QR=1
    pkts.append(hdr[:4] + b"\xff\xff" + hdr[6:] + question)  # QDCOUNT 65535
    pkts.append(hdr[:4] + b"\x00\x00" + hdr[6:] + question)  # QDCOUNT 0
    pkts.append(hdr[:6] + b"\xff\xff\xff\xff\xff\xff" + question)  # huge other counts
    pkts.append(hdr + b"\xc0\x0c\x00\x01\x00\x01")  # pointer to itself
    pkts.append(hdr + b"\x01a\xc0\x0c\x00\x01\x00\x01")  # loop through a label
    pkts.append(hdr + b"\xc0\xff\x00\x01\x00\x01")  # pointer past the end
    pkts.append(hdr + b"\x40" + b"a" * 64 + b"\x00\x00\x01\x00\x01")  # label type 01
    pkts.append(hdr + b"\x80" + b"\x00\x00\x01\x00\x01")  # label type 10
    pkts.append(hdr + b"\x3f" + b"a" * 10)  # label longer than the packet
    pkts.append(hdr + (b"\x3f" + b"a" * 63) * 5 + b"\x00\x00\x01\x00\x01")  # name > 255
    pkts.append(hdr[:10] + b"\x00\x01" + question + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\xff\xff")
    pkts.append(hdr[:10] + b"\x00\x05" + question + b"\x00\x00\x29\x10\x00\x00\x00\x00\x00\x00" * 5)
    for _ in range(1500):  # a valid query with random bytes flipped
        b = bytearray(q)
        for _ in range(rnd.randrange(1, 4)):
            b[rnd.randrange(len(b))] = rnd.randrange(256)
        pkts.append(bytes(b))
    assert qname_end > 12
    return pkts


def udp_query_retried(srv, tries=3):
    for i in range(tries):
        try:
            return srv.query(SVC, "A", timeout=3)
        except dns.exception.Timeout:
            if i == tries - 1 or srv.proc.poll() is not None:
                raise AssertionError("no UDP answer:\n" + srv.log_text()[-3000:])


def test_malformed_packets_do_not_hurt(server):
    rnd = random.Random(20240607)
    pkts = junk_packets(rnd)
    assert len(pkts) > 3000
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i, p in enumerate(pkts):
        u.sendto(p, (server.host, server.port))
        if i % 50 == 0:
            # Paces the junk so the socket buffer keeps up (a burst may drop datagrams, which
            # is why the check query is retried).
            assert_service_answer(udp_query_retried(server))
    u.close()
    # Junk over TCP: each connection gets a few junk frames and then a real query or a close.
    for i in range(60):
        s = tcp_connect(server)
        junk = b"".join(frame(rnd.choice(pkts)) for _ in range(3))
        try:
            s.sendall(junk + frame(dns.message.make_query(SVC, "A")))
            s.shutdown(socket.SHUT_WR)  # the server closes once it has answered
            while s.recv(65535):
                pass
        except (ConnectionResetError, BrokenPipeError, socket.timeout):
            pass
        s.close()
    for bad in (b"\x00\x00", b"\x00\x05hello", b"\x00\x0b" + b"x" * 11):
        s = tcp_connect(server)
        s.sendall(bad + frame(dns.message.make_query(SVC, "A")))
        assert wait_closed(s), f"frame {bad[:2]!r} closes the connection"
        s.close()
    # A frame announced long and never finished is simply waited for; random bytes too.
    s = tcp_connect(server)
    s.sendall(b"\xff\xff" + rnd.randbytes(1000))
    s.close()
    assert server.proc.poll() is None, "still running"
    assert_service_answer(server.query(SVC, "A"))
    assert_service_answer(server.query(SVC, "A", tcp=True))


def test_rd_clear_or_acl_denied_gets_refused(nacos_dns, registry, upstream):
    srv = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}")
    q = dns.message.make_query("www.example.", "A")
    q.flags &= ~dns.flags.RD
    r = srv.send(q)
    assert r.rcode() == dns.rcode.REFUSED, "RD clear: not forwarded"
    denied = nacos_dns("--nacos", f"file:{registry}", "--upstream", f"127.0.0.1:{upstream.port}",
                       "--allow-recursion", "192.0.2.0/24")
    for tcp in (False, True):
        r = denied.query("www.example.", "A", tcp=tcp)
        assert r.rcode() == dns.rcode.REFUSED
        assert not r.flags & dns.flags.RA
        r = denied.query(SVC, "A", tcp=tcp)
        assert_service_answer(r)
        assert not r.flags & dns.flags.RA


def test_sigterm_with_open_connections_exits_zero(server, upstream):
    s = tcp_connect(server)
    held = dns.message.make_query("hold-forever.example.", "A")
    s.sendall(frame(held) + b"\x00\x40partial")
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(dns.message.make_query("hold-too.example.", "A").to_wire(),
             (server.host, server.port))
    assert upstream.got_held.wait(10)
    server.signal(signal.SIGTERM)
    assert server.proc.wait(10) == 0, server.log_text()
    assert wait_closed(s)
    s.close()
    u.close()
