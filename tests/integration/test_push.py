"""UDP push from Nacos: the real nacos-dns against the fake Nacos, which pushes as Nacos does
(500 ms after a change or a first subscription, 1 s on 1.x, gzip at 1 KiB, nanoTime
lastRefTime above 2^53, one re-send without an ack, User-Agent gate).

The poll interval is 30 s in most tests, so within a few seconds only a push explains a change.
Waits are bounded polls, not timing assertions.
"""
import gzip
import json
import re
import signal
import socket
import time
import urllib.request

import dns.rcode
import dns.rdatatype
import pytest

from conftest import free_port, wait_until

NAME = "order-service.DEFAULT_GROUP.svc"
SLOW_POLL = "30"


def addresses(srv, name=NAME):
    r = srv.query(name, "A")
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    return sorted(rr.address for rrset in r.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def metrics(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^nacosdns_push_packets_total\{result="(\w+)"\} (\d+)$', text, re.M):
        out[m.group(1)] = int(m.group(2))
    assert set(out) == {"received", "applied", "stale", "rejected"}, text
    assert out["received"] == out["applied"] + out["stale"] + out["rejected"]
    return out


def push_counters(nacos):
    return nacos.requests()["push"]


def start_dns(nacos_dns, nacos, *extra, poll=SLOW_POLL):
    http_port = free_port()
    srv = nacos_dns("--nacos", nacos.url, "--poll-interval", poll, "--fetch-wait", "2s",
                    "--http", f"127.0.0.1:{http_port}", "--log-level", "debug", *extra)
    srv.http_port = http_port
    return srv


def push_port(srv):
    m = wait_until(lambda: re.search(r"receiving Nacos pushes on \S+ port (\d+)",
                                     srv.log_text()))
    return int(m.group(1))


def tracked(nacos, srv, ips):
    """Queries until the service is tracked and answered, then waits for the subscription."""
    assert wait_until(lambda: addresses(srv) == ips)
    wait_until(lambda: push_counters(nacos)["subscriptions"] >= 1)


def service_json(ips, ref_ms, group="DEFAULT_GROUP", name="order-service"):
    hosts = [{"ip": ip, "port": 8080, "weight": 1.0, "healthy": True, "enabled": True,
              "ephemeral": True, "clusterName": "DEFAULT", "metadata": {}} for ip in ips]
    return json.dumps({"name": f"{group}@@{name}", "clusters": "", "cacheMillis": 10000,
                       "hosts": hosts, "lastRefTime": ref_ms, "checksum": "", "allIPs": False,
                       "reachProtectionThreshold": False, "valid": True})


def packet(data, ref, kind="dom"):
    return json.dumps({"type": kind, "data": data, "lastRefTime": ref}).encode()


def send_from(source_ip, port, payload, want_reply=False):
    """Sends one datagram from source_ip to the push port; returns the reply (or None)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((source_ip, 0))
        s.settimeout(3.0)
        s.sendto(payload, ("127.0.0.1", port))
        if not want_reply:
            return None
        return json.loads(s.recvfrom(65536)[0])


@pytest.mark.parametrize("mode", ["1.x", "2.x", "3.1"])
def test_push_brings_changes_well_before_the_poll(mode, fake_nacos, nacos_dns):
    nacos = fake_nacos(mode=mode)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    polls = nacos.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0)
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=3)
    nacos.deregister("order-service", "10.0.0.1", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.2"], timeout=3)
    # No poll explains the changes: only the push did.
    assert nacos.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0) == polls
    # Every push was acknowledged, with the exact lastRefTime (the fake matches on it).
    counters = wait_until(lambda: (lambda c: c if c["acks"] == c["sent"] else None)(
        push_counters(nacos)))
    assert counters["sent"] >= 2 and counters["unmatched_acks"] == 0
    assert counters["resent"] == 0 and counters["failed"] == 0
    m = metrics(srv)
    assert m["applied"] >= 2 and m["rejected"] == 0
    agents = {r["agent"] for r in nacos.requests()["recent"]}
    assert all(a.startswith("Nacos-DNS:v1.0.1 ") for a in agents), agents


def test_gzip_push_of_a_big_service(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    # 40 instances make a push far over 1 KiB: the fake gzips it.
    for i in range(2, 41):
        nacos.register("order-service", f"10.0.1.{i}", 8080)
    want = sorted(["10.0.0.1"] + [f"10.0.1.{i}" for i in range(2, 41)])
    r = wait_until(lambda: (lambda m: m if sorted(
        rr.address for rrset in m.answer for rr in rrset) == want else None)(
            srv.query(NAME, "A", tcp=True)), timeout=4)
    assert r
    assert metrics(srv)["rejected"] == 0


def test_push_over_the_caps_is_rejected(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos, "--max-response-size", "4096")
    tracked(nacos, srv, ["10.0.0.1"])
    wait_until(lambda: metrics(srv)["applied"] >= 1)  # the first-subscription push
    before = metrics(srv)
    for i in range(2, 41):  # about 8 KiB of ServiceInfo: over max-response-size
        nacos.register("order-service", f"10.0.1.{i}", 8080)
    wait_until(lambda: metrics(srv)["rejected"] > before["rejected"], timeout=5)
    assert addresses(srv) == ["10.0.0.1"]
    assert metrics(srv)["applied"] == before["applied"]


def test_dropped_ack_gets_exactly_one_resend(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", push_ack_timeout=1)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    wait_until(lambda: push_counters(nacos)["acks"] >= 1)  # the first-subscription push
    nacos.reset_counters()
    before = metrics(srv)
    # A stopped resolver acks nothing: the fake sends, re-sends once after 1 s, gives up.
    srv.signal(signal.SIGSTOP)
    try:
        nacos.register("order-service", "10.0.0.2", 8080)
        wait_until(lambda: push_counters(nacos)["failed"] >= 1, timeout=10)
    finally:
        srv.signal(signal.SIGCONT)
    c = push_counters(nacos)
    assert c["sent"] == 2 and c["resent"] == 1 and c["acks"] == 0
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=3)
    # Both copies arrive late: one applies, its twin is stale; both are acked (too late).
    after = wait_until(lambda: (lambda m: m if m["received"] - before["received"] == 2
                                else None)(metrics(srv)))
    assert after["applied"] - before["applied"] == 1
    assert after["stale"] - before["stale"] == 1
    wait_until(lambda: push_counters(nacos)["unmatched_acks"] == 2)
    time.sleep(1.5)  # no further re-send comes
    assert push_counters(nacos)["sent"] == 2


def test_push_off_makes_no_subscription(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos, "--push", "off", poll="1")
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"])
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=4)
    c = push_counters(nacos)
    assert c["subscriptions"] == 0 and c["sent"] == 0
    assert metrics(srv)["received"] == 0
    assert "receiving Nacos pushes" not in srv.log_text()


def test_datagram_from_elsewhere_is_rejected(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    port = push_port(srv)
    before = metrics(srv)
    forged = packet(service_json(["10.6.6.6"], int(time.time() * 1000) + 60000), 1 << 60)
    send_from("127.0.0.2", port, forged)  # not the Nacos server's address
    after = wait_until(lambda: (lambda m: m if m["rejected"] > before["rejected"] else None)(
        metrics(srv)))
    assert after["rejected"] - before["rejected"] == 1
    assert after["applied"] == before["applied"]
    assert addresses(srv) == ["10.0.0.1"]


def test_malformed_pushes_do_not_disturb_the_data(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    wait_until(lambda: metrics(srv)["applied"] >= 1)  # the first-subscription push
    port = push_port(srv)
    before = metrics(srv)
    bomb = gzip.compress(b'{"type":"dom","data":"{}","lastRefTime":1' + b" " * (6 << 20) + b"}")
    bad = [b"", b"garbage", b"\x1f\x8b\x08\x00garbage", gzip.compress(packet("{}", 1))[:20],
           b'{"type":"dom","data":"{}","lastRefTime":1.5}',
           b'{"type":"dom","data":{"hosts":[]},"lastRefTime":1}', bomb]
    for payload in bad:
        send_from("127.0.0.1", port, payload)
    # Parsed, so acked, but its data is no ServiceInfo: rejected all the same.
    ack = send_from("127.0.0.1", port, packet("not json", 1 << 62), want_reply=True)
    assert ack == {"type": "push-ack", "lastRefTime": 1 << 62, "data": ""}
    ack = send_from("127.0.0.1", port, packet("", "123", kind="dump"), want_reply=True)
    assert ack == {"type": "unknown-ack", "lastRefTime": 123, "data": ""}
    rejected = len(bad) + 2 - 1  # the empty datagram is no datagram to libuv
    after = wait_until(lambda: (lambda m: m if m["rejected"] - before["rejected"] >= rejected
                                else None)(metrics(srv)))
    assert after["applied"] == before["applied"]
    # An older copy of the service is stale: the data held stays.
    old = packet(service_json(["10.6.6.6"], 1000), (1 << 53) + 1)
    ack = send_from("127.0.0.1", port, old, want_reply=True)
    assert ack["lastRefTime"] == (1 << 53) + 1  # exact, above 2^53
    wait_until(lambda: metrics(srv)["stale"] > after["stale"])
    assert addresses(srv) == ["10.0.0.1"]
    # A push for a service not tracked changes nothing either.
    other = packet(service_json(["10.6.6.7"], int(time.time() * 1000), name="other"), 5)
    send_from("127.0.0.1", port, other, want_reply=True)
    r = srv.query("other.DEFAULT_GROUP.svc", "A")
    assert not any(rr.address == "10.6.6.7" for rrset in r.answer for rr in rrset
                   if rrset.rdtype == dns.rdatatype.A)
    # The resolver still takes real pushes.
    nacos.register("order-service", "10.0.0.3", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.3"], timeout=3)


def test_newer_push_from_the_nacos_address_applies(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos)
    tracked(nacos, srv, ["10.0.0.1"])
    port = push_port(srv)
    data = service_json(["10.0.0.1", "10.0.0.9"], int(time.time() * 1000) + 30000)
    ack = send_from("127.0.0.1", port, gzip.compress(packet(data, "9007199254740993")),
                    want_reply=True)
    assert ack == {"type": "push-ack", "lastRefTime": 9007199254740993, "data": ""}
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.9"], timeout=3)


def test_listen_and_advertise_flags(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    port = free_port()
    srv = start_dns(nacos_dns, nacos, "--push-listen", f"127.0.0.1:{port}",
                    "--push-advertise", "127.0.0.1")
    assert push_port(srv) == port
    tracked(nacos, srv, ["10.0.0.1"])
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=3)


@pytest.mark.parametrize("flag,value", [("--push-listen", "127.0.0.1"),
                                        ("--push-listen", "nowhere:1"),
                                        ("--push-advertise", "10.0.0"),
                                        ("--push", "yes")])
def test_bad_push_flags_exit_2(flag, value, nacos_dns, workdir):
    import subprocess
    from conftest import BINARY
    r = subprocess.run([BINARY, "--nacos", "http://127.0.0.1:1", flag, value],
                       capture_output=True, timeout=10)
    assert r.returncode == 2
    assert flag.encode() in r.stderr


def test_nacos_32_works_without_push(fake_nacos, nacos_dns):
    # 3.2 has no v1 API and never pushes; the fake has no v3 service listing, so the upgrade
    # happens under a running resolver that knows the names already.
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos, poll="1")
    tracked(nacos, srv, ["10.0.0.1"])
    nacos.set_mode("3.2")
    wait_until(lambda: "/nacos/v3/client/ns/instance/list" in nacos.requests()["by_path"])
    nacos.reset_counters()
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=4)
    wait_until(lambda: nacos.requests()["by_path"].get("/nacos/v3/client/ns/instance/list", 0)
               >= 2)
    assert push_counters(nacos)["subscriptions"] == 0
    assert "/nacos/v1/ns/instance/list" not in nacos.requests()["by_path"]
    assert metrics(srv)["rejected"] == 0


def test_a_push_from_the_future_cannot_freeze_a_service(fake_nacos, nacos_dns):
    # A push stamped a day ahead (a broken clock, or a forgery from the server's address) is
    # rejected; one a little ahead is applied, and the next poll of the service's own server
    # still wins, so wrong data lasts a poll at most.
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos, poll="1")
    tracked(nacos, srv, ["10.0.0.1"])
    port = push_port(srv)
    now = int(time.time() * 1000)
    before = metrics(srv)["rejected"]
    send_from("127.0.0.1", port, packet(service_json(["10.0.0.66"], now + 86400000), "1"))
    wait_until(lambda: metrics(srv)["rejected"] == before + 1)
    assert addresses(srv) == ["10.0.0.1"]
    send_from("127.0.0.1", port, packet(service_json(["10.0.0.77"], now + 30000), "2"))
    wait_until(lambda: addresses(srv) == ["10.0.0.77"], timeout=3)
    wait_until(lambda: addresses(srv) == ["10.0.0.1"], timeout=4)
    assert "stale=no" in " ".join(s.decode() for rrset in srv.query(
        "_info." + NAME, "TXT").answer for rr in rrset for s in rr.strings)
