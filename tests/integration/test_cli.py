"""The command line: help, version, bad values, --check-config, start-up failures, signals."""
import os
import re
import signal
import subprocess

import pytest

from conftest import (BINARY, SOURCE_ROOT, NacosDns, addresses, free_port, serve_services,
                      service_info, wait_for, write_registry)

SVC = "order-service.DEFAULT_GROUP.svc."
FLAGS = ["-c", "--config", "-l", "--listen", "--nacos", "--namespace", "--zone", "--ttl",
         "--negative-ttl", "--log-level", "--help", "--version", "--check-config", "--print"]


def run(*args, timeout=10):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)


def test_help_lists_the_flags():
    out = run("--help")
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    for flag in FLAGS:
        assert re.search(rf"(^|[\s,]){re.escape(flag)}\b", text, re.M), f"{flag} not in --help"


def test_version():
    with open(os.path.join(SOURCE_ROOT, "meson.build")) as f:
        version = re.search(r"version:\s*'([^']+)'", f.read()).group(1)
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert version in out.stdout + out.stderr


@pytest.mark.parametrize("args,key", [
    (["--ttl", "abc"], "ttl"),
    (["--ttl", "-1"], "ttl"),
    (["--negative-ttl", "x"], "negative-ttl"),
    (["--listen", "not-an-address"], "listen"),
    (["--log-level", "loud"], "log-level"),
    (["--zone", "bad..zone"], "zone"),
    (["--no-such-flag"], "no-such-flag"),
])
def test_bad_flag_value_exits_2_naming_it(args, key):
    out = run(*args, "--nacos", "file:/dev/null")
    assert out.returncode == 2, out
    assert key in out.stderr, out.stderr


@pytest.mark.parametrize("url", [
    "http://nacos:s3cret-pw@127.0.0.1:8848",
    "http://127.0.0.1:8848,https://nacos:s3cret-pw@[::1]:8848/nacos",
    "nacos:s3cret-pw@127.0.0.1:8848",
])
def test_nacos_url_with_credentials_is_refused_without_echoing_them(url):
    out = run("--nacos", url)
    assert out.returncode == 2, out
    assert "credentials" in out.stderr
    assert "s3cret-pw" not in out.stdout + out.stderr


@pytest.mark.parametrize("body,key", [
    ("ttl = abc\n", "ttl"),
    ("frobnicate = 1\n", "frobnicate"),
    ("[zone svc.]\nnamespace = public\nbogus = 2\n", "bogus"),
])
def test_bad_config_file_exits_2_naming_the_key(workdir, body, key):
    path = os.path.join(workdir, "bad.conf")
    with open(path, "w") as f:
        f.write(body)
    for args in (["-c", path, "--nacos", "file:/dev/null"], ["--check-config", path]):
        out = run(*args)
        assert out.returncode == 2, out
        assert key in out.stderr and "bad.conf" in out.stderr, out.stderr


def test_check_config_accepts_the_example():
    example = os.path.join(SOURCE_ROOT, "contrib", "nacos-dns.conf.example")
    out = run("--check-config", example)
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_config_accepts_a_good_file(workdir):
    path = os.path.join(workdir, "good.conf")
    with open(path, "w") as f:
        f.write("ttl = 30\nnegative-ttl = 10\n\n[zone prod.]\nnamespace = prod\n")
    out = run("--check-config", path)
    assert out.returncode == 0, out.stdout + out.stderr


def test_check_config_rejects_what_would_fail_at_start(workdir):
    conf = os.path.join(workdir, "nacos-dns.conf")
    missing = os.path.join(workdir, "no-such-registry.json")
    with open(conf, "w") as f:
        f.write(f"ttl = 9\nnacos = file:{missing}\nuser = no-such-user-here\n")
    out = run("--check-config", conf)
    assert out.returncode == 2, out
    assert f"{conf}:2: nacos: cannot read {missing}: " in out.stderr, out.stderr
    assert f"{conf}:3: user: no user named no-such-user-here" in out.stderr, out.stderr
    # A flag is named as the flag.
    out = run("--check-config", conf, "--user", "root", "--nacos", f"file:{missing}x")
    assert out.returncode == 2 and f"--nacos: cannot read {missing}x" in out.stderr, out.stderr
    assert "user" not in out.stderr
    # The same file serves once the registry exists and the user does.
    write_registry(workdir, {"public": []}, name="no-such-registry.json")
    out = run("--check-config", conf, "--user", "root")
    assert out.returncode == 0 and out.stdout == f"{conf}: ok\n", out


def test_check_config_print_shows_every_key_and_its_origin(workdir, monkeypatch):
    conf = os.path.join(workdir, "nacos-dns.conf")
    with open(conf, "w") as f:
        f.write("# comment\nttl = 9\npassword = s3cret\n[zone dev.svc.]\nnamespace = dev\n")
    monkeypatch.setenv("NACOS_USERNAME", "ops")
    out = run("--check-config", conf, "--print", "--negative-ttl", "3")
    assert out.returncode == 0, out
    lines = {}
    for line in out.stdout.splitlines()[:-1]:
        key, value, origin = re.match(r"(\S+) = (.*?)  # (.*)$", line).groups()
        lines[key] = (value, origin)
    help_keys = re.findall(r"^\s+(?:-l, )?--([a-z-]+) ", run("--help").stdout, re.M)
    keys = [k for k in help_keys if k not in ("config", "check-config", "help", "version",
                                               "print")]
    assert sorted(lines) == sorted(keys)
    assert lines["ttl"] == ("9", f"{conf}:2")
    assert lines["negative-ttl"] == ("3", "flag")
    assert lines["username"] == ("ops", "environment")
    assert lines["zone"] == ("dev.svc.", f"{conf}:4")
    assert lines["edns-buffer"] == ("1232", "default")
    assert lines["password"] == ("(set, not shown)", f"{conf}:3")
    assert "s3cret" not in out.stdout
    assert out.stdout.splitlines()[-1] == f"{conf}: ok"
    assert run("--print").returncode == 2


def test_missing_snapshot_file_exits_1(workdir):
    missing = os.path.join(workdir, "no-such-registry.json")
    srv = NacosDns(["--nacos", f"file:{missing}"], workdir, port=free_port())
    srv.start(wait_ready=False)
    try:
        rc = srv.proc.wait(10)
    finally:
        srv.log.close()
    assert rc == 1, srv.log_text()
    assert "no-such-registry.json" in srv.log_text()


def test_sigterm_exits_0(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", [{"ip": "10.0.0.1"}])])
    assert addresses(srv.query(SVC, "A"), SVC) == ["10.0.0.1"]
    assert srv.stop() == 0


def test_sighup_with_broken_file_keeps_old_data(nacos_dns, workdir):
    srv = serve_services(nacos_dns, workdir, [service_info("order-service", [{"ip": "10.0.0.1"}])])
    with open(srv.registry_path, "w") as f:
        f.write('{"namespaces": {"public": [ {"name": ')  # cut short
    lines_before = srv.log_text().count("\n")
    srv.signal(signal.SIGHUP)

    def complained():
        new = srv.log_text().split("\n")[lines_before:]
        return any(re.search(r"level=(warn|error)", ln) and "registry.json" in ln for ln in new)
    wait_for(complained, what="a logged reason for the failed reload")
    assert addresses(srv.query(SVC, "A"), SVC) == ["10.0.0.1"]

    write_registry(workdir, {"public": [service_info("order-service", [{"ip": "10.0.0.2"}])]})
    srv.signal(signal.SIGHUP)
    wait_for(lambda: addresses(srv.query(SVC, "A"), SVC) == ["10.0.0.2"],
             what="new data after a good reload")
