"""What an operator alerts on: build and process metrics, local and forwarded reply times,
per-upstream counters, the age of the oldest service's data, and dnstap output read back."""
import os
import shutil
import signal
import struct
import subprocess
import time

import dns.message
import dns.rcode
import dns.rdatatype
import pytest

from conftest import free_port, http_get, service_info, wait_for
from upstream import FaultResponder

HOSTS = [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}]


def samples(text):
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            key, value = line.rsplit(" ", 1)
            out[key] = float(value)
    return out


def promtool_clean(text):
    if shutil.which("promtool"):
        r = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                           capture_output=True)
        assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def test_build_process_latency_and_upstream_metrics(nacos_dns, fake_nacos):
    nacos = fake_nacos(mode="2.x", data={"namespaces": {"public": [
        service_info("order-service", HOSTS)]}})
    good, bad = FaultResponder("good").start(), FaultResponder("servfail").start()
    port = free_port(kind=None)
    try:
        srv = nacos_dns("--nacos", nacos.url, "--http", f"127.0.0.1:{port}", "--push", "off",
                        "--upstream", f"127.0.0.1:{bad.port}",
                        "--upstream", f"127.0.0.1:{good.port}")
        wait_for(lambda: srv.query("order-service.DEFAULT_GROUP.svc.", "A").answer)
        r = srv.query("www.example.com.", "A")
        assert r.rcode() == dns.rcode.NOERROR
        text = http_get(port, "/metrics")[1]
    finally:
        good.stop()
        bad.stop()
    s = samples(text)
    assert s['nacosdns_build_info{version="0.1.0"}'] == 1
    for name in ("process_start_time_seconds", "process_cpu_seconds_total",
                 "process_resident_memory_bytes", "process_open_fds", "process_max_fds"):
        assert s[name] > 0, name
    assert s["process_open_fds"] < s["process_max_fds"]
    assert s["nacosdns_forwarded_response_duration_seconds_count"] == 1
    assert s["nacosdns_local_response_duration_seconds_count"] >= 1
    assert (s["nacosdns_local_response_duration_seconds_count"] +
            s["nacosdns_forwarded_response_duration_seconds_count"] ==
            s["nacosdns_response_duration_seconds_count"])
    b, g = f'upstream="127.0.0.1:{bad.port}"', f'upstream="127.0.0.1:{good.port}"'
    assert s[f"nacosdns_upstream_queries_total{{{b}}}"] == 1
    assert s[f"nacosdns_upstream_failures_total{{{b}}}"] == 1
    assert s[f"nacosdns_upstream_answers_total{{{b}}}"] == 0
    assert s[f"nacosdns_upstream_queries_total{{{g}}}"] == 1
    assert s[f"nacosdns_upstream_answers_total{{{g}}}"] == 1
    assert s["nacosdns_cache_write_failures_total"] == 0
    promtool_clean(text)


def test_a_stale_service_shows_in_the_oldest_data_age(nacos_dns, fake_nacos):
    """One service's answer grows over max-response-size: its data goes stale while the other
    service keeps being fetched. The newest age hides it; the oldest age shows it."""
    registry = [service_info("order-service", HOSTS), service_info("pay", HOSTS[:1])]
    nacos = fake_nacos(mode="2.x", data={"namespaces": {"public": registry}})
    port = free_port(kind=None)
    srv = nacos_dns("--nacos", nacos.url, "--http", f"127.0.0.1:{port}", "--push", "off",
                    "--poll-interval", "1", "--catalog-interval", "1",
                    "--max-response-size", "8192")
    for name in ("order-service", "pay"):
        wait_for(lambda: srv.query(f"{name}.DEFAULT_GROUP.svc.", "A").answer)
    big = HOSTS + [{"ip": f"10.1.{i // 200}.{i % 200 + 1}", "metadata": {"pad": "x" * 100}}
                   for i in range(100)]
    nacos.load({"namespaces": {"public": [service_info("order-service", big),
                                          service_info("pay", HOSTS[:1])]}})

    def metrics():
        return samples(http_get(port, "/metrics")[1])

    wait_for(lambda: metrics()['nacosdns_services{state="stale"}'] == 1, timeout=30,
             what="order-service stale")
    # pay changes and is fetched again: the newest data is now pay's, younger than any fetch of
    # order-service, whose last good fetch was before it went stale.
    nacos.load({"namespaces": {"public": [service_info("order-service", big),
                                          service_info("pay", [{"ip": "10.0.0.9"}])]}})
    wait_for(lambda: [r.to_text() for a in srv.query("pay.DEFAULT_GROUP.svc.", "A").answer
                      for r in a] == ["10.0.0.9"], what="pay's new address")
    s = metrics()
    assert s["nacosdns_oldest_data_age_seconds"] > s["nacosdns_data_age_seconds"], s
    assert s['nacosdns_services{state="stale"}'] == 1
    promtool_clean(http_get(port, "/metrics")[1])


# ---- dnstap ----

def read_frames(path):
    """The data frames of a Frame Streams file (control frames skipped)."""
    data, out, o = open(path, "rb").read(), [], 0
    while o + 4 <= len(data):
        (n,) = struct.unpack_from(">I", data, o)
        o += 4
        if n == 0:  # a control frame: its length, then its body
            (c,) = struct.unpack_from(">I", data, o)
            o += 4 + c
            continue
        out.append(data[o:o + n])
        o += n
    return out


def pb_fields(buf):
    """Protobuf fields as {number: [values]}: varints as int, length-delimited as bytes."""
    fields, o = {}, 0

    def varint():
        nonlocal o
        v = shift = 0
        while True:
            b = buf[o]
            o += 1
            v |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return v
    while o < len(buf):
        key = varint()
        num, wt = key >> 3, key & 7
        if wt == 0:
            val = varint()
        elif wt == 2:
            n = varint()
            val, o = buf[o:o + n], o + n
        elif wt == 5:
            (val,) = struct.unpack_from("<I", buf, o)
            o += 4
        else:
            raise AssertionError(f"wire type {wt}")
        fields.setdefault(num, []).append(val)
    return fields


def test_dnstap_client_queries_and_responses(nacos_dns, fake_nacos, workdir):
    if not shutil.which("fstrm_capture"):
        pytest.skip("fstrm_capture not installed (Debian package fstrm-bin)")
    nacos = fake_nacos(mode="2.x", data={"namespaces": {"public": [
        service_info("order-service", HOSTS)]}})
    sock, out = os.path.join(workdir, "dnstap.sock"), os.path.join(workdir, "out.tap")
    cap = subprocess.Popen(["fstrm_capture", "-t", "protobuf:dnstap.Dnstap", "-u", sock,
                            "-w", out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: os.path.exists(sock), what="the capture socket")
        srv = nacos_dns("--nacos", nacos.url, "--push", "off", "--dnstap", f"unix:{sock}")
        wait_for(lambda: srv.query("order-service.DEFAULT_GROUP.svc.", "A").answer)
        srv.query("missing.DEFAULT_GROUP.svc.", "AAAA")
        srv.query("order-service.DEFAULT_GROUP.svc.", "SRV", tcp=True)
        srv.stop()  # flushes the writer thread's queue
    finally:
        cap.send_signal(signal.SIGINT)
        cap.wait(10)
    seen = []
    for frame in read_frames(out):
        top = pb_fields(frame)
        assert top[15] == [1]  # Dnstap.Type MESSAGE
        m = pb_fields(top[14][0])
        mtype = m[1][0]
        assert mtype in (5, 6)  # CLIENT_QUERY, CLIENT_RESPONSE
        assert m[2] == [1]  # INET
        assert m[4] == [bytes([127, 0, 0, 1])]  # the client's address
        assert m[5] == [bytes([127, 0, 0, 1])] and m[7] == [srv.port]
        wire = m[10][0] if mtype == 5 else m[14][0]
        assert (8 in m) == (mtype == 5) and (12 in m) == (mtype == 6)
        msg = dns.message.from_wire(wire)
        seen.append((mtype, "tcp" if m[3] == [2] else "udp", str(msg.question[0].name),
                     dns.rdatatype.to_text(msg.question[0].rdtype), dns.rcode.to_text(msg.rcode())
                     if mtype == 6 else None))
    assert (6, "udp", "missing.DEFAULT_GROUP.svc.", "AAAA", "NXDOMAIN") in seen, seen
    assert (5, "udp", "missing.DEFAULT_GROUP.svc.", "AAAA", None) in seen, seen
    assert (5, "tcp", "order-service.DEFAULT_GROUP.svc.", "SRV", None) in seen, seen
    assert (6, "tcp", "order-service.DEFAULT_GROUP.svc.", "SRV", "NOERROR") in seen, seen
