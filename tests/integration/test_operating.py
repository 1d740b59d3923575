"""Operating nacos-dns: the HTTP endpoint, AXFR, reload, the query log and the packaging."""
import json
import re
import os
import shutil
import signal
import subprocess
import urllib.error
import urllib.request

import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from conftest import (BINARY, DEMO_REGISTRY, SOURCE_ROOT, free_port, http_get, rdatas,
                      service_info,
                      wait_for, write_registry)

SERVICES = [
    service_info("order-service", [{"ip": "10.0.0.1", "port": 8080, "weight": 2.0},
                                   {"ip": "10.0.0.2", "port": 8081},
                                   {"ip": "2001:db8::3", "port": 8080},
                                   {"ip": "10.0.0.4", "healthy": False}]),
    service_info("pay", [{"ip": "10.0.1.1", "clusterName": "east"}], group="BILLING"),
]


@pytest.fixture
def served(nacos_dns, workdir):
    """A server on SERVICES with the HTTP endpoint and the query log on."""
    path = write_registry(workdir, {"public": SERVICES})
    port = free_port(kind=None)
    srv = nacos_dns("--nacos", f"file:{path}", "--http", f"127.0.0.1:{port}",
                    "--query-log", "on")
    srv.http_port = port
    return srv


def sample(text, prefix):
    for line in text.splitlines():
        if line.startswith(prefix + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no sample {prefix} in:\n{text}")


def test_metrics_count_queries_and_pass_promtool(served):
    for _ in range(3):
        assert served.query("order-service.DEFAULT_GROUP.svc.", "A").rcode() == dns.rcode.NOERROR
    assert served.query("nope.DEFAULT_GROUP.svc.", "SRV", tcp=True).rcode() == dns.rcode.NXDOMAIN
    status, text = http_get(served.http_port, "/metrics")
    assert status == 200
    assert sample(text, 'nacosdns_queries_total{type="A",transport="udp"}') == 3
    assert sample(text, 'nacosdns_queries_total{type="SRV",transport="tcp"}') == 1
    assert sample(text, 'nacosdns_responses_total{rcode="NXDOMAIN"}') == 1
    assert sample(text, "nacosdns_response_duration_seconds_count") == 4
    assert sample(text, 'nacosdns_services{state="fetched"}') == 2
    assert sample(text, 'nacosdns_instances{state="all"}') == 5
    assert sample(text, 'nacosdns_instances{state="usable"}') == 4
    assert sample(text, "nacosdns_snapshot_generation") == served_serial(served)
    promtool = shutil.which("promtool")
    if not promtool:
        pytest.skip("promtool not installed (Debian package prometheus)")
    r = subprocess.run([promtool, "check", "metrics"], input=text.encode(), capture_output=True)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()


def served_serial(srv):
    return rdatas(srv.query("svc.", "SOA"), "svc.", "SOA")[0].serial


def test_health_and_snapshot(served):
    assert http_get(served.http_port, "/healthz")[0] == 200
    assert http_get(served.http_port, "/readyz")[0] == 200
    assert http_get(served.http_port, "/nothing")[0] == 404
    status, body = http_get(served.http_port, "/snapshot")
    assert status == 200
    snap = json.loads(body)
    assert snap["generation"] == served_serial(served)
    assert snap["ready"] is True
    by_name = {(s["group"], s["name"]): s for s in snap["services"]}
    order = by_name[("DEFAULT_GROUP", "order-service")]
    assert order["instances"] == {"total": 4, "healthy": 3, "enabled": 4, "usable": 3}
    assert by_name[("BILLING", "pay")]["instances"]["total"] == 1
    assert [z["name"] for z in snap["zones"]] == ["svc."]
    records = "\n".join(snap["zones"][0]["records"])
    assert "10-0-0-2.order-service.default_group.svc." in records
    assert "password" not in body.lower()


def test_readyz_is_503_before_the_first_sync(nacos_dns):
    port = free_port(kind=None)
    dead = free_port(kind=None)
    srv = nacos_dns("--nacos", f"http://127.0.0.1:{dead}", "--http", f"127.0.0.1:{port}")
    assert http_get(port, "/readyz")[0] == 503
    assert http_get(port, "/healthz")[0] == 200
    assert sample(http_get(port, "/metrics")[1], "nacosdns_ready") == 0
    srv.stop()


def test_sync_requests_are_counted_per_server_api_and_result(nacos_dns, fake_nacos):
    fake = fake_nacos(mode="2.x")
    fake.register("order-service", "10.0.0.1", 8080)
    dead = f"http://127.0.0.1:{free_port(kind=None)}"
    port = free_port(kind=None)
    srv = nacos_dns("--nacos", f"{fake.url},{dead}", "--http", f"127.0.0.1:{port}",
                    "--push", "off", "--poll-interval", "1")
    wait_for(lambda: srv.query("order-service.DEFAULT_GROUP.svc.", "A").answer, timeout=10)

    def count(server, result):
        prefix = f'nacosdns_sync_requests_total{{server="{server}",'
        return sum(float(line.split()[-1]) for line in http_get(port, "/metrics")[1].splitlines()
                   if line.startswith(prefix) and f'result="{result}"}}' in line)

    # Requests are spread over both servers: the dead one's fail over to the live one.
    wait_for(lambda: count(dead, "error") >= 1, timeout=15, what="a failed request counted")
    assert count(fake.url, "ok") >= 2  # the catalog and the instance list at least
    assert 'api="v1",result="ok"' in http_get(port, "/metrics")[1]
    if shutil.which("promtool"):
        subprocess.run(["promtool", "check", "metrics"], check=True, capture_output=True,
                       input=http_get(port, "/metrics")[1].encode())


def axfr_records(srv, zone="svc."):
    """Every record of a transfer as (name, type) -> set of rdata text, SOAs counted apart."""
    msgs = list(dns.query.xfr(srv.host, zone, port=srv.port, timeout=5, lifetime=10,
                             relativize=False))
    rrsets = [rr for m in msgs for rr in m.answer]
    return msgs, rrsets


def test_axfr_equals_individual_answers(served):
    msgs, rrsets = axfr_records(served)
    assert rrsets[0].rdtype == dns.rdatatype.SOA and rrsets[-1].rdtype == dns.rdatatype.SOA
    assert rrsets[0][0].serial == served_serial(served)
    got = {}
    for rr in rrsets[1:-1]:
        assert rr.rdtype != dns.rdatatype.SOA
        got.setdefault((rr.name, rr.rdtype), set()).update(r.to_text() for r in rr)
    names = {n for n, _ in got}
    assert dns.name.from_text("order-service.default_group.svc.") in names
    assert dns.name.from_text("10-0-0-1.order-service.default_group.svc.") in names
    assert dns.name.from_text("east._cluster.pay.billing.svc.") in names
    for (name, rdtype), texts in got.items():
        r = served.query(name, rdtype, tcp=True)
        assert r.rcode() == dns.rcode.NOERROR
        assert {x.to_text() for x in rdatas(r, name, rdtype)} == texts, (name, rdtype)
    # Every type the names answer is in the transfer.
    for name in names:
        for rdtype in ("A", "AAAA", "SRV", "TXT"):
            t = dns.rdatatype.from_text(rdtype)
            if rdatas(served.query(name, rdtype, tcp=True), name, rdtype):
                assert (name, t) in got, (name, rdtype)
    assert "type=AXFR" in served.log_text()


def test_axfr_refused_over_udp_for_others_and_notauth_below_apex(nacos_dns, workdir):
    path = write_registry(workdir, {"public": SERVICES})
    srv = nacos_dns("--nacos", f"file:{path}", "--allow-transfer", "192.0.2.0/24")
    q = dns.message.make_query("svc.", "AXFR")
    assert srv.send(q, tcp=True).rcode() == dns.rcode.REFUSED
    assert srv.send(q).rcode() == dns.rcode.REFUSED
    ok = nacos_dns("--nacos", f"file:{path}")
    assert ok.send(q).rcode() == dns.rcode.REFUSED  # UDP: never
    q2 = dns.message.make_query("order-service.DEFAULT_GROUP.svc.", "AXFR")
    assert ok.send(q2, tcp=True).rcode() == dns.rcode.NOTAUTH


def test_sighup_applies_a_good_config_and_keeps_the_old_on_a_bad_one(nacos_dns, workdir):
    reg = write_registry(workdir, {"public": SERVICES})
    conf = os.path.join(workdir, "nacos-dns.conf")
    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nttl = 7\n")
    srv = nacos_dns("-c", conf)
    name = "order-service.DEFAULT_GROUP.svc."
    assert srv.query(name).answer[0].ttl == 7
    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nttl = 30\nallow-transfer = 192.0.2.0/24\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration")
    wait_for(lambda: srv.query(name).answer[0].ttl == 30, what="TTL 30 after SIGHUP")
    q = dns.message.make_query("svc.", "AXFR")
    assert srv.send(q, tcp=True).rcode() == dns.rcode.REFUSED  # the new ACL is in force
    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nttl = 30\nallow-transfer = not-a-cidr\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("configuration rejected")
    assert "allow-transfer" in srv.log_text()
    assert srv.query(name).answer[0].ttl == 30


def reloads(port):
    status, text = http_get(port, "/metrics")
    assert status == 200
    return {r: sample(text, f'nacosdns_config_reloads_total{{result="{r}"}}')
            for r in ("ok", "restart_needed", "rejected")}


def test_sighup_names_the_keys_that_wait_for_a_restart(nacos_dns, workdir):
    reg = write_registry(workdir, {"public": SERVICES})
    other = write_registry(workdir, {"public": SERVICES}, name="other.json")
    port = free_port(kind=None)
    conf = os.path.join(workdir, "nacos-dns.conf")
    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nhttp = 127.0.0.1:{port}\nthreads = 2\nttl = 7\n")
    srv = nacos_dns("-c", conf)
    name = "order-service.DEFAULT_GROUP.svc."
    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nhttp = 127.0.0.1:{port}\nthreads = 2\nttl = 9\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration")
    assert "restart" not in srv.log_text()
    assert reloads(port) == {"ok": 1, "restart_needed": 0, "rejected": 0}

    new_http = free_port(kind=None)
    with open(conf, "w") as f:
        f.write(f"nacos = file:{other}\nhttp = 127.0.0.1:{new_http}\nthreads = 3\n"
                "rrl-slip = 1\nttl = 11\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("reloaded configuration", count=2)
    warning = [line for line in srv.log_text().splitlines() if "until a restart" in line]
    assert len(warning) == 1 and "level=warn" in warning[0], warning
    named = re.search(r'reload: (.*) changed;', warning[0]).group(1).split(", ")
    assert sorted(named) == ["http", "nacos", "rrl-slip", "threads"], warning
    # What can change did; the old HTTP endpoint and listeners stay.
    wait_for(lambda: srv.query(name).answer[0].ttl == 11, what="TTL 11 after SIGHUP")
    assert reloads(port) == {"ok": 1, "restart_needed": 1, "rejected": 0}

    with open(conf, "w") as f:
        f.write(f"nacos = file:{reg}\nhttp = 127.0.0.1:{port}\nthreads = 2\nttl = x\n")
    srv.signal(signal.SIGHUP)
    srv.wait_log("configuration rejected")
    assert re.search(rf"(^|\n){re.escape(conf)}:4: ttl: ", srv.log_text()), srv.log_text()
    assert reloads(port) == {"ok": 1, "restart_needed": 1, "rejected": 1}


def test_query_log_lines(served):
    served.query("order-service.DEFAULT_GROUP.svc.", "SRV")
    served.wait_log("subsys=query")
    line = [l for l in served.log_text().splitlines() if "subsys=query" in l][-1]
    for part in ("client=127.0.0.1", "transport=udp", "name=order-service.DEFAULT_GROUP.svc.",
                 "type=SRV", "rcode=NOERROR", "answers=3", "us="):
        assert part in line, line
    assert "msg=" not in line, line
    # A name with a quote, a backslash, a space and a control byte cannot forge a key or a line:
    # it is logged in presentation form, quoted as logfmt requires.
    odd = dns.name.Name([b'a"b\\c d\x01e', b"nope", b"svc", b""])
    served.query(odd, "A")
    served.wait_log("nope.svc.")
    line = [l for l in served.log_text().splitlines() if "nope.svc." in l][-1]
    assert r' name="a\\\"b\\\\c\\032d\\001e.nope.svc." type=A rcode=' in line, line


def test_check_config_on_the_example():
    r = subprocess.run([BINARY, "--check-config",
                        os.path.join(SOURCE_ROOT, "contrib", "nacos-dns.conf.example")],
                       capture_output=True)
    assert r.returncode == 0, r.stderr.decode()


def test_man_page_renders():
    page = os.path.join(SOURCE_ROOT, "contrib", "nacos-dns.8")
    if shutil.which("groff"):
        r = subprocess.run(["groff", "-man", "-Tutf8", "-ww", page], capture_output=True)
    elif shutil.which("man"):
        r = subprocess.run(["man", "-l", page], capture_output=True,
                           env=dict(os.environ, MANPAGER="cat"))
    else:
        pytest.skip("neither groff nor man installed")
    assert r.returncode == 0, r.stderr.decode()
    assert r.stderr.decode().strip() == "", r.stderr.decode()
    text = re.sub(".\x08", "", r.stdout.decode())  # overstrike bold and underline
    for word in ("--http", "--allow-transfer", "SIGHUP", "--check-config", "/metrics"):
        assert word in text.replace("\u2212", "-").replace("\u2010", "-"), word


def test_systemd_unit_verifies(workdir):
    tool = shutil.which("systemd-analyze")
    if not tool:
        pytest.skip("systemd-analyze not installed")
    with open(os.path.join(SOURCE_ROOT, "contrib", "nacos-dns.service.in")) as f:
        unit = f.read()
    assert "CapabilityBoundingSet=CAP_NET_BIND_SERVICE\n" in unit
    assert "DynamicUser=yes" in unit and "ProtectSystem=strict" in unit
    path = os.path.join(workdir, "nacos-dns.service")
    with open(path, "w") as f:
        f.write(unit.replace("@sbindir@/nacos-dns", os.path.abspath(BINARY)))
    r = subprocess.run([tool, "verify", "--man=no", path], capture_output=True)
    out = r.stdout.decode() + r.stderr.decode()
    if r.returncode != 0 and ("System has not been booted" in out or "Failed to connect" in out
                              or "No such file or directory" in out and "nacos-dns" not in out):
        pytest.skip("systemd-analyze cannot run here: " + out.strip()[:200])
    assert r.returncode == 0, out
    assert "nacos-dns.service:" not in out, out


def test_user_drops_privileges_after_binding(nacos_dns, workdir):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch users")
    import pwd
    nobody = pwd.getpwnam("nobody")
    os.chmod(workdir, 0o755)
    path = write_registry(workdir, {"public": SERVICES})
    os.chmod(path, 0o644)
    srv = nacos_dns("--nacos", f"file:{path}", "--user", "nobody")
    with open(f"/proc/{srv.proc.pid}/status") as f:
        status = dict(line.split(":", 1) for line in f if ":" in line)
    assert status["Uid"].split() == [str(nobody.pw_uid)] * 4
    assert status["Gid"].split() == [str(nobody.pw_gid)] * 4
    assert status["Groups"].split() == []
    assert srv.query("order-service.DEFAULT_GROUP.svc.").rcode() == dns.rcode.NOERROR
    assert "running as user nobody" in srv.log_text()


def test_unknown_user_is_an_error(workdir):
    if os.geteuid() != 0:
        pytest.skip("the user is looked up only when started as root")
    path = write_registry(workdir, {"public": SERVICES})
    r = subprocess.run([BINARY, "--listen", f"127.0.0.1:{free_port()}", "--nacos",
                        f"file:{path}", "--user", "no-such-user-here"], capture_output=True,
                       timeout=10)
    assert r.returncode != 0
    assert b"no user named no-such-user-here" in r.stderr


def sighup_blocked(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("SigBlk:"):
                return int(line.split()[1], 16) & (1 << (signal.SIGHUP - 1)) != 0
    return False


def test_sighup_during_startup_is_a_reload_not_a_death(nacos_dns, workdir):
    # A large cache file keeps startup busy for a while before the handler is installed.
    cache = os.path.join(workdir, "cache.json")
    services = [service_info(f"svc-{i}", [{"ip": f"10.{i // 250 % 250}.{i % 250}.1"}])
                for i in range(20000)]
    with open(cache, "w") as f:
        json.dump({"namespaces": {"public": services}}, f)
    srv = nacos_dns("--nacos", f"http://127.0.0.1:{free_port()}", "--cache-file", cache,
                    wait_ready=False)
    pid = srv.proc.pid
    # Main has run its first line once SIGHUP shows as blocked; from then on a SIGHUP waits.
    wait_for(lambda: srv.proc.poll() is not None or sighup_blocked(pid),
             what="SIGHUP blocked at startup")
    sent = 0
    while srv.proc.poll() is None and 'msg="started' not in srv.log_text() and sent < 500:
        srv.signal(signal.SIGHUP)
        sent += 1
    # Loading 20,000 cached services takes seconds in a sanitizer build on a busy machine.
    srv.wait_log('msg="started', timeout=60)
    srv.wait_log("reloaded configuration")  # the early SIGHUP was applied, not lost
    assert srv.proc.poll() is None


def serve_big_zone(nacos_dns, workdir):
    """5,000 services x 4 instances from a file, with the HTTP endpoint: (server, its port)."""
    services = [service_info(f"svc-{i}", [{"ip": f"10.{i // 250}.{i % 250}.{j + 1}"}
                                          for j in range(4)]) for i in range(5000)]
    path = write_registry(workdir, {"public": services})
    port = free_port(kind=None)
    return nacos_dns("--nacos", f"file:{path}", "--http", f"127.0.0.1:{port}"), port


def test_snapshot_of_a_zone_over_65535_records_ends_and_healthz_stays_up(nacos_dns, workdir):
    # About 80,000 records, more than ldns's 16-bit list printer could count (it never ended,
    # and the loop with it).
    srv, port = serve_big_zone(nacos_dns, workdir)
    result = {}

    def fetch():
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/snapshot", timeout=120) as r:
            result["status"], result["body"] = r.status, r.read()
    import threading
    t = threading.Thread(target=fetch)
    t.start()
    # While the body is built, the loop answers: /healthz and DNS.
    while t.is_alive():
        assert http_get(port, "/healthz")[0] == 200
        assert srv.query("svc-1.DEFAULT_GROUP.svc", "A").rcode() == dns.rcode.NOERROR
        t.join(0.05)
    assert result["status"] == 200
    snap = json.loads(result["body"])
    records = snap["zones"][0]["records"]
    assert len(records) > 65535
    assert "truncated" not in snap["zones"][0]
    assert any(r.startswith("10-0-0-1.svc-0.default_group.svc.") for r in records)


def test_sigterm_while_a_snapshot_is_built_exits_0(nacos_dns, workdir):
    srv, port = serve_big_zone(nacos_dns, workdir)
    import socket
    conns = []
    for _ in range(3):  # two are built, the third is told the server is busy or waits
        c = socket.create_connection(("127.0.0.1", port))
        c.sendall(b"GET /snapshot HTTP/1.1\r\nHost: x\r\n\r\n")
        conns.append(c)
    assert http_get(port, "/healthz")[0] == 200
    assert srv.stop() == 0
    for c in conns:
        c.close()
