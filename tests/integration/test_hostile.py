"""A hostile Nacos: answers no real Nacos sends, from a small stand-in server written here (not
the project's fake, so the fake's own habits cannot hide a bug). Each test bounds what nacos-dns
may do in response: how often it logs in, what it sends, that it keeps serving.
"""
import json
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dns.exception
import dns.rcode
import pytest

from conftest import wait_until

NAME = "order-service.DEFAULT_GROUP.svc"
NEVER = 9223372036854775807  # what an auth plugin may send for a token that never expires


def instance_list(service, ips):
    return {"name": f"DEFAULT_GROUP@@{service}", "clusters": "", "cacheMillis": 1000,
            "hosts": [{"ip": ip, "port": 8080, "weight": 1.0, "healthy": True, "enabled": True,
                       "clusterName": "DEFAULT", "serviceName": f"DEFAULT_GROUP@@{service}",
                       "metadata": {}} for ip in ips]}


class Hostile:
    """A v1 Nacos whose login answer and auth check are chosen by the test. Counts requests
    per path and keeps every header block it received."""

    def __init__(self, login_answer, reject_tokens=False):
        self.login_answer = login_answer
        self.reject_tokens = reject_tokens
        self.counts = {}
        self.headers = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                outer.answer(self)

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(n)
                outer.answer(self)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def count(self, path):
        with self.lock:
            return self.counts.get(path, 0)

    def answer(self, h):
        path = urllib.parse.urlsplit(h.path).path
        with self.lock:
            self.counts[path] = self.counts.get(path, 0) + 1
            self.headers.append(str(h.headers))
        if path.endswith("/auth/login"):
            self.send(h, 200, self.login_answer)
        elif self.reject_tokens:
            self.send(h, 403, {"status": 403, "message": "token invalid!"})
        elif path == "/nacos/v1/ns/service/list":
            self.send(h, 200, {"count": 1, "doms": ["order-service"]})
        elif path == "/nacos/v1/ns/instance/list":
            self.send(h, 200, instance_list("order-service", ["10.0.0.1"]))
        else:
            self.send(h, 404, {"status": 404, "message": "no such API"})

    @staticmethod
    def send(h, code, obj):
        body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        h.send_response(code)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def hostile():
    made = []

    def make(*a, **kw):
        made.append(Hostile(*a, **kw))
        return made[-1]

    yield make
    for h in made:
        h.close()


def start(nacos_dns, url, *extra):
    return nacos_dns("--nacos", url, "--poll-interval", "1", "--fetch-wait", "2s",
                     "--push", "off", "--username", "nacos", "--password", "pw", *extra)


def a_records(srv, name):
    r = srv.query(name, "A")
    if r.rcode() != dns.rcode.NOERROR:
        return None
    return sorted(rr.address for rrset in r.answer for rr in rrset)


def test_token_that_never_expires_logs_in_once(hostile, nacos_dns):
    nacos = hostile({"accessToken": "t0k", "tokenTtl": NEVER})
    srv = start(nacos_dns, nacos.url)
    assert wait_until(lambda: a_records(srv, NAME) == ["10.0.0.1"])
    polls = nacos.count("/nacos/v1/ns/instance/list")
    assert wait_until(lambda: nacos.count("/nacos/v1/ns/instance/list") >= polls + 3, timeout=10)
    assert nacos.count("/nacos/v1/auth/login") == 1


def test_logins_per_minute_are_bounded(hostile, nacos_dns):
    # Every token is refused at once: each request would need a fresh login.
    nacos = hostile({"accessToken": "t0k", "tokenTtl": 0}, reject_tokens=True)
    srv = start(nacos_dns, nacos.url)
    deadline = time.monotonic() + 6
    i = 0
    while time.monotonic() < deadline:
        try:
            srv.query(f"svc{i}.DEFAULT_GROUP.svc", "A", timeout=0.5)
        except dns.exception.Timeout:
            pass
        i += 1
    assert nacos.count("/nacos/v1/auth/login") <= 10  # SYNCPOLICY_LOGINS_PER_MINUTE
    assert srv.query("svc", "SOA").rcode() == dns.rcode.NOERROR  # still serving
