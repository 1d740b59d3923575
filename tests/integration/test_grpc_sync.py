"""The sync over Nacos's gRPC transport (--nacos-transport): the real nacos-dns against the fake
Nacos with its gRPC side on the HTTP port + 1000, as Nacos serves it.

The poll interval is 30 s, so within a few seconds only a gRPC push (or the answer of a
subscription) explains a change. Waits are bounded polls, not timing assertions."""
import copy
import re
import time
import urllib.request

import dns.rcode
import dns.rdatatype
import pytest

from conftest import free_port, http_get, wait_until

NAME = "web.DEFAULT_GROUP.svc"
SLOW_POLL = "30"

def addresses(srv, name=NAME):
    r = srv.query(name, "A")
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    return sorted(rr.address for rrset in r.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def info(srv, name=NAME):
    r = srv.query("_info." + name, "TXT")
    return " ".join(s.decode() for rrset in r.answer for rr in rrset for s in rr.strings)


def metrics(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    out = {}
    for m in re.finditer(r'^nacosdns_grpc_notifies_total\{result="(\w+)"\} (\d+)$', text, re.M):
        out["notify_" + m.group(1)] = int(m.group(2))
    for key in ("reconnects_total", "resubscriptions_total", "subscribed_services"):
        m = re.search(rf"^nacosdns_grpc_{key} (\d+)$", text, re.M)
        out[key] = int(m.group(1)) if m else None
    m = re.search(r'^nacosdns_grpc_connection_state\{server="[^"]*"\} (\d)$', text, re.M)
    out["state"] = int(m.group(1)) if m else None
    return out


def start_dns(nacos_dns, nacos, *extra, transport="auto"):
    http_port = free_port()
    srv = nacos_dns("--nacos", nacos.url, "--poll-interval", SLOW_POLL, "--fetch-wait", "3s",
                    "--nacos-transport", transport, "--http", f"127.0.0.1:{http_port}",
                    "--log-level", "debug", *extra)
    srv.http_port = http_port
    return srv


def grpc_stats(nacos):
    return nacos.control("GET", "grpc/stats")


def subscribed(nacos, n=1):
    return wait_until(lambda: sum(len(c["subscriptions"])
                                  for c in grpc_stats(nacos)["connections"]) >= n)


def tracked_over_grpc(nacos, srv, ips):
    assert wait_until(lambda: addresses(srv) == ips)
    subscribed(nacos)
    wait_until(lambda: metrics(srv)["subscribed_services"] == 1)


def test_registration_is_pushed(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos)
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=5)
    assert "api=grpc" in info(srv)  # pushed (the first poll and the subscription race)
    nacos.deregister("web", "10.0.0.1", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.2"], timeout=5)
    m = wait_until(lambda: (lambda m: m if m["notify_applied"] >= 2 else None)(metrics(srv)))
    assert m["notify_received"] == m["notify_applied"] + m["notify_stale"] + \
        m["notify_rejected"]
    assert m["state"] == 2
    wait_until(lambda: grpc_stats(nacos)["acks"] >= 2)
    status, body = http_get(srv.http_port, "/snapshot")
    assert status == 200 and '"api": "grpc"' in body.replace('":"', '": "'), body


def test_change_while_disconnected(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos)
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    nacos.stop()
    saved = nacos._saved
    for svc in saved["namespaces"]["public"]:
        if svc["name"] in ("web", "DEFAULT_GROUP@@web"):
            host = copy.deepcopy(svc["hosts"][0])
            host["ip"] = "10.0.0.3"
            host.pop("instanceId", None)
            svc["hosts"].append(host)
    srv.wait_log("lost")
    assert addresses(srv) == ["10.0.0.1"]  # held while Nacos is away
    nacos.restart()
    # Reconnects back off 1 s doubling (to 30 s): a slow restart may cost a 16 s wait.
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.3"], timeout=40)
    m = metrics(srv)
    assert m["reconnects_total"] >= 1 and m["resubscriptions_total"] >= 1
    subscribed(nacos)  # the new server holds the subscription again: pushes follow
    nacos.register("web", "10.0.0.4", 80)
    assert wait_until(lambda: "10.0.0.4" in addresses(srv), timeout=5)


def test_connect_reset(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos)
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    nacos.control("POST", "grpc/reset", {})
    srv.wait_log("asks to reconnect")
    wait_until(lambda: metrics(srv)["resubscriptions_total"] >= 1)
    subscribed(nacos)
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=5)
    assert grpc_stats(nacos)["resets"] == 1


def test_auth_and_token_expiry(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2", grpc_port=0, auth="nacos:secret")
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos, "--username", "nacos", "--password", "secret")
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    nacos.expire_tokens()
    # A reconnect subscribes again with the expired token: denied, a login, then accepted.
    nacos.control("POST", "grpc/reset", {})
    wait_until(lambda: grpc_stats(nacos)["denied"] >= 1)
    srv.wait_log("denies a gRPC request: logging in again")
    subscribed(nacos)
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=8)


def test_no_grpc_port_falls_back_to_http(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")  # no gRPC side
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"])
    assert "api=v1" in info(srv)
    assert metrics(srv)["state"] == 1  # still tried, with backoff


def grpc_states(srv):
    """{server URL: 0 none, 1 connecting, 2 up}"""
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {m.group(1): int(m.group(2)) for m in re.finditer(
        r'^nacosdns_grpc_connection_state\{server="([^"]*)"\} (\d)$', text, re.M)}


def test_grpc_moves_to_the_next_server_of_the_cluster(fake_nacos, nacos_dns):
    # A two-node cluster whose gRPC side runs on node 0 only; --nacos names node 1 first.
    # Node 1 answers HTTP but not gRPC: after 10 s without a connection the next server
    # is tried, and pushes come from there.
    nacos = fake_nacos(mode="3.2", grpc_port=0, nodes=2)
    nacos.register("web", "10.0.0.1", 80)
    first, second = nacos.urls[1], nacos.urls[0]
    http_port = free_port()
    srv = nacos_dns("--nacos", f"{first},{second}", "--poll-interval", SLOW_POLL,
                    "--fetch-wait", "3s", "--http", f"127.0.0.1:{http_port}",
                    "--log-level", "debug")
    srv.http_port = http_port
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"])
    assert grpc_states(srv)[second] == 0
    assert wait_until(lambda: grpc_states(srv)[second] == 2, timeout=30), srv.log_text()
    assert f"{first}: no gRPC connection for 10s: trying {second}" in srv.log_text()
    subscribed(nacos)
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=5)
    assert "api=grpc" in info(srv)


def test_http_transport_opens_no_grpc(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos, transport="http")
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"])
    assert "api=v1" in info(srv)
    assert grpc_stats(nacos)["connections"] == []
    assert metrics(srv)["state"] == 0


def test_catalog_over_grpc_for_a_reader(fake_nacos, nacos_dns):
    # 3.2 without the legacy adapter lists services only through the admin API, which refuses
    # this user; ServiceListRequest lists them for any reader.
    nacos = fake_nacos(mode="3.2", grpc_port=0, auth="nacos:secret", reader="reader:pw")
    nacos.register("web", "10.0.0.1", 80)
    nacos.register("api", "10.0.0.9", 80)
    srv = start_dns(nacos_dns, nacos, "--username", "reader", "--password", "pw")
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"], timeout=10)
    assert wait_until(lambda: "catalog=yes" in info(srv), timeout=10)
    r = srv.query("nothing-here.DEFAULT_GROUP.svc", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    log = srv.log_text()  # HTTP may have been refused before the gRPC connection was up
    assert "no catalog of" not in log or "listing services of public/DEFAULT_GROUP works" in log
    # A service registered later joins the catalog at the next listing: its name resolves.
    assert addresses(srv, "api.DEFAULT_GROUP.svc") == ["10.0.0.9"]


@pytest.mark.parametrize("kind,logged", [("malformed", "malformed stream message"),
                                         ("oversized", "larger than 10 MiB")])
def test_bad_message_keeps_data(fake_nacos, nacos_dns, kind, logged):
    nacos = fake_nacos(mode="3.2", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos)
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    nacos.control("POST", "grpc/raw", {"kind": kind})
    srv.wait_log(logged)
    assert addresses(srv) == ["10.0.0.1"]
    assert "stale=no" in info(srv)
    subscribed(nacos)
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=8)


def test_subscribed_service_polls_slow_down(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", grpc_port=0)
    nacos.register("web", "10.0.0.1", 80)
    http_port = free_port()
    srv = nacos_dns("--nacos", nacos.url, "--poll-interval", "1s", "--http",
                    f"127.0.0.1:{http_port}", "--log-level", "debug")
    srv.http_port = http_port
    tracked_over_grpc(nacos, srv, ["10.0.0.1"])
    time.sleep(1.5)  # a poll planned before the subscription was confirmed
    nacos.reset_counters()
    time.sleep(4)
    polls = nacos.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0)
    assert polls == 0, polls  # the next one comes 10 poll intervals after the last
