"""The gRPC side of the fake Nacos (2.x/3.x): the main port + 1000, sharing the HTTP side's store.

What it imitates, from alibaba/nacos:
- api/src/main/proto/nacos_grpc_service.proto: Payload{metadata=2, body=3 (Any)},
  Metadata{type=3, headers=7, clientIp=8}; services /Request/request and
  /BiRequestStream/requestBiStream. The body is the request's or response's JSON.
- core/.../remote/grpc/GrpcRequestAcceptor.java: ServerCheckRequest answers the connection id;
  any other request before the bi-stream's ConnectionSetupRequest answers ErrorResponse 301
  "Connection is unregistered.".
- core/.../remote/grpc/GrpcBiStreamRequestAcceptor.java: the setup registers the connection;
  SetupAckRequest only when the setup carries an abilityTable.
- core/.../auth/RemoteRequestAuthFilter.java: a denied request answers its own response type
  with resultCode 500, errorCode 403.
- naming/.../remote/rpc/handler/SubscribeServiceRequestHandler.java, ServiceListRequestHandler.java.
- naming/.../push/v2/task/PushDelayTaskExecuteEngine (500 ms after a change),
  PushExecuteTask and PushConfig: an unacknowledged push (5 s) is retried 1 s later as a new
  request with a new requestId.
- core/.../remote/ConnectionManager.java: idle connections get a ClientDetectionRequest, and
  those that do not answer are dropped.
The connection is keyed by the peer address, as the server's transport filter keys it."""
import json
import queue
import threading
import time

import grpc

SEP = "@@"


# ---- a hand-written protobuf codec for the envelope -------------------------------------------

def _varint(n):
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(num, data):
    return _varint(num << 3 | 2) + _varint(len(data)) + data


def encode_payload(type_, body, headers=None):
    """Payload bytes (no gRPC framing); body is a dict or bytes (JSON)."""
    if isinstance(body, dict):
        body = json.dumps(body, separators=(",", ":")).encode()
    meta = _field(3, type_.encode())
    for k, v in (headers or {}).items():
        meta += _field(7, _field(1, k.encode()) + _field(2, v.encode()))
    return _field(2, meta) + _field(3, _field(2, body))


def _read_varint(buf, pos):
    n = shift = 0
    while True:
        if pos >= len(buf) or shift > 63:
            raise ValueError("bad varint")
        b = buf[pos]
        pos += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, pos
        shift += 7


def _fields(buf):
    pos = 0
    while pos < len(buf):
        tag, pos = _read_varint(buf, pos)
        num, wt = tag >> 3, tag & 7
        if wt == 0:
            _, pos = _read_varint(buf, pos)
        elif wt == 1:
            pos += 8
        elif wt == 5:
            pos += 4
        elif wt == 2:
            n, pos = _read_varint(buf, pos)
            if pos + n > len(buf):
                raise ValueError("length past the end")
            yield num, bytes(buf[pos:pos + n])
            pos += n
            continue
        else:
            raise ValueError("bad wire type")
        if pos > len(buf):
            raise ValueError("truncated")


def decode_payload(buf):
    """(type, headers, body dict); ValueError on anything malformed."""
    type_, headers, body = None, {}, None
    for num, data in _fields(buf):
        if num == 2:
            for mnum, mdata in _fields(data):
                if mnum == 3:
                    type_ = mdata.decode()
                elif mnum == 7:
                    entry = dict(_fields(mdata))
                    headers[entry.get(1, b"").decode()] = entry.get(2, b"").decode()
        elif num == 3:
            for anum, adata in _fields(data):
                if anum == 2:
                    body = adata
    if not type_ or body is None:
        raise ValueError("no type or body")
    return type_, headers, json.loads(body)


# ---- the server ----------------------------------------------------------------------------

class Conn:
    def __init__(self, cid, peer):
        self.id, self.peer = cid, peer
        self.out = None  # queue of outgoing stream messages once set up
        self.subs = {}  # (ns, group, name) -> clusters
        self.last_active = time.monotonic()
        self.probe_id = None  # the ClientDetectionRequest awaiting an answer
        self.probe_sent = 0.0


class GrpcSide:
    def __init__(self, fake, ack_timeout=5.0, idle=20.0, probe_timeout=3.0):
        self.fake = fake
        self.ack_timeout, self.idle, self.probe_timeout = ack_timeout, idle, probe_timeout
        self.lock = threading.Lock()
        self.conns = {}  # peer -> Conn (after ServerCheck)
        self.waiting = {}  # requestId -> (Conn, (ns, group, name)) pushes awaiting an ack
        self.serial = 0
        self.stats = {"pushes": 0, "acks": 0, "retries": 0, "setups": 0, "resets": 0,
                      "detections": 0, "dropped": 0, "denied": 0, "unregistered": 0,
                      "requests": {}}  # unary requests by type
        self.server = None
        fake.store.listeners.append(self.changed)

    def start(self, host, port, tls=None):
        """tls: None for h2c, or (certificate PEM, key PEM) for TLS; grpcio's server asks
        ALPN h2 and refuses a client that does not offer it, as Netty's does for Nacos."""
        self.server = grpc.server(
            _Pool(), options=[("grpc.max_receive_message_length", 10 * 1024 * 1024),
                              ("grpc.so_reuseport", 0)])
        handlers = grpc.method_handlers_generic_handler("Request", {
            "request": grpc.unary_unary_rpc_method_handler(self.request)})
        bidi = grpc.method_handlers_generic_handler("BiRequestStream", {
            "requestBiStream": grpc.stream_stream_rpc_method_handler(self.bi_stream)})
        self.server.add_generic_rpc_handlers((handlers, bidi))
        addr = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if tls:
            bound = self.server.add_secure_port(
                addr, grpc.ssl_server_credentials([(tls[1], tls[0])]))
        else:
            bound = self.server.add_insecure_port(addr)
        if not bound:
            raise OSError(f"cannot listen on {addr}")
        self.server.start()
        threading.Thread(target=self._detector, daemon=True).start()
        return bound

    def next_id(self):
        with self.lock:
            self.serial += 1
            return str(self.serial)

    # ---- unary ----

    def request(self, raw, context):
        try:
            type_, headers, body = decode_payload(raw)
        except ValueError as e:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"bad payload: {e}")
        peer = context.peer()
        with self.lock:
            self.stats["requests"][type_] = self.stats["requests"].get(type_, 0) + 1
        reply = self.answer(peer, type_, headers, body)
        reply.setdefault("requestId", body.get("requestId"))
        return encode_payload(reply.pop("_type"), reply)

    def answer(self, peer, type_, headers, body):
        if type_ == "ServerCheckRequest":
            cid = f"{int(time.time() * 1000)}_{peer}"
            with self.lock:
                self.conns[peer] = Conn(cid, peer)
            return ok("ServerCheckResponse", connectionId=cid)
        with self.lock:
            conn = self.conns.get(peer)
            if conn is None or conn.out is None:
                self.stats["unregistered"] += 1
                return dict(error(301, "Connection is unregistered."), _type="ErrorResponse")
            conn.last_active = time.monotonic()
        resp_type = type_[:-len("Request")] + "Response" if type_.endswith("Request") else None
        if type_ == "HealthCheckRequest":
            return ok("HealthCheckResponse")
        if self.fake.auth is not None and not self.authorised(headers):
            with self.lock:
                self.stats["denied"] += 1
            return dict(error(403, "unknown user!"), _type=resp_type)
        if type_ == "SubscribeServiceRequest":
            return self.subscribe(conn, body)
        if type_ == "ServiceListRequest":
            return self.service_list(body)
        return dict(error(302, "RequestHandler Not Found"), _type="ErrorResponse")

    def authorised(self, headers):
        token = headers.get("accessToken", "")
        now = time.time()
        return any(a is not None and a.check(token, now) is None
                   for a in (self.fake.auth, self.fake.reader))

    def service_info(self, ns, group, name, clusters):
        info = self.fake.info_v2(ns, group, name, clusters, False, False)
        info["name"] = name  # the gRPC answers carry the bare name, groupName beside it
        return info

    def subscribe(self, conn, body):
        ns = body.get("namespace") or "public"
        group = body.get("groupName") or "DEFAULT_GROUP"
        name = body.get("serviceName") or ""
        clusters = body.get("clusters") or ""
        with self.lock:
            if body.get("subscribe", True):
                conn.subs[(ns, group, name)] = clusters
            else:
                conn.subs.pop((ns, group, name), None)
        return ok("SubscribeServiceResponse",
                  serviceInfo=self.service_info(ns, group, name, clusters))

    def service_list(self, body):
        ns = body.get("namespace") or "public"
        group = body.get("groupName") or "DEFAULT_GROUP"
        names = sorted(g.split(SEP, 1)[1] for g in self.fake.store.service_names(ns, group))
        page_no = max(int(body.get("pageNo") or 1), 1)
        size = max(int(body.get("pageSize") or 10), 1)
        return ok("ServiceListResponse", count=len(names),
                  serviceNames=names[(page_no - 1) * size:page_no * size])

    # ---- the stream ----

    def bi_stream(self, requests, context):
        peer = context.peer()
        out = queue.Queue()
        threading.Thread(target=self._read_stream, args=(peer, requests, out),
                         daemon=True).start()
        context.add_callback(lambda: self._gone(peer, out))
        while True:
            item = out.get()
            if item is None:
                return
            yield item

    def _read_stream(self, peer, requests, out):
        try:
            for raw in requests:
                try:
                    type_, _, body = decode_payload(raw)
                except ValueError:
                    continue
                self._on_stream(peer, out, type_, body)
        except grpc.RpcError:
            pass
        out.put(None)

    def _on_stream(self, peer, out, type_, body):
        with self.lock:
            conn = self.conns.get(peer)
            if conn is None:
                return
            conn.last_active = time.monotonic()
            if type_ == "ConnectionSetupRequest":
                conn.out = out
                self.stats["setups"] += 1
                if body.get("abilityTable") is not None:
                    out.put(encode_payload("SetupAckRequest",
                                           {"requestId": "", "abilityTable": {}}))
            elif type_ == "NotifySubscriberResponse":
                if self.waiting.pop(body.get("requestId"), None) is not None:
                    self.stats["acks"] += 1
            elif type_ == "ClientDetectionResponse":
                if body.get("requestId") == conn.probe_id:
                    conn.probe_id = None

    def _gone(self, peer, out):
        out.put(None)
        with self.lock:
            conn = self.conns.get(peer)
            if conn is not None and conn.out is out:
                del self.conns[peer]

    def _drop(self, conn):
        """Unregisters conn and ends its stream (called with the lock held)."""
        self.conns.pop(conn.peer, None)
        if conn.out is not None:
            conn.out.put(None)
        self.stats["dropped"] += 1

    def _detector(self):
        while True:
            time.sleep(min(self.idle, 1.0) / 2)
            now = time.monotonic()
            with self.lock:
                for conn in list(self.conns.values()):
                    if conn.out is None:
                        continue
                    if conn.probe_id is not None:
                        if now - conn.probe_sent > self.probe_timeout:
                            self._drop(conn)
                    elif now - conn.last_active > self.idle:
                        self.serial += 1
                        conn.probe_id, conn.probe_sent = str(self.serial), now
                        self.stats["detections"] += 1
                        conn.out.put(encode_payload("ClientDetectionRequest",
                                                    {"requestId": conn.probe_id, "headers": {}}))

    # ---- pushes ----

    def changed(self, ns, grouped):
        group, _, name = grouped.partition(SEP)
        t = threading.Timer(0.5, self._push_all, ((ns, group, name),))
        t.daemon = True
        t.start()

    def _push_all(self, key):
        with self.lock:
            targets = [c for c in self.conns.values() if key in c.subs and c.out is not None]
        for conn in targets:
            self._push(conn, key)

    def _push(self, conn, key):
        with self.lock:
            if self.conns.get(conn.peer) is not conn or key not in conn.subs:
                return
            clusters = conn.subs[key]
            self.serial += 1
            rid = str(self.serial)
            self.waiting[rid] = (conn, key)
            self.stats["pushes"] += 1
        info = self.service_info(*key, clusters)
        conn.out.put(encode_payload("NotifySubscriberRequest",
                                    {"requestId": rid, "headers": {}, "module": "naming",
                                     "serviceInfo": info}))
        t = threading.Timer(self.ack_timeout, self._check_ack, (rid,))
        t.daemon = True
        t.start()

    def _check_ack(self, rid):
        with self.lock:
            entry = self.waiting.pop(rid, None)
            if entry is None:
                return
            self.stats["retries"] += 1
        t = threading.Timer(1.0, self._push, entry)
        t.daemon = True
        t.start()

    # ---- control (/__fake/grpc/...) ----

    def control(self, method, path, body):
        if (method, path) == ("GET", "/stats"):
            with self.lock:
                return 200, dict(self.stats, requests=dict(self.stats["requests"]), connections=[
                    {"id": c.id, "registered": c.out is not None,
                     "subscriptions": [f"{ns}/{g}{SEP}{n}" for ns, g, n in c.subs]}
                    for c in self.conns.values()])
        if (method, path) == ("POST", "/reset"):
            req = {"requestId": "", "headers": {}, "serverIp": body.get("serverIp", ""),
                   "serverPort": str(body.get("serverPort", ""))}
            self._broadcast("ConnectResetRequest", req, "resets")
            return 200, {"ok": True}
        if (method, path) == ("POST", "/raw"):
            # Bytes the server would never send: a malformed payload, or an oversized frame.
            kind = body.get("kind")
            if kind == "malformed":
                data = b"\x12\xff\x01\x1a"
            elif kind == "oversized":
                data = b"\x12" + _varint(11 * 1024 * 1024) + bytes(11 * 1024 * 1024)
            else:
                return 400, {"error": "kind must be malformed or oversized"}
            with self.lock:
                for conn in self.conns.values():
                    if conn.out is not None:
                        conn.out.put(data)
            return 200, {"ok": True}
        return 404, {"error": "no such control endpoint"}

    def _broadcast(self, type_, body, stat):
        with self.lock:
            for conn in self.conns.values():
                if conn.out is not None:
                    self.serial += 1
                    conn.out.put(encode_payload(type_, dict(body, requestId=str(self.serial))))
                    self.stats[stat] += 1

    def stop(self):
        if self.server is not None:
            self.server.stop(0)


def ok(type_, **fields):
    return dict({"resultCode": 200, "errorCode": 0, "success": True, "message": None},
                _type=type_, **fields)


def error(code, message):
    return {"resultCode": 500, "errorCode": code, "success": False, "message": message}


def _Pool():
    from concurrent.futures import ThreadPoolExecutor
    return ThreadPoolExecutor(max_workers=16)
