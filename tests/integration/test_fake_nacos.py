"""Fidelity of the fake Nacos (tests/fake_nacos) against nacos-api.md, checked over plain HTTP."""
import base64
import gzip
import http.client
import json
import re
import socket
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from conftest import service_info

V1_LIST = "/nacos/v1/ns/instance/list"
V1_SERVICES = "/nacos/v1/ns/service/list"
V1_INSTANCE = "/nacos/v1/ns/instance"
V2_LIST = "/nacos/v2/ns/instance/list"
V2_SERVICES = "/nacos/v2/ns/service/list"
V3_LIST = "/nacos/v3/client/ns/instance/list"
JAVA_UA = "Nacos-Java-Client:v2.3.0"


class Reply:
    def __init__(self, status, headers, body):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self):
        return self.body.decode()

    def json(self):
        return json.loads(self.body)


def call(nacos, path, params=None, method="GET", form=None, headers=None, timeout=5.0):
    url = nacos.url + path
    if params:
        url += "?" + urllib.parse.urlencode(params)
    data = None
    hdrs = {"User-Agent": "curl/8.0"}
    hdrs.update(headers or {})
    if form is not None:
        data = urllib.parse.urlencode(form).encode()
        hdrs["Content-Type"] = "application/x-www-form-urlencoded"
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return Reply(resp.status, resp.headers, resp.read())
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.headers, e.read())


def hosts_of(nacos, service, **params):
    r = call(nacos, V1_LIST, dict(serviceName=service, **params))
    assert r.status == 200, r.body
    return r.json()


def registry(*infos, ns="public"):
    return {"namespaces": {ns: list(infos)}}


def h(ip, **kw):
    return dict(ip=ip, **kw)


# ---- instance/list shapes ----------------------------------------------------------------

def test_v1_list_on_2x_has_the_service_info_shape(fake_nacos):
    nacos = fake_nacos("2.x")
    r = call(nacos, V1_INSTANCE, method="POST",
             form={"serviceName": "order-service", "ip": "10.0.0.11", "port": "8080",
                   "metadata": '{"version":"1"}'})
    assert (r.status, r.text) == (200, "ok")
    info = hosts_of(nacos, "order-service")
    assert info["name"] == "DEFAULT_GROUP@@order-service"
    assert info["groupName"] == "DEFAULT_GROUP"
    assert info["checksum"] == "" and info["cacheMillis"] == 10000
    assert info["valid"] is True and info["reachProtectionThreshold"] is False
    assert info["clusters"] == "" and info["allIPs"] is False
    (host,) = info["hosts"]
    assert host["instanceId"] == "10.0.0.11#8080#DEFAULT#DEFAULT_GROUP@@order-service"
    assert host["serviceName"] == "DEFAULT_GROUP@@order-service"
    assert host["metadata"] == {"version": "1"} and "instanceIdGenerator" not in host
    assert (host["port"], host["weight"], host["healthy"], host["enabled"]) == (8080, 1.0, True, True)
    assert host["instanceHeartBeatTimeOut"] == 15000
    assert isinstance(info["lastRefTime"], int)


def test_grouped_names_and_group_param(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("pay", "10.0.0.1", 80, group="BILLING")
    grouped = hosts_of(nacos, "BILLING@@pay", groupName="IGNORED")
    bare = hosts_of(nacos, "pay", groupName="BILLING")
    assert grouped["name"] == bare["name"] == "BILLING@@pay"
    assert len(grouped["hosts"]) == len(bare["hosts"]) == 1
    assert hosts_of(nacos, "pay")["hosts"] == []  # DEFAULT_GROUP has no pay
    r = call(nacos, V1_LIST, {"serviceName": "@@pay"})
    assert (r.status, r.text) == (400, "Param 'serviceName' is illegal, groupName can't be empty")
    r = call(nacos, V1_LIST, {"serviceName": "BILLING@@"})
    assert r.status == 400
    assert r.text == ("Param 'serviceName' is illegal, it should be format as "
                      "'groupName@@serviceName'")


def test_unknown_service_or_namespace_is_200_with_empty_hosts(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("order", "10.0.0.1", 80)
    assert hosts_of(nacos, "nope")["hosts"] == []
    assert hosts_of(nacos, "nope")["name"] == "DEFAULT_GROUP@@nope"
    assert hosts_of(nacos, "order", namespaceId="no-such-ns")["hosts"] == []
    assert len(hosts_of(nacos, "order", namespaceId="")["hosts"]) == 1  # blank = public


def test_hosts_and_service_names_are_shuffled(fake_nacos):
    nacos = fake_nacos("2.x")
    for i in range(12):
        nacos.register("big", f"10.0.0.{i}", 80)
        nacos.register(f"svc{i}", "10.0.1.1", 80)
    orders = {tuple(x["ip"] for x in hosts_of(nacos, "big")["hosts"]) for _ in range(8)}
    assert len(orders) > 1
    assert {frozenset(o) for o in orders} == {frozenset(f"10.0.0.{i}" for i in range(12))}
    names = {tuple(call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 100}).json()["doms"])
             for _ in range(8)}
    assert len(names) > 1


def test_disabled_instances_are_never_listed(fake_nacos):
    nacos = fake_nacos("3.1")
    nacos.register("order", "10.0.0.1", 80)
    nacos.register("order", "10.0.0.2", 80, enabled=False)
    assert [x["ip"] for x in hosts_of(nacos, "order")["hosts"]] == ["10.0.0.1"]
    r = call(nacos, V3_LIST, {"serviceName": "order"}).json()
    assert [x["ip"] for x in r["data"]] == ["10.0.0.1"]
    call(nacos, V1_INSTANCE, method="POST",
         form={"serviceName": "order", "ip": "10.0.0.1", "port": "80", "enable": "false"})
    assert hosts_of(nacos, "order")["hosts"] == []


def test_clusters_and_healthy_only(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("order", "10.0.0.1", 80, clusterName="A")
    nacos.register("order", "10.0.0.2", 80, clusterName="B", healthy=False)
    nacos.register("order", "10.0.0.3", 80)
    ips = lambda **p: sorted(x["ip"] for x in hosts_of(nacos, "order", **p)["hosts"])  # noqa: E731
    assert ips() == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    assert ips(clusters="A,B") == ["10.0.0.1", "10.0.0.2"]
    assert hosts_of(nacos, "order", clusters="A,B")["clusters"] == "A,B"
    assert ips(healthyOnly="true") == ["10.0.0.1", "10.0.0.3"]
    unhealthy = [x for x in hosts_of(nacos, "order")["hosts"] if not x["healthy"]]
    assert [x["ip"] for x in unhealthy] == ["10.0.0.2"]


def test_protection_threshold_2x_only_for_services_with_metadata(fake_nacos):
    data = registry(service_info("guarded", [h("10.0.0.1", healthy=False), h("10.0.0.2", healthy=False)]),
                    service_info("half", [h("10.0.0.1"), h("10.0.0.2", healthy=False),
                                          h("10.0.0.3", healthy=False)], protectThreshold=0.5))
    nacos = fake_nacos("2.x", data=data)
    info = hosts_of(nacos, "guarded")
    assert info["reachProtectionThreshold"] is True
    assert [x["healthy"] for x in info["hosts"]] == [True, True]
    assert hosts_of(nacos, "guarded", healthyOnly="true")["hosts"] == []
    assert hosts_of(nacos, "half")["reachProtectionThreshold"] is True
    assert all(x["healthy"] for x in hosts_of(nacos, "half")["hosts"])
    info = hosts_of(nacos, "half", healthyOnly="true")  # judged on the healthy-only list
    assert [x["ip"] for x in info["hosts"]] == ["10.0.0.1"]
    assert info["reachProtectionThreshold"] is False
    # An auto-created (registered) service never gets protection on 2.x.
    nacos.register("auto", "10.0.0.9", 80, healthy=False)
    info = hosts_of(nacos, "auto")
    assert info["reachProtectionThreshold"] is False
    assert [x["healthy"] for x in info["hosts"]] == [False]
    nacos.register("half", "10.0.0.4", 80)  # 2 of 4 healthy: still reached at 0.5
    assert hosts_of(nacos, "half")["reachProtectionThreshold"] is True
    nacos.register("half", "10.0.0.5", 80)  # 3 of 5: no longer
    assert hosts_of(nacos, "half")["reachProtectionThreshold"] is False


def test_1x_shape_protection_and_names(fake_nacos):
    nacos = fake_nacos("1.x")
    nacos.register("order", "10.0.0.1", 80, healthy=False)
    nacos.register("order", "10.0.0.2", 80, healthy=False)
    info = hosts_of(nacos, "order")
    assert "reachProtectionThreshold" not in info  # 1.x never says so
    assert [x["healthy"] for x in info["hosts"]] == [True, True]
    assert len(hosts_of(nacos, "order", healthyOnly="true")["hosts"]) == 2
    assert info["cacheMillis"] == 3000 and re.fullmatch(r"[0-9a-f]{32}", info["checksum"])
    assert info["name"] == "DEFAULT_GROUP@@order" and info["dom"] == "order"
    assert info["hosts"][0]["serviceName"] == "order" and "valid" in info["hosts"][0]
    java = call(nacos, V1_LIST, {"serviceName": "order"}, headers={"User-Agent": JAVA_UA}).json()
    assert java["dom"] == "DEFAULT_GROUP@@order"
    assert java["hosts"][0]["serviceName"] == "DEFAULT_GROUP@@order"
    nacos.register("order", "10.0.0.3", 80)
    after = hosts_of(nacos, "order")
    assert after["checksum"] != info["checksum"]
    assert [x["healthy"] for x in after["hosts"]] == [True, False, False]  # healthy first
    # A disabled healthy instance counts towards the threshold in 1.x, then is dropped.
    nacos.register("mixed", "10.0.0.1", 80, healthy=False)
    nacos.register("mixed", "10.0.0.2", 80, enabled=False)
    assert [(x["ip"], x["healthy"]) for x in hosts_of(nacos, "mixed")["hosts"]] == [
        ("10.0.0.1", False)]
    assert hosts_of(nacos, "nope") == {"name": "DEFAULT_GROUP@@nope", "clusters": "",
                                       "cacheMillis": 3000, "hosts": []}


def test_reregister_keeps_health_on_1x_and_replaces_on_2x(fake_nacos):
    for mode, expect in (("1.x", True), ("2.x", False)):
        nacos = fake_nacos(mode)
        form = {"serviceName": "s", "ip": "10.0.0.1", "port": "80", "weight": "2"}
        assert call(nacos, V1_INSTANCE, method="POST", form=form).text == "ok"
        call(nacos, V1_INSTANCE, method="POST", params=dict(form, healthy="false", weight="3"))
        host = hosts_of(nacos, "s", healthyOnly="false")["hosts"]
        assert [(x["healthy"], x["weight"]) for x in host] == [(expect, 3.0)]


def test_deregister_and_metadata_forms(fake_nacos):
    nacos = fake_nacos("2.x")
    call(nacos, V1_INSTANCE, method="POST", params={"serviceName": "s", "ip": "10.0.0.1",
                                                    "port": 80, "metadata": "a=1,b=2",
                                                    "clusterName": "C1"})
    assert hosts_of(nacos, "s")["hosts"][0]["metadata"] == {"a": "1", "b": "2"}
    r = call(nacos, V1_INSTANCE, method="DELETE", params={"serviceName": "s", "ip": "10.0.0.1",
                                                          "port": 80})
    assert (r.status, r.text) == (200, "ok")  # wrong cluster: nothing removed, still ok
    assert len(hosts_of(nacos, "s")["hosts"]) == 1
    r = call(nacos, V1_INSTANCE, method="DELETE", form={"serviceName": "s", "ip": "10.0.0.1",
                                                        "port": "80", "clusterName": "C1"})
    assert (r.status, r.text) == (200, "ok")
    assert hosts_of(nacos, "s")["hosts"] == []
    assert call(nacos, V1_INSTANCE, method="DELETE",
                params={"serviceName": "never", "ip": "1.2.3.4", "port": 1}).text == "ok"


def test_beat(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("s", "10.0.0.1", 80)
    beat = "/nacos/v1/ns/instance/beat"
    r = call(nacos, beat, {"serviceName": "s", "ip": "10.0.0.1", "port": 80}, method="PUT")
    assert r.json() == {"clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": True}
    r = call(nacos, beat, {"serviceName": "s", "ip": "10.0.0.2", "port": 80}, method="PUT")
    assert r.json()["code"] == 20404
    r = call(nacos, beat, {"serviceName": "s", "beat": json.dumps(
        {"ip": "10.0.0.2", "port": 80, "cluster": "DEFAULT", "serviceName": "s"})}, method="PUT")
    assert r.json()["code"] == 10200
    assert len(hosts_of(nacos, "s")["hosts"]) == 2


# ---- errors ------------------------------------------------------------------------------

def test_documented_400_bodies(fake_nacos):
    nacos = fake_nacos("2.x")
    r = call(nacos, V1_LIST)
    assert (r.status, r.text) == (400, "Param 'serviceName' is required.")
    assert r.headers["Content-Type"].startswith("text/plain")
    r = call(nacos, V1_SERVICES, {"pageSize": 10})
    assert (r.status, r.text) == (400, "Param 'pageNo' is required.")
    r = call(nacos, V1_SERVICES, {"pageNo": 1})
    assert (r.status, r.text) == (400, "Param 'pageSize' is required.")
    r = call(nacos, V1_INSTANCE, method="POST", form={"serviceName": "s", "port": "80"})
    assert (r.status, r.text) == (400, "Param 'ip' is required.")
    r = call(nacos, V1_INSTANCE, method="POST",
             form={"serviceName": "s", "ip": "10.0.0.1", "port": "80", "weight": "10001"})
    assert (r.status, r.text) == (400, "instance format invalid: The weights range from 0.0 to 10000.0")
    r = call(nacos, V2_LIST)
    assert r.status == 400 and r.json() == {
        "code": 10000, "message": "parameter missing",
        "data": "Required request parameter 'serviceName' for method parameter type String is not present"}


def test_v3_client_list_and_missing_param(fake_nacos):
    nacos = fake_nacos("3.1")
    nacos.register("order", "10.0.0.1", 80)
    nacos.register("order", "10.0.0.2", 80, clusterName="other")
    r = call(nacos, V3_LIST, {"serviceName": "order", "clusterName": ""}).json()
    assert (r["code"], r["message"]) == (0, "success")
    assert [x["ip"] for x in r["data"]] == ["10.0.0.1"]  # blank clusterName: DEFAULT only
    assert r["data"][0]["serviceName"] == "DEFAULT_GROUP@@order"
    r = call(nacos, V3_LIST, {"serviceName": "order", "clusterName": "other"}).json()
    assert [x["ip"] for x in r["data"]] == ["10.0.0.2"]
    assert call(nacos, V3_LIST, {"serviceName": "nope"}).json()["data"] == []
    r = call(nacos, V3_LIST)
    assert r.status == 400 and r.json() == {
        "code": 10000, "message": "parameter missing",
        "data": "Required parameter 'serviceName' type String is not present"}


def test_v2_on_2x(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("order", "10.0.0.1", 80, clusterName="A")
    nacos.register("order", "10.0.0.2", 80)
    r = call(nacos, V2_LIST, {"serviceName": "order", "clusterName": "A"}).json()
    assert (r["code"], r["message"]) == (0, "success")
    assert r["data"]["name"] == "DEFAULT_GROUP@@order"
    assert [x["ip"] for x in r["data"]["hosts"]] == ["10.0.0.1"]
    r = call(nacos, V2_SERVICES).json()
    assert r["data"] == {"count": 1, "services": ["order"]}


def test_v2_on_3x_is_410(fake_nacos):
    nacos = fake_nacos("3.1")
    nacos.register("order", "10.0.0.1", 80)
    r = call(nacos, V2_LIST, {"serviceName": "order"})
    assert r.status == 410
    body = r.json()
    assert (body["status"], body["error"], body["path"]) == (410, "Gone", V2_LIST)
    assert json.loads(body["message"]) == {"code": 40000, "message": (
        "Current API will be deprecated, please use API(s) `GET ${contextPath:nacos}/v3/admin/ns/"
        "instance/list` instead, or set `nacos.core.api.compatibility.admin.enabled=true` in "
        "application.properties.")}
    assert "service/list" in json.loads(call(nacos, V2_SERVICES).json()["message"])["message"]
    assert len(hosts_of(nacos, "order")["hosts"]) == 1  # v1 stays on in 3.1
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 10}).json()["doms"] == ["order"]


def test_missing_endpoints_by_mode(fake_nacos):
    old = fake_nacos("1.x")
    assert call(old, V2_LIST, {"serviceName": "x"}).status == 404
    assert call(old, V3_LIST, {"serviceName": "x"}).status == 404
    assert call(fake_nacos("2.x"), V3_LIST, {"serviceName": "x"}).status == 404
    new = fake_nacos("3.2")
    new.register("order", "10.0.0.1", 80)
    # 3.2 without the legacy adapter: the naming DistroFilter answers a /v1/ns path with no
    # controller 501 (naming/web/DistroFilter.java); other unmapped paths end in Spring's
    # NoResourceFoundException, a 500 from core/exception/NacosApiExceptionHandler.java.
    for path in (V1_LIST, V1_SERVICES):
        r = call(new, path, {"serviceName": "order", "pageNo": 1, "pageSize": 1})
        assert r.status == 501
        assert (r.json()["status"], r.json()["error"]) == (501, "Not Implemented")
        assert r.json()["message"] == f"no such api:GET:{path}"
    r = call(new, V2_LIST, {"serviceName": "order"})
    assert r.status == 500 and r.json()["code"] == 10002
    assert r.json()["data"] == "No static resource nacos/v2/ns/instance/list."
    # Kept in 3.2 (alibaba/nacos#14050): v1 login and the metrics probe.
    assert call(new, "/nacos/v1/ns/operator/metrics").json() == {"status": "UP"}
    assert call(new, "/nacos/v1/auth/login", method="POST",
                form={"username": "a", "password": "b"}).status == 200
    assert [x["ip"] for x in call(new, V3_LIST, {"serviceName": "order"}).json()["data"]] == ["10.0.0.1"]
    new.set_mode("3.1")
    assert len(hosts_of(new, "order")["hosts"]) == 1


def test_metrics(fake_nacos):
    assert call(fake_nacos("2.x"), "/nacos/v1/ns/operator/metrics").json() == {"status": "UP"}
    assert call(fake_nacos("1.x"), "/nacos/v1/ns/operator/metrics").json()["status"] == "UP"


def test_service_list(fake_nacos):
    nacos = fake_nacos("2.x")
    for i in range(5):
        nacos.register(f"svc{i}", "10.0.0.1", 80)
    nacos.register("other", "10.0.0.1", 80, group="G2")
    r = call(nacos, V1_SERVICES, {"pageNo": 2, "pageSize": 2}).json()
    assert r["count"] == 5 and len(r["doms"]) == 2
    r = call(nacos, V1_SERVICES, {"pageNo": 3, "pageSize": 2}).json()
    assert r["count"] == 5 and len(r["doms"]) == 1
    r = call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 10, "groupName": "G2"}).json()
    assert r == {"count": 1, "doms": ["other"]}
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 10, "groupName": "*"}).json()["count"] == 0
    nacos.deregister("svc0", "10.0.0.1", 80)  # an empty service stays listed
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 10}).json()["count"] == 5
    old = fake_nacos("1.x")
    old.register("a", "10.0.0.1", 80)
    old.register("b", "10.0.0.1", 80, group="G2")
    r = call(old, V1_SERVICES, {"pageNo": 1, "pageSize": 10, "groupName": "*"}).json()
    assert sorted(r["doms"]) == ["DEFAULT_GROUP@@a", "G2@@b"]


# ---- auth --------------------------------------------------------------------------------

def login(nacos, path="/nacos/v1/auth/login", user="nacos", password="secret"):
    return call(nacos, path, method="POST", form={"username": user, "password": password})


@pytest.mark.parametrize("mode,missing,bad_login", [
    ("1.x", "unknown user!", "unknown user!"),
    ("2.x", "user not found!", "user not found!"),
    ("3.1", "Code: 401, Message: user not found!.",
     "User not found! Please check user exist or password is right!"),
])
def test_auth_rejections_per_version(fake_nacos, mode, missing, bad_login):
    nacos = fake_nacos(mode, auth="nacos:secret", token_ttl=600)
    r = call(nacos, V1_LIST, {"serviceName": "order"})
    assert r.status == 403
    body = r.json()
    assert (body["status"], body["error"], body["message"], body["path"]) == (
        403, "Forbidden", missing, V1_LIST)
    assert "timestamp" in body
    html = call(nacos, V1_LIST, {"serviceName": "order"}, headers={"Accept": "text/html"})
    assert html.status == 403 and "Whitelabel Error Page" in html.text
    r = login(nacos, password="wrong")
    assert (r.status, r.text) == (403, bad_login)
    assert r.headers["Content-Type"].startswith("text/plain")
    for path in (V1_SERVICES, V1_INSTANCE):
        assert call(nacos, path, {"pageNo": 1, "pageSize": 1}, method="GET" if path == V1_SERVICES
                    else "POST").status == 403
    assert call(nacos, "/nacos/v1/ns/operator/metrics").status == 200
    r = call(nacos, V1_LIST, {"serviceName": "order", "accessToken": "a.b.c"})
    assert r.json()["message"] == missing.replace("user not found!", "token invalid!").replace(
        "unknown user!", "token invalid!")


@pytest.mark.parametrize("mode", ["1.x", "2.x", "3.1"])
def test_login_and_token_use(fake_nacos, mode):
    nacos = fake_nacos(mode, auth="nacos:secret", token_ttl=600)
    r = login(nacos)
    assert r.status == 200
    body = r.json()
    token = body["accessToken"]
    assert r.headers["Authorization"] == "Bearer " + token
    assert body["globalAdmin"] is True and body["username"] == "nacos"
    assert 590 <= body["tokenTtl"] <= 600
    head, payload, sig = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["sub"] == "nacos" and claims["exp"] > time.time()
    ok = lambda **kw: call(nacos, V1_LIST, **kw).status == 200  # noqa: E731
    assert ok(params={"serviceName": "x", "accessToken": token})
    assert ok(params={"serviceName": "x"}, headers={"Authorization": "Bearer " + token})
    assert ok(params={"serviceName": "x"}, headers={"accessToken": token}) == (mode != "1.x")
    if mode.startswith("3"):
        assert login(nacos, "/nacos/v3/auth/user/login").json()["accessToken"]
    r = call(nacos, "/nacos/v1/auth/login", method="POST", form={"username": "nacos"})
    assert (r.status, r.text) == (500, "caused: Required String parameter 'password' is not present;")


@pytest.mark.parametrize("mode,expired", [("2.x", "token expired!"),
                                          ("3.1", "Code: 401, Message: token expired!.")])
def test_token_expiry(fake_nacos, mode, expired):
    nacos = fake_nacos(mode, auth="nacos:secret", token_ttl=1)
    token = login(nacos).json()["accessToken"]
    time.sleep(2.1)
    r = call(nacos, V1_LIST, {"serviceName": "x", "accessToken": token})
    assert r.status == 403 and r.json()["message"] == expired
    fresh = login(nacos).json()["accessToken"]
    assert fresh != token
    nacos = fake_nacos(mode, auth="nacos:secret", token_ttl=600)
    token = login(nacos).json()["accessToken"]
    assert call(nacos, V1_LIST, {"serviceName": "x", "accessToken": token}).status == 200
    nacos.expire_tokens()
    r = call(nacos, V1_LIST, {"serviceName": "x", "accessToken": token})
    assert r.status == 403 and r.json()["message"] == expired
    fresh = login(nacos).json()["accessToken"]
    assert call(nacos, V1_LIST, {"serviceName": "x", "accessToken": fresh}).status == 200


def test_3_2_auth_uses_v3_login_and_header(fake_nacos):
    nacos = fake_nacos("3.2", auth="nacos:secret")
    nacos.register("order", "10.0.0.1", 80)
    r = call(nacos, V3_LIST, {"serviceName": "order"})
    assert r.status == 403 and r.json()["message"] == "Code: 401, Message: user not found!."
    token = login(nacos, "/nacos/v3/auth/user/login").json()["accessToken"]
    r = call(nacos, V3_LIST, {"serviceName": "order"}, headers={"accessToken": token})
    assert r.status == 200 and len(r.json()["data"]) == 1


def test_tokens_survive_restart_on_the_same_port(fake_nacos):
    nacos = fake_nacos("2.x", auth="nacos:secret")
    token = login(nacos).json()["accessToken"]
    port = nacos.port
    nacos.register("order", "10.0.0.1", 80, healthy=False)
    nacos.restart()
    assert nacos.port == port
    r = call(nacos, V1_LIST, {"serviceName": "order", "accessToken": token})
    assert r.status == 200
    assert [x["healthy"] for x in r.json()["hosts"]] == [False]  # still auto-created: no protection
    nacos.stop()
    with pytest.raises(OSError):
        call(nacos, V1_LIST, {"serviceName": "order"})
    nacos.restart(keep_data=False)
    assert nacos.port == port
    r = call(nacos, V1_LIST, {"serviceName": "order", "accessToken": token})
    assert r.status == 200 and r.json()["hosts"] == []


# ---- faults and control API --------------------------------------------------------------

def test_fault_status_bodies_count_and_path(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("order", "10.0.0.1", 80)
    nacos.fault("503", count=2)
    for _ in range(2):
        r = call(nacos, V1_LIST, {"serviceName": "order"})
        assert (r.status, r.text) == (503, "server is STARTINGnow, please try again later!")
    assert call(nacos, V1_LIST, {"serviceName": "order"}).status == 200
    nacos.fault("500", path=V1_SERVICES)
    assert call(nacos, V1_LIST, {"serviceName": "order"}).status == 200
    r = call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 1})
    assert r.status == 500 and r.text.startswith("caused: ")
    nacos.fault("403")
    r = call(nacos, V1_LIST, {"serviceName": "order"})
    assert r.status == 403 and r.json()["message"] == "token expired!"
    nacos.fault("none")
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 1}).status == 200


def test_fault_malformed_and_empty(fake_nacos):
    nacos = fake_nacos("3.1")
    nacos.register("order", "10.0.0.1", 80)
    nacos.fault("malformed")
    r = call(nacos, V1_LIST, {"serviceName": "order"})
    assert r.status == 200
    with pytest.raises(ValueError):
        json.loads(r.body)
    nacos.fault("empty")
    assert hosts_of(nacos, "order")["hosts"] == []
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 9}).json() == {"count": 0, "doms": []}
    assert call(nacos, V3_LIST, {"serviceName": "order"}).json()["data"] == []
    nacos.fault("none")
    assert len(hosts_of(nacos, "order")["hosts"]) == 1


def test_fault_hang_slow_and_reset(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.fault("hang", count=1)
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        call(nacos, V1_LIST, {"serviceName": "order"}, timeout=0.5)
    assert call(nacos, V1_LIST, {"serviceName": "order"}).status == 200
    nacos.fault("slow", delay=3, count=2)
    with pytest.raises((socket.timeout, urllib.error.URLError)):
        call(nacos, V1_LIST, {"serviceName": "order"}, timeout=0.3)
    assert call(nacos, V1_LIST, {"serviceName": "order"}, timeout=30).status == 200
    nacos.fault("reset", count=1)
    with socket.create_connection((nacos.host, nacos.port), timeout=5) as s:
        s.sendall(b"GET " + V1_LIST.encode() + b"?serviceName=x HTTP/1.1\r\nHost: x\r\n\r\n")
        with pytest.raises(ConnectionResetError):
            s.recv(100)
    stats = nacos.requests()
    assert stats["faults"] == {"hang": 1, "reset": 1}
    assert stats["by_path"] == {V1_LIST: 5} and stats["by_status"] == {"200": 3}


def test_counters_keep_alive_and_reset(fake_nacos):
    nacos = fake_nacos("2.x")
    conn = http.client.HTTPConnection(nacos.host, nacos.port, timeout=5)
    for path in (V1_LIST + "?serviceName=a", V1_LIST, V1_SERVICES + "?pageNo=1&pageSize=1"):
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
    assert resp.status == 200 and resp.getheader("Content-Length")
    conn.close()
    stats = nacos.requests()
    assert stats["total"] == 3
    assert stats["by_path"] == {V1_LIST: 2, V1_SERVICES: 1}
    assert stats["by_status"] == {"200": 2, "400": 1}
    nacos.reset_counters()
    assert nacos.requests()["total"] == 0


def test_load_bulk_and_registry(fake_nacos):
    nacos = fake_nacos("2.x", data=registry(service_info("a", [h("10.0.0.1")])))
    assert len(hosts_of(nacos, "a")["hosts"]) == 1
    nacos.load(registry(service_info("b", [h("10.0.0.2"), h("10.0.0.3")]), ns="ns1"))
    assert hosts_of(nacos, "a")["hosts"] == []
    assert len(hosts_of(nacos, "b", namespaceId="ns1")["hosts"]) == 2
    assert [s["name"] for s in nacos.registry()["namespaces"]["ns1"]] == ["DEFAULT_GROUP@@b"]
    nacos.bulk(300, 5, prefix="bulk-", group="BULK")
    r = call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 1000, "groupName": "BULK"}).json()
    assert r["count"] == 300 and len(set(r["doms"])) == 300
    info = hosts_of(nacos, "bulk-299", groupName="BULK")
    assert len({x["ip"] for x in info["hosts"]}) == 5
    nacos.remove_service("bulk-0", group="BULK")
    assert call(nacos, V1_SERVICES, {"pageNo": 1, "pageSize": 1, "groupName": "BULK"}).json()["count"] == 299


# ---- UDP push ----------------------------------------------------------------------------

PUSH_UA = "Nacos-DNS:v1.0.1"


def subscriber():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    return s


def subscribe(nacos, sock, service, agent=PUSH_UA, **params):
    return call(nacos, V1_LIST, dict(serviceName=service, udpPort=sock.getsockname()[1],
                                     clientIP="127.0.0.1", **params),
                headers={"User-Agent": agent})


def receive(sock, timeout=5.0):
    """(raw packet, decoded message, sender) or None when nothing came within timeout."""
    sock.settimeout(timeout)
    try:
        raw, addr = sock.recvfrom(65536)
    except socket.timeout:
        return None
    text = gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    return raw, json.loads(text), addr


def ack(sock, msg, addr, as_string=False):
    ref = str(msg["lastRefTime"]) if as_string else msg["lastRefTime"]
    sock.sendto(json.dumps({"type": "push-ack", "lastRefTime": ref, "data": ""}).encode(), addr)


def wait_stats(nacos, key, value, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if nacos.requests()["push"][key] >= value:
            return
        time.sleep(0.05)
    raise AssertionError(f"push {key} never reached {value}: {nacos.requests()['push']}")


def test_push_after_subscription_and_change_2x(fake_nacos):
    nacos = fake_nacos("2.x")
    with subscriber() as sock:
        assert subscribe(nacos, sock, "order").json()["cacheMillis"] == 10000
        raw, msg, addr = receive(sock)  # once after the first subscription, even if empty
        assert json.loads(msg["data"])["hosts"] == []
        ack(sock, msg, addr)
        nacos.register("order", "10.0.0.1", 80)
        raw, msg, addr = receive(sock)
        assert raw[:1] == b"{" and msg["type"] == "dom"
        assert isinstance(msg["data"], str) and msg["lastRefTime"] > 2 ** 53
        data = json.loads(msg["data"])
        assert data["name"] == "DEFAULT_GROUP@@order" and "groupName" not in data
        assert data["cacheMillis"] == 10000 and data["checksum"] == ""
        assert [x["ip"] for x in data["hosts"]] == ["10.0.0.1"]
        ack(sock, msg, addr)
        nacos.register("order", "10.0.0.2", 80)
        nacos.register("order", "10.0.0.3", 80)  # merged into one push
        raw, msg2, addr = receive(sock)
        assert sorted(x["ip"] for x in json.loads(msg2["data"])["hosts"]) == [
            "10.0.0.1", "10.0.0.2", "10.0.0.3"]
        assert msg2["lastRefTime"] != msg["lastRefTime"]
        ack(sock, msg2, addr, as_string=True)
        for ip in ("10.0.0.1", "10.0.0.2", "10.0.0.3"):
            nacos.deregister("order", ip, 80)
        raw, msg3, addr = receive(sock)
        assert json.loads(msg3["data"])["hosts"] == []  # the last one leaving is pushed too
        ack(sock, msg3, addr)
        wait_stats(nacos, "acks", 4)
        stats = nacos.requests()["push"]
        assert (stats["sent"], stats["acks"], stats["subscriptions"]) == (4, 4, 1)


def test_push_needs_a_push_capable_user_agent(fake_nacos):
    nacos = fake_nacos("2.x")
    with subscriber() as sock:
        assert subscribe(nacos, sock, "order", agent="curl/8.0").status == 200
        subscribe(nacos, sock, "order", agent="Nacos-DNS:v0.4.2")  # below the minimum
        nacos.register("order", "10.0.0.1", 80)
        assert receive(sock, timeout=2.0) is None
    assert nacos.requests()["push"]["subscriptions"] == 0


def test_push_gzip_at_1k_and_clusters(fake_nacos):
    nacos = fake_nacos("2.x")
    for i in range(20):
        nacos.register("big", f"10.0.0.{i}", 80, metadata={"k": "v" * 20})
    nacos.register("big", "10.0.9.9", 80, clusterName="other")
    with subscriber() as sock:
        subscribe(nacos, sock, "big", clusters="DEFAULT")
        raw, msg, addr = receive(sock)
        assert raw[:2] == b"\x1f\x8b"
        data = json.loads(msg["data"])
        assert len(data["hosts"]) == 20 and data["clusters"] == "DEFAULT"
        ack(sock, msg, addr)


def test_push_resent_once_without_ack(fake_nacos):
    nacos = fake_nacos("2.x", push_ack_timeout=0.5)
    with subscriber() as sock:
        subscribe(nacos, sock, "order")
        first = receive(sock)
        again = receive(sock)
        assert again is not None and again[0] == first[0]  # the identical packet
        assert receive(sock, timeout=1.5) is None  # gives up after the second send
    wait_stats(nacos, "failed", 1)
    stats = nacos.requests()["push"]
    assert (stats["sent"], stats["resent"], stats["acks"]) == (2, 1, 0)


def test_push_1x_shape_and_no_push_on_subscription(fake_nacos):
    nacos = fake_nacos("1.x")
    with subscriber() as sock:
        subscribe(nacos, sock, "order")
        assert receive(sock, timeout=1.5) is None
        nacos.register("order", "10.0.0.1", 80)
        nacos.register("order", "10.0.0.2", 80)
        raw, msg, addr = receive(sock)
        data = json.loads(msg["data"])
        assert data["cacheMillis"] == 10000 and data["dom"] == "order"
        assert len(data["checksum"]) == 32 and len(data["hosts"]) == 2
        ack(sock, msg, addr)


def test_v2_list_ip_port_subscribes(fake_nacos):
    nacos = fake_nacos("2.x")
    nacos.register("order", "10.0.0.1", 80)
    with subscriber() as sock:
        call(nacos, V2_LIST, {"serviceName": "order", "ip": "127.0.0.1",
                              "port": sock.getsockname()[1]}, headers={"User-Agent": PUSH_UA})
        raw, msg, addr = receive(sock)
        assert json.loads(msg["data"])["name"] == "DEFAULT_GROUP@@order"
        ack(sock, msg, addr)


def test_optional_gzip(fake_nacos):
    nacos = fake_nacos("2.x", gzip=True)
    for i in range(20):
        nacos.register("big", f"10.0.0.{i}", 80)
    r = call(nacos, V1_LIST, {"serviceName": "big"}, headers={"Accept-Encoding": "gzip"})
    assert r.headers["Content-Encoding"] == "gzip"
    assert len(json.loads(gzip.decompress(r.body))["hosts"]) == 20
    r = call(nacos, V1_LIST, {"serviceName": "big"})
    assert "Content-Encoding" not in r.headers and len(r.json()["hosts"]) == 20


# ---- the v3 admin API, clusters, and a cluster of nodes -----------------------------------

V3_SERVICES = "/nacos/v3/admin/ns/service/list"
V3_SERVICE = "/nacos/v3/admin/ns/service"


def test_v3_admin_service_list_filters_by_regex_and_pages_raw(fake_nacos):
    nacos = fake_nacos("3.2", admin_open=True)
    nacos.register("x", "10.0.0.1", 80)
    nacos.register("y", "10.0.0.2", 80, group="A_DEFAULT_GROUP")
    nacos.register("z", "10.0.0.3", 80, group="DEFAULT_GROUP_V2")
    nacos.register("w", "10.0.0.4", 80, group="OTHER")
    # CatalogServiceV2Impl.patternServices: ".*DEFAULT_GROUP.*@@.*"
    r = call(nacos, V3_SERVICES, {"groupNameParam": "DEFAULT_GROUP", "pageNo": 1, "pageSize": 2})
    assert r.status == 200
    data = r.json()["data"]
    assert (data["totalCount"], data["pageNumber"], data["pagesAvailable"]) == (3, 1, 2)
    assert len(data["pageItems"]) == 2
    rest = call(nacos, V3_SERVICES, {"groupNameParam": "DEFAULT_GROUP", "pageNo": 2,
                                      "pageSize": 2}).json()["data"]["pageItems"]
    groups = sorted(i["groupName"] for i in data["pageItems"] + rest)
    assert groups == ["A_DEFAULT_GROUP", "DEFAULT_GROUP", "DEFAULT_GROUP_V2"]
    item = (data["pageItems"] + rest)[groups.index("DEFAULT_GROUP")]
    assert set(item) >= {"name", "groupName", "clusterCount", "ipCount", "healthyInstanceCount",
                         "triggerFlag"}
    empty = call(nacos, V3_SERVICES, {"groupNameParam": "NONE"}).json()["data"]
    assert empty == {"totalCount": 0, "pageNumber": 1, "pagesAvailable": 0, "pageItems": []}
    assert call(nacos, V3_SERVICES, {"pageSize": 0}).status == 400


def test_v3_admin_list_with_instances_and_detail_show_clusters(fake_nacos):
    nacos = fake_nacos("3.1", admin_open=True)
    nacos.register("geo", "10.0.0.1", 80, clusterName="SH")
    nacos.register("geo", "10.0.0.2", 80, clusterName="BJ")
    r = call(nacos, V3_SERVICES, {"groupNameParam": "DEFAULT_GROUP", "withInstances": "true"})
    item = r.json()["data"]["pageItems"][0]
    assert sorted(item["clusterMap"]) == ["BJ", "SH"]
    assert item["clusterMap"]["SH"]["hosts"][0]["ip"] == "10.0.0.1"
    d = call(nacos, V3_SERVICE, {"serviceName": "geo"}).json()["data"]
    assert sorted(d["clusterMap"]) == ["BJ", "SH"] and "hosts" not in d["clusterMap"]["SH"]
    r = call(nacos, V3_SERVICE, {"serviceName": "nope"})
    assert r.status == 400 and r.json()["code"] == 21008


def test_v3_client_list_blank_cluster_is_default_and_comma_is_every_cluster(fake_nacos):
    # InstanceListForm.fillDefaultValue: blank -> DEFAULT; ",".split(",") is empty in Java,
    # which ServiceUtil.checkCluster takes as every cluster.
    nacos = fake_nacos("3.2")
    nacos.register("geo", "10.0.0.1", 80, clusterName="SH")
    nacos.register("geo", "10.0.0.2", 80)
    ips = lambda **p: sorted(x["ip"] for x in call(  # noqa: E731
        nacos, V3_LIST, dict(serviceName="geo", **p)).json()["data"])
    assert ips() == ["10.0.0.2"]
    assert ips(clusterName="SH") == ["10.0.0.1"]
    assert ips(clusterName=",") == ["10.0.0.1", "10.0.0.2"]


def test_admin_api_refused_without_an_admin(fake_nacos):
    nacos = fake_nacos("3.2", auth="nacos:secret", reader="reader:pw")
    nacos.register("order", "10.0.0.1", 80)
    r = call(nacos, V3_SERVICES, {"groupNameParam": "DEFAULT_GROUP"})
    assert r.status == 403 and r.json()["message"] == "Code: 401, Message: user not found!."
    tok = login(nacos, "/nacos/v3/auth/user/login", user="reader", password="pw").json()
    assert tok["globalAdmin"] is False
    r = call(nacos, V3_SERVICES, {}, headers={"accessToken": tok["accessToken"]})
    assert r.status == 403 and r.json()["message"] == "Code: 403, Message: authorization failed!."
    r = call(nacos, V3_LIST, {"serviceName": "order"}, headers={"accessToken": tok["accessToken"]})
    assert r.status == 200 and len(r.json()["data"]) == 1
    admin = login(nacos, "/nacos/v3/auth/user/login").json()["accessToken"]
    r = call(nacos, V3_SERVICES, {}, headers={"accessToken": admin})
    assert r.status == 200 and r.json()["data"]["totalCount"] == 1
    # With auth off the admin API stays guarded (nacos.core.auth.admin.enabled=true).
    plain = fake_nacos("3.2")
    assert call(plain, V3_SERVICES, {}).status == 403


def test_two_nodes_replicate_late_and_answer_with_their_own_clock(fake_nacos):
    nacos = fake_nacos("2.x", nodes=2, replication_delay=1.0, clock_skew=100)
    assert len(nacos.urls) == 2 and nacos.urls[0] != nacos.urls[1]
    nacos.register("order", "10.0.0.1", 80)
    at = [nacos.node_url(p) for p in nacos.ports]
    get = lambda u: json.loads(urllib.request.urlopen(  # noqa: E731
        u + V1_LIST + "?serviceName=order", timeout=5).read())
    assert [x["ip"] for x in get(at[0])["hosts"]] == ["10.0.0.1"]
    assert get(at[1])["hosts"] == []  # not replicated yet
    time.sleep(1.5)
    second = get(at[1])
    assert [x["ip"] for x in second["hosts"]] == ["10.0.0.1"]
    # lastRefTime is each node's own wall clock (naming/utils/ServiceUtil.java)
    assert second["lastRefTime"] - get(at[0])["lastRefTime"] > 90000
