#!/bin/sh
# 10,000 services x 10 instances synced from the fake Nacos of tests/fake_nacos with --track
# all: the time to the first full sync, the memory once synced (RSS and PSS), how long one
# snapshot rebuild takes, and the queries/s dnsperf gets while snapshots are rebuilt back to
# back (SIGHUP every 100 ms rebuilds and publishes the whole snapshot) against the same run
# without rebuilds, in alternating rounds. nacos-dns is pinned to CPU 1 and dnsperf to CPU 0.
# Then, with a second nacos-dns that tracks only what is queried (so every snapshot it builds
# holds the 10,000 catalog names), the latency of first queries of untracked services, idle and
# while dnsperf saturates its CPU with queries for 20 tracked services.
# Not a test: it prints figures.
# Usage: contrib/bench/scale_bench.sh [BUILD_DIR] ; environment: SERVICES (10000), INSTANCES
# (10), DURATION seconds per dnsperf run (10), ROUNDS (3), THREADS for nacos-dns (1: the main
# loop answers every query itself, the case where a rebuild on the loop would stall them).
# Needs: dnsperf, taskset, /usr/bin/python3.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build}
BIN=$BUILD/resolver/nacos-dns
[ -x "$BIN" ] || { echo "no $BIN: build first (meson setup build && ninja -C build)" >&2; exit 1; }
command -v dnsperf >/dev/null || { echo "dnsperf missing (apt-get install dnsperf)" >&2; exit 1; }
export SERVICES=${SERVICES:-10000} INSTANCES=${INSTANCES:-10} DURATION=${DURATION:-10}
export ROUNDS=${ROUNDS:-3} THREADS=${THREADS:-1}
exec /usr/bin/python3 - "$ROOT" "$BIN" <<'EOF'
import json, os, random, re, signal, socket, statistics, subprocess, sys, tempfile, threading
import time, urllib.request

ROOT, BIN = sys.argv[1], sys.argv[2]
SERVICES, INSTANCES = int(os.environ["SERVICES"]), int(os.environ["INSTANCES"])
DURATION, ROUNDS, THREADS = int(os.environ["DURATION"]), int(os.environ["ROUNDS"]), os.environ["THREADS"]
TMP = tempfile.mkdtemp(prefix="scale-bench-")
CPU_SRV, CPU_CLIENT = ("1", "0") if os.cpu_count() >= 2 else ("0", "0")
procs = []


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    sys.exit(f"timed out waiting for {what}")


def get(url):
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read()


def metric(text, name):
    m = re.search(r"^nacosdns_" + re.escape(name) + r" (\S+)$", text, re.M)
    return float(m.group(1)) if m else None


def memory_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        rss = int(re.search(r"VmRSS:\s+(\d+)", f.read()).group(1))
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            pss = int(re.search(r"Pss:\s+(\d+)", f.read()).group(1))
    except OSError:
        pss = rss
    return rss, pss


def dnsperf(port, queries, duration=DURATION):
    out = subprocess.run(["taskset", "-c", CPU_CLIENT, "dnsperf", "-s", "127.0.0.1", "-p",
                          str(port), "-d", queries, "-l", str(duration), "-c", "1", "-T", "1",
                          "-q", "200"], capture_output=True, text=True).stdout
    m = re.search(r"Queries per second:\s+([\d.]+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    return float(m.group(1)) if m else 0.0, int(lost.group(1)) if lost else -1


def rebuilds(pid, stop, metrics_url, samples):
    """SIGHUP every 100 ms: each one rebuilds the whole snapshot (builds in flight coalesce).
    The last build time is read from /metrics every half second."""
    n = 0
    while not stop.is_set():
        os.kill(pid, signal.SIGHUP)
        n += 1
        if n % 5 == 0:
            t = get(metrics_url).decode()
            samples.append((metric(t, "snapshot_build_seconds"),
                            metric(t, "snapshot_build_cpu_seconds")))
        stop.wait(0.1)


def ask(port, name, timeout=5.0):
    """One A query over UDP: (seconds, rcode), or (None, None) on a timeout."""
    qid = random.randrange(65536)
    wire = qid.to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    wire += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00\x00\x01\x00\x01"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        t0 = time.monotonic()
        s.sendto(wire, ("127.0.0.1", port))
        try:
            while True:
                reply = s.recv(65535)
                if reply[:2] == wire[:2]:
                    return time.monotonic() - t0, reply[3] & 0x0F
        except socket.timeout:
            return None, None


def first_queries(port, names):
    got = [ask(port, n) for n in names]
    times = sorted(t for t, _ in got if t is not None)
    bad = sum(1 for t, rc in got if t is None or rc != 0)
    return times, bad


def first_query_phase(nacos, log):
    """A second nacos-dns tracking what is queried: first queries, idle and under dnsperf."""
    dport, hport = free_port(), free_port()
    dns = subprocess.Popen(["taskset", "-c", CPU_SRV, BIN, "--listen", f"127.0.0.1:{dport}",
                            "--nacos", nacos, "--poll-interval", "10m", "--catalog-interval",
                            "10m", "--push", "off", "--http", f"127.0.0.1:{hport}",
                            "--threads", THREADS, "--log-level", "warn", "--fetch-wait", "1s"],
                           stdout=log, stderr=log)
    procs.append(dns)
    def ready():
        try:
            return metric(get(f"http://127.0.0.1:{hport}/metrics").decode(), "ready") == 1
        except OSError:
            return False
    wait_for(ready, 120, "the catalog")
    hot = os.path.join(TMP, "hot.txt")
    with open(hot, "w") as f:
        for i in range(20):
            ask(dport, f"svc-{i}.DEFAULT_GROUP.svc")
            f.write(f"svc-{i}.DEFAULT_GROUP.svc A\n")
    n = 25
    idle, idle_bad = first_queries(dport, [f"svc-{100 + i}.DEFAULT_GROUP.svc" for i in range(n)])
    load = threading.Thread(target=dnsperf, args=(dport, hot, 40))
    load.start()
    time.sleep(1)
    busy, busy_bad = first_queries(dport, [f"svc-{200 + i}.DEFAULT_GROUP.svc" for i in range(n)])
    load.join()
    dns.terminate()
    dns.wait()

    def fmt(times):
        return (f"p50 {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms"
                if times else "no answers")
    print(f"first query of an untracked service (--track queried, {SERVICES} catalog names, "
          f"{n} each): idle {fmt(idle)}, {idle_bad} not NOERROR; under dnsperf {fmt(busy)}, "
          f"{busy_bad} not NOERROR"
          + (f"; p50 under load / idle: {statistics.median(busy) / statistics.median(idle):.1f}x"
             if idle and busy else ""))


def main():
    fport, dport, hport = free_port(), free_port(), free_port()
    log = open(os.path.join(TMP, "fake.log"), "w")
    fake = subprocess.Popen([sys.executable, ROOT + "/tests/fake_nacos/fake_nacos.py", "--port",
                             str(fport), "--mode", "2.x"], stdout=log, stderr=log)
    procs.append(fake)
    nacos = f"http://127.0.0.1:{fport}"
    wait_for(lambda: b"ready" in open(log.name, "rb").read(), 30, "the fake Nacos")
    req = urllib.request.Request(nacos + "/__fake/bulk", method="POST", data=json.dumps(
        {"namespaceId": "public", "groupName": "DEFAULT_GROUP", "services": SERVICES,
         "instances": INSTANCES, "prefix": "svc-"}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(req, timeout=300).read()

    queries = os.path.join(TMP, "queries.txt")
    rng = random.Random(42)
    with open(queries, "w") as f:
        for _ in range(100000):
            i = rng.randrange(SERVICES)
            f.write(f"svc-{i}.DEFAULT_GROUP.svc {'SRV' if rng.random() < 0.2 else 'A'}\n")

    # Polls and catalog listings far apart: the figures are about rebuilds, not about the fake.
    t0 = time.monotonic()
    dns = subprocess.Popen(["taskset", "-c", CPU_SRV, BIN, "--listen", f"127.0.0.1:{dport}",
                            "--nacos", nacos, "--track", "all", "--poll-interval", "10m",
                            "--catalog-interval", "10m", "--push", "off", "--http",
                            f"127.0.0.1:{hport}", "--threads", THREADS, "--log-level", "warn",
                            "--max-tracked", "1000000"],
                           stdout=log, stderr=log)
    procs.append(dns)
    murl = f"http://127.0.0.1:{hport}/metrics"

    def synced():
        try:
            t = get(murl).decode()
        except OSError:
            return None
        m = re.search(r'^nacosdns_services\{state="fetched"\} (\d+)$', t, re.M)
        return m and int(m.group(1)) >= SERVICES
    wait_for(synced, 600, "the first full sync")
    first_sync = time.monotonic() - t0
    time.sleep(2)
    rss, pss = memory_kib(dns.pid)
    t = get(murl).decode()
    idle = (metric(t, "snapshot_build_seconds"), metric(t, "snapshot_build_cpu_seconds"))

    steady, churn, samples, published = [], [], [], []
    for _ in range(ROUNDS):
        steady.append(dnsperf(dport, queries))
        g0 = metric(get(murl).decode(), "snapshot_generation")
        stop = threading.Event()
        th = threading.Thread(target=rebuilds, args=(dns.pid, stop, murl, samples))
        th.start()
        churn.append(dnsperf(dport, queries))
        stop.set()
        th.join()
        published.append(metric(get(murl).decode(), "snapshot_generation") - g0)
    time.sleep(5)  # the last build ends (at nice 19), and the heap is trimmed a second later
    rss2, pss2 = memory_kib(dns.pid)

    qs, qc = statistics.median(q for q, _ in steady), statistics.median(q for q, _ in churn)
    print(f"{SERVICES} services x {INSTANCES} instances, --track all, nacos-dns --threads "
          f"{THREADS} on CPU {CPU_SRV}, dnsperf on CPU {CPU_CLIENT}, {ROUNDS} rounds of "
          f"{DURATION} s (medians)")
    print(f"first full sync: {first_sync:.1f} s")
    print(f"memory once synced: RSS {rss / 1024:.1f} MiB, PSS {pss / 1024:.1f} MiB; 5 s "
          f"after the rebuild rounds: RSS {rss2 / 1024:.1f} MiB")
    walls = [w for w, _ in samples if w]
    cpus = [c for _, c in samples if c]
    print(f"snapshot rebuild, on a thread-pool thread at nice 19: {idle[0] * 1000:.0f} ms "
          f"({idle[1] * 1000:.0f} ms CPU) with no queries; under dnsperf "
          f"{statistics.median(cpus) * 1000:.0f} ms CPU, taking {statistics.median(walls) * 1000:.0f} "
          f"ms median and {max(walls) * 1000:.0f} ms at most ({len(walls)} samples)")
    print(f"queries/s steady: {qs:.0f}; while rebuilding back to back: {qc:.0f} "
          f"({statistics.median(published):.0f} snapshots published per {DURATION} s run): "
          f"{qc / qs:.2f}x; queries lost: {sum(l for _, l in steady)} steady, "
          f"{sum(l for _, l in churn)} rebuilding")
    dns.terminate()
    dns.wait()
    first_query_phase(nacos, log)


try:
    main()
finally:
    for p in procs:
        p.terminate()
    for p in procs:
        p.wait()
    subprocess.run(["rm", "-rf", TMP])
EOF
