"""The fake Nacos's gRPC side, checked with python3-grpcio directly (no nacos-dns involved)."""
import json
import queue
import sys
import threading
import time
import urllib.parse
import urllib.request

import grpc
import pytest

from conftest import service_info

sys.path.insert(0, __file__.rsplit("/tests/", 1)[0] + "/tests/fake_nacos")
import fake_grpc  # noqa: E402


class Client:
    """One connection the way GrpcClient.java makes it: one channel, so one HTTP/2 connection."""

    def __init__(self, port, token=None):
        self.channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        self.unary = self.channel.unary_unary("/Request/request")
        self.token = token
        self.outgoing = queue.Queue()
        self.incoming = queue.Queue()
        self.stream = None

    def call(self, type_, body):
        headers = {"accessToken": self.token} if self.token else {}
        raw = self.unary(fake_grpc.encode_payload(type_, body, headers), timeout=5)
        return fake_grpc.decode_payload(raw)

    def connect(self, setup=None):
        t, _, r = self.call("ServerCheckRequest", {"requestId": "1", "headers": {}})
        assert t == "ServerCheckResponse" and r["connectionId"]
        self.stream = self.channel.stream_stream("/BiRequestStream/requestBiStream")(
            iter(self.outgoing.get, None))
        threading.Thread(target=self._read, daemon=True).start()
        self.send("ConnectionSetupRequest", setup or {
            "clientVersion": "test", "tenant": "", "labels": {"source": "sdk",
                                                              "module": "naming"}})
        return r["connectionId"]

    def _read(self):
        try:
            for raw in self.stream:
                self.incoming.put(fake_grpc.decode_payload(raw))
        except grpc.RpcError:
            pass
        self.incoming.put(None)

    def send(self, type_, body):
        self.outgoing.put(fake_grpc.encode_payload(type_, body))

    def next(self, timeout=5.0):
        return self.incoming.get(timeout=timeout)

    def wait_registered(self, nacos):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            conns = nacos.control("GET", "grpc/stats")["connections"]
            if any(c["registered"] for c in conns):
                return
            time.sleep(0.05)
        raise AssertionError("the setup never registered the connection")

    def close(self):
        self.outgoing.put(None)
        self.channel.close()


@pytest.fixture
def grpc_nacos(fake_nacos):
    clients = []

    def start(**kw):
        nacos = fake_nacos(grpc_port=kw.pop("grpc_port", 0), **kw)
        return nacos

    def client(nacos, token=None):
        c = Client(nacos.grpc_port, token)
        clients.append(c)
        return c

    start.client = client
    yield start
    for c in clients:
        c.close()


def subscribe(client, name, group="DEFAULT_GROUP"):
    return client.call("SubscribeServiceRequest", {
        "requestId": "5", "headers": {}, "namespace": "public", "serviceName": name,
        "groupName": group, "clusters": "", "subscribe": True})


def test_port_is_http_plus_1000_and_setup_gates_requests(grpc_nacos):
    nacos = grpc_nacos(data={"namespaces": {"public": [service_info("web", [{"ip": "10.0.0.1"}])]}})
    assert nacos.grpc_port == nacos.port + 1000
    c = grpc_nacos.client(nacos)
    c.call("ServerCheckRequest", {"requestId": "1", "headers": {}})
    t, _, r = subscribe(c, "web")
    assert (t, r["errorCode"], r["message"]) == ("ErrorResponse", 301,
                                                 "Connection is unregistered.")
    c.connect()
    c.wait_registered(nacos)
    t, _, r = subscribe(c, "web")
    assert t == "SubscribeServiceResponse" and r["resultCode"] == 200
    info = r["serviceInfo"]
    assert (info["name"], info["groupName"]) == ("web", "DEFAULT_GROUP")
    assert [h["ip"] for h in info["hosts"]] == ["10.0.0.1"]


def test_push_after_change_ack_and_retry(grpc_nacos):
    nacos = grpc_nacos(grpc_ack_timeout=0.5)
    c = grpc_nacos.client(nacos)
    c.connect()
    c.wait_registered(nacos)
    subscribe(c, "web")
    nacos.register("web", "10.0.0.2", 80)
    t, _, push = c.next()
    assert t == "NotifySubscriberRequest"
    assert [h["ip"] for h in push["serviceInfo"]["hosts"]] == ["10.0.0.2"]
    # Not acknowledged: sent again under a new requestId.
    t, _, again = c.next()
    assert t == "NotifySubscriberRequest" and again["requestId"] != push["requestId"]
    c.send("NotifySubscriberResponse", {"requestId": again["requestId"], "resultCode": 200})
    deadline = time.monotonic() + 5
    while nacos.control("GET", "grpc/stats")["acks"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = nacos.control("GET", "grpc/stats")
    assert stats["acks"] == 1 and stats["pushes"] == 2


def login(nacos):
    req = urllib.request.Request(nacos.url + "/nacos/v1/auth/login", method="POST",
                                 data=urllib.parse.urlencode({"username": "nacos",
                                                              "password": "secret"}).encode())
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read())["accessToken"]


def test_auth_denial_is_the_response_type_with_403(grpc_nacos):
    nacos = grpc_nacos(auth="nacos:secret")
    c = grpc_nacos.client(nacos)
    c.connect()
    c.wait_registered(nacos)
    t, _, r = subscribe(c, "web")
    assert (t, r["resultCode"], r["errorCode"]) == ("SubscribeServiceResponse", 500, 403)
    c.token = login(nacos)
    t, _, r = subscribe(c, "web")
    assert (t, r["resultCode"]) == ("SubscribeServiceResponse", 200)


def test_service_list_is_an_exact_group_match(grpc_nacos):
    nacos = grpc_nacos(mode="3.2", data={"namespaces": {"public": [
        service_info("a", [{"ip": "10.0.0.1"}]), service_info("b", [{"ip": "10.0.0.1"}]),
        service_info("c", [{"ip": "10.0.0.1"}], group="DEFAULT_GROUP_X")]}})
    c = grpc_nacos.client(nacos)
    c.connect()
    c.wait_registered(nacos)
    t, _, r = c.call("ServiceListRequest", {"requestId": "9", "headers": {},
                                            "namespace": "public", "groupName": "DEFAULT_GROUP",
                                            "pageNo": 1, "pageSize": 100, "selector": None})
    assert t == "ServiceListResponse"
    assert (r["count"], sorted(r["serviceNames"])) == (2, ["a", "b"])


def test_reset_and_detection_of_a_silent_connection(grpc_nacos):
    nacos = grpc_nacos(grpc_idle=0.5)
    c = grpc_nacos.client(nacos)
    c.connect()
    c.wait_registered(nacos)
    nacos.control("POST", "grpc/reset", {})
    t, _, r = c.next()
    assert t in ("ConnectResetRequest", "ClientDetectionRequest")
    while t != "ClientDetectionRequest":
        t, _, r = c.next()
    # No ClientDetectionResponse: the server ends the stream and forgets the connection.
    while c.next(timeout=10) is not None:
        pass
    assert nacos.control("GET", "grpc/stats")["dropped"] == 1
    t, _, r = subscribe(c, "web")
    assert (t, r["errorCode"]) == ("ErrorResponse", 301)


def test_envelope_codec_rejects_garbage():
    with pytest.raises(ValueError):
        fake_grpc.decode_payload(b"\x12\xff\x01")
    t, h, body = fake_grpc.decode_payload(fake_grpc.encode_payload("X", {"a": 1}, {"k": "v"}))
    assert (t, h, body) == ("X", {"k": "v"}, {"a": 1})
