"""Every Nacos as it ships: 3.2 without the legacy adapter, groups never configured, services
in non-DEFAULT clusters only, the v3 admin list's regex filter, a catalog that cannot be listed,
and a cluster of nodes that lag and keep their own clocks. The real nacos-dns against the fake
Nacos, which follows the server's source (tests/fake_nacos)."""
import time
import uuid

import dns.rcode
import dns.rdatatype
import pytest

import re
import socket

from conftest import free_port, http_get, wait_until

V3_CLIENT_LIST = "/nacos/v3/client/ns/instance/list"


def start_dns(nacos_dns, urls, *extra):
    return nacos_dns("--nacos", urls, "--poll-interval", "1", "--catalog-interval", "2s",
                     "--fetch-wait", "2s", "--push", "off", "--log-level", "debug", *extra)


def answer(srv, name, rdtype="A"):
    r = srv.query(name, rdtype)
    if r.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(r.rcode())
    return sorted(rr.address for rrset in r.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.from_text(rdtype))


def rcode(srv, name, rdtype="A"):
    return dns.rcode.to_text(srv.query(name, rdtype).rcode())


def info(srv, service, group="DEFAULT_GROUP"):
    r = srv.query(f"_info.{service}.{group}.svc", "TXT")
    return " ".join(s.decode() for rrset in r.answer for rr in rrset for s in rr.strings)


def test_nacos_32_as_shipped_with_only_nacos_given(fake_nacos, nacos_dns):
    # 3.2 without the adapter: v1 naming answers 501, the admin list refuses anonymous callers
    # (nacos.core.auth.admin.enabled=true), no push. Nothing but --nacos is given.
    nacos = fake_nacos(mode="3.2")
    nacos.register("payment-api", "10.0.1.1", 8080)
    nacos.register("ledger", "10.0.2.1", 8080, group="FINANCE")
    nacos.register("geo", "10.0.3.1", 8080, clusterName="SH")
    nacos.register("geo", "10.0.3.2", 8080, clusterName="BJ")
    nacos.register("gone-soon", "10.0.4.1", 8080)
    srv = nacos_dns("--nacos", nacos.url)
    assert wait_until(lambda: answer(srv, "payment-api.DEFAULT_GROUP.svc") == ["10.0.1.1"])
    assert wait_until(lambda: answer(srv, "ledger.FINANCE.svc") == ["10.0.2.1"])
    assert wait_until(lambda: answer(srv, "geo.DEFAULT_GROUP.svc") == ["10.0.3.1", "10.0.3.2"])
    assert "catalog=none" in info(srv, "payment-api")
    assert "no v1 API (HTTP 501)" in srv.log_text()
    assert wait_until(lambda: answer(srv, "gone-soon.DEFAULT_GROUP.svc") == ["10.0.4.1"])
    nacos.remove_service("gone-soon")
    # Empty answers are applied when a second one agrees: two polls (5 s), then NXDOMAIN.
    assert wait_until(lambda: rcode(srv, "gone-soon.DEFAULT_GROUP.svc") == "NXDOMAIN",
                      timeout=14)
    assert rcode(srv, "no-such.DEFAULT_GROUP.svc") == "NXDOMAIN"
    assert rcode(srv, "no-such.OTHER.svc") == "NXDOMAIN"


def test_unlistable_catalog_does_not_let_random_names_flood_nacos(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2")
    nacos.register("payment-api", "10.0.1.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--negative-ttl", "30")
    assert wait_until(lambda: answer(srv, "payment-api.DEFAULT_GROUP.svc") == ["10.0.1.1"])
    nacos.reset_counters()
    # The same absent name again and again: fetched once, then remembered for the negative TTL.
    for _ in range(30):
        assert rcode(srv, "nope.DEFAULT_GROUP.svc") == "NXDOMAIN"
    assert nacos.requests()["by_path"].get(V3_CLIENT_LIST, 0) <= 2
    # Many distinct random names at once: fetches are rate-limited, the rest SERVFAIL.
    nacos.reset_counters()
    names = [f"r{uuid.uuid4().hex[:12]}.DEFAULT_GROUP.svc" for _ in range(400)]
    started = time.monotonic()
    codes = [rcode(srv, n) for n in names]
    took = time.monotonic() - started
    asked = nacos.requests()["by_path"].get(V3_CLIENT_LIST, 0)
    assert set(codes) <= {"NXDOMAIN", "SERVFAIL"}
    assert codes.count("NXDOMAIN") >= 100
    # The burst plus the rate over the time taken (and the poll of payment-api).
    assert asked <= 100 + 50 * (took + 1) + 2 * (took + 1)
    assert answer(srv, "payment-api.DEFAULT_GROUP.svc") == ["10.0.1.1"]


def test_listing_refused_to_a_reader_still_answers(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.2", auth="nacos:secret", reader="reader:pw")
    nacos.register("payment-api", "10.0.1.1", 8080)
    port = free_port(socket.SOCK_STREAM)
    srv = start_dns(nacos_dns, nacos.url, "--username", "reader", "--password", "pw",
                    "--http", f"127.0.0.1:{port}")
    assert wait_until(lambda: answer(srv, "payment-api.DEFAULT_GROUP.svc") == ["10.0.1.1"])
    assert "authorization failed" in srv.log_text()
    # No catalog is settled too: ready, and misses are NXDOMAIN.
    assert http_get(port, "/readyz")[0] == 200
    assert rcode(srv, "nope.DEFAULT_GROUP.svc") == "NXDOMAIN"


@pytest.mark.parametrize("mode,api", [("1.x", "auto"), ("2.x", "auto"), ("3.1", "auto"),
                                      ("3.1", "v3"), ("3.2", "auto")])
def test_a_group_never_configured_resolves(mode, api, fake_nacos, nacos_dns):
    nacos = fake_nacos(mode=mode, admin_open=True)
    nacos.register("ledger", "10.0.2.1", 8080, group="FINANCE")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--nacos-api", api)
    assert wait_until(lambda: answer(srv, "ledger.FINANCE.svc") == ["10.0.2.1"])
    assert answer(srv, "order-service.DEFAULT_GROUP.svc") == ["10.0.0.1"]
    assert rcode(srv, "missing.FINANCE.svc") == "NXDOMAIN"
    nacos.register("ledger", "10.0.2.2", 8080, group="FINANCE")
    assert wait_until(lambda: answer(srv, "ledger.FINANCE.svc") == ["10.0.2.1", "10.0.2.2"],
                      timeout=6)


def test_groups_only_and_max_groups(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    for g in ("G1", "G2", "G3"):
        nacos.register("svc", "10.0.5.1", 80, group=g)
    srv = start_dns(nacos_dns, nacos.url, "--any-group", "off")
    assert rcode(srv, "svc.G1.svc") == "NXDOMAIN"
    port = free_port(socket.SOCK_STREAM)
    srv = start_dns(nacos_dns, nacos.url, "--max-groups", "2", "--http", f"127.0.0.1:{port}")
    assert wait_until(lambda: answer(srv, "svc.G1.svc") == ["10.0.5.1"])
    assert rcode(srv, "svc.TYPO.svc") == "NXDOMAIN"  # an empty group takes the second place
    # At the cap, the empty group makes room (at the next tick) for a real one.
    assert rcode(srv, "svc.G2.svc") == "SERVFAIL"
    assert wait_until(lambda: answer(srv, "svc.G2.svc") == ["10.0.5.1"], timeout=5)
    assert rcode(srv, "svc.G3.svc") == "SERVFAIL"
    time.sleep(1.5)
    assert rcode(srv, "svc.G3.svc") == "SERVFAIL"  # G1 and G2 hold services: they stay
    assert answer(srv, "svc.G1.svc") == ["10.0.5.1"]
    hits = re.search(r'nacosdns_limit_hits_total\{limit="max-groups"\} (\d+)',
                     http_get(port, "/metrics")[1])
    assert hits and int(hits.group(1)) >= 3


@pytest.mark.parametrize("mode,api", [("2.x", "auto"), ("3.1", "v3"), ("3.2", "auto")])
def test_services_only_in_non_default_clusters(mode, api, fake_nacos, nacos_dns):
    nacos = fake_nacos(mode=mode, admin_open=True)
    nacos.register("geo", "10.0.3.1", 8080, clusterName="SH")
    nacos.register("geo", "10.0.3.2", 8080, clusterName="BJ")
    srv = start_dns(nacos_dns, nacos.url, "--nacos-api", api)
    assert wait_until(lambda: answer(srv, "geo.DEFAULT_GROUP.svc") == ["10.0.3.1", "10.0.3.2"])
    assert answer(srv, "sh._cluster.geo.DEFAULT_GROUP.svc") == ["10.0.3.1"]


def test_v3_listing_pages_past_other_groups_and_removes(fake_nacos, nacos_dns):
    # The admin list matches ".*DEFAULT_GROUP.*@@.*": in name order, 10,000 services of
    # A_DEFAULT_GROUP fill the first page before any of ours.
    nacos = fake_nacos(mode="3.1", admin_open=True, list_order="name")
    nacos.bulk(10001, 1, prefix="x-", group="A_DEFAULT_GROUP")
    for i in range(3):
        nacos.register(f"mine-{i}", f"10.0.6.{i + 1}", 80)
    srv = start_dns(nacos_dns, nacos.url, "--nacos-api", "v3")
    for i in range(3):
        assert wait_until(lambda: answer(srv, f"mine-{i}.DEFAULT_GROUP.svc")
                          == [f"10.0.6.{i + 1}"], timeout=10)
    nacos.remove_service("mine-1")
    # Gone from a complete listing (a catalog interval), then NXDOMAIN.
    assert wait_until(lambda: rcode(srv, "mine-1.DEFAULT_GROUP.svc") == "NXDOMAIN", timeout=8)
    assert answer(srv, "mine-0.DEFAULT_GROUP.svc") == ["10.0.6.1"]
    assert "left the catalog" in srv.log_text()


def test_two_nodes_a_lagging_one_never_turns_an_answer_back(fake_nacos, nacos_dns):
    # Data reaches the other node 3 s later, and its clock runs 100 s ahead: comparing its
    # lastRefTime with the first node's would favour its stale answers.
    nacos = fake_nacos(mode="2.x", nodes=2, replication_delay=3.0, clock_skew=100)
    nacos.register("order-service", "10.0.0.1", 8080)
    time.sleep(3.5)
    srv = start_dns(nacos_dns, ",".join(nacos.urls))
    assert wait_until(lambda: answer(srv, "order-service.DEFAULT_GROUP.svc") == ["10.0.0.1"])
    time.sleep(2.5)
    polls = [nacos.requests(node=i)["by_path"].get("/nacos/v1/ns/instance/list", 0)
             for i in range(2)]
    # One service, one node: its polls all went to one of them.
    assert min(polls) == 0 and max(polls) >= 2
    own = polls.index(max(polls))
    nacos.register("order-service", "10.0.0.2", 8080, node=own)
    want = ["10.0.0.1", "10.0.0.2"]
    assert wait_until(lambda: answer(srv, "order-service.DEFAULT_GROUP.svc") == want, timeout=4)
    deadline = time.monotonic() + 4  # while the other node still lacks it
    while time.monotonic() < deadline:
        assert answer(srv, "order-service.DEFAULT_GROUP.svc") == want
        time.sleep(0.1)


def test_a_catalog_failing_three_times_is_run_without(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    nacos.fault("500", path="/nacos/v1/ns/service/list")
    srv = start_dns(nacos_dns, nacos.url)
    # Never listed, failing: after three failures in a row names are fetched by name.
    assert wait_until(lambda: answer(srv, "order-service.DEFAULT_GROUP.svc") == ["10.0.0.1"],
                      timeout=20)
    assert "no catalog of public/DEFAULT_GROUP" in srv.log_text()
    assert rcode(srv, "nope.DEFAULT_GROUP.svc") == "NXDOMAIN"
    # Once the listing works, the group is served from it again.
    nacos.fault("none")
    nacos.register("late", "10.0.0.9", 8080)
    # (after the backoff the 500s earned, up to 10 s)
    assert wait_until(lambda: "catalog=yes" in info(srv, "late"), timeout=25)
