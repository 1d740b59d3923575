#!/usr/bin/python3
"""Checks the answers of a nacos-dns that serves gen_zone.py's registry.json or registry-b.json
while they replace each other (contrib/bench/dns_bench.sh churn mode): every answer must be
exactly the data of one of the two files, never a mix of both, never a wrong record.

Usage: verify_churn.py PORT SERVICES INSTANCES SECONDS
Prints the number of answers checked per kind; exits 1 on the first wrong or torn answer.
"""
import os
import random
import sys
import time

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_zone import GROUP, ZONE, instance_ip, service_name  # noqa: E402


def expected(i, k, variant):
    ips = {instance_ip(i, j, variant) for j in range(k)}
    owner = f"{service_name(i)}.{GROUP}.{ZONE}"
    targets = {f"{ip.replace('.', '-')}.{owner}": ip for ip in ips}
    return ips, targets


def check_a(msg, i, k):
    ips = {rd.address for rrset in msg.answer for rd in rrset if rrset.rdtype == dns.rdatatype.A}
    if ips not in (expected(i, k, 0)[0], expected(i, k, 1)[0]):
        return f"A set {sorted(ips)}"
    return None


def check_srv(msg, i, k):
    targets = {rd.target.to_text().lower(): rd.port for rrset in msg.answer for rd in rrset
               if rrset.rdtype == dns.rdatatype.SRV}
    glue = {rrset.name.to_text().lower(): rd.address for rrset in msg.additional
            for rd in rrset if rrset.rdtype == dns.rdatatype.A}
    for variant in (0, 1):
        want = {t.lower(): ip for t, ip in expected(i, k, variant)[1].items()}
        if set(targets) == set(want) and all(p == 8080 for p in targets.values()):
            if all(glue.get(t) in (None, ip) for t, ip in want.items()) and \
                    set(glue) <= set(want):
                return None
            return f"SRV glue {glue} for variant {variant}"
    return f"SRV targets {sorted(targets)}"


def query_one(port, i, k, rng):
    owner = f"{service_name(i)}.{GROUP}.{ZONE}"
    if rng.random() < 0.5:
        q = dns.message.make_query(owner, "A")
        check = check_a
    else:
        q = dns.message.make_query("_http._tcp." + owner, "SRV", use_edns=0, payload=1232)
        check = check_srv
    q.flags &= ~dns.flags.RD
    msg = dns.query.udp(q, "127.0.0.1", port=port, timeout=2)
    if msg.flags & dns.flags.TC:
        msg = dns.query.tcp(q, "127.0.0.1", port=port, timeout=2)
    if msg.rcode() != dns.rcode.NOERROR:
        return check.__name__, f"rcode {dns.rcode.to_text(msg.rcode())}"
    return check.__name__, check(msg, i, k)


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    port, n, k, seconds = (int(a) for a in sys.argv[1:])
    rng = random.Random()
    counts = {"check_a": 0, "check_srv": 0}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        i = rng.randrange(n)
        kind, err = query_one(port, i, k, rng)
        if err:
            print(f"WRONG answer for {service_name(i)} ({kind}): {err}")
            sys.exit(1)
        counts[kind] += 1
    print(f"verified {counts['check_a']} A and {counts['check_srv']} SRV answers: "
          "each one exactly one snapshot's data")


if __name__ == "__main__":
    main()
