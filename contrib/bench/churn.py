#!/usr/bin/python3
"""Replaces a nacos-dns registry file every PERIOD seconds and sends SIGHUP, alternating between
two prepared files, until SECONDS have passed (contrib/bench/dns_bench.sh churn mode). The swap
is a hard link and a rename, so the driver itself costs almost no CPU.

Usage: churn.py PID DIR SECONDS [PERIOD]   (DIR holds registry.json, registry-a.json and
registry-b.json; PERIOD defaults to 0.1). Prints how many swaps it made.
"""
import os
import signal
import sys
import time


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    pid, d, seconds = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
    period = float(sys.argv[4]) if len(sys.argv) == 5 else 0.1
    live, tmp = os.path.join(d, "registry.json"), os.path.join(d, "registry.swap")
    sources = [os.path.join(d, "registry-b.json"), os.path.join(d, "registry-a.json")]
    swaps, end = 0, time.monotonic() + seconds
    next_at = time.monotonic()
    while time.monotonic() < end:
        if os.path.exists(tmp):
            os.unlink(tmp)
        os.link(sources[swaps % 2], tmp)
        os.replace(tmp, live)
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            break
        swaps += 1
        next_at += period
        time.sleep(max(0.0, next_at - time.monotonic()))
    os.link(sources[1], tmp)
    os.replace(tmp, live)
    print(f"{swaps} swaps in {seconds:g} s")


if __name__ == "__main__":
    main()
