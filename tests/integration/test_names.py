"""Every row of DESIGN.md's Names table, answered by the real binary from a snapshot file."""
import collections
import os
import signal
import socket
import subprocess

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import pytest

from conftest import (DEMO_REGISTRY, addresses, rdatas, serve_services, service_info, soa_serial,
                      wait_for, write_registry)

SVC = "order-service.DEFAULT_GROUP.svc."

# order-service: usable .11 (w1), .12 twice (w3, two ports), .13 (w1, cluster canary) and
# 2001:db8::7 (w1); not usable: .14 unhealthy, .15 disabled, .16 weight 0.
ORDER_HOSTS = [
    {"ip": "10.0.0.11", "port": 8080, "weight": 1.0, "metadata": {"version": "1.4.2"}},
    {"ip": "10.0.0.12", "port": 8080, "weight": 3.0},
    {"ip": "10.0.0.12", "port": 8081, "weight": 3.0},
    {"ip": "10.0.0.13", "port": 8080, "weight": 1.0, "clusterName": "canary",
     "metadata": {"version": "1.5.0-rc1"}},
    {"ip": "10.0.0.14", "port": 8080, "healthy": False},
    {"ip": "10.0.0.15", "port": 8080, "enabled": False},
    {"ip": "10.0.0.16", "port": 8080, "weight": 0.0},
    {"ip": "2001:db8::7", "port": 8080, "weight": 1.0},
]
DUBBO = "providers:com.acme.Api:1.0.0:"
TOO_LONG = "x" * 70  # one label over 63 octets


def registry_services():
    return [
        service_info("order-service", ORDER_HOSTS),
        service_info("threshold-service", [
            {"ip": "10.0.1.21"},
            {"ip": "10.0.1.22", "healthy": False},
            {"ip": "10.0.1.23", "enabled": False},
        ], reachProtectionThreshold=True),
        service_info("down-service", [{"ip": "10.0.1.31", "healthy": False}]),
        service_info("com.acme.OrderService", [{"ip": "10.0.2.31", "port": 20880}]),
        service_info(DUBBO, [{"ip": "10.0.2.41", "port": 20880}]),
        service_info(TOO_LONG, [{"ip": "10.0.2.51"}]),
        service_info("billing", [{"ip": "10.0.3.41", "port": 7001}], group="PAYMENTS"),
        service_info("weights", [
            {"ip": "10.0.4.1", "weight": 0.0001},
            {"ip": "10.0.4.2", "weight": 100.0},
            {"ip": "10.0.4.3", "weight": 50.0},
        ]),
        service_info("noport", [{"ip": "10.0.5.1", "port": 0}, {"ip": "10.0.5.2", "port": 9000}]),
    ]


@pytest.fixture
def server(nacos_dns, workdir):
    return serve_services(nacos_dns, workdir, registry_services())


def ip_label(ip):
    return ip.replace(".", "-").replace(":", "-")


def srv_weight(w, max_w):
    return max(1, int(65535 * w / max_w + 0.5))


def assert_nodata(r, zone="svc."):
    assert r.rcode() == dns.rcode.NOERROR, r
    assert r.answer == [], r
    assert rdatas(r, zone, "SOA", "authority"), f"no SOA in authority:\n{r}"


def assert_nxdomain(r, zone="svc."):
    assert r.rcode() == dns.rcode.NXDOMAIN, r
    assert r.answer == [], r
    assert rdatas(r, zone, "SOA", "authority"), f"no SOA in authority:\n{r}"


def txt_strings(r, name, rdtype="TXT"):
    return [b" ".join(t.strings).decode("utf-8", "replace") for t in rdatas(r, name, rdtype)]


# --- apex ------------------------------------------------------------------------------------

def test_apex_soa_and_ns(server):
    r = server.query("svc.", "SOA")
    assert r.rcode() == dns.rcode.NOERROR
    assert r.flags & dns.flags.AA
    soa = rdatas(r, "svc.", "SOA")
    assert len(soa) == 1
    assert soa[0].minimum == 5
    r = server.query("svc.", "NS")
    assert r.rcode() == dns.rcode.NOERROR
    assert len(rdatas(r, "svc.", "NS")) >= 1


def test_apex_other_type_is_nodata(server):
    assert_nodata(server.query("svc.", "A"))


def test_soa_serial_moves_after_sighup_reload(server):
    before = soa_serial(server)
    services = registry_services()
    services[0]["hosts"].append(service_info("order-service", [{"ip": "10.0.0.99"}])["hosts"][0])
    write_registry(os.path.dirname(server.registry_path), {"public": services},
                   name=os.path.basename(server.registry_path))
    server.signal(signal.SIGHUP)
    after = wait_for(lambda: soa_serial(server) != before and soa_serial(server),
                     what="SOA serial change after SIGHUP")
    assert after != before
    assert "10.0.0.99" in addresses(server.query(SVC, "A"), SVC)


# --- <service>.<group>.svc -------------------------------------------------------------------

def test_a_lists_distinct_usable_ipv4(server):
    for _ in range(5):  # the order is random; the set never changes
        r = server.query(SVC, "A")
        assert r.rcode() == dns.rcode.NOERROR
        assert r.flags & dns.flags.AA
        assert addresses(r, SVC) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
        assert all(rrset.ttl == 5 for rrset in r.answer)


def test_aaaa_lists_usable_ipv6(server):
    r = server.query(SVC, "AAAA")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, SVC, "AAAA") == ["2001:db8::7"]


def test_protection_threshold_serves_enabled_whatever_health(server):
    name = "threshold-service.DEFAULT_GROUP.svc."
    assert addresses(server.query(name, "A"), name) == ["10.0.1.21", "10.0.1.22"]


def expected_srv(hosts, zone_suffix=SVC):
    usable = [h for h in hosts if h.get("healthy", True) and h.get("enabled", True)
              and h.get("weight", 1.0) > 0]
    max_w = max(h.get("weight", 1.0) for h in usable)
    return sorted((f"{ip_label(h['ip'])}.{zone_suffix}".lower(), h.get("port", 8080),
                   srv_weight(h.get("weight", 1.0), max_w)) for h in usable)


def srv_set(r, name):
    recs = rdatas(r, name, "SRV")
    assert all(s.priority == 0 for s in recs), r
    return sorted((s.target.to_text().lower(), s.port, s.weight) for s in recs)


def assert_additional_targets(r, name):
    targets = {s.target for s in rdatas(r, name, "SRV")}
    for t in targets:
        label = t.labels[0].decode()
        got = [a.address for a in rdatas(r, t, "A", "additional")]
        got += [a.address for a in rdatas(r, t, "AAAA", "additional")]
        assert len(got) == 1, f"no address for {t} in additional:\n{r}"
        assert ip_label(got[0]) == label


def test_srv_one_per_usable_instance_with_scaled_weights(server):
    r = server.query(SVC, "SRV")
    assert r.rcode() == dns.rcode.NOERROR
    assert srv_set(r, SVC) == expected_srv(ORDER_HOSTS)
    assert_additional_targets(r, SVC)


def test_srv_weight_scaling_never_zero(server):
    name = "weights.DEFAULT_GROUP.svc."
    weights = sorted(s.weight for s in rdatas(server.query(name, "SRV"), name, "SRV"))
    assert weights == [1, srv_weight(50, 100), 65535]


def test_instance_without_port_has_no_srv(server):
    name = "noport.DEFAULT_GROUP.svc."
    assert addresses(server.query(name, "A"), name) == ["10.0.5.1", "10.0.5.2"]
    assert [(s.target.labels[0], s.port) for s in rdatas(server.query(name, "SRV"), name, "SRV")] \
        == [(b"10-0-5-2", 9000)]


def test_txt_one_per_instance_usable_or_not(server):
    texts = txt_strings(server.query(SVC, "TXT", tcp=True), SVC)  # too big for 512 octets
    assert len(texts) == len(ORDER_HOSTS)
    per_ip = collections.Counter(h["ip"] for h in ORDER_HOSTS)
    for ip, n in per_ip.items():
        assert sum(ip in t for t in texts) == n, (ip, texts)
    canary = [t for t in texts if "10.0.0.13" in t][0]
    assert "canary" in canary and "1.5.0-rc1" in canary, canary  # cluster and metadata


def test_rfc2782_srv_form(server):
    for prefix in ("_http._tcp.", "_grpc._tcp.", "_sip._udp."):
        r = server.query(prefix + SVC, "SRV")
        assert r.rcode() == dns.rcode.NOERROR, r
        assert srv_set(r, prefix + SVC) == expected_srv(ORDER_HOSTS)
        assert_additional_targets(r, prefix + SVC)


def test_ip_label_a_and_aaaa(server):
    name = "10-0-0-11." + SVC
    assert addresses(server.query(name, "A"), name) == ["10.0.0.11"]
    assert_nodata(server.query(name, "AAAA"))
    name = "2001-db8--7." + SVC
    assert addresses(server.query(name, "AAAA"), name, "AAAA") == ["2001:db8::7"]
    assert_nodata(server.query(name, "A"))
    assert_nxdomain(server.query("10-9-9-9." + SVC, "A"))


def test_cluster_restricts_a_srv_txt(server):
    name = "canary._cluster." + SVC
    assert addresses(server.query(name, "A"), name) == ["10.0.0.13"]
    r = server.query(name, "SRV")
    assert [(t, p) for t, p, _ in srv_set(r, name)] == [("10-0-0-13." + SVC.lower(), 8080)]
    assert_additional_targets(r, name)
    texts = txt_strings(server.query(name, "TXT"), name)
    assert len(texts) == 1 and "10.0.0.13" in texts[0]
    name = "_http._tcp.canary._cluster." + SVC
    assert [p for _, p, _ in srv_set(server.query(name, "SRV"), name)] == [8080]
    name = "default._cluster." + SVC
    assert addresses(server.query(name, "A"), name) == ["10.0.0.11", "10.0.0.12"]
    assert addresses(server.query(name, "AAAA"), name, "AAAA") == ["2001:db8::7"]
    assert_nxdomain(server.query("nosuch._cluster." + SVC, "A"))


def test_info_txt(server):
    texts = txt_strings(server.query("_info." + SVC, "TXT"), "_info." + SVC)
    assert texts, "no _info TXT"
    text = " ".join(texts).lower()
    for word in ("total", "healthy", "enabled", "usable"):
        assert word in text, text


def test_info_shows_origin(nacos_dns, workdir):
    origin = {"server": "http://10.9.9.9:8848", "api": "v1", "fetchedMs": 1714000000000}
    srv = serve_services(nacos_dns, workdir, [
        service_info("from-nacos", [{"ip": "10.0.0.1"}], origin=origin),
        service_info("stale", [{"ip": "10.0.0.2"}], origin=dict(origin, stale=True)),
        service_info("no-origin", [{"ip": "10.0.0.3"}]),
    ])

    def info(service):
        name = f"_info.{service}.DEFAULT_GROUP.svc."
        return " ".join(txt_strings(srv.query(name, "TXT"), name))
    fresh, stale = info("from-nacos"), info("stale")
    assert "http://10.9.9.9:8848" in fresh and "v1" in fresh, fresh
    assert "stale" in stale and stale.replace("stale", "") != fresh.replace("stale", ""), stale
    assert "file" in info("no-origin")  # the snapshot file itself is the origin


# --- empty non-terminals, NXDOMAIN, NODATA ---------------------------------------------------

def test_group_and_other_empty_non_terminals(server):
    for name in ("DEFAULT_GROUP.svc.", "PAYMENTS.svc.", "_cluster." + SVC,
                 "OrderService.DEFAULT_GROUP.svc.", "acme.OrderService.DEFAULT_GROUP.svc."):
        assert_nodata(server.query(name, "A"))
        assert_nodata(server.query(name, "TXT"))


def test_nxdomain_has_soa(server):
    for name in ("nosuch.svc.", "nosuch.DEFAULT_GROUP.svc.", "order-service.NOGROUP.svc.",
                 "a.b.c.d.svc.", "nosuch." + SVC):
        r = server.query(name, "A")
        assert_nxdomain(r)
        assert rdatas(r, "svc.", "SOA", "authority")[0].minimum == 5


def test_service_without_usable_instance_is_nodata(server):
    name = "down-service.DEFAULT_GROUP.svc."
    assert_nodata(server.query(name, "A"))
    assert_nodata(server.query(name, "SRV"))
    assert len(txt_strings(server.query(name, "TXT"), name)) == 1  # TXT lists it anyway


def test_other_types_at_a_service_are_nodata(server):
    for rdtype in ("MX", "CNAME", "NS", "SOA", "PTR", "CAA"):
        assert_nodata(server.query(SVC, rdtype))


def test_case_insensitive_with_question_case_echoed(server):
    qname = "ORDER-Service.default_group.SvC."
    r = server.query(qname, "A")
    assert r.question[0].name.to_text() == qname
    assert [rrset.name.to_text() for rrset in r.answer] == [qname]
    assert addresses(r, qname) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    qname = "Canary._CLUSTER.order-SERVICE.Default_Group.svc."
    assert addresses(server.query(qname, "A"), qname) == ["10.0.0.13"]


def test_dotted_service_name(server):
    for qname in ("com.acme.OrderService.DEFAULT_GROUP.svc.",
                  "COM.acme.orderservice.default_group.svc."):
        assert addresses(server.query(qname, "A"), qname) == ["10.0.2.31"]
    r = server.query("com.acme.OrderService.DEFAULT_GROUP.svc.", "SRV")
    assert [s.port for s in rdatas(r, "com.acme.OrderService.DEFAULT_GROUP.svc.", "SRV")] == [20880]


def test_dubbo_service_name(server):
    qname = dns.name.from_text(DUBBO + ".DEFAULT_GROUP.svc.")
    r = server.send(dns.message.make_query(qname, "A"))
    assert addresses(r, qname) == ["10.0.2.41"]


def test_name_too_long_for_dns_is_skipped_rest_served(server):
    assert addresses(server.query(SVC, "A"), SVC) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert TOO_LONG in server.log_text()


def test_other_group(server):
    name = "billing.PAYMENTS.svc."
    assert addresses(server.query(name, "A"), name) == ["10.0.3.41"]
    assert_nxdomain(server.query("billing.DEFAULT_GROUP.svc.", "A"))


def test_any_answers_with_the_address_set(server):
    r = server.query(SVC, "ANY")
    assert r.rcode() == dns.rcode.NOERROR
    assert addresses(r, SVC) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    assert not rdatas(r, SVC, "TXT") and not rdatas(r, SVC, "SRV")


# --- configuration shapes --------------------------------------------------------------------

def test_ttls_configurable(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, registry_services(), "--ttl", "30",
                         "--negative-ttl", "7")
    assert [rrset.ttl for rrset in srv.query(SVC, "A").answer] == [30]
    r = srv.query("nosuch.svc.", "A")
    assert_nxdomain(r)
    assert r.authority[0].ttl == 7
    assert rdatas(r, "svc.", "SOA", "authority")[0].minimum == 7


def test_several_zones_from_config_file(nacos_dns, workdir):
    path = write_registry(workdir, {
        "prod-ns": [service_info("order-service", [{"ip": "10.1.0.1"}])],
        "dev-ns": [service_info("order-service", [{"ip": "10.2.0.1"}]),
                   service_info("only-dev", [{"ip": "10.2.0.2"}])],
    })
    conf = os.path.join(workdir, "zones.conf")
    with open(conf, "w") as f:
        f.write("[zone prod.]\nnamespace = prod-ns\n\n[zone dev.example.]\nnamespace = dev-ns\n")
    srv = nacos_dns("-c", conf, "--nacos", f"file:{path}")
    name = "order-service.DEFAULT_GROUP.prod."
    assert addresses(srv.query(name, "A"), name) == ["10.1.0.1"]
    name = "order-service.DEFAULT_GROUP.dev.example."
    assert addresses(srv.query(name, "A"), name) == ["10.2.0.1"]
    name = "only-dev.DEFAULT_GROUP.dev.example."
    assert addresses(srv.query(name, "A"), name) == ["10.2.0.2"]
    assert_nxdomain(srv.query("only-dev.DEFAULT_GROUP.prod.", "A"), zone="prod.")
    assert srv.query("dev.example.", "SOA").rcode() == dns.rcode.NOERROR


def test_outside_the_zones_without_recursion_is_refused(server):
    for name in ("example.com.", "svc.example.", "com."):
        r = server.query(name, "A", flags=0)  # RD clear: never forwarded
        assert r.rcode() == dns.rcode.REFUSED, r
        assert r.answer == []


def test_outside_the_zones_for_client_outside_acl_is_refused(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, registry_services(),
                         "--allow-recursion", "192.0.2.0/24")
    r = srv.query("example.com.", "A")  # RD set, but 127.0.0.1 may not recurse
    assert r.rcode() == dns.rcode.REFUSED, r
    assert addresses(srv.query(SVC, "A"), SVC) == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]


def test_chaos_txt(server):
    def ch(name):
        r = server.query(name, "TXT", rdclass=dns.rdataclass.CH)
        assert r.rcode() == dns.rcode.NOERROR, r
        texts = [b"".join(t.strings).decode() for rrset in r.answer for t in rrset
                 if rrset.rdclass == dns.rdataclass.CH]
        assert len(texts) == 1, r
        return texts[0]
    assert "nacos-dns" in ch("version.bind.")
    assert ch("hostname.bind.") == socket.gethostname()
    assert ch("id.server.") == socket.gethostname()
    assert ch("VERSION.BIND.") == ch("version.bind.")


# --- real clients ----------------------------------------------------------------------------

def dig(srv, *args):
    out = subprocess.run(["dig", f"@{srv.host}", "-p", str(srv.port), "+norecurse", "+time=3",
                          "+tries=1", *args], capture_output=True, text=True, timeout=20)
    assert out.returncode == 0, out.stderr
    return out.stdout


def dig_sections(text):
    """{section: [(owner, type, rdata...)]} from dig's default output."""
    sections, current = collections.defaultdict(list), None
    for line in text.splitlines():
        if line.startswith(";; ") and line.endswith("SECTION:"):
            current = line[3:-len(" SECTION:")]
        elif line and not line.startswith(";") and current:
            f = line.split()
            sections[current].append((f[0].lower(), f[3], *f[4:]))
    return sections


def test_dig_srv_with_additional_addresses(server):
    text = dig(server, "SRV", SVC)
    assert "status: NOERROR" in text and " aa" in text.split("flags:")[1].split(";")[0]
    s = dig_sections(text)
    srv = sorted((r[5].lower(), int(r[4]), int(r[3])) for r in s["ANSWER"] if r[1] == "SRV")
    assert srv == [(t, p, w) for t, p, w in expected_srv(ORDER_HOSTS)]
    extra = {r[0]: r[2] for r in s["ADDITIONAL"] if r[1] in ("A", "AAAA")}
    for target, _, _ in srv:
        assert ip_label(extra[target]) == target.split(".")[0], text


def test_dig_against_the_demo_registry(nacos_dns):
    srv = nacos_dns("--nacos", f"file:{DEMO_REGISTRY}")
    s = dig_sections(dig(srv, "SRV", "order-service.DEFAULT_GROUP.svc"))
    targets = [r[5].lower() for r in s["ANSWER"] if r[1] == "SRV"]
    assert targets
    extra = {r[0] for r in s["ADDITIONAL"] if r[1] in ("A", "AAAA")}
    assert set(targets) <= extra
    s = dig_sections(dig(srv, "A", "order-service.DEFAULT_GROUP.svc"))
    got = sorted(r[2] for r in s["ANSWER"] if r[1] == "A")
    assert got == ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    s = dig_sections(dig(srv, "TXT", "_info.order-service.DEFAULT_GROUP.svc"))
    assert [r for r in s["ANSWER"] if r[1] == "TXT"]


def test_dig_dubbo_name(server):
    text = dig(server, "TXT", DUBBO + ".DEFAULT_GROUP.svc")
    assert "status: NOERROR" in text
    assert "10.0.2.41" in text
