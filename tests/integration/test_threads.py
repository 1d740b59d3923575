"""--threads 2: worker threads with their own SO_REUSEPORT sockets answer UDP queries; forwarding
and first fetches are handed to the main loop and still answered; /metrics counts every reply of
every thread; SIGHUP and SIGTERM while queries are in flight."""
import random
import re
import select
import signal
import socket
import threading
import urllib.request

import dns.message
import dns.rcode
import dns.rdatatype

from conftest import free_port, serve_services, service_info, wait_for, write_registry
from upstream import Unbound

THREADS = "2"
N_SERVICES = 40


def ip_of(i):
    return f"10.7.{i // 200}.{i % 200 + 1}"


def name_of(i):
    return f"svc-{i}.DEFAULT_GROUP.svc."


def services(n=N_SERVICES, offset=0):
    return [service_info(f"svc-{i}", [{"ip": ip_of(i + offset)}]) for i in range(n)]


def metrics(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return r.read().decode()


def replies_total(port, transport="udp"):
    """The sum of nacosdns_queries_total over every question type, for one transport."""
    pattern = re.compile(r'^nacosdns_queries_total\{type="[^"]+",transport="%s"\} (\d+)$'
                         % transport, re.M)
    return sum(int(v) for v in pattern.findall(metrics(port)))


def udp_sockets_on(port):
    """How many UDP sockets are bound to 127.0.0.1:port (IPv4, from /proc/net/udp)."""
    local = "0100007F:%04X" % port
    with open("/proc/net/udp") as f:
        return sum(1 for line in f if line.split()[1:2] == [local])


def blast(srv, questions, n_sockets=64):
    """Sends every (name, rdtype) of questions, each from one of n_sockets source ports, one
    query per socket in flight; returns {(socket index, query id): reply}."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n_sockets)]
    replies, pending = {}, list(enumerate(questions))
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        while pending:
            wave, pending = pending[:n_sockets], pending[n_sockets:]
            sent = {}
            for k, (qid, (name, rdtype)) in enumerate(wave):
                q = dns.message.make_query(name, rdtype)
                q.id = qid % 65536
                socks[k].sendto(q.to_wire(), (srv.host, srv.port))
                sent[socks[k]] = (k, qid, q)
            while sent:
                ready, _, _ = select.select(list(sent), [], [], 5.0)
                assert ready, f"{len(sent)} queries unanswered"
                for s in ready:
                    k, qid, q = sent.pop(s)
                    r = dns.message.from_wire(s.recv(65535))
                    assert r.id == q.id and r.question == q.question
                    replies[qid] = r
    finally:
        for s in socks:
            s.close()
    return replies


def a_of(reply):
    return sorted(rd.address for rrset in reply.answer if rrset.rdtype == dns.rdatatype.A
                  for rd in rrset)


def test_many_source_ports_all_answered_and_counted(nacos_dns, workdir):
    http = free_port(kind=socket.SOCK_STREAM)
    srv = serve_services(nacos_dns, workdir, services(), "--threads", THREADS,
                         "--http", f"127.0.0.1:{http}")
    # The main loop's socket and one per worker share the address through SO_REUSEPORT.
    assert udp_sockets_on(srv.port) == 1 + int(THREADS)
    rng = random.Random(5)
    picks = [rng.randrange(N_SERVICES + 5) for _ in range(2000)]  # 5 names do not exist
    questions = [(name_of(i), "A") for i in picks]
    replies = blast(srv, questions)
    assert len(replies) == len(questions)
    for qid, i in enumerate(picks):
        r = replies[qid]
        if i < N_SERVICES:
            assert r.rcode() == dns.rcode.NOERROR and a_of(r) == [ip_of(i)], r
        else:
            assert r.rcode() == dns.rcode.NXDOMAIN, r
    # Every reply of every thread is counted once: the workers' shards are added up. A worker
    # counts a batch just after sending it, so the sum may lag the replies for a moment.
    wait_for(lambda: replies_total(http) >= len(questions), what="every reply counted")
    assert replies_total(http) == len(questions)
    # The kernel hands every datagram to a worker socket, none to the main loop's, which also
    # parses Nacos answers (a BPF program on the SO_REUSEPORT group picks 1 + hash % workers).
    received = dict(re.findall(r'^nacosdns_udp_datagrams_total\{loop="(\w+)"\} (\d+)$',
                               metrics(http), re.M))
    assert received["main"] == "0", received
    assert int(received["workers"]) >= len(questions), received
    # TCP stays on the main loop and is counted there.
    assert a_of(srv.query(name_of(3), tcp=True)) == [ip_of(3)]
    assert replies_total(http, "tcp") == 1


def test_forwarded_names_through_workers(nacos_dns, workdir):
    upstream = Unbound(workdir, ["www.example.test. 300 IN A 192.0.2.80"]).start()
    try:
        path = write_registry(workdir, {"public": services(4)})
        srv = nacos_dns("--nacos", f"file:{path}", "--threads", THREADS,
                        "--upstream", f"127.0.0.1:{upstream.port}")
        questions = [("www.example.test.", "A"), (name_of(1), "A")] * 100
        replies = blast(srv, questions, n_sockets=32)
        for qid, (name, _) in enumerate(questions):
            r = replies[qid]
            assert r.rcode() == dns.rcode.NOERROR, r
            want = ["192.0.2.80"] if name.startswith("www.") else [ip_of(1)]
            assert a_of(r) == want, r
    finally:
        upstream.stop()


def test_first_fetch_through_workers(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    for i in list(range(24)) + [99]:
        nacos.register(f"svc-{i}", ip_of(i), 8080)
    srv = nacos_dns("--nacos", nacos.url, "--threads", THREADS, "--fetch-wait", "5s",
                    "--poll-interval", "1")
    srv.wait_log("catalog synced")
    # Once one catalog service answers, the catalog is in the served data.
    wait_for(lambda: a_of(srv.query(name_of(99))) == [ip_of(99)], what="catalog served")
    # Each service's first query waits for its first fetch, whichever thread received it.
    questions = [(name_of(i), "A") for i in range(24)]
    replies = blast(srv, questions, n_sockets=24)
    for i in range(24):
        assert replies[i].rcode() == dns.rcode.NOERROR and a_of(replies[i]) == [ip_of(i)]


def test_reload_and_exit_with_queries_in_flight(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, services(), "--threads", THREADS)
    stop, errors, answered = threading.Event(), [], [0]

    def load(seed):
        rng = random.Random(seed)
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.5)
        try:
            while not stop.is_set():
                i = rng.randrange(N_SERVICES)
                q = dns.message.make_query(name_of(i), "A")
                try:
                    s.sendto(q.to_wire(), (srv.host, srv.port))
                    r = dns.message.from_wire(s.recv(65535))
                except (socket.timeout, ConnectionRefusedError):
                    continue  # the server is exiting
                # Either snapshot, never a mix: the old data or the new one.
                if r.id != q.id or a_of(r) not in ([ip_of(i)], [ip_of(i + 1000)]):
                    errors.append(r.to_text())
                answered[0] += 1
        finally:
            s.close()

    clients = [threading.Thread(target=load, args=(k,), daemon=True) for k in range(4)]
    for t in clients:
        t.start()
    for gen in range(6):
        offset = 1000 if gen % 2 == 0 else 0
        write_registry(workdir, {"public": services(offset=offset)})
        srv.signal(signal.SIGHUP)
        wait_for(lambda: a_of(srv.query(name_of(7))) == [ip_of(7 + offset)],
                 what=f"reload {gen} served")
    before = answered[0]
    wait_for(lambda: answered[0] > before + 50, what="queries flowing after the reloads")
    rc = srv.stop()  # SIGTERM while the clients keep sending
    stop.set()
    for t in clients:
        t.join(5)
    assert rc == 0, srv.log_text()
    assert not errors, errors[:3]
    assert "still busy" not in srv.log_text()
