#!/bin/sh
# What UDP push buys, against the fake Nacos of tests/fake_nacos (which pushes as Nacos 2.x
# does: 500 ms after a change):
#   1. propagation delay, from a register/deregister call in Nacos returning to the DNS answer
#      changing (dnspython asks every 10 ms), p50/p99/max over CHANGES changes, with push and
#      poll-only (--push off);
#   2. Nacos requests per minute for SERVICES catalog services with QUERIED of them queried
#      (tracked), and with --track all, each with and without push;
#   3. the gRPC transport against the fake in 3.2 mode (no UDP push there): propagation
#      p50/p99/max over CHANGES changes with polls at GRPC_POLL (30 s, so only a gRPC push
#      explains a change), and Nacos requests per minute (HTTP and gRPC) for QUERIED of
#      SERVICES services queried, --nacos-transport grpc against http.
# Not a test: it prints figures. Takes several minutes (poll-only changes wait for polls).
# Usage: contrib/bench/push_bench.sh [BUILD_DIR] ; environment: CHANGES (100), POLL (5s),
# SERVICES (10000), INSTANCES (2), QUERIED (20), WINDOW (60 s counted), WARM (20 s before);
# POLL in seconds ("5s" or "5"); GRPC_POLL (30s); CASES: all (default), udp or grpc.
# Needs: /usr/bin/python3 with dnspython.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BIN=$BUILD/resolver/nacos-dns
[ -x "$BIN" ] || { echo "no $BIN: build first (meson setup build && ninja -C build)" >&2; exit 1; }
export CHANGES=${CHANGES:-100} POLL=${POLL:-5s} SERVICES=${SERVICES:-10000}
export INSTANCES=${INSTANCES:-2} QUERIED=${QUERIED:-20} WINDOW=${WINDOW:-60} WARM=${WARM:-20}
export GRPC_POLL=${GRPC_POLL:-30s} CASES=${CASES:-all}
exec /usr/bin/python3 - "$ROOT" "$BIN" <<'EOF'
import json, os, random, socket, subprocess, sys, tempfile, time, urllib.request
import dns.message, dns.query, dns.rdatatype

ROOT, BIN = sys.argv[1], sys.argv[2]
ENV = {k: os.environ[k] for k in ("CHANGES", "POLL", "SERVICES", "INSTANCES", "QUERIED",
                                  "WINDOW", "WARM", "GRPC_POLL", "CASES")}
CHANGES, SERVICES = int(ENV["CHANGES"]), int(ENV["SERVICES"])
QUERIED, WINDOW, WARM = int(ENV["QUERIED"]), float(ENV["WINDOW"]), float(ENV["WARM"])
TMP = tempfile.mkdtemp(prefix="push-bench-")
procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_file(path, needle, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, "rb") as f:
            if needle.encode() in f.read():
                return
        time.sleep(0.05)
    sys.exit(f"no {needle!r} in {path}")


class Fake:
    def __init__(self, mode="2.x", grpc=False):
        self.port = free_port()
        self.grpc = grpc
        log = open(os.path.join(TMP, f"fake-{mode}.log"), "w")
        self.proc = subprocess.Popen([sys.executable, ROOT + "/tests/fake_nacos/fake_nacos.py",
                                      "--port", str(self.port), "--mode", mode,
                                      *(("--grpc-port", "0") if grpc else ())],
                                     stdout=log, stderr=log)
        procs.append(self.proc)
        self.url = f"http://127.0.0.1:{self.port}"
        wait_file(log.name, "ready")

    def control(self, method, path, body=None):
        req = urllib.request.Request(self.url + "/__fake/" + path, method=method,
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def instance(self, method, service, ip):
        self.control(method, "instance", {"serviceName": service, "ip": ip, "port": 8080})


class Dns:
    def __init__(self, fake, *flags):
        self.port = free_port()
        self.log = os.path.join(TMP, f"dns-{self.port}.log")
        transport = () if fake.grpc else ("--nacos-transport", "http")
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen([BIN, "--listen", f"127.0.0.1:{self.port}", "--nacos",
                                          fake.url, "--catalog-interval", "30s",
                                          "--max-tracked", "1000000", *transport, *flags],
                                         stdout=log, stderr=log)
        procs.append(self.proc)
        wait_file(self.log, "catalog synced")

    def addresses(self, name):
        try:
            r = dns.query.udp(dns.message.make_query(name, "A"), "127.0.0.1", port=self.port,
                              timeout=1)
        except Exception:
            return None
        return sorted(rr.address for rrset in r.answer for rr in rrset
                      if rrset.rdtype == dns.rdatatype.A)

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def wait_answer(srv, name, want, timeout):
    t0 = time.monotonic()
    while srv.addresses(name) != want:
        if time.monotonic() - t0 > timeout:
            return None
        time.sleep(0.01)
    return time.monotonic() - t0


def quantile(v, q):
    v = sorted(v)
    return v[max(0, min(len(v) - 1, int(round(q * len(v) + 0.5)) - 1))]


def delays(fake, label, spread, *flags, poll=None):
    """spread: a random wait before each change, so that changes fall anywhere in the poll
    cycle (a change right after the last one was seen would follow the poll that showed it)."""
    name = "order-service.DEFAULT_GROUP.svc"
    fake.instance("POST", "order-service", "10.0.0.1")
    srv = Dns(fake, "--poll-interval", poll or ENV["POLL"], *flags)
    wait_answer(srv, name, ["10.0.0.1"], 10)
    time.sleep(2)  # the first polls subscribe, the first push lands
    out, lost, present = [], 0, False
    for _ in range(CHANGES):
        time.sleep(random.uniform(0, spread))
        fake.instance("DELETE" if present else "POST", "order-service", "10.0.0.2")
        present = not present
        d = wait_answer(srv, name, ["10.0.0.1", "10.0.0.2"] if present else ["10.0.0.1"], 60)
        if d is None:
            lost += 1
        else:
            out.append(d)
    srv.stop()
    fake.instance("DELETE", "order-service", "10.0.0.2")
    print(f"propagation, {label}: p50 {quantile(out, 0.5) * 1000:.0f} ms, "
          f"p99 {quantile(out, 0.99) * 1000:.0f} ms, max {max(out) * 1000:.0f} ms "
          f"over {len(out)} changes{f', {lost} not seen in 60 s' if lost else ''}", flush=True)


def per_minute(fake, label, track_all, *flags):
    srv = Dns(fake, "--poll-interval", ENV["POLL"], *(("--track", "all") if track_all else ()),
              *flags)
    names = [f"svc-{i}.DEFAULT_GROUP.svc" for i in range(QUERIED)]

    def use(until):
        while time.monotonic() < until:
            for n in names if not track_all else ():
                srv.addresses(n)
            time.sleep(1)
    if track_all:
        while fake.control("GET", "requests")["by_path"].get(
                "/nacos/v1/ns/instance/list", 0) < SERVICES:
            time.sleep(0.5)
    use(time.monotonic() + WARM)
    fake.control("POST", "reset-counters", {})
    use(time.monotonic() + WINDOW)
    c = fake.control("GET", "requests")
    srv.stop()
    print(f"Nacos requests/minute, {label}: {c['total'] * 60 / WINDOW:.0f} "
          f"(pushes sent {c['push']['sent'] * 60 / WINDOW:.0f}/min)", flush=True)


def grpc_requests(fake):
    return sum(fake.control("GET", "grpc/stats")["requests"].values())


def per_minute_grpc(fake, label, *flags):
    """Queried services only; HTTP and gRPC unary requests (health checks included) counted."""
    srv = Dns(fake, "--poll-interval", ENV["GRPC_POLL"], *flags)
    names = [f"svc-{i}.DEFAULT_GROUP.svc" for i in range(QUERIED)]

    def use(until):
        while time.monotonic() < until:
            for n in names:
                srv.addresses(n)
            time.sleep(1)
    use(time.monotonic() + WARM)
    fake.control("POST", "reset-counters", {})
    g0 = grpc_requests(fake)
    use(time.monotonic() + WINDOW)
    http = fake.control("GET", "requests")["total"]
    g = grpc_requests(fake) - g0
    srv.stop()
    print(f"Nacos requests/minute, {label}: {(http + g) * 60 / WINDOW:.0f} "
          f"(HTTP {http * 60 / WINDOW:.0f}, gRPC {g * 60 / WINDOW:.0f})", flush=True)


def grpc_cases():
    fake = Fake("3.2", grpc=True)
    print(f"fake Nacos 3.2 with gRPC (push 500 ms after a change, no UDP push); "
          f"poll interval {ENV['GRPC_POLL']}", flush=True)
    delays(fake, "gRPC push, 3.2", 1.0, "--nacos-transport", "grpc", poll=ENV["GRPC_POLL"])
    fake.control("POST", "bulk", {"namespaceId": "public", "groupName": "DEFAULT_GROUP",
                                  "services": SERVICES, "instances": int(ENV["INSTANCES"]),
                                  "prefix": "svc-"})
    print(f"registry: {SERVICES} services x {ENV['INSTANCES']} instances; counted over "
          f"{WINDOW:.0f} s after {WARM:.0f} s", flush=True)
    per_minute_grpc(fake, f"{QUERIED} queried, gRPC", "--nacos-transport", "grpc")
    per_minute_grpc(fake, f"{QUERIED} queried, HTTP", "--nacos-transport", "http")


def udp_cases():
    fake = Fake()
    print(f"fake Nacos 2.x (push 500 ms after a change); poll interval {ENV['POLL']}", flush=True)
    poll_s = float(ENV["POLL"].rstrip("s"))
    delays(fake, "push", 1.0)
    delays(fake, "poll only (--push off)", poll_s, "--push", "off")
    fake.control("POST", "bulk", {"namespaceId": "public", "groupName": "DEFAULT_GROUP",
                                  "services": SERVICES, "instances": int(ENV["INSTANCES"]),
                                  "prefix": "svc-"})
    print(f"registry: {SERVICES} services x {ENV['INSTANCES']} instances; counted over "
          f"{WINDOW:.0f} s after {WARM:.0f} s", flush=True)
    per_minute(fake, f"{QUERIED} queried, push", False)
    per_minute(fake, f"{QUERIED} queried, poll only", False, "--push", "off")
    per_minute(fake, "--track all, push", True)
    per_minute(fake, "--track all, poll only", True, "--push", "off")
    print("(the fake Nacos is one Python process: with --track all it may be the bottleneck)")


try:
    if ENV["CASES"] in ("all", "udp"):
        udp_cases()
    if ENV["CASES"] in ("all", "grpc"):
        grpc_cases()
finally:
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.wait()
    subprocess.run(["rm", "-rf", TMP])
EOF
