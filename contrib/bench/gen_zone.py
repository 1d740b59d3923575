#!/usr/bin/python3
"""Writes the data of contrib/bench/dns_bench.sh: N services x K instances as

  registry.json    a nacos-dns snapshot file ({"namespaces": {"public": [ServiceInfo, ...]}})
  registry-b.json  the same services with other instance addresses (x.y.z.101...), for churn
  svc.zone         the same records as a zone file, for NSD and Knot
  unbound.zone     the same records as Unbound local-data lines
  q-a.txt          dnsperf queries: A only
  q-mix.txt        80 % A / 20 % SRV
  q-nx.txt         76 % A / 19 % SRV / 5 % NXDOMAIN

Every server gets the RRsets nacos-dns serves for the queried names: at
<svc>.DEFAULT_GROUP.svc. the A records of the instances and one SRV per instance, the same SRV
set at _http._tcp.<svc>.DEFAULT_GROUP.svc., and at <ip-label>.<svc>.DEFAULT_GROUP.svc. the A
record each SRV target points to; plus the apex SOA and NS.

Usage: gen_zone.py OUTDIR [SERVICES [INSTANCES]]   (defaults 1000 x 3)
"""
import json
import os
import random
import sys

ZONE = "svc."
GROUP = "DEFAULT_GROUP"
TTL = 5
QUERIES = 100000


def service_name(i):
    return f"svc-{i:05d}"


def instance_ip(i, j, variant=0):
    return f"10.{i // 256 % 256}.{i % 256}.{j + 1 + 100 * variant}"


def service_info(i, k, variant=0):
    name = service_name(i)
    hosts = []
    for j in range(k):
        ip = instance_ip(i, j, variant)
        hosts.append({"ip": ip, "port": 8080, "weight": 1.0, "healthy": True, "enabled": True,
                      "ephemeral": True, "clusterName": "DEFAULT", "metadata": {},
                      "serviceName": f"{GROUP}@@{name}",
                      "instanceId": f"{ip}#8080#DEFAULT#{GROUP}@@{name}"})
    return {"name": f"{GROUP}@@{name}", "groupName": GROUP, "clusters": "", "cacheMillis": 10000,
            "hosts": hosts, "lastRefTime": 0, "checksum": "", "allIPs": False,
            "reachProtectionThreshold": False, "valid": True}


def service_records(i, k):
    """(owner, type, rdata) of one service, as nacos-dns serves them."""
    owner = f"{service_name(i)}.{GROUP}.{ZONE}"
    for j in range(k):
        ip = instance_ip(i, j)
        target = f"{ip.replace('.', '-')}.{owner}"
        yield owner, "A", ip
        srv = f"0 65535 8080 {target}"
        yield owner, "SRV", srv
        yield f"_http._tcp.{owner}", "SRV", srv
        yield target, "A", ip


def apex_records(serial):
    yield ZONE, "SOA", f"ns.{ZONE} hostmaster.{ZONE} {serial} 60 30 3600 {TTL}"
    yield ZONE, "NS", f"ns.{ZONE}"
    yield f"ns.{ZONE}", "A", "127.0.0.1"


def write_registry(path, n, k, variant=0):
    infos = [service_info(i, k, variant) for i in range(n)]
    with open(path, "w") as f:
        json.dump({"namespaces": {"public": infos}}, f)


def write_zones(outdir, n, k, serial):
    with open(os.path.join(outdir, "svc.zone"), "w") as z, \
            open(os.path.join(outdir, "unbound.zone"), "w") as u:
        z.write(f"$ORIGIN {ZONE}\n$TTL {TTL}\n")
        for i in range(-1, n):
            records = apex_records(serial) if i < 0 else service_records(i, k)
            for owner, rtype, rdata in records:
                z.write(f"{owner} {TTL} IN {rtype} {rdata}\n")
                u.write(f'local-data: "{owner} {TTL} IN {rtype} {rdata}"\n')


def write_queries(path, n, srv_share, nx_share, rng):
    with open(path, "w") as f:
        for _ in range(QUERIES):
            i = rng.randrange(n)
            r = rng.random()
            if r < nx_share:
                f.write(f"nx-{i:05d}.{GROUP}.{ZONE} A\n")
            elif r < nx_share + srv_share:
                f.write(f"_http._tcp.{service_name(i)}.{GROUP}.{ZONE} SRV\n")
            else:
                f.write(f"{service_name(i)}.{GROUP}.{ZONE} A\n")


def main():
    if len(sys.argv) < 2 or sys.argv[1].startswith("-"):
        sys.exit(__doc__)
    outdir = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    k = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    if not 1 <= n <= 65536 or not 1 <= k <= 100:
        sys.exit("SERVICES must be 1..65536 and INSTANCES 1..100")
    os.makedirs(outdir, exist_ok=True)
    rng = random.Random(42)
    write_registry(os.path.join(outdir, "registry.json"), n, k)
    write_registry(os.path.join(outdir, "registry-b.json"), n, k, 1)
    write_zones(outdir, n, k, 1)
    write_queries(os.path.join(outdir, "q-a.txt"), n, 0.0, 0.0, rng)
    write_queries(os.path.join(outdir, "q-mix.txt"), n, 0.2, 0.0, rng)
    write_queries(os.path.join(outdir, "q-nx.txt"), n, 0.19, 0.05, rng)


if __name__ == "__main__":
    main()
