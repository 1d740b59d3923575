"""Sync with a live Nacos: the real nacos-dns against the fake Nacos (tests/fake_nacos).

Propagation, faults that must not lose data, the cache file, auth, failover, API versions and
odd service names. Waits are bounded polls, not timing assertions.
"""
import json
import os
import signal
import time

import dns.edns
import dns.rcode
import dns.rdatatype
import pytest

from conftest import service_info, wait_until

POLL = "1"  # --poll-interval, seconds


def addresses(srv, name, rdtype="A"):
    r = srv.query(name, rdtype)
    assert r.rcode() == dns.rcode.NOERROR, dns.rcode.to_text(r.rcode())
    return sorted(rr.address for rrset in r.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.from_text(rdtype))


def info(srv, service, group="DEFAULT_GROUP"):
    r = srv.query(f"_info.{service}.{group}.svc", "TXT")
    assert r.rcode() == dns.rcode.NOERROR
    return " ".join(s.decode() for rrset in r.answer for rr in rrset for s in rr.strings)


def registry(*services, ns="public"):
    return {"namespaces": {ns: list(services)}}


def start_dns(nacos_dns, nacos_url, *extra):
    # Polling alone: a push would bring changes before the polls these tests look at
    # (test_push.py covers push).
    return nacos_dns("--nacos", nacos_url, "--poll-interval", POLL, "--fetch-wait", "2s",
                     "--log-level", "debug", "--push", "off", *extra)


NAME = "order-service.DEFAULT_GROUP.svc"


def test_register_and_deregister_propagate(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url)
    # The first query of a catalog service waits for its fetch and gets the data.
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1", "10.0.0.2"], timeout=4)
    nacos.deregister("order-service", "10.0.0.1", 8080)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.2"], timeout=4)
    text = info(srv, "order-service")
    assert f"server={nacos.url}" in text and "api=v1" in text and "stale=no" in text
    # Only the queried service is polled, never an unqueried one.
    nacos.register("other-service", "10.0.9.9", 80)
    time.sleep(1.5)
    paths = nacos.requests()["by_path"]
    assert paths.get("/nacos/v1/ns/instance/list", 0) >= 2
    assert paths.get("/nacos/v1/ns/service/list", 0) >= 1


def test_catalog_empty_service_is_nodata_and_unknown_is_nxdomain(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", data=registry(service_info("empty-svc", [])))
    srv = start_dns(nacos_dns, nacos.url)
    # NXDOMAIN only until the first catalog listing lands.
    r = wait_until(lambda: (lambda m: m if m.rcode() == dns.rcode.NOERROR else None)(
        srv.query("empty-svc.DEFAULT_GROUP.svc", "A")))
    assert not r.answer
    assert any(rrset.rdtype == dns.rdatatype.SOA for rrset in r.authority)
    r = srv.query("no-such-service.DEFAULT_GROUP.svc", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN


FAULTS = ["500", "503", "hang", "slow", "malformed", "reset", "empty", "403"]


@pytest.mark.parametrize("fault", FAULTS)
def test_faults_keep_the_last_good_answer(fault, fake_nacos, nacos_dns):
    # 10 instances, 8 of them in order-service: an "empty" Nacos would remove most of the
    # registry at once, which the guard holds back.
    hosts = [{"ip": f"10.0.1.{i}"} for i in range(1, 9)]
    nacos = fake_nacos(mode="2.x", data=registry(service_info("order-service", hosts),
                                                  service_info("pay", [{"ip": f"10.0.2.{i}"}
                                                                       for i in range(1, 3)])))
    srv = start_dns(nacos_dns, nacos.url)
    want = sorted(h["ip"] for h in hosts)
    assert wait_until(lambda: addresses(srv, NAME) == want)
    assert wait_until(lambda: len(addresses(srv, "pay.DEFAULT_GROUP.svc")) == 2)
    nacos.reset_counters()
    nacos.fault(fault, delay=5 if fault in ("hang", "slow") else None)
    # Let several poll rounds hit the fault (a hang takes the 3 s request timeout).
    wait_until(lambda: nacos.requests()["total"] >= 4, timeout=15)
    for _ in range(5):
        assert addresses(srv, NAME) == want
        time.sleep(0.2)
    if fault in ("500", "503", "malformed", "reset", "empty", "403"):
        wait_until(lambda: "stale=yes" in info(srv, "order-service"))
    nacos.fault("none")
    nacos.register("order-service", "10.0.1.99", 8080)
    wait_until(lambda: "10.0.1.99" in addresses(srv, NAME), timeout=15)
    assert wait_until(lambda: "stale=no" in info(srv, "order-service"), timeout=5)
    log = srv.log_text()
    assert log.count("fetching public/DEFAULT_GROUP/order-service failed") <= 1


def test_empty_nacos_empties_no_service_but_a_real_removal_lands(fake_nacos, nacos_dns):
    # Six services of two instances: an empty Nacos answers each poll with an empty list, and
    # each one alone removes under half of the registry, so only counting the whole round
    # before emptying anything keeps them all.
    names = [f"svc-{i}" for i in range(6)]
    nacos = fake_nacos(mode="2.x", data=registry(*[
        service_info(n, [{"ip": f"10.0.{i}.1"}, {"ip": f"10.0.{i}.2"}])
        for i, n in enumerate(names)]))
    srv = start_dns(nacos_dns, nacos.url)
    for i, n in enumerate(names):
        assert wait_until(lambda: addresses(srv, f"{n}.DEFAULT_GROUP.svc") ==
                          [f"10.0.{i}.1", f"10.0.{i}.2"])
    nacos.reset_counters()
    nacos.fault("empty")
    wait_until(lambda: nacos.requests()["total"] >= 3 * len(names), timeout=15)
    for i, n in enumerate(names):
        assert addresses(srv, f"{n}.DEFAULT_GROUP.svc") == [f"10.0.{i}.1", f"10.0.{i}.2"], n
    nacos.fault("none")
    for n in names:
        wait_until(lambda: "stale=no" in info(srv, n), timeout=10)
    # One service really losing its instances is believed at the next answer that agrees, once
    # the hold the empty round started (30 s) is over.
    nacos.deregister("svc-0", "10.0.0.1", 8080)
    nacos.deregister("svc-0", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv, "svc-0.DEFAULT_GROUP.svc") == [], timeout=45)
    assert addresses(srv, "svc-1.DEFAULT_GROUP.svc") == ["10.0.1.1", "10.0.1.2"]


def test_restart_with_cache_file_while_nacos_is_down(fake_nacos, nacos_dns, workdir):
    cache = os.path.join(workdir, "cache.json")
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.7", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--cache-file", cache)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.7"])

    def cached():
        with open(cache) as f:
            return "10.0.0.7" in f.read()
    wait_until(lambda: os.path.exists(cache) and cached(), timeout=5)
    assert os.stat(cache).st_mode & 0o077 == 0  # no secrets, but the whole registry
    assert srv.stop() == 0
    url = nacos.url
    nacos.stop()
    srv2 = start_dns(nacos_dns, url, "--cache-file", cache)
    assert addresses(srv2, NAME) == ["10.0.0.7"]
    assert "stale=yes" in info(srv2, "order-service")
    with open(cache) as f:
        json.load(f)  # still a whole document


def test_cache_file_that_is_not_a_regular_file_is_ignored(nacos_dns, workdir):
    # A symlink to /dev/zero would be read until memory runs out.
    cache = os.path.join(workdir, "cache.json")
    os.symlink("/dev/zero", cache)
    srv = start_dns(nacos_dns, "http://127.0.0.1:9", "--cache-file", cache)
    assert f"no cache file {cache}: not a regular file" in srv.log_text()


def test_token_expiry_and_relogin(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", auth="nacos:s3cret-pw", token_ttl=3600)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--username", "nacos", "--password", "s3cret-pw")
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    logins = nacos.requests()["by_path"].get("/nacos/v1/auth/login", 0)
    assert logins >= 1
    nacos.expire_tokens()
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1", "10.0.0.2"], timeout=6)
    assert nacos.requests()["by_path"].get("/nacos/v1/auth/login", 0) > logins
    assert "s3cret-pw" not in srv.log_text()


def test_password_is_not_in_the_process_arguments_and_survives_a_reload(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x", auth="nacos:s3cret-pw", token_ttl=3600)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--username", "nacos", "--password=s3cret-pw")
    with open(f"/proc/{srv.proc.pid}/cmdline", "rb") as f:
        args = f.read().split(b"\0")
    assert b"s3cret-pw" not in b" ".join(args)
    assert b"--password=*********" in args
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration")
    # The reload kept the real password: a fresh login after the tokens expire still works.
    logins = nacos.requests()["by_path"].get("/nacos/v1/auth/login", 0)
    nacos.expire_tokens()
    nacos.register("order-service", "10.0.0.2", 8080)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1", "10.0.0.2"], timeout=6)
    assert nacos.requests()["by_path"].get("/nacos/v1/auth/login", 0) > logins


def test_short_token_ttl_is_refreshed_before_expiry(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="3.1", auth="nacos:pw", token_ttl=2)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--username", "nacos", "--password", "pw")
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    wait_until(lambda: nacos.requests()["by_path"].get("/nacos/v1/auth/login", 0) >= 3,
               timeout=10)
    assert addresses(srv, NAME) == ["10.0.0.1"]


def test_failover_between_two_servers(fake_nacos, nacos_dns):
    a, b = fake_nacos(mode="2.x"), fake_nacos(mode="2.x")
    for n in (a, b):
        n.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, f"{a.url},{b.url}")
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    # A service's polls stay on one server until it fails: stop that one.
    lists = [n.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0) for n in (a, b)]
    assert min(lists) == 0 and max(lists) > 0
    if lists[1]:
        a, b = b, a
    a.stop()
    b.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1", "10.0.0.2"], timeout=6)
    b.register("order-service", "10.0.0.3", 8080)
    wait_until(lambda: "10.0.0.3" in addresses(srv, NAME), timeout=6)
    assert "failing" in srv.log_text()


@pytest.mark.parametrize("mode,api,path", [
    ("1.x", "auto", "/nacos/v1/ns/instance/list"),
    ("2.x", "v1", "/nacos/v1/ns/instance/list"),
    ("3.1", "v3", "/nacos/v3/client/ns/instance/list"),
])
def test_api_versions(mode, api, path, fake_nacos, nacos_dns):
    nacos = fake_nacos(mode=mode)
    nacos.register("order-service", "10.0.0.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--nacos-api", api)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    nacos.register("order-service", "10.0.0.2", 8080)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1", "10.0.0.2"], timeout=4)
    assert nacos.requests()["by_path"].get(path, 0) >= 2
    want = "api=v3" if api == "v3" else "api=v1"
    assert want in info(srv, "order-service")


def test_nacos_32_detected_and_served_from_cache_names(fake_nacos, nacos_dns, workdir):
    # 3.2 has neither v1 nor a client service listing: services known from the cache file are
    # kept fresh over the v3 client API, found by detection (501 on v1), every cluster of them.
    cache = os.path.join(workdir, "cache.json")
    with open(cache, "w") as f:
        json.dump(registry(service_info("order-service", [{"ip": "10.0.0.1"}])), f)
    nacos = fake_nacos(mode="3.2")
    nacos.register("order-service", "10.0.0.5", 8080)
    nacos.register("order-service", "10.0.0.6", 8080, clusterName="c1")
    srv = start_dns(nacos_dns, nacos.url, "--cache-file", cache)
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.5", "10.0.0.6"], timeout=6)
    assert "api=v3" in info(srv, "order-service")
    assert nacos.requests()["by_path"].get("/nacos/v3/client/ns/instance/list", 0) >= 1
    assert "no v1 API" in srv.log_text()


def test_dotted_and_dubbo_names(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("com.acme.OrderService", "10.0.3.1", 8080)
    nacos.register("providers:com.acme.Api:1.0.0:", "10.0.3.2", 20880)
    srv = start_dns(nacos_dns, nacos.url)
    assert wait_until(lambda: addresses(srv, "com.acme.OrderService.DEFAULT_GROUP.svc")
                      == ["10.0.3.1"])
    assert wait_until(lambda: addresses(srv, "providers:com.acme.Api:1.0.0:.DEFAULT_GROUP.svc")
                      == ["10.0.3.2"])
    nacos.register("providers:com.acme.Api:1.0.0:", "10.0.3.3", 20880)
    wait_until(lambda: addresses(srv, "providers:com.acme.Api:1.0.0:.DEFAULT_GROUP.svc")
               == ["10.0.3.2", "10.0.3.3"], timeout=4)


def test_track_all_polls_every_catalog_service(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.bulk(30, 2, prefix="bulk-")
    srv = start_dns(nacos_dns, nacos.url, "--track", "all")
    wait_until(lambda: nacos.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0) >= 30)
    # Already fetched: answered without a fetch wait, and the data is there.
    assert len(addresses(srv, "bulk-0.DEFAULT_GROUP.svc")) == 2


def instance_lists(nacos):
    return nacos.requests()["by_path"].get("/nacos/v1/ns/instance/list", 0)


def service_lists(nacos):
    return nacos.requests()["by_path"].get("/nacos/v1/ns/service/list", 0)


def test_sighup_applies_ttl_and_new_nacos_servers_keeping_the_data(fake_nacos, nacos_dns,
                                                                    workdir):
    a, b = fake_nacos(mode="2.x"), fake_nacos(mode="2.x")
    a.register("order-service", "10.0.0.1", 8080)
    b.register("order-service", "10.0.0.2", 8080)
    b.register("new-service", "10.0.5.1", 8080)
    conf = os.path.join(workdir, "sync.conf")

    def write_conf(url, ttl):
        with open(conf, "w") as f:
            f.write(f"nacos = {url}\nttl = {ttl}\npoll-interval = {POLL}s\n"
                    "fetch-wait = 2s\nlog-level = debug\n")
    write_conf(a.url, 7)
    srv = nacos_dns("-c", conf)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    assert srv.query(NAME).answer[0].ttl == 7
    # The new server cannot answer yet: whatever the reload does, the data of the old one stays.
    b.fault("500")
    write_conf(b.url, 30)
    srv.signal(signal.SIGHUP)
    srv.wait_log("msg=\"reloaded configuration")
    assert "take effect on restart" not in srv.log_text()
    wait_until(lambda: srv.query(NAME).answer[0].ttl == 30)
    wait_until(lambda: instance_lists(b) >= 2)  # polls go to the new server...
    a.reset_counters()
    for _ in range(8):
        assert addresses(srv, NAME) == ["10.0.0.1"]  # ...which fails: the old copy is served
        time.sleep(0.2)
    assert a.requests()["total"] == 0  # the old server is asked no more
    wait_until(lambda: "stale=yes" in info(srv, "order-service"))
    b.fault("none")
    wait_until(lambda: addresses(srv, NAME) == ["10.0.0.2"])
    text = info(srv, "order-service")
    assert f"server={b.url}" in text and "stale=no" in text
    # The catalog now comes from the new server too.
    wait_until(lambda: addresses(srv, "new-service.DEFAULT_GROUP.svc") == ["10.0.5.1"])
    assert srv.query(NAME).answer[0].ttl == 30


def test_no_nxdomain_before_the_catalog_is_listed(fake_nacos, nacos_dns):
    """A name not held may still exist until the catalog is listed: a query for it waits for
    the listing instead of getting an NXDOMAIN that stub resolvers would cache."""
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    nacos.fault("slow", path="/nacos/v1/ns/service/list", count=1, delay=1)
    srv = start_dns(nacos_dns, nacos.url)
    assert addresses(srv, NAME) == ["10.0.0.1"]  # waited for the listing, then the fetch
    assert srv.query("no-service.DEFAULT_GROUP.svc").rcode() == dns.rcode.NXDOMAIN


def test_unlisted_catalog_answers_servfail_until_it_is_listed(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    nacos.fault("500", path="/nacos/v1/ns/service/list")
    srv = start_dns(nacos_dns, nacos.url, "--fetch-wait", "500ms")
    for name in (NAME, "no-service.DEFAULT_GROUP.svc"):
        r = srv.query(name, use_edns=0)
        assert r.rcode() == dns.rcode.SERVFAIL
        # RFC 8914: dig shows "EDE: 14 (Not Ready): (Nacos catalog not listed yet)"
        assert [(o.code, o.text) for o in r.options if o.otype == dns.edns.EDE] == [
            (dns.edns.EDECode.NOT_READY, "Nacos catalog not listed yet")]
    assert srv.query("svc.", "SOA").rcode() == dns.rcode.NOERROR  # the apex is known
    nacos.fault("none")
    # A waiting query asks for the listing again (at most every 5 s).
    assert wait_until(lambda: srv.query("no-service.DEFAULT_GROUP.svc").rcode()
                      == dns.rcode.NXDOMAIN, timeout=12)
    assert addresses(srv, NAME) == ["10.0.0.1"]


def test_catalog_miss_lists_the_catalog_again(fake_nacos, nacos_dns):
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    # The catalog is listed at start and then only every 10 minutes: a re-list is the miss's.
    srv = start_dns(nacos_dns, nacos.url, "--catalog-interval", "600")
    srv.wait_log("catalog synced")
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    before = service_lists(nacos)
    nacos.register("late-service", "10.0.7.1", 8080)
    late = "late-service.DEFAULT_GROUP.svc"
    assert srv.query(late).rcode() == dns.rcode.NXDOMAIN  # not in the catalog yet
    # Re-listed at once, or at the end of the 5 s period of an earlier miss (a query made while
    # the first listing was being published counts as one).
    assert wait_until(lambda: addresses(srv, late) == ["10.0.7.1"], timeout=8)
    assert service_lists(nacos) > before


def test_change_just_before_sigterm_reaches_the_cache_file(fake_nacos, nacos_dns, workdir):
    cache = os.path.join(workdir, "cache.json")
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    nacos.register("pay", "10.0.2.1", 8080)
    srv = start_dns(nacos_dns, nacos.url, "--cache-file", cache)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    # The cache file was just written (it is written at most once a second): the next change
    # would wait for the next write, and SIGTERM comes first.
    nacos.register("pay", "10.0.2.2", 8080)
    assert addresses(srv, "pay.DEFAULT_GROUP.svc") == ["10.0.2.1", "10.0.2.2"]
    assert srv.stop() == 0
    with open(cache) as f:
        text = f.read()
    json.loads(text)
    assert "10.0.0.1" in text and "10.0.2.2" in text
    url = nacos.url
    nacos.stop()
    srv2 = start_dns(nacos_dns, url, "--cache-file", cache)
    assert addresses(srv2, "pay.DEFAULT_GROUP.svc") == ["10.0.2.1", "10.0.2.2"]
    assert addresses(srv2, NAME) == ["10.0.0.1"]


def test_reasons_are_logged(fake_nacos, nacos_dns):
    # Why an answer was malformed, and why instances were skipped, reach the log (once per
    # change, not per poll).
    nacos = fake_nacos(mode="2.x")
    nacos.register("order-service", "10.0.0.1", 8080)
    nacos.register("order-service", "not-an-address", 8080)
    srv = start_dns(nacos_dns, nacos.url)
    assert wait_until(lambda: addresses(srv, NAME) == ["10.0.0.1"])
    srv.wait_log("order-service: 1 instances skipped (")
    nacos.fault("malformed", path="/nacos/v1/ns/instance/list")
    srv.wait_log("failed (0 more since the last line): malformed answer (")
    assert "bad JSON" in srv.log_text()
    time.sleep(1.5)
    assert srv.log_text().count("instances skipped") == 1


def test_a_large_answer_arriving_slowly_is_taken_and_a_stalled_one_backs_off_nothing(
        fake_nacos, nacos_dns):
    # 2,000 instances (about 700 kB) sent over 5 s: slower than the 3 s stall window as a
    # whole, but never stalled, so it is taken. An answer that stalls half-way fails that
    # service's fetch alone: the server is not put in backoff for the others.
    big = [{"ip": f"10.1.{i // 250}.{i % 250 + 1}", "port": 8080} for i in range(2000)]
    nacos = fake_nacos(mode="2.x", data=registry(service_info("small", [{"ip": "10.0.9.1"}]),
                                                 service_info("big", big)))
    srv = start_dns(nacos_dns, nacos.url, "--fetch-wait", "8s")
    assert wait_until(lambda: addresses(srv, "small.DEFAULT_GROUP.svc") == ["10.0.9.1"])
    nacos.fault("trickle", path="/nacos/v1/ns/instance/list", delay=5, count=1)
    r = srv.query("big.DEFAULT_GROUP.svc", "A", tcp=True, timeout=10)
    assert sum(len(rrset) for rrset in r.answer) == 2000
    nacos.fault("stall", path="/nacos/v1/ns/instance/list", count=1)
    time.sleep(4)
    nacos.register("small", "10.0.9.2", 80)
    assert wait_until(lambda: addresses(srv, "small.DEFAULT_GROUP.svc")
                      == ["10.0.9.1", "10.0.9.2"], timeout=4)
    # the next poll, whichever service it was for (slow builds take a while to see it stall)
    srv.wait_log("failed (0 more since the last line): answer stalled after it began", 20)
    assert "failing: answer stalled" not in srv.log_text()  # no backoff for it
