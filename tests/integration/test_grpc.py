"""resolver/sync/grpc.c against the fake Nacos's gRPC side, through tests/grpc_probe.c."""
import json
import os
import queue
import subprocess
import threading
import time
import urllib.parse
import urllib.request

import pytest

PROBE = os.environ.get("NACOS_DNS_GRPC_PROBE")
pytestmark = pytest.mark.skipif(not PROBE, reason="NACOS_DNS_GRPC_PROBE is not set")


class Probe:
    def __init__(self, port, tmp_path, host="127.0.0.1", ca_file=None):
        self.stderr_path = tmp_path / f"probe-{host}-{port}.log"
        self.stderr = open(self.stderr_path, "w")
        tls = [ca_file] if ca_file else []
        self.proc = subprocess.Popen([PROBE, host, str(port)] + tls, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.stderr, text=True)
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def expect(self, prefix, timeout=10.0):
        """The next line starting with prefix (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            assert line is not None, f"probe exited waiting for {prefix!r}"
            if line.startswith(prefix):
                return line[len(prefix):].strip()

    def reply(self):
        parts = self.expect("reply ").split(" ", 2) + ["", ""]
        err, type_, body = parts[:3]
        return int(err), type_, json.loads(body) if body.strip() else None

    def log(self):
        return self.stderr_path.read_text()

    def close(self):
        if self.proc.poll() is None:
            self.send("close")
            assert self.expect("loop_close") == "0"
            assert self.proc.wait(timeout=10) == 0
        self.stderr.close()


@pytest.fixture
def probe(tmp_path):
    started = []

    def start(port, host="127.0.0.1", ca_file=None):
        p = Probe(port, tmp_path, host, ca_file)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()


def wait_stats(nacos, cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        stats = nacos.control("GET", "grpc/stats")
        if cond(stats) or time.monotonic() > deadline:
            return stats
        time.sleep(0.05)


def test_subscribe_push_ack_and_reset(fake_nacos, probe):
    nacos = fake_nacos(grpc_port=0, grpc_ack_timeout=1.0)
    p = probe(nacos.grpc_port)
    p.expect("up")
    p.send("sub web")
    err, type_, r = p.reply()
    assert (err, type_, r["resultCode"]) == (0, "SubscribeServiceResponse", 200)
    assert r["serviceInfo"]["hosts"] == []
    t0 = time.monotonic()
    nacos.register("web", "10.0.0.2", 80)
    push = json.loads(p.expect("push NotifySubscriberRequest"))
    print(f"push arrived {time.monotonic() - t0:.2f} s after the change")
    assert [h["ip"] for h in push["serviceInfo"]["hosts"]] == ["10.0.0.2"]
    stats = wait_stats(nacos, lambda s: s["acks"] == 1)
    assert (stats["acks"], stats["retries"], stats["pushes"]) == (1, 0, 1)

    nacos.control("POST", "grpc/reset", {})
    assert p.expect("down") == "connect reset"
    p.expect("up")
    assert p.expect("resubscribed") == "1"
    err, type_, r = p.reply()
    assert (err, r["resultCode"]) == (0, 200)
    assert [h["ip"] for h in r["serviceInfo"]["hosts"]] == ["10.0.0.2"]
    stats = wait_stats(nacos, lambda s: len(s["connections"]) == 1)
    assert [c["subscriptions"] for c in stats["connections"]] == [["public/DEFAULT_GROUP@@web"]]
    nacos.deregister("web", "10.0.0.2", 80)
    push = json.loads(p.expect("push NotifySubscriberRequest"))
    assert push["serviceInfo"]["hosts"] == []


def test_answers_client_detection(fake_nacos, probe):
    nacos = fake_nacos(grpc_port=0, grpc_idle=0.3)
    p = probe(nacos.grpc_port)
    p.expect("up")
    # A second probe goes out only once the first was answered.
    stats = wait_stats(nacos, lambda s: s["detections"] >= 2)
    assert stats["detections"] >= 2 and stats["dropped"] == 0


def login(nacos):
    req = urllib.request.Request(nacos.url + "/nacos/v1/auth/login", method="POST",
                                 data=urllib.parse.urlencode({"username": "nacos",
                                                              "password": "secret"}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())["accessToken"]


def test_auth_403_without_token(fake_nacos, probe):
    nacos = fake_nacos(grpc_port=0, auth="nacos:secret")
    p = probe(nacos.grpc_port)
    p.expect("up")
    p.send("sub web")
    err, type_, r = p.reply()
    assert (err, type_, r["resultCode"], r["errorCode"]) == (0, "SubscribeServiceResponse",
                                                             500, 403)
    p.send("token " + login(nacos))
    p.send("sub web")
    err, type_, r = p.reply()
    assert (err, r["resultCode"]) == (0, 200)


def test_no_grpc_port_fails_clearly(fake_nacos, probe):
    nacos = fake_nacos()  # no gRPC side: nothing listens on port + 1000
    p = probe(nacos.port + 1000)
    deadline = time.monotonic() + 10
    while "connection refused" not in p.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "connect: connection refused" in p.log()
    p.send("req HealthCheckRequest {}")
    assert p.reply()[0] == -107  # -ENOTCONN: nothing is sent before the connection is up


def test_malformed_and_oversized_messages(fake_nacos, probe):
    nacos = fake_nacos(grpc_port=0)
    p = probe(nacos.grpc_port)
    p.expect("up")
    nacos.control("POST", "grpc/raw", {"kind": "malformed"})
    p.send("req HealthCheckRequest {}")
    err, type_, _ = p.reply()
    assert (err, type_) == (0, "HealthCheckResponse")  # the connection survived
    assert "malformed stream message" in p.log()
    nacos.control("POST", "grpc/raw", {"kind": "oversized"})
    assert p.expect("down") == "bad stream message"
    p.expect("up")
    assert "stream message refused: larger than 10 MiB" in p.log()


def test_names_are_resolved(fake_nacos, probe):
    nacos = fake_nacos(grpc_port=0)
    p = probe(nacos.grpc_port, host="localhost")
    p.expect("up")
    bad = probe(nacos.grpc_port, host="no-such-host.invalid")
    deadline = time.monotonic() + 20
    while "resolve:" not in bad.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "no-such-host.invalid:%d: resolve:" % nacos.grpc_port in bad.log()
