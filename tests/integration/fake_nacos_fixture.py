"""pytest fixture for the fake Nacos server (tests/fake_nacos).

    def test_x(fake_nacos):
        nacos = fake_nacos(mode="2.x", data={"namespaces": {...}}, auth="nacos:secret")
        nacos.register("order-service", "10.0.0.1", 8080)
        nacos.fault("503", count=2)
        ... nacos.url, nacos.port, nacos.requests()["by_path"] ...
"""
import json
import os
import select
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import pytest

__all__ = ["fake_nacos", "FakeNacosProcess", "FAKE_NACOS_SCRIPT"]

FAKE_NACOS_SCRIPT = os.path.abspath(os.path.join(
    os.path.dirname(__file__), "..", "fake_nacos", "fake_nacos.py"))
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


class FakeNacosProcess:
    """One fake Nacos subprocess. restart() comes back on the same port."""

    def __init__(self, mode="2.x", data=None, auth=None, token_ttl=None, seed=None,
                 push_ack_timeout=None, gzip=False, host="127.0.0.1", port=0, workdir=None,
                 reader=None, admin_open=False, nodes=None, replication_delay=None,
                 clock_skew=None, list_order=None, grpc_port=None, grpc_ack_timeout=None,
                 grpc_idle=None, tls=None):
        """tls: (certificate, key, CA file) paths to serve HTTPS and gRPC over TLS."""
        self.mode, self.host, self.port = mode, host, port
        self.tls = tls
        self.ports = [port]
        self._tmp = tempfile.TemporaryDirectory(prefix="fake-nacos-", dir=workdir)
        self._saved = None
        if isinstance(data, dict):
            data = self._write_data(data, "registry.json")
        self.data = self.initial_data = data
        self.auth, self.gzip = auth, gzip
        self.admin_open = admin_open
        self.options = [("--token-ttl", token_ttl), ("--seed", seed),
                        ("--push-ack-timeout", push_ack_timeout), ("--reader", reader),
                        ("--nodes", nodes), ("--replication-delay", replication_delay),
                        ("--clock-skew", clock_skew), ("--list-order", list_order),
                        ("--grpc-port", grpc_port), ("--grpc-ack-timeout", grpc_ack_timeout),
                        ("--grpc-idle", grpc_idle)]
        self.grpc_port = None  # the gRPC side's port once started with grpc_port
        self.proc = None

    def _write_data(self, registry, name):
        path = os.path.join(self._tmp.name, name)
        with open(path, "w") as f:
            json.dump(registry, f)
        return path

    def node_url(self, port):
        scheme = "https" if self.tls else "http"
        return f"{scheme}://[{self.host}]:{port}" if ":" in self.host \
            else f"{scheme}://{self.host}:{port}"

    @property
    def url(self):
        return self.node_url(self.port)

    @property
    def urls(self):
        """Every node's URL, for --nacos."""
        return [self.node_url(p) for p in self.ports]

    def start(self, timeout=10.0):
        args = [PYTHON, FAKE_NACOS_SCRIPT, "--port", str(self.port), "--host", self.host,
                "--mode", self.mode]
        if self.data:
            args += ["--data", str(self.data)]
        if self.auth:
            args += ["--auth", self.auth]
        if self.gzip:
            args.append("--gzip")
        if self.admin_open:
            args.append("--admin-open")
        if self.tls:
            args += ["--tls", f"{self.tls[0]},{self.tls[1]}"]
        for flag, value in self.options:
            if value is not None:
                args += [flag, str(value)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
        line = self._ready_line(timeout)
        self.port = int(line.split("port=")[1].split()[0])
        self.ports = [int(p) for p in line.split("ports=")[1].split()[0].split(",")]
        if " grpc=" in line:
            self.grpc_port = int(line.split(" grpc=")[1].split()[0])
        return self

    def _ready_line(self, timeout):
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.1)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                if b"\n" in buf:
                    line = buf.split(b"\n")[0].decode()
                    if line.startswith("fake-nacos ready port="):
                        return line
                    break
        self.stop()
        raise AssertionError(f"fake Nacos did not start: {buf!r}")

    def stop(self):
        """Stops the process; what it held is kept for restart()."""
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            self._saved = self.registry()
        except (OSError, ValueError):
            self._saved = None
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc.stdout.close()

    def restart(self, keep_data=True):
        """Stops (if running) and starts again on the same port, by default with the registry
        it held when it stopped (like a Nacos whose clients register again); with
        keep_data=False, with what it was first started with."""
        self.stop()
        self.data = self.initial_data
        if keep_data and self._saved is not None:
            self.data = self._write_data(self._saved, "saved.json")
        return self.start()

    def close(self):
        self.stop()
        self._tmp.cleanup()

    # ---- control API --------------------------------------------------------------------

    def control(self, method, path, body=None, node=0):
        """A control call to one node (with --nodes, the others get changes after the
        replication delay)."""
        data = None if body is None else json.dumps(body).encode()
        url = self.node_url(self.ports[node]) + "/__fake/" + path
        req = urllib.request.Request(url, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        ctx = None
        if self.tls:  # the harness trusts its own certificate, whatever names it carries
            ctx = ssl.create_default_context(cafile=self.tls[2])
            ctx.check_hostname = False
        with urllib.request.urlopen(req, timeout=10, context=ctx) as resp:
            return json.loads(resp.read())

    def fault(self, mode, path=None, count=None, delay=None, message=None, node=0):
        body = {"mode": mode}
        for key, value in (("path", path), ("count", count), ("delay", delay),
                           ("message", message)):
            if value is not None:
                body[key] = value
        return self.control("POST", "fault", body, node)

    @staticmethod
    def _instance(service, ip, port, group, namespace, attrs):
        body = {"serviceName": service, "ip": ip, "port": port, "groupName": group,
                "namespaceId": namespace}
        body.update(attrs)
        return body

    def register(self, service, ip, port, group="DEFAULT_GROUP", namespace="public", node=0,
                 **attrs):
        """attrs: weight, healthy, enabled, ephemeral, clusterName, metadata, protectThreshold."""
        return self.control("POST", "instance",
                            self._instance(service, ip, port, group, namespace, attrs), node)

    def deregister(self, service, ip, port, group="DEFAULT_GROUP", namespace="public", node=0,
                   **attrs):
        """attrs: clusterName (default DEFAULT)."""
        return self.control("DELETE", "instance",
                            self._instance(service, ip, port, group, namespace, attrs), node)

    def remove_service(self, service, group="DEFAULT_GROUP", namespace="public", node=0):
        return self.control("DELETE", "service", {"serviceName": service, "groupName": group,
                                                  "namespaceId": namespace}, node)

    def expire_tokens(self):
        return self.control("POST", "expire-tokens", {})

    def requests(self, node=0):
        return self.control("GET", "requests", node=node)

    def reset_counters(self):
        for node in range(len(self.ports)):
            self.control("POST", "reset-counters", {}, node)

    def load(self, registry):
        for node in range(len(self.ports)):  # every node holds the same data at once
            self.control("POST", "load", registry, node)

    def registry(self):
        return self.control("GET", "registry")

    def bulk(self, services, instances, prefix="svc-", group="DEFAULT_GROUP", namespace="public"):
        for node in range(len(self.ports)):
            self.control("POST", "bulk", {"services": services, "instances": instances,
                                          "prefix": prefix, "groupName": group,
                                          "namespaceId": namespace}, node)

    def set_mode(self, mode):
        """Switches the Nacos version it imitates (e.g. an upgrade to 3.2) without a restart."""
        self.mode = mode
        for node in range(len(self.ports)):
            self.control("POST", "mode", {"mode": mode}, node)


@pytest.fixture
def fake_nacos(tmp_path):
    """Factory: fake_nacos(mode="2.x", data=None, auth=None, token_ttl=None, **kw) starts one."""
    started = []

    def start(mode="2.x", data=None, auth=None, token_ttl=None, **kw):
        proc = FakeNacosProcess(mode=mode, data=data, auth=auth, token_ttl=token_ttl,
                                workdir=str(tmp_path), **kw)
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        proc.close()
