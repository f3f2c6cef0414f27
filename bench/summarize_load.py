#!/usr/bin/python3
"""Medians over rounds from load.sh's results.tsv: h2load against uringrpc-load on one core,
with both ratios (req/s, and client CPU per request)."""
import csv
import sys
from collections import OrderedDict

from tsv_stats import median, num

KEYS = ("req_per_s", "client_cpu_us_per_req", "client_cpu_pct", "server_cpu_us_per_req")




def fmt(v, digits=0):
    return "NA" if v is None else f"{v:.{digits}f}"


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    by_client = OrderedDict()
    for r in rows:
        by_client.setdefault(r["client"], []).append(r)
    n = rows[0]["n"] if rows else "?"
    print(f"\n== load clients on one core, {n} SayHello per run (medians) ==")
    head = (f"{'client':<24} {'runs':>4} {'req/s':>10} {'client us/req':>14} {'client CPU%':>12} "
            f"{'server us/req':>14}")
    print(head)
    print("-" * len(head))
    med = {}
    for client, rs in by_client.items():
        med[client] = {k: median(rs, k) for k in KEYS}
        ok_runs = sum(1 for r in rs if num(r["req_per_s"]) is not None)
        d = med[client]
        print(f"{client:<24} {ok_runs:>4} {fmt(d['req_per_s']):>10} "
              f"{fmt(d['client_cpu_us_per_req'], 2):>14} {fmt(d['client_cpu_pct']):>12} "
              f"{fmt(d['server_cpu_us_per_req'], 2):>14}")
    h = med.get("h2load")
    for name in ("uringrpc-load", "uringrpc-load-jemalloc"):
        u = med.get(name)
        if not u or not h:
            continue
        rps = (u["req_per_s"] / h["req_per_s"] if u["req_per_s"] and h["req_per_s"] else None)
        cpu = (h["client_cpu_us_per_req"] / u["client_cpu_us_per_req"]
               if u["client_cpu_us_per_req"] and h["client_cpu_us_per_req"] else None)
        print(f"{name}: req/s {name} / h2load = {fmt(rps, 2)}x; "
              f"client CPU per request h2load / {name} = {fmt(cpu, 2)}x")
    if any(d["client_cpu_pct"] is not None and d["client_cpu_pct"] < 97 for d in med.values()):
        print("note: a client used less than all of its core: the server (or other work) set "
              "the pace, so the CPU per request ratio is the figure to read")


if __name__ == "__main__":
    main(sys.argv[1])
