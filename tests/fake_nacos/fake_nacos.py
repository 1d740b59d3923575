#!/usr/bin/python3
"""A stand-in for a Nacos server's naming and auth HTTP API, for tests and the demo.

It imitates the behaviours a client most often gets wrong (see nacos-api.md): grouped
`name` in responses, 200 with empty `hosts` for unknown services, `checksum` "" on 2.x/3.x,
the protection threshold, disabled instances removed, shuffled order, 410 for v2 on 3.x,
501 for v1 naming on 3.2 without the legacy adapter, the v3 admin service list with its
regex group filter, Spring's 403 error JSON with per-version messages, expiring tokens,
UDP push, and a cluster of nodes that replicate with a delay.  Standard library only.

Usage:
  fake_nacos.py --port PORT [--host 127.0.0.1] [--mode 1.x|2.x|3.1|3.2] [--data FILE]
                [--auth USER:PASS] [--reader USER:PASS] [--admin-open] [--token-ttl SECONDS]
                [--seed N] [--push-ack-timeout S] [--gzip] [--list-order hash|name]
                [--nodes N] [--replication-delay S] [--clock-skew S]
                [--grpc-port PORT] [--grpc-ack-timeout S] [--grpc-idle S]

A control API under /__fake/ (never faulted, never authenticated) lets tests change
membership, inject faults, expire tokens and read request counters.
"""
import argparse
import base64
import datetime
import gzip
import hashlib
import hmac
import heapq
import http.server
import json
import random
import re
import select
import signal
import socket
import struct
import sys
import threading
import time
import urllib.parse

MODES = ("1.x", "2.x", "3.1", "3.2")
FAULTS = ("none", "500", "503", "hang", "slow", "malformed", "reset", "empty", "403",
          "trickle", "stall")
DEFAULT_GROUP = "DEFAULT_GROUP"
DEFAULT_CLUSTER = "DEFAULT"
SEP = "@@"

# User-Agent prefixes that may receive UDP pushes, with the minimum version (SwitchDomain).
PUSH_AGENTS = (("Nacos-Java-Client:v", (0, 1, 0)), ("Nacos-DNS:v", (0, 4, 3)),
               ("Nacos-C-Client:v", (1, 0, 12)), ("vip-client4cpp:v", (1, 0, 12)),
               ("Nacos-Go-Client:v", (0, 1, 0)), ("Nacos-CSharp-Client:v", (0, 9, 0)))

COMPAT_410 = ("Current API will be deprecated, please use API(s) `{api}` instead, or set "
              "`nacos.core.api.compatibility.admin.enabled=true` in application.properties.")
V2_REPLACEMENT = {"/nacos/v2/ns/instance/list": "GET ${contextPath:nacos}/v3/admin/ns/instance/list",
                  "/nacos/v2/ns/service/list": "GET ${contextPath:nacos}/v3/admin/ns/service/list"}

STARTING_BODY = "server is STARTINGnow, please try again later!"


class HttpError(Exception):
    """An error answer: status, body (str or dict) and content type."""

    def __init__(self, status, body, ctype="text/plain;charset=UTF-8"):
        super().__init__(body)
        self.status, self.body, self.ctype = status, body, ctype


def bad_param(msg):
    return HttpError(400, msg)


def parse_version(text):
    out = []
    for part in text.split("."):
        digits = ""
        for ch in part:
            if not ch.isdigit():
                break
            digits += ch
        if not digits:
            break
        out.append(int(digits))
    return tuple(out + [0] * (3 - len(out)))


def push_capable(agent):
    for prefix, minimum in PUSH_AGENTS:
        if agent.startswith(prefix):
            return parse_version(agent[len(prefix):]) >= minimum
    return False


def java_grouped_names(agent):
    """1.x formats `dom` and hosts[].serviceName grouped only for Java clients >= 1.0.0."""
    prefix = "Nacos-Java-Client:v"
    return agent.startswith(prefix) and parse_version(agent[len(prefix):]) >= (1, 0, 0)


def as_bool(value, default):
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def split_grouped(service, group):
    """(group, bare name) from serviceName/groupName, with Nacos's format checks."""
    if SEP not in service:
        return (group or DEFAULT_GROUP), service
    parts = service.split(SEP)
    while parts and parts[-1] == "":
        parts.pop()  # Java's String.split drops trailing empty strings
    if len(parts) < 2:
        raise bad_param("Param 'serviceName' is illegal, it should be format as "
                        "'groupName@@serviceName'")
    if parts[0] == "":
        raise bad_param("Param 'serviceName' is illegal, groupName can't be empty")
    return parts[0], service[len(parts[0]) + len(SEP):]


def parse_metadata(text):
    if text is None or text == "":
        return {}
    if isinstance(text, dict):
        return {str(k): str(v) for k, v in text.items()}
    try:
        obj = json.loads(text)
        if isinstance(obj, dict):
            return {str(k): str(v) for k, v in obj.items()}
    except ValueError:
        pass
    out = {}
    for item in text.split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = v
    return out


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Service:
    def __init__(self, group, name, threshold=0.0, has_meta=False):
        self.group, self.name = group, name
        self.threshold = threshold
        self.has_meta = has_meta  # created via the service API or data: protection applies (2.x/3.x)
        self.instances = {}  # (ip, port, cluster) -> instance dict

    @property
    def grouped(self):
        return self.group + SEP + self.name


def make_instance(ip, port, weight=1.0, healthy=True, enabled=True, ephemeral=True,
                  cluster=DEFAULT_CLUSTER, metadata=None):
    return {"ip": str(ip), "port": int(port), "weight": float(weight), "healthy": bool(healthy),
            "enabled": bool(enabled), "ephemeral": bool(ephemeral),
            "clusterName": cluster or DEFAULT_CLUSTER, "metadata": dict(metadata or {})}


class Store:
    """The registry: namespaces -> grouped service name -> Service. All access under self.lock."""

    def __init__(self, rng):
        self.lock = threading.RLock()
        self.rng = rng
        self.namespaces = {}
        self.listeners = []  # called with (namespace, grouped name) after a change, lock released
        self.salt = str(rng.random())
        self.list_order = "hash"
        self.replicas = []  # peer nodes' stores, given local changes after a delay (Distro)
        self.replication_delay = 1.0

    def _changed(self, changes, local=True):
        for cb in self.listeners:
            for ns, grouped in changes:
                cb(ns, grouped)
        if local and self.replicas:
            # Distro syncs a changed service to the other nodes about a second later
            # (naming/consistency/ephemeral/distro/v2/DistroClientDataProcessor.java,
            # core/distributed/distro/task/delay/DistroDelayTaskProcessor.java): copy the
            # service as it is now, and hand it over then.
            for ns, grouped in changes:
                copy = self._copy_service(ns, grouped)
                for peer in self.replicas:
                    t = threading.Timer(self.replication_delay, peer._replicate,
                                        (ns, grouped, copy))
                    t.daemon = True
                    t.start()

    def _copy_service(self, ns, grouped):
        with self.lock:
            svc = self.namespaces.get(ns, {}).get(grouped)
            if svc is None:
                return None
            out = Service(svc.group, svc.name, svc.threshold, svc.has_meta)
            out.instances = {k: dict(v, metadata=dict(v["metadata"]))
                             for k, v in svc.instances.items()}
            return out

    def _replicate(self, ns, grouped, svc):
        with self.lock:
            services = self.namespaces.setdefault(ns, {})
            if svc is None:
                services.pop(grouped, None)
            else:
                services[grouped] = svc
        self._changed([(ns, grouped)], local=False)

    def service(self, ns, group, name, create=False, has_meta=False):
        services = self.namespaces.get(ns)
        if services is None:
            if not create:
                return None
            services = self.namespaces[ns] = {}
        key = group + SEP + name
        svc = services.get(key)
        if svc is None and create:
            svc = services[key] = Service(group, name, has_meta=has_meta)
        return svc

    def load(self, registry):
        """Replaces everything with a snapshot-format registry {"namespaces": {ns: [ServiceInfo]}}."""
        fresh = {}
        for ns, infos in (registry.get("namespaces") or {}).items():
            ns = ns or "public"
            services = fresh.setdefault(ns, {})
            for info in infos:
                svc = self._service_from_info(info)
                services[svc.grouped] = svc
        with self.lock:
            old = {(ns, g) for ns, s in self.namespaces.items() for g in s}
            self.namespaces = fresh
            new = {(ns, g) for ns, s in fresh.items() for g in s}
        self._changed(old | new, local=False)  # every node loads the same data

    @staticmethod
    def _service_from_info(info):
        group, name = split_grouped(info["name"], info.get("groupName"))
        threshold = info.get("protectThreshold")
        if threshold is None:
            # A snapshot taken while protection was reached keeps being reached.
            threshold = 1.0 if info.get("reachProtectionThreshold") else 0.0
        # Services from data count as created via the service API, unless the data came from
        # /__fake/registry and says otherwise.
        svc = Service(group, name, float(threshold), has_meta=not info.get("autoCreated"))
        for h in info.get("hosts") or []:
            inst = make_instance(h["ip"], h.get("port", 0), h.get("weight", 1.0),
                                 h.get("healthy", True), h.get("enabled", True),
                                 h.get("ephemeral", True), h.get("clusterName"),
                                 parse_metadata(h.get("metadata")))
            svc.instances[(inst["ip"], inst["port"], inst["clusterName"])] = inst
        return svc

    def dump(self):
        with self.lock:
            out = {}
            for ns, services in self.namespaces.items():
                out[ns] = [{"name": s.grouped, "groupName": s.group, "protectThreshold": s.threshold,
                            "autoCreated": not s.has_meta,
                            "hosts": [dict(i, metadata=dict(i["metadata"]))
                                      for i in s.instances.values()]}
                           for s in services.values()]
            return {"namespaces": out}

    def upsert(self, ns, group, name, inst, keep_health=False, threshold=None):
        with self.lock:
            svc = self.service(ns, group, name, create=True)
            if threshold is not None:
                svc.threshold, svc.has_meta = float(threshold), True
            key = (inst["ip"], inst["port"], inst["clusterName"])
            old = svc.instances.get(key)
            if keep_health and old is not None:
                inst["healthy"] = old["healthy"]
            svc.instances[key] = inst
        self._changed([(ns, group + SEP + name)])

    def remove(self, ns, group, name, ip, port, cluster):
        with self.lock:
            svc = self.service(ns, group, name)
            gone = svc is not None and svc.instances.pop((ip, int(port), cluster), None) is not None
        if gone:
            self._changed([(ns, group + SEP + name)])
        return gone

    def remove_service(self, ns, group, name):
        with self.lock:
            gone = self.namespaces.get(ns, {}).pop(group + SEP + name, None) is not None
        if gone:
            self._changed([(ns, group + SEP + name)])
        return gone

    def bulk(self, ns, group, count, per, prefix):
        with self.lock:
            services = self.namespaces.setdefault(ns, {})
            for i in range(count):
                svc = Service(group, f"{prefix}{i}", has_meta=True)
                for k in range(per):
                    n = i * per + k
                    ip = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
                    svc.instances[(ip, 8080, DEFAULT_CLUSTER)] = make_instance(ip, 8080)
                services[svc.grouped] = svc

    def service_names(self, ns, group):
        """Grouped names in namespace ns; group None means every group."""
        with self.lock:
            names = [g for g, s in self.namespaces.get(ns, {}).items()
                     if group is None or s.group == group]
            self.rng.shuffle(names)  # Nacos iterates a HashSet: order is not stable
            return names

    def match_services(self, ns, group_param, name_param):
        """Services whose grouped name matches the v3 admin list's pattern, in the server's own
        order: CatalogServiceV2Impl.patternServices matches ".*G.*@@.*S.*" (each part ".*"
        when blank) with String.matches, so other groups containing G come back too."""
        def part(text):
            return ".*" if not text or not text.strip() else ".*" + text + ".*"
        try:
            rx = re.compile(part(group_param) + SEP + part(name_param))
        except re.error as e:  # Java would throw PatternSyntaxException: a 500
            raise HttpError(500, {"code": 30000, "message": "server error", "data": str(e)},
                            "application/json")
        with self.lock:
            out = [s for g, s in self.namespaces.get(ns, {}).items() if rx.fullmatch(g)]
        # A hash set's order: unrelated to the names, but the same between calls while the set
        # stays the same (ServiceManager keeps a ConcurrentHashMap key set per namespace).
        # --list-order name puts them in name order, one such order a test can plan for.
        if self.list_order == "name":
            out.sort(key=lambda s: s.grouped)
        else:
            out.sort(key=lambda s: hashlib.md5((self.salt + s.grouped).encode()).digest())
        return out

    def select(self, ns, group, name, clusters, enabled_only=True):
        """(service or None, its instances in clusters, copied, shuffled)."""
        with self.lock:
            svc = self.service(ns, group, name)
            if svc is None:
                return None, []
            hosts = [dict(i, metadata=dict(i["metadata"])) for i in svc.instances.values()
                     if (i["enabled"] or not enabled_only)
                     and (not clusters or i["clusterName"] in clusters)]
            self.rng.shuffle(hosts)
            return svc, hosts

    def checksum(self, svc):
        """1.x: an MD5 over the whole service's instances (Service.recalculateChecksum)."""
        with self.lock:
            parts = sorted(f"{i['ip']}:{i['port']}_{i['weight']}_{i['healthy']}_{i['clusterName']}"
                           for i in svc.instances.values())
        return hashlib.md5(",".join(parts).encode()).hexdigest()


class Auth:
    """JWT-shaped tokens: HS256 over {"sub", "exp", "iat"} with a key derived from the credentials,
    so tokens survive a restart of the fake like they survive a Nacos restart."""

    def __init__(self, user, password, ttl, mode):
        self.user, self.password, self.ttl, self.mode = user, password, ttl, mode
        self.key = hashlib.sha256(f"fake-nacos:{user}:{password}".encode()).digest()
        self.lock = threading.Lock()
        self.serial = 0
        self.revoked_below = 0  # tokens with a lower serial count as expired
        self.cached = None  # 2.x/3.x reuse a live token for the same user

    def issue(self, now):
        with self.lock:
            if self.mode != "1.x" and self.cached:
                token, exp, serial = self.cached
                if serial >= self.revoked_below and exp - now > self.ttl / 2:
                    return token, int(exp - now)
            self.serial += 1
            exp = int(now) + self.ttl
            head = b64url(b'{"alg":"HS256"}')
            claims = {"sub": self.user, "exp": exp, "jti": self.serial}
            body = b64url(json.dumps(claims, separators=(",", ":")).encode())
            sig = b64url(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            token = f"{head}.{body}.{sig}"
            self.cached = (token, exp, self.serial)
        return token, self.ttl if self.mode == "1.x" else int(exp - now)

    def revoke_all(self):
        with self.lock:
            self.revoked_below = self.serial + 1
            self.cached = None

    def check(self, token, now):
        """None when valid, else the cause: 'expired' or 'invalid'."""
        try:
            head, body, sig = token.split(".")
            want = b64url(hmac.new(self.key, f"{head}.{body}".encode(), hashlib.sha256).digest())
            if not hmac.compare_digest(want, sig):
                return "invalid"
            claims = json.loads(b64url_decode(body))
        except (ValueError, TypeError):
            return "invalid"
        with self.lock:
            revoked = claims.get("jti", 0) < self.revoked_below
        if revoked or claims.get("exp", 0) <= now:
            return "expired"
        return None


class Fault:
    def __init__(self, mode="none", path=None, count=None, delay=None, message=None):
        self.mode, self.path, self.count = mode, path or "/nacos", count
        self.delay = 2.0 if delay is None else float(delay)
        self.message = message

    def take(self, path):
        """True if this request gets the fault (and uses up one of count)."""
        if self.mode == "none" or not path.startswith(self.path):
            return False
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
        return True


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.total = 0
            self.by_path, self.by_status, self.faults = {}, {}, {}
            self.push = {"sent": 0, "resent": 0, "acks": 0, "unmatched_acks": 0, "failed": 0,
                         "subscriptions": 0}
            self.recent = []

    def request(self, method, path, status, agent):
        with self.lock:
            self.total += 1
            self.by_path[path] = self.by_path.get(path, 0) + 1
            key = str(status)
            if isinstance(status, int):
                self.by_status[key] = self.by_status.get(key, 0) + 1
            else:
                self.faults[key] = self.faults.get(key, 0) + 1
            self.recent.append({"method": method, "path": path, "status": status, "agent": agent})
            del self.recent[:-200]

    def bump(self, key, n=1):
        with self.lock:
            self.push[key] += n

    def snapshot(self):
        with self.lock:
            return {"total": self.total, "by_path": dict(self.by_path),
                    "by_status": dict(self.by_status), "faults": dict(self.faults),
                    "push": dict(self.push), "recent": list(self.recent)}


class Pusher:
    """UDP push to v1/v2 HTTP subscribers, as 2.x (500 ms) and 1.x (1 s) do it."""

    def __init__(self, server, ack_timeout):
        self.server = server
        self.ack_timeout = ack_timeout
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.subs = {}  # (ns, grouped, ip, port) -> {"clusters", "agent", "seen"}
        self.queue = []  # heap of (when, seq, kind, key)
        self.pending = {}  # (ns, grouped) -> set of subscriber keys, or None for all
        self.waiting = {}  # (ip, port, lastRefTime) -> {"packet", "sends"}
        self.seq = 0
        self.nano_base = (1 << 53) + random.randrange(1 << 40)
        self.sock = socket.socket(socket.AF_INET6 if ":" in server.host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((server.host, 0))
        threading.Thread(target=self._run, daemon=True).start()
        threading.Thread(target=self._receive, daemon=True).start()

    def delay(self):
        return 1.0 if self.server.mode == "1.x" else 0.5

    def expiry(self):
        # 1.x: PushService.PushClient.zombie() after 10 s. 2.x/3.x: an ip:port client that
        # publishes nothing is removed 30 s after its last list call to this node
        # (EphemeralIpPortClientManager.ExpiredClientCleaner, DEFAULT_IP_DELETE_TIMEOUT).
        return 10.0 if self.server.mode == "1.x" else 30.0

    def _schedule(self, when, kind, key):
        self.seq += 1
        heapq.heappush(self.queue, (when, self.seq, kind, key))
        self.cond.notify()

    def subscribe(self, ns, grouped, ip, port, clusters, agent):
        key = (ns, grouped, ip, int(port))
        now = time.monotonic()
        with self.lock:
            first = key not in self.subs
            self.subs[key] = {"clusters": clusters, "agent": agent, "seen": now}
            if first:
                self.server.stats.bump("subscriptions")
                if self.server.mode != "1.x":
                    self._want(key[:2], key, 0.5)
        return first

    def changed(self, ns, grouped):
        with self.lock:
            self._want((ns, grouped), None, self.delay())

    def _want(self, service, target, delay):
        """Queues a push of service to target (None: every subscriber); a push already queued
        for the service absorbs it, as Nacos merges its delayed push tasks."""
        if service in self.pending:
            targets = self.pending[service]
            if targets is not None:
                self.pending[service] = None if target is None else targets | {target}
            return
        self.pending[service] = None if target is None else {target}
        self._schedule(time.monotonic() + delay, "service", service)

    def _run(self):
        while True:
            with self.lock:
                while not self.queue or self.queue[0][0] > time.monotonic():
                    timeout = self.queue[0][0] - time.monotonic() if self.queue else None
                    self.cond.wait(timeout)
                _, _, kind, key = heapq.heappop(self.queue)
                targets = self._targets(kind, key)
            for sub_key, sub in targets:
                self._push(sub_key, sub)
            if kind == "resend":
                self._resend(key)

    def _targets(self, kind, key):
        """Live subscribers the task addresses; called with the lock held."""
        now = time.monotonic()
        for k in [k for k, s in self.subs.items() if now - s["seen"] > self.expiry()]:
            del self.subs[k]
        if kind != "service":
            return []
        targets = self.pending.pop(key, None)
        return [(k, dict(s)) for k, s in self.subs.items()
                if k[:2] == key and (targets is None or k in targets)]

    def _push(self, key, sub):
        ns, grouped, ip, port = key
        data = self.server.push_data(ns, grouped, sub["clusters"], sub["agent"])
        ref = self.nano_base + time.monotonic_ns()
        raw = json.dumps({"type": "dom", "data": json.dumps(data, separators=(",", ":")),
                          "lastRefTime": ref}, separators=(",", ":")).encode()
        packet = gzip.compress(raw) if len(raw) >= 1024 else raw
        with self.lock:
            self.waiting[(ip, port, ref)] = {"packet": packet, "sends": 1}
            self._schedule(time.monotonic() + self.ack_timeout, "resend", (ip, port, ref))
        self._send(packet, ip, port)
        self.server.stats.bump("sent")

    def _send(self, packet, ip, port):
        try:
            self.sock.sendto(packet, (ip, port))
        except OSError:
            pass  # best effort, like Nacos

    def _resend(self, key):
        with self.lock:
            entry = self.waiting.get(key)
            if entry is None:
                return
            if entry["sends"] >= 2:
                del self.waiting[key]
                self.server.stats.bump("failed")
                return
            entry["sends"] += 1
            self._schedule(time.monotonic() + self.ack_timeout, "resend", key)
        self._send(entry["packet"], key[0], key[1])
        self.server.stats.bump("sent")
        self.server.stats.bump("resent")

    def _receive(self):
        while True:
            try:
                data, addr = self.sock.recvfrom(65536)
                msg = json.loads(data)
                ref = int(msg["lastRefTime"])  # a JSON string "123" is accepted too
                ok = msg.get("type") == "push-ack"
            except (OSError, ValueError, KeyError, TypeError):
                self.server.stats.bump("unmatched_acks")
                continue
            with self.lock:
                found = ok and self.waiting.pop((addr[0], addr[1], ref), None) is not None
            self.server.stats.bump("acks" if found else "unmatched_acks")


class FakeNacos:
    def __init__(self, args):
        self.host, self.mode = args.host, args.mode
        self.rng = random.Random(args.seed)
        self.store = Store(self.rng)
        self.stats = Stats()
        self.fault = Fault()
        self.fault_lock = threading.Lock()
        self.auth = None
        if args.auth:
            user, _, password = args.auth.partition(":")
            self.auth = Auth(user, password, args.token_ttl, args.mode)
        # A user whose role reads the namespace but is no admin: the client API lets it in,
        # the admin API answers 403 "authorization failed!" (AbstractWebAuthFilter).
        self.reader = None
        if args.reader:
            user, _, password = args.reader.partition(":")
            self.reader = Auth(user, password, args.token_ttl, args.mode)
        # 3.x guards the admin API even with auth off (nacos.core.auth.admin.enabled=true,
        # core/auth/NacosServerAdminAuthConfig.java); --admin-open turns that off.
        self.admin_open = args.admin_open
        self.clock_skew = args.clock_skew
        self.token_ttl = args.token_ttl
        self.gzip = args.gzip
        self.pusher = Pusher(self, args.push_ack_timeout)
        self.store.listeners.append(self.pusher.changed)
        self.store.replication_delay = args.replication_delay
        self.grpc = None  # fake_grpc.GrpcSide when --grpc-port is given
        self.store.list_order = args.list_order
        if args.data:
            with open(args.data) as f:
                self.store.load(json.load(f))

    def wall_ms(self):
        """This node's System.currentTimeMillis(), which answers carry as lastRefTime."""
        return int((time.time() + self.clock_skew) * 1000)

    # ---- shapes -------------------------------------------------------------------------

    def protect(self, svc, hosts, healthy_only):
        """(hosts, reached) after the protection threshold and healthyOnly (trap 4)."""
        if healthy_only and self.mode != "1.x":
            # 2.x/3.x judge the threshold on the list already cut to healthy hosts, so
            # healthyOnly=true gives the healthy ones (none if all are down).
            hosts = [h for h in hosts if h["healthy"]]
        healthy = [h for h in hosts if h["healthy"]]
        applies = svc is not None and (self.mode == "1.x" or svc.has_meta)
        reached = bool(applies and hosts and len(healthy) / len(hosts) <= max(svc.threshold, 0.0))
        if reached:
            for h in hosts:
                h["healthy"] = True
            return hosts, True
        return (healthy if healthy_only else hosts), False

    def host_v2(self, svc_grouped, h):
        meta = h["metadata"]
        out = {"instanceId": f"{h['ip']}#{h['port']}#{h['clusterName']}#{svc_grouped}",
               "ip": h["ip"], "port": h["port"], "weight": h["weight"], "healthy": h["healthy"],
               "enabled": h["enabled"], "ephemeral": h["ephemeral"], "clusterName": h["clusterName"],
               "serviceName": svc_grouped, "metadata": meta,
               "instanceHeartBeatInterval": int(meta.get("preserved.heart.beat.interval", 5000)),
               "instanceHeartBeatTimeOut": int(meta.get("preserved.heart.beat.timeout", 15000)),
               "ipDeleteTimeout": int(meta.get("preserved.ip.delete.timeout", 30000))}
        if not meta:
            out["instanceIdGenerator"] = "simple"
        elif "preserved.instance.id.generator" in meta:
            out["instanceIdGenerator"] = meta["preserved.instance.id.generator"]
        return out

    def info_v2(self, ns, group, name, clusters_param, healthy_only, empty, push=False):
        clusters = [c for c in clusters_param.split(",") if c]
        svc, hosts = (None, []) if empty else self.store.select(ns, group, name, clusters)
        hosts, reached = self.protect(svc, hosts, healthy_only)
        grouped = group + SEP + name
        info = {"name": grouped, "groupName": group, "clusters": clusters_param,
                "cacheMillis": 10000, "hosts": [self.host_v2(grouped, h) for h in hosts],
                "lastRefTime": self.wall_ms(), "checksum": "", "allIPs": False,
                "reachProtectionThreshold": reached, "valid": True}
        if push:
            # PushExecutorUdpImpl.replaceServiceInfoName copies name, clusters, hosts (already
            # flipped healthy by the protection), lastRefTime and cacheMillis into a new
            # ServiceInfo: no groupName, and reachProtectionThreshold false.
            del info["groupName"]
            info["reachProtectionThreshold"] = False
        return info

    def info_v1x(self, ns, group, name, clusters_param, healthy_only, agent, empty, push_on):
        """1.x doSrvIpxt."""
        grouped = group + SEP + name
        clusters = [c for c in clusters_param.split(",") if c]
        svc, hosts = (None, []) if empty else self.store.select(ns, group, name, clusters, False)
        cache = 10000 if push_on else 3000
        if svc is None:
            return {"name": grouped, "clusters": clusters_param, "cacheMillis": cache, "hosts": []}
        dom = grouped if java_grouped_names(agent) else name
        # 1.x counts disabled instances towards the threshold and drops them afterwards; it
        # does not report whether the threshold was reached.
        hosts, _ = self.protect(svc, hosts, False)
        hosts = [h for h in hosts if h["enabled"] and (h["healthy"] or not healthy_only)]
        hosts.sort(key=lambda h: not h["healthy"])  # healthy first
        out = {"hosts": [{"ip": h["ip"], "port": h["port"], "valid": h["healthy"],
                          "healthy": h["healthy"], "marked": False,
                          "instanceId": f"{h['ip']}#{h['port']}#{h['clusterName']}#{grouped}",
                          "metadata": h["metadata"], "enabled": True, "weight": h["weight"],
                          "clusterName": h["clusterName"], "serviceName": dom,
                          "ephemeral": h["ephemeral"]} for h in hosts],
               "dom": dom, "name": grouped, "cacheMillis": cache,
               "lastRefTime": self.wall_ms(), "checksum": self.store.checksum(svc),
               "useSpecifiedURL": False, "clusters": clusters_param, "env": "", "metadata": {}}
        return out

    def push_data(self, ns, grouped, clusters, agent):
        group, name = grouped.split(SEP, 1)
        if self.mode == "1.x":
            return self.info_v1x(ns, group, name, clusters, False, agent, False, True)
        return self.info_v2(ns, group, name, clusters, False, False, push=True)

    # ---- errors -------------------------------------------------------------------------

    @staticmethod
    def spring_error(status, message, path, accept=""):
        reason = http.HTTPStatus(status).phrase
        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        if "text/html" in accept:
            html = ("<html><body><h1>Whitelabel Error Page</h1><p>This application has no explicit "
                    "mapping for /error, so you are seeing this as a fallback.</p>"
                    f"<div id='created'>{stamp}</div><div>There was an unexpected error "
                    f"(type={reason}, status={status}).</div><div>{message}</div></body></html>")
            return HttpError(status, html, "text/html;charset=UTF-8")
        return HttpError(status, {"timestamp": stamp.replace("+00:00", "+0000"), "status": status,
                                  "error": reason, "message": message, "path": path},
                         "application/json")

    def auth_message(self, cause):
        text = {"missing": "unknown user!" if self.mode == "1.x" else "user not found!",
                "expired": "token expired!", "invalid": "token invalid!"}[cause]
        return f"Code: 401, Message: {text}." if self.mode.startswith("3") else text

    # ---- request plumbing ---------------------------------------------------------------

    # Paths 3.2 keeps without the legacy adapter (alibaba/nacos#14050: login and metrics).
    KEPT_IN_3_2 = ("/nacos/v1/auth/login", "/nacos/v1/ns/operator/metrics")

    @staticmethod
    def no_static_resource(path):
        """3.x: a path no controller maps ends in Spring's NoResourceFoundException, which
        core/exception/NacosApiExceptionHandler.java answers 500 DATA_ACCESS_ERROR."""
        return HttpError(500, {"code": 10002, "message": "data access error",
                               "data": f"No static resource {path.lstrip('/')}."},
                         "application/json")

    def no_such_api(self, req):
        """naming/web/DistroFilter.java (bound to /v1/ns/* in naming/web/NamingConfig.java):
        a /v1/ns path with no controller method is sendError(501, "no such api:...")."""
        return self.spring_error(501, f"no such api:{req.method}:{req.path}", req.path,
                                 req.accept)

    def gate(self, req):
        """501, 500, 404 or 410 for endpoints this mode does not have (endpoint matrix,
        sections 1 and 13 of nacos-api.md)."""
        p = req.path
        if self.mode == "3.2" and p not in self.KEPT_IN_3_2:
            if p.startswith("/nacos/v1/ns/"):
                raise self.no_such_api(req)
            if p.startswith("/nacos/v1/") or p.startswith("/nacos/v2/"):
                raise self.no_static_resource(p)
        if self.mode == "1.x" and (p.startswith("/nacos/v2/") or p.startswith("/nacos/v3/")):
            raise self.spring_error(404, "No message available", p, req.accept)
        if self.mode == "2.x" and p.startswith("/nacos/v3/"):
            raise self.spring_error(404, "No message available", p, req.accept)
        if self.mode.startswith("3") and p.startswith("/nacos/v2/ns/"):
            api = V2_REPLACEMENT.get(p, V2_REPLACEMENT["/nacos/v2/ns/instance/list"])
            msg = json.dumps({"code": 40000, "message": COMPAT_410.format(api=api)},
                             separators=(",", ":"))
            raise self.spring_error(410, msg, p, req.accept)

    def identify(self, req):
        """(Auth of the caller or None, cause) where cause is None, 'missing', 'expired' or
        'invalid'."""
        token = req.bearer or req.params.get("accessToken")
        if not token and self.mode != "1.x":
            token = req.headers.get("accessToken")
        now = time.time()
        users = [a for a in (self.auth, self.reader) if a is not None]
        if token:
            cause = "invalid"
            for a in users:
                c = a.check(token, now)
                if c is None:
                    return a, None
                if c == "expired":
                    cause = c
            return None, cause
        if self.mode != "1.x" and req.params.get("username"):
            for a in users:
                if (req.params.get("username") == a.user
                        and req.params.get("password") == a.password):
                    return a, None
        return None, "missing"

    def authenticate(self, req, admin=False):
        """OPEN_API: checked when auth is on. ADMIN_API (3.x): checked even with auth off,
        unless --admin-open, and only the --auth user (the admin) passes."""
        if admin:
            if self.admin_open:
                return
        elif self.auth is None:
            return
        who, cause = self.identify(req)
        if cause:
            raise self.spring_error(403, self.auth_message(cause), req.path, req.accept)
        if admin and who is not self.auth:
            raise self.spring_error(403, "Code: 403, Message: authorization failed!.", req.path,
                                    req.accept)

    def dispatch(self, req, empty):
        routes = {
            "/nacos/v1/ns/instance/list": {"GET": (self.v1_list, True)},
            "/nacos/v1/ns/service/list": {"GET": (self.v1_service_list, True)},
            "/nacos/v1/ns/instance": {"POST": (self.v1_register, True),
                                      "DELETE": (self.v1_deregister, True)},
            "/nacos/v1/ns/instance/beat": {"PUT": (self.v1_beat, True)},
            "/nacos/v1/ns/operator/metrics": {"GET": (self.metrics, False)},
            "/nacos/v1/auth/login": {"POST": (self.login, False)},
            "/nacos/v1/auth/users/login": {"POST": (self.login, False)},
            "/nacos/v2/ns/instance/list": {"GET": (self.v2_list, True)},
            "/nacos/v2/ns/service/list": {"GET": (self.v2_service_list, True)},
            "/nacos/v3/client/ns/instance/list": {"GET": (self.v3_list, True)},
            "/nacos/v3/auth/user/login": {"POST": (self.login, False)},
            "/nacos/v3/admin/ns/service/list": {"GET": (self.v3_service_list, "admin")},
            "/nacos/v3/admin/ns/service": {"GET": (self.v3_service_detail, "admin")},
        }
        self.gate(req)
        methods = routes.get(req.path)
        if methods is None and req.path.startswith("/nacos/v1/ns/"):
            raise self.no_such_api(req)
        if methods is None:
            raise self.spring_error(404, "No message available", req.path, req.accept)
        if req.method not in methods:
            raise self.spring_error(405, f"Request method '{req.method}' not supported",
                                    req.path, req.accept)
        fn, protected = methods[req.method]
        if protected:
            self.authenticate(req, admin=protected == "admin")
        return fn(req, empty)

    # ---- Nacos endpoints ----------------------------------------------------------------

    @staticmethod
    def required(req, name):
        value = req.params.get(name)
        if value is None or value == "":
            raise bad_param(f"Param '{name}' is required.")
        return value

    @staticmethod
    def optional(req, name, default):
        value = req.params.get(name)
        return default if value is None or value.strip() == "" else value

    def names(self, req):
        """(namespace, group, bare service name) of a v1 request (serviceName required)."""
        service = self.required(req, "serviceName")
        group, name = split_grouped(service, self.optional(req, "groupName", DEFAULT_GROUP))
        return self.optional(req, "namespaceId", "public"), group, name

    def maybe_subscribe(self, req, ns, group, name, clusters, ip, port):
        if self.mode == "3.2" or not ip or not port or int(port) <= 0:
            return False
        if not push_capable(req.agent):
            return False  # Nacos ignores udpPort silently for other clients
        self.pusher.subscribe(ns, group + SEP + name, ip, int(port), clusters, req.agent)
        return True

    def v1_list(self, req, empty):
        ns, group, name = self.names(req)
        clusters = self.optional(req, "clusters", "")
        healthy_only = as_bool(req.params.get("healthyOnly"), False)
        try:
            udp = int(self.optional(req, "udpPort", "0"))
        except ValueError:
            raise bad_param(f"For input string: \"{req.params.get('udpPort')}\"")
        push_on = self.maybe_subscribe(req, ns, group, name, clusters,
                                       self.optional(req, "clientIP", ""), udp)
        if self.mode == "1.x":
            return 200, self.info_v1x(ns, group, name, clusters, healthy_only, req.agent,
                                      empty, push_on)
        return 200, self.info_v2(ns, group, name, clusters, healthy_only, empty)

    def page(self, req, name, default=None):
        text = self.required(req, name) if default is None else self.optional(req, name, default)
        try:
            return int(text)
        except ValueError:
            raise bad_param(f"For input string: \"{text}\"")

    def listing(self, req, empty, page_no, page_size):
        ns = self.optional(req, "namespaceId", "public")
        group = self.optional(req, "groupName", DEFAULT_GROUP)
        every = group == "*" and self.mode == "1.x"
        names = [] if empty else self.store.service_names(ns, None if every else group)
        strip = "" if every else group + SEP
        bare = [n[len(strip):] if strip and n.startswith(strip) else n for n in names]
        start = max(page_no - 1, 0) * page_size
        return len(bare), bare[start:start + max(page_size, 0)]

    def v1_service_list(self, req, empty):
        page_no, page_size = self.page(req, "pageNo"), self.page(req, "pageSize")
        count, doms = self.listing(req, empty, page_no, page_size)
        return 200, {"count": count, "doms": doms}

    def v2_service_list(self, req, empty):
        page_no = self.page(req, "pageNo", "1")
        page_size = min(self.page(req, "pageSize", "20"), 500)
        count, services = self.listing(req, empty, page_no, page_size)
        return 200, {"code": 0, "message": "success", "data": {"count": count, "services": services}}

    @staticmethod
    def v_missing(text):
        return HttpError(400, {"code": 10000, "message": "parameter missing", "data": text},
                         "application/json")

    def v2_list(self, req, empty):
        if not req.params.get("serviceName"):
            raise self.v_missing("Required request parameter 'serviceName' for method parameter "
                                 "type String is not present")
        ns, group, name = self.names(req)
        clusters = self.optional(req, "clusterName", "")
        self.maybe_subscribe(req, ns, group, name, clusters, self.optional(req, "ip", ""),
                             int(self.optional(req, "port", "0")))
        info = self.info_v2(ns, group, name, clusters, as_bool(req.params.get("healthyOnly"), False),
                            empty)
        return 200, {"code": 0, "message": "success", "data": info}

    def v3_list(self, req, empty):
        if not req.params.get("serviceName"):
            raise self.v_missing("Required parameter 'serviceName' type String is not present")
        ns, group, name = self.names(req)
        clusters = self.optional(req, "clusterName", DEFAULT_CLUSTER)  # blank means DEFAULT only
        info = self.info_v2(ns, group, name, clusters, False, empty)
        return 200, {"code": 0, "message": "success", "data": info["hosts"]}

    def v3_page(self, req):
        """core/model/form/PageForm.java: pageNo 1 and pageSize 100 by default, each at least 1,
        no upper bound."""
        out = []
        for name, default in (("pageNo", "1"), ("pageSize", "100")):
            text = self.optional(req, name, default)
            try:
                value = int(text)
            except ValueError:
                raise HttpError(400, {"code": 10000, "message": "parameter missing",
                                      "data": f"For input string: \"{text}\""},
                                "application/json")
            if value < 1:
                raise HttpError(400, {"code": 10001, "message": "parameter validate error",
                                      "data": f"Required parameter '{name}' should be positive "
                                              f"integer, current is {value}"},
                                "application/json")
            out.append(value)
        return out

    @staticmethod
    def sub_page(items, page_no, page_size):
        """core/utils/PageUtil.java subPage: totalCount and pagesAvailable are left 0 for an
        empty source; pagesAvailable is totalCount / pageSize + 1."""
        page = {"totalCount": 0, "pageNumber": page_no, "pagesAvailable": 0, "pageItems": []}
        if items:
            start = (page_no - 1) * page_size
            page.update(totalCount=len(items), pagesAvailable=len(items) // page_size + 1,
                        pageItems=items[start:start + page_size])
        return page

    def v3_service_list(self, req, empty):
        """naming/controllers/v3/ServiceControllerV3.java list -> CatalogServiceV2Impl
        listService / pageListServiceDetail (withInstances)."""
        page_no, page_size = self.v3_page(req)
        ns = self.optional(req, "namespaceId", "public")
        services = [] if empty else self.store.match_services(
            ns, req.params.get("groupNameParam"), req.params.get("serviceNameParam"))
        with_instances = as_bool(req.params.get("withInstances"), False)
        if not with_instances and as_bool(req.params.get("ignoreEmptyService"), False):
            services = [s for s in services if s.instances]
        page = self.sub_page(services, page_no, page_size)
        page["pageItems"] = [self.service_detail(ns, s) if with_instances
                             else self.service_view(s) for s in page["pageItems"]]
        return 200, {"code": 0, "message": "success", "data": page}

    def service_view(self, svc):
        """api/naming/pojo/maintainer/ServiceView.java, as listService fills it."""
        with self.store.lock:
            hosts = list(svc.instances.values())
            clusters = {h["clusterName"] for h in hosts}
        healthy = sum(1 for h in hosts if h["healthy"])
        trigger = bool(hosts) and healthy / len(hosts) <= svc.threshold
        return {"name": svc.name, "groupName": svc.group, "clusterCount": len(clusters),
                "ipCount": len(hosts), "healthyInstanceCount": healthy,
                "triggerFlag": "true" if trigger else "false"}

    def service_detail(self, ns, svc, with_hosts=True):
        """ServiceDetailInfo: clusterMap of ClusterInfo, with its hosts in the list
        (CatalogServiceV2Impl.getClusterMap) and without in the detail call
        (ServiceOperatorV2Impl.queryService)."""
        with self.store.lock:
            hosts = [dict(h, metadata=dict(h["metadata"])) for h in svc.instances.values()]
        clusters = {}
        for h in hosts:
            c = clusters.setdefault(h["clusterName"], {
                "clusterName": h["clusterName"], "healthChecker": {"type": "TCP"},
                "healthyCheckPort": 80, "useInstancePortForCheck": True, "metadata": {}})
            if with_hosts:
                c.setdefault("hosts", []).append(self.host_v2(svc.grouped, h))
        return {"namespaceId": ns, "serviceName": svc.name, "groupName": svc.group,
                "clusterMap": clusters, "metadata": {}, "protectThreshold": svc.threshold,
                "selector": {"type": "none", "contextType": "NONE"}, "ephemeral": True}

    def v3_service_detail(self, req, empty):
        ns = self.optional(req, "namespaceId", "public")
        group = self.optional(req, "groupName", DEFAULT_GROUP)
        name = req.params.get("serviceName")
        if not name:
            raise self.v_missing("Required parameter 'serviceName' type String is not present")
        with self.store.lock:
            svc = None if empty else self.store.service(ns, group, name)
        if svc is None:
            raise HttpError(400, {"code": 21008, "message": "service not exist",
                                  "data": f"service not found, namespace: {ns}, serviceName: "
                                          f"{group}{SEP}{name}"}, "application/json")
        return 200, {"code": 0, "message": "success",
                     "data": self.service_detail(ns, svc, with_hosts=False)}

    def instance_from(self, req):
        ns, group, name = self.names(req)
        ip = self.required(req, "ip")
        port_text = self.required(req, "port")
        try:
            port = int(port_text)
            weight = float(self.optional(req, "weight", "1"))
        except ValueError:
            raise bad_param(f"For input string: \"{port_text}\"")
        if not 0.0 <= weight <= 10000.0:
            raise bad_param("instance format invalid: The weights range from 0.0 to 10000.0")
        cluster = self.optional(req, "clusterName", self.optional(req, "cluster", DEFAULT_CLUSTER))
        enabled = req.params.get("enabled", req.params.get("enable"))
        inst = make_instance(ip, port, weight, as_bool(req.params.get("healthy"), True),
                             as_bool(enabled, True), as_bool(req.params.get("ephemeral"), True),
                             cluster, parse_metadata(req.params.get("metadata")))
        return ns, group, name, inst

    def v1_register(self, req, empty):
        ns, group, name, inst = self.instance_from(req)
        threshold = self.optional(req, "protectThreshold", None)
        self.store.upsert(ns, group, name, inst, keep_health=self.mode == "1.x",
                          threshold=None if threshold is None else float(threshold))
        return 200, "ok"

    def v1_deregister(self, req, empty):
        ns, group, name = self.names(req)
        ip, port = self.required(req, "ip"), self.required(req, "port")
        cluster = self.optional(req, "clusterName", self.optional(req, "cluster", DEFAULT_CLUSTER))
        self.store.remove(ns, group, name, ip, int(port), cluster)
        return 200, "ok"

    def v1_beat(self, req, empty):
        ns, group, name = self.names(req)
        beat = req.params.get("beat")
        info = json.loads(beat) if beat else {}
        ip = info.get("ip") or req.params.get("ip")
        port = int(info.get("port") or req.params.get("port") or 0)
        cluster = info.get("cluster") or self.optional(req, "clusterName", DEFAULT_CLUSTER)
        with self.store.lock:
            svc = self.store.service(ns, group, name)
            known = svc is not None and (ip, port, cluster) in svc.instances
        if not known and not beat:
            return 200, {"clientBeatInterval": 5000, "code": 20404, "lightBeatEnabled": True}
        if not known:
            self.store.upsert(ns, group, name, make_instance(
                ip, port, info.get("weight", 1.0), True, True, True, cluster,
                parse_metadata(info.get("metadata"))))
        return 200, {"clientBeatInterval": 5000, "code": 10200, "lightBeatEnabled": True}

    def metrics(self, req, empty):
        if self.mode == "1.x":
            with self.store.lock:
                services = sum(len(s) for s in self.store.namespaces.values())
                ips = sum(len(v.instances) for s in self.store.namespaces.values()
                          for v in s.values())
            return 200, {"status": "UP", "serviceCount": services, "instanceCount": ips,
                         "subscribeCount": len(self.pusher.subs), "raftNotifyTaskCount": 0,
                         "responsibleServiceCount": services, "responsibleInstanceCount": ips,
                         "cpu": 0.0, "load": 0.0, "mem": 0.0}
        return 200, {"status": "UP"}

    def login(self, req, empty):
        for name in ("username", "password"):
            if req.params.get(name) is None:
                raise HttpError(500, f"caused: Required String parameter '{name}' is not present;")
        user, password = req.params["username"], req.params["password"]
        auth = self.auth or Auth(user, password, self.token_ttl, self.mode)  # auth off: anyone
        if self.reader and user == self.reader.user:
            auth = self.reader
        if user != auth.user or password != auth.password:
            raise HttpError(403, {"1.x": "unknown user!", "2.x": "user not found!"}.get(
                self.mode, "User not found! Please check user exist or password is right!"))
        token, ttl = auth.issue(time.time())
        return 200, {"accessToken": token, "tokenTtl": ttl,
                     "globalAdmin": auth is not self.reader, "username": user}, \
            {"Authorization": "Bearer " + token}

    # ---- test control API ---------------------------------------------------------------

    def control(self, req):
        body = req.json()
        key = (req.method, req.path[len("/__fake"):])
        if key[1].startswith("/grpc/"):
            if self.grpc is None:
                raise HttpError(404, {"error": "no gRPC side (--grpc-port)"}, "application/json")
            status, out = self.grpc.control(req.method, key[1][len("/grpc"):], body)
            if status != 200:
                raise HttpError(status, out, "application/json")
            return status, out
        if key == ("POST", "/fault"):
            if body.get("mode", "none") not in FAULTS:
                raise HttpError(400, {"error": "mode must be one of " + ", ".join(FAULTS)},
                                "application/json")
            with self.fault_lock:
                self.fault = Fault(body.get("mode", "none"), body.get("path"), body.get("count"),
                                   body.get("delay"), body.get("message"))
        elif key in (("POST", "/instance"), ("DELETE", "/instance")):
            self.control_instance(req.method, body)
        elif key == ("POST", "/service"):
            group, name = split_grouped(body["serviceName"], body.get("groupName"))
            with self.store.lock:
                svc = self.store.service(body.get("namespaceId") or "public", group, name,
                                         create=True)
                svc.threshold = float(body.get("protectThreshold", svc.threshold))
                svc.has_meta = True
        elif key == ("DELETE", "/service"):
            group, name = split_grouped(body["serviceName"], body.get("groupName"))
            self.store.remove_service(body.get("namespaceId") or "public", group, name)
        elif key == ("POST", "/expire-tokens"):
            for a in (self.auth, self.reader):
                if a:
                    a.revoke_all()
        elif key == ("GET", "/requests"):
            return 200, self.stats.snapshot()
        elif key == ("POST", "/reset-counters"):
            self.stats.reset()
        elif key == ("POST", "/load"):
            self.store.load(body)
        elif key == ("GET", "/registry"):
            return 200, self.store.dump()
        elif key == ("POST", "/bulk"):
            self.store.bulk(body.get("namespaceId") or "public", body.get("groupName") or DEFAULT_GROUP,
                            int(body.get("services", 0)), int(body.get("instances", 1)),
                            body.get("prefix", "svc-"))
        elif key == ("POST", "/mode"):
            if body.get("mode") not in MODES:
                raise HttpError(400, {"error": "mode must be one of " + ", ".join(MODES)},
                                "application/json")
            self.mode = body["mode"]
            for a in (self.auth, self.reader):
                if a:
                    a.mode = self.mode
        else:
            raise HttpError(404, {"error": "no such control endpoint"}, "application/json")
        return 200, {"ok": True}

    def control_instance(self, method, body):
        ns = body.get("namespaceId") or "public"
        group, name = split_grouped(body["serviceName"], body.get("groupName"))
        cluster = body.get("clusterName") or DEFAULT_CLUSTER
        if method == "DELETE":
            self.store.remove(ns, group, name, body["ip"], int(body["port"]), cluster)
            return
        inst = make_instance(body["ip"], body["port"], body.get("weight", 1.0),
                             as_bool(body.get("healthy"), True), as_bool(body.get("enabled"), True),
                             as_bool(body.get("ephemeral"), True), cluster,
                             parse_metadata(body.get("metadata")))
        self.store.upsert(ns, group, name, inst, threshold=body.get("protectThreshold"))


class Request:
    def __init__(self, handler, raw_body):
        parsed = urllib.parse.urlsplit(handler.path)
        self.method, self.path = handler.command, parsed.path
        self.headers = handler.headers
        self.body = raw_body
        self.params = {}
        pairs = urllib.parse.parse_qsl(parsed.query, keep_blank_values=True)
        ctype = self.headers.get("Content-Type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            pairs += urllib.parse.parse_qsl(raw_body.decode("utf-8", "replace"),
                                            keep_blank_values=True)
        for k, v in pairs:
            self.params.setdefault(k, v)  # getParameter returns the first value
        self.agent = self.headers.get("User-Agent") or self.headers.get("Client-Version") or ""
        self.accept = self.headers.get("Accept", "")
        authz = self.headers.get("Authorization", "")
        self.bearer = authz[7:].strip() if authz.startswith("Bearer ") else None

    def json(self):
        if not self.body:
            return {}
        try:
            return json.loads(self.body)
        except ValueError:
            raise HttpError(400, {"error": "body is not JSON"}, "application/json")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-nacos"
    sys_version = ""

    @property
    def fake(self):
        return self.server.fake  # the node this port belongs to

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes; without this, Nagle and delayed ACKs
        # stall every keep-alive response by 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        self.handle_one()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                chunk = self.rfile.read(size + 2)
                if size == 0:
                    return out
                out += chunk[:-2]
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def handle_one(self):
        fake = self.fake
        req = Request(self, self.read_body())
        if req.path.startswith("/__fake/"):
            self.respond(*self.run(lambda: fake.control(req)))
            return
        with fake.fault_lock:
            fault = fake.fault if fake.fault.take(req.path) else Fault()
        if fault.mode == "hang":
            fake.stats.request(req.method, req.path, "hang", req.agent)
            self.hang()
            return
        if fault.mode == "reset":
            fake.stats.request(req.method, req.path, "reset", req.agent)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        if fault.mode == "slow":
            time.sleep(fault.delay)
        result = self.fault_answer(fault, req) or self.run(
            lambda: fake.dispatch(req, fault.mode == "empty"))
        if fault.mode == "malformed":
            body = self.encode(result[1])[0]
            result = (200, body[:len(body) // 2] if len(body) > 2 else b'{"hosts":[{"ip":',
                      {"Content-Type": "application/json"})
        fake.stats.request(req.method, req.path, result[0], req.agent)
        if fault.mode in ("trickle", "stall"):
            self.close_connection = True
            self.respond(*result, trickle=fault.delay, stall=fault.mode == "stall")
            return
        self.respond(*result)

    def fault_answer(self, fault, req):
        fake = self.fake
        if fault.mode == "500":
            return 500, "caused: java.lang.IllegalStateException: injected fault;", {}
        if fault.mode == "503":
            return 503, STARTING_BODY, {}
        if fault.mode == "403":
            err = fake.spring_error(403, fault.message or fake.auth_message("expired"), req.path,
                                    req.accept)
            return err.status, err.body, {"Content-Type": err.ctype}
        return None

    @staticmethod
    def run(fn):
        try:
            result = fn()
        except HttpError as e:
            return e.status, e.body, {"Content-Type": e.ctype}
        except (KeyError, ValueError, TypeError) as e:
            return 400, f"caused: {type(e).__name__}: {e};", {}
        except Exception as e:  # noqa: BLE001 - Nacos answers 500 with the exception text
            return 500, f"caused: {type(e).__name__}: {e};", {}
        status, body = result[0], result[1]
        return status, body, result[2] if len(result) > 2 else {}

    @staticmethod
    def encode(body):
        if isinstance(body, (dict, list)):
            return json.dumps(body, separators=(",", ":")).encode(), "application/json"
        if isinstance(body, bytes):
            return body, "application/json"
        return body.encode(), "text/plain;charset=UTF-8"

    def respond(self, status, body, headers, trickle=None, stall=False):
        """trickle: send the body evenly over that many seconds (a large answer on a slow
        link); stall: send half of it at once, then nothing more."""
        data, ctype = self.encode(body)
        headers = dict(headers)
        headers.setdefault("Content-Type", ctype)
        if (self.fake.gzip and len(data) > 1024
                and "gzip" in self.headers.get("Accept-Encoding", "")):
            data = gzip.compress(data)
            headers["Content-Encoding"] = "gzip"
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if stall:
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.hang()
        elif trickle:
            pieces = 20
            step = max(1, len(data) // pieces + 1)
            for i in range(0, len(data), step):
                self.wfile.write(data[i:i + step])
                self.wfile.flush()
                time.sleep(trickle / pieces)
        else:
            self.wfile.write(data)

    def hang(self):
        """Never answer; hold the connection until the client gives up."""
        self.close_connection = True
        sock = self.connection
        while True:
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                try:
                    if not sock.recv(65536):
                        return
                except OSError:
                    return


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main(argv=None):
    ap = argparse.ArgumentParser(description="A fake Nacos server for tests.")
    ap.add_argument("--port", type=int, required=True, help="0 picks a free port")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--mode", choices=MODES, default="2.x")
    ap.add_argument("--data", help="registry in the snapshot-file format")
    ap.add_argument("--auth", help="USER:PASS; enables auth (that user is an admin)")
    ap.add_argument("--reader", help="USER:PASS of a user the admin API refuses")
    ap.add_argument("--admin-open", action="store_true",
                    help="3.x: let the admin API through without auth "
                         "(nacos.core.auth.admin.enabled=false)")
    ap.add_argument("--token-ttl", type=int, default=18000)
    ap.add_argument("--seed", type=int, help="seed for the shuffles")
    ap.add_argument("--push-ack-timeout", type=float, default=10.0,
                    help="seconds before an unacknowledged push is sent again (Nacos: 10)")
    ap.add_argument("--gzip", action="store_true",
                    help="gzip bodies over 1 KiB for clients that accept it (Nacos does not)")
    ap.add_argument("--nodes", type=int, default=1,
                    help="cluster nodes, each on its own port (the first is --port)")
    ap.add_argument("--replication-delay", type=float, default=1.0,
                    help="seconds before a change reaches the other nodes (Distro: about 1)")
    ap.add_argument("--list-order", choices=("hash", "name"), default="hash",
                    help="order of the v3 admin service list (Nacos: a hash set's)")
    ap.add_argument("--clock-skew", type=float, default=0.0,
                    help="seconds the last node's clock runs ahead (lastRefTime)")
    ap.add_argument("--grpc-port", type=int,
                    help="serve Nacos 2.x gRPC on the first node at this port; 0: the HTTP port "
                         "+ 1000, as Nacos does (not in 1.x mode)")
    ap.add_argument("--grpc-ack-timeout", type=float, default=5.0,
                    help="seconds before an unacknowledged gRPC push is retried (Nacos: 5)")
    ap.add_argument("--grpc-idle", type=float, default=20.0,
                    help="seconds of silence before a gRPC connection is probed (Nacos: 20)")
    ap.add_argument("--tls", metavar="CERT,KEY",
                    help="serve HTTPS and gRPC over TLS with this PEM certificate and key, as "
                         "Nacos does with server.ssl.* (Spring Boot) and "
                         "nacos.remote.server.rpc.tls.* (core/src/main/java/com/alibaba/nacos/"
                         "core/remote/tls/RpcServerTlsConfig.java); gRPC asks ALPN h2")
    args = ap.parse_args(argv)
    tls = None
    if args.tls:
        import ssl
        cert, key = args.tls.split(",", 1)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(cert, key)
    if ":" in args.host:
        Server.address_family = socket.AF_INET6
    nodes, servers = [], []
    for i in range(max(args.nodes, 1)):
        node_args = argparse.Namespace(**vars(args))
        node_args.clock_skew = args.clock_skew if i == max(args.nodes, 1) - 1 else 0.0
        nodes.append(FakeNacos(node_args))
        server = Server((args.host, args.port if i == 0 else 0), Handler)
        if tls:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.fake = nodes[-1]
        servers.append(server)
    for node in nodes:  # every node holds the data, and hands its own changes to the others
        node.store.replicas = [n.store for n in nodes if n is not node]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    for server in servers[1:]:
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2},
                         daemon=True).start()
    ports = ",".join(str(sv.server_address[1]) for sv in servers)
    grpc_note = ""
    if args.grpc_port is not None and args.mode != "1.x":
        import fake_grpc  # python3-grpcio, needed only here
        side = fake_grpc.GrpcSide(nodes[0], args.grpc_ack_timeout, args.grpc_idle)
        nodes[0].grpc = side
        tls_files = None
        if args.tls:
            cert, key = args.tls.split(",", 1)
            with open(cert, "rb") as c, open(key, "rb") as k:
                tls_files = (c.read(), k.read())
        grpc_port = side.start(args.host, args.grpc_port or servers[0].server_address[1] + 1000,
                               tls_files)
        grpc_note = f" grpc={grpc_port}"
    print(f"fake-nacos ready port={servers[0].server_address[1]} ports={ports}{grpc_note}",
          flush=True)
    try:
        servers[0].serve_forever(poll_interval=0.2)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        for server in servers:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
