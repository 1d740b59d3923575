"""nacos-dns against a Nacos served over TLS (https:// in --nacos): HTTP through libcurl and gRPC
over TLS with ALPN h2 on the HTTP port + 1000, both verifying the server's certificate against
--nacos-ca. The fake serves both with one certificate, as a Nacos with server.ssl.* and
nacos.remote.server.rpc.tls.* set does. Certificates are made by the openssl command per test.

The poll interval is 30 s, so a change seen within seconds came by a gRPC push."""
import re
import socket
import ssl
import subprocess
import threading
import time
import urllib.request

import dns.rcode
import dns.rdatatype
import pytest

from conftest import free_port, wait_until
from test_grpc import Probe

NAME = "web.DEFAULT_GROUP.svc"


def make_cert(directory, name, san):
    """A self-signed EC certificate for san (e.g. "IP:127.0.0.1"): its own CA file."""
    cert, key = directory / f"{name}.pem", directory / f"{name}.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "2", "-subj", f"/CN={name}", "-addext",
                    f"subjectAltName={san}"], check=True, capture_output=True)
    return str(cert), str(key)


def addresses(srv, timeout=3.0):
    r = srv.query(NAME, "A", timeout=timeout)
    if r.rcode() != dns.rcode.NOERROR:
        return dns.rcode.to_text(r.rcode())
    return sorted(rr.address for rrset in r.answer for rr in rrset
                  if rrset.rdtype == dns.rdatatype.A)


def info(srv):
    r = srv.query("_info." + NAME, "TXT")
    return " ".join(s.decode() for rrset in r.answer for rr in rrset for s in rr.strings)


def grpc_state(srv):
    with urllib.request.urlopen(f"http://127.0.0.1:{srv.http_port}/metrics", timeout=5) as r:
        m = re.search(r'^nacosdns_grpc_connection_state\{server="[^"]*"\} (\d)$',
                      r.read().decode(), re.M)
    return int(m.group(1)) if m else None


def start_dns(nacos_dns, nacos, ca, transport="grpc"):
    http_port = free_port()
    srv = nacos_dns("--nacos", nacos.url, "--nacos-ca", ca, "--poll-interval", "30",
                    "--fetch-wait", "3s", "--nacos-transport", transport,
                    "--http", f"127.0.0.1:{http_port}", "--log-level", "debug")
    srv.http_port = http_port
    return srv


def test_push_arrives_over_grpc_with_tls(fake_nacos, nacos_dns, tmp_path):
    cert, key = make_cert(tmp_path, "nacos", "IP:127.0.0.1")
    nacos = fake_nacos(mode="3.2", grpc_port=0, tls=(cert, key, cert))
    assert nacos.url.startswith("https://")
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos, cert)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1"])
    assert wait_until(lambda: grpc_state(srv) == 2), srv.log_text()  # 2: up
    assert wait_until(lambda: sum(len(c["subscriptions"]) for c in
                                  nacos.control("GET", "grpc/stats")["connections"]) >= 1)
    nacos.register("web", "10.0.0.2", 80)
    assert wait_until(lambda: addresses(srv) == ["10.0.0.1", "10.0.0.2"], timeout=5)
    assert "api=grpc" in info(srv)
    assert not re.search(r"level=(warn|error) subsys=grpc", srv.log_text()), srv.log_text()


@pytest.mark.parametrize("case", ["unknown issuer", "wrong address"])
def test_certificate_that_does_not_verify_is_refused(fake_nacos, nacos_dns, tmp_path, case):
    if case == "unknown issuer":
        cert, key = make_cert(tmp_path, "nacos", "IP:127.0.0.1")
        ca, _ = make_cert(tmp_path, "other", "IP:127.0.0.1")
        expect = "self-signed certificate"
    else:
        cert, key = make_cert(tmp_path, "nacos", "DNS:nacos.elsewhere.example")
        ca = cert
        expect = "IP address mismatch"
    nacos = fake_nacos(mode="3.2", grpc_port=0, tls=(cert, key, cert))
    nacos.register("web", "10.0.0.1", 80)
    srv = start_dns(nacos_dns, nacos, ca)
    # The gRPC handshake fails on the certificate, logged as a problem with its reason.
    srv.wait_log("TLS handshake: certificate: " + expect, timeout=15)
    assert grpc_state(srv) == 1  # connecting: tried again with backoff
    assert nacos.control("GET", "grpc/stats")["connections"] == []
    # Nothing was learnt over HTTP either: libcurl verifies with the same CA. The query
    # waits up to --fetch-wait for a first fetch before it is answered.
    assert addresses(srv, timeout=10) == "SERVFAIL"
    assert re.search(r'subsys=(?!grpc)\w+ msg="[^\n]*SSL', srv.log_text()), srv.log_text()


@pytest.fixture
def probe(tmp_path):
    """resolver/sync/grpc.c alone (tests/grpc_probe.c), with TLS when given a CA file."""
    started = []

    def start(port, ca_file):
        p = Probe(port, tmp_path, ca_file=ca_file)
        started.append(p)
        return p

    yield start
    for p in started:
        p.close()  # asserts the loop closed cleanly: no handle left behind


def wait_log(p, needle, timeout=10.0):
    deadline = time.monotonic() + timeout
    while needle not in p.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert needle in p.log(), p.log()


def test_requests_over_tls(fake_nacos, probe, tmp_path):
    cert, key = make_cert(tmp_path, "nacos", "IP:127.0.0.1")
    nacos = fake_nacos(mode="3.2", grpc_port=0, tls=(cert, key, cert))
    p = probe(nacos.grpc_port, cert)
    p.expect("up")
    p.send("req HealthCheckRequest {}")
    err, type_, r = p.reply()
    assert (err, type_, r["resultCode"]) == (0, "HealthCheckResponse", 200)


def test_plaintext_grpc_port_is_not_spoken_to_in_clear(fake_nacos, probe, tmp_path):
    cert, _ = make_cert(tmp_path, "nacos", "IP:127.0.0.1")
    nacos = fake_nacos(mode="3.2", grpc_port=0)  # h2c only
    p = probe(nacos.grpc_port, cert)
    wait_log(p, "TLS handshake:")
    p.send("req HealthCheckRequest {}")
    assert p.reply()[0] == -107  # -ENOTCONN: nothing goes out in clear
    assert nacos.control("GET", "grpc/stats")["connections"] == []


def test_server_without_h2_in_alpn_is_refused(probe, tmp_path):
    """A TLS server that agrees only to HTTP/1.1 (a proxy in front of Nacos, say)."""
    cert, key = make_cert(tmp_path, "proxy", "IP:127.0.0.1")
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    ctx.set_alpn_protocols(["http/1.1"])
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    held = []

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
                held.append(ctx.wrap_socket(conn, server_side=True))
            except OSError:
                return

    threading.Thread(target=serve, daemon=True).start()
    try:
        p = probe(port, cert)
        wait_log(p, "TLS handshake: the server did not agree to h2")
    finally:
        listener.close()
        for s in held:
            s.close()
