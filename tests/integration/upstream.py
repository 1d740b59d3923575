"""Upstream resolvers for the forwarding tests: a real Unbound, and a scripted fault responder."""
import os
import select
import socket
import struct
import subprocess
import threading
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rrset

from conftest import free_port

GOOD_IP = "192.0.2.10"
SPOOF_IP = "203.0.113.66"


class Unbound:
    """Debian's unbound on 127.0.0.1:PORT serving a static local zone, run unprivileged from a
    temporary directory. records: "name TTL IN TYPE data" lines for local-data."""

    def __init__(self, workdir, records, zone="example.test.", host="127.0.0.1", port=None,
                 netns=None):
        self.host = host
        self.port = port or free_port(host=host)
        self.dir = os.path.join(workdir, f"unbound-{self.port}")
        os.makedirs(self.dir, exist_ok=True)
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.log_path = os.path.join(self.dir, "unbound.log")
        self.netns = netns
        lines = ["server:",
                 f"  interface: {host}@{self.port}",
                 f"  port: {self.port}",
                 "  do-daemonize: no",
                 "  chroot: \"\"",
                 "  username: \"\"",
                 f"  directory: \"{self.dir}\"",
                 f"  pidfile: \"{self.dir}/unbound.pid\"",
                 "  use-syslog: no",
                 f"  logfile: \"{self.log_path}\"",
                 "  verbosity: 1",
                 "  do-not-query-localhost: no",
                 "  access-control: 127.0.0.0/8 allow",
                 "  module-config: \"iterator\"",
                 "  num-threads: 1",
                 "  local-zone: \".\" static",  # never recurse: NXDOMAIN outside the zone
                 f"  local-zone: \"{zone}\" static"]
        lines += [f"  local-data: '{r}'" for r in records]
        lines += ["remote-control:", "  control-enable: no"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = None

    def start(self, timeout=10.0):
        cmd = ["unbound", "-d", "-c", self.conf]
        if self.netns:
            cmd = ["ip", "netns", "exec", self.netns] + cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        if not self.netns:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout=10.0, probe=None):
        """Waits until unbound answers; probe(q) sends a query some other way (a netns)."""
        deadline = time.monotonic() + timeout
        q = dns.message.make_query("unbound-probe.example.test.", "A")
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"unbound exited {self.proc.returncode}: {self.log_text()}")
            try:
                if probe:
                    probe(q)
                else:
                    dns.query.udp(q, self.host, port=self.port, timeout=0.3)
                return
            except Exception:  # noqa: BLE001  (not up yet)
                time.sleep(0.1)
        raise AssertionError(f"unbound not answering after {timeout}s: {self.log_text()}")

    def log_text(self):
        try:
            with open(self.log_path) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class FaultResponder:
    """A scripted upstream on 127.0.0.1:PORT (UDP and TCP), one behaviour for every query:

    good            answer A GOOD_IP
    wrong-id        first a reply with another ID (A SPOOF_IP), then the real one
    other-port      first a reply from another port of this address, then the real one
    other-address   first a reply from 127.0.0.2 (same port), then the real one
    wrong-question  first a reply for another name, then the real one
    truncate        UDP: TC and no answer; TCP: the answer (records UDP/TCP counts)
    big             UDP: TC; TCP: `big_count` A records, more than a UDP client can take
    silent          nothing at all
    servfail        SERVFAIL
    """

    def __init__(self, mode, host="127.0.0.1", big_count=100):
        self.mode = mode
        self.host = host
        self.big_count = big_count
        self.port = free_port(host=host)
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((host, self.port))
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind((host, self.port))
        self.tcp.listen(16)
        self.other_port = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other_port.bind((host, 0))
        self.other_addr = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.other_addr.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.other_addr.bind(("127.0.0.2", self.port))
        self.udp_queries = []  # (query message, source (addr, port))
        self.tcp_queries = []
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.stopping = True
        self.thread.join(5)
        for s in (self.udp, self.tcp, self.other_port, self.other_addr):
            s.close()

    def answer(self, q, ip=GOOD_IP, count=1):
        r = dns.message.make_response(q)
        r.flags |= dns.flags.RA
        if q.question[0].rdtype == 1:
            ips = [ip] if count == 1 else [f"10.1.{i // 250}.{i % 250 + 1}" for i in range(count)]
            r.answer.append(dns.rrset.from_text_list(q.question[0].name, 60, "IN", "A", ips))
        return r

    def _run(self):
        while not self.stopping:
            ready, _, _ = select.select([self.udp, self.tcp], [], [], 0.1)
            for s in ready:
                try:
                    if s is self.udp:
                        self._on_udp()
                    else:
                        self._on_tcp()
                except Exception:  # noqa: BLE001  (a bad packet must not stop the responder)
                    pass

    def _on_udp(self):
        wire, peer = self.udp.recvfrom(65535)
        q = dns.message.from_wire(wire)
        self.udp_queries.append((q, peer))
        mode = self.mode
        if mode == "silent":
            return
        if mode == "servfail":
            r = dns.message.make_response(q)
            r.set_rcode(dns.rcode.SERVFAIL)
            self.udp.sendto(r.to_wire(), peer)
            return
        if mode in ("truncate", "big"):
            r = dns.message.make_response(q)
            r.flags |= dns.flags.TC
            self.udp.sendto(r.to_wire(), peer)
            return
        spoof = self._spoof(q)
        if spoof is not None:
            sock, wire_out = spoof
            sock.sendto(wire_out, peer)
        self.udp.sendto(self.answer(q).to_wire(), peer)

    def _spoof(self, q):
        """The bad reply sent ahead of the real one, and the socket it leaves from."""
        bad = self.answer(q, ip=SPOOF_IP)
        if self.mode == "wrong-id":
            bad.id = (q.id + 1) & 0xffff
            return self.udp, bad.to_wire()
        if self.mode == "other-port":
            return self.other_port, bad.to_wire()
        if self.mode == "other-address":
            return self.other_addr, bad.to_wire()
        if self.mode == "wrong-question":
            other = dns.message.make_query("other." + q.question[0].name.to_text(), "A")
            other.id = q.id
            bad = self.answer(other, ip=SPOOF_IP)
            return self.udp, bad.to_wire()
        return None

    def _on_tcp(self):
        conn, _ = self.tcp.accept()
        with conn:
            conn.settimeout(2)
            hdr = self._recv_exact(conn, 2)
            wire = self._recv_exact(conn, struct.unpack("!H", hdr)[0])
            q = dns.message.from_wire(wire)
            self.tcp_queries.append(q)
            count = self.big_count if self.mode == "big" else 1
            out = self.answer(q, count=count).to_wire(max_size=65535)
            conn.sendall(struct.pack("!H", len(out)) + out)

    @staticmethod
    def _recv_exact(conn, n):
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf
