"""contrib/kubernetes/daemonset.yaml starts as shipped: its init container and nacos-dns run with
the manifest's own commands, user and capabilities, the way the kubelet runs them (root with the
bounding set cut to the added capabilities, no_new_privs for allowPrivilegeEscalation: false, no
ambient capabilities), in a fresh network namespace standing in for the node's host network.
Only what a test cannot have is substituted: the Nacos address (a fake Nacos in the namespace),
and the volume paths (temporary directories)."""
import os
import shutil
import subprocess
import tempfile
import time

import pytest

yaml = pytest.importorskip("yaml")

SOURCE_ROOT = os.environ.get("NACOS_DNS_SOURCE_ROOT",
                             os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ.get("NACOS_DNS", os.path.join(SOURCE_ROOT, "build", "resolver", "nacos-dns"))
FAKE_NACOS = os.path.join(SOURCE_ROOT, "tests", "fake_nacos", "fake_nacos.py")
MANIFEST = os.path.join(SOURCE_ROOT, "contrib", "kubernetes", "daemonset.yaml")
HOST_IP = "10.0.0.5"
REGISTRY = ('{"namespaces": {"public": [{"name": "DEFAULT_GROUP@@order-service", "hosts": '
            '[{"ip": "10.1.0.7", "port": 8080, "weight": 1.0, "healthy": true, '
            '"enabled": true}]}]}}')

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or not all(shutil.which(t) for t in ("ip", "setpriv", "dig")),
    reason="needs root, ip, setpriv and dig")


def manifest():
    docs = list(yaml.safe_load_all(open(MANIFEST)))
    cm = next(d for d in docs if d["kind"] == "ConfigMap")
    ds = next(d for d in docs if d["kind"] == "DaemonSet")
    return cm, ds["spec"]["template"]["spec"]


def kubelet_argv(container, env):
    """The process the kubelet starts: command + args with $(VAR) expanded, under the
    container's securityContext."""
    sc = container.get("securityContext", {})
    argv = list(container.get("command", [])) + list(container.get("args", []))
    for k, v in env.items():
        argv = [a.replace(f"$({k})", v) for a in argv]
    caps = ",".join("+" + c.lower() for c in sc.get("capabilities", {}).get("add", []))
    uid = str(sc.get("runAsUser", 0))
    wrap = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
            f"--bounding-set=-all{',' + caps if caps else ''}", "--inh-caps=-all"]
    if sc.get("allowPrivilegeEscalation") is False:
        wrap.append("--no-new-privs")
    return wrap + ["--"] + argv


class Node:
    """A network namespace as the node, HOST_IP its address."""

    def __init__(self):
        self.ns = f"nacosdns-k8s-{os.getpid()}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True)
        for cmd in (["ip", "link", "set", "lo", "up"],
                    ["ip", "addr", "add", HOST_IP + "/32", "dev", "lo"]):
            self.run(cmd, check=True)

    def argv(self, argv):
        return ["ip", "netns", "exec", self.ns] + argv

    def run(self, argv, **kw):
        return subprocess.run(self.argv(argv), capture_output=True, text=True, **kw)

    def close(self):
        subprocess.run(["ip", "netns", "del", self.ns])


def wait_for(what, fn, seconds=20):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        got = fn()
        if got:
            return got
        time.sleep(0.1)
    pytest.fail(f"gave up waiting for {what}")


@pytest.fixture
def node():
    n = Node()
    yield n
    n.close()


@pytest.fixture
def tmp_path():
    # uid 65534 must reach the cache directory: pytest's own is private to root.
    d = tempfile.mkdtemp(prefix="nacos-dns-k8s-", dir="/var/tmp")
    os.chmod(d, 0o755)
    yield __import__("pathlib").Path(d)
    shutil.rmtree(d, ignore_errors=True)


def test_daemonset_starts_binds_answers_and_is_ready(node, tmp_path):
    cm, spec = manifest()
    assert spec["hostNetwork"] is True
    assert any(t.get("operator") == "Exists" for t in spec.get("tolerations", []))
    etc, cache = tmp_path / "etc", tmp_path / "cache"
    etc.mkdir()
    cache.mkdir()
    paths = {"/etc/nacos-dns": str(etc), "/var/lib/nacos-dns": str(cache),
             "/usr/sbin/nacos-dns": BINARY}

    def subst(s):
        for k, v in paths.items():
            s = s.replace(k, v)
        return s

    conf = cm["data"]["nacos-dns.conf"]
    lines = [l for l in conf.splitlines() if not l.startswith("nacos ")]
    lines.append("nacos = http://127.0.0.1:8848")
    (etc / "nacos-dns.conf").write_text(subst("\n".join(lines) + "\n"))
    (tmp_path / "registry.json").write_text(REGISTRY)

    nacos = subprocess.Popen(node.argv(["python3", FAKE_NACOS, "--port", "8848", "--data",
                                        str(tmp_path / "registry.json")]),
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    dns = None
    try:
        for init in spec.get("initContainers", []):
            argv = [subst(a) for a in kubelet_argv(init, {})]
            r = node.run(argv)
            assert r.returncode == 0, (argv, r.stderr)
        assert "169.254.20.53" in node.run(["ip", "addr", "show"]).stdout
        assert os.stat(cache).st_uid == 65534

        c = spec["containers"][0]
        argv = [subst(a) for a in kubelet_argv(c, {"HOST_IP": HOST_IP})]
        log = open(tmp_path / "log", "w+")
        dns = subprocess.Popen(node.argv(argv), stdout=log, stderr=subprocess.STDOUT)
        wait_for("nacos-dns to start", lambda: dns.poll() is not None or
                 "started nacos-dns" in open(tmp_path / "log").read())
        text = open(tmp_path / "log").read()
        assert dns.poll() is None, text
        assert "running as user nobody" in text, text

        status = open(f"/proc/{dns.pid}/status").read()
        # the daemon itself, below ip netns exec and setpriv
        with open(f"/proc/{dns.pid}/task/{dns.pid}/children") as f:
            kids = f.read().split()
        pid = kids[0] if kids else str(dns.pid)
        status = open(f"/proc/{pid}/status").read()
        uid_line = next(l for l in status.splitlines() if l.startswith("Uid:"))
        assert uid_line.split()[1:] == ["65534"] * 4, status
        cap_eff = next(l for l in status.splitlines() if l.startswith("CapEff:"))
        assert int(cap_eff.split()[1], 16) == 0, status

        def dig():
            r = node.run(["dig", "+short", "+time=2", "+tries=1", "@169.254.20.53",
                          "order-service.DEFAULT_GROUP.svc"])
            return r.stdout.strip() if r.returncode == 0 else None
        answer = wait_for("an answer", dig)
        assert answer == "10.1.0.7"
        readyz = wait_for("readyz", lambda: node.run(
            ["python3", "-c", "import urllib.request as u;"
             f"print(u.urlopen('http://{HOST_IP}:9153/readyz').status)"]).stdout.strip())
        assert readyz == "200"
        wait_for("the cache file", lambda: (cache / "cache.json").exists() or
                 "writing cache file" in open(tmp_path / "log").read())
        assert (cache / "cache.json").exists(), open(tmp_path / "log").read()
        assert os.stat(cache / "cache.json").st_uid == 65534
    finally:
        if dns:
            dns.terminate()
            dns.wait(10)
        nacos.terminate()
        nacos.wait(10)


@pytest.mark.skipif(not os.environ.get("NACOS_DNS_CHROOT_TEST"),
                    reason="slow (debootstrap, a package build): set NACOS_DNS_CHROOT_TEST=1")
def test_image_steps_in_a_debian_chroot():
    r = subprocess.run(["bash", os.path.join(SOURCE_ROOT, "contrib", "container",
                                             "test-chroot.sh")], capture_output=True, text=True)
    if r.returncode == 77:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stdout + r.stderr
