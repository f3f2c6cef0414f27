#!/usr/bin/python3
"""Tables of medians over rounds from unary.sh's results.tsv (re-run it on an old file freely)."""
import csv
import statistics
import sys
from collections import OrderedDict


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def median(rows, key):
    vals = [x for x in (num(r[key]) for r in rows) if x is not None]
    return statistics.median(vals) if vals else None


def fmt(v, digits=0):
    return "NA" if v is None else f"{v:.{digits}f}"


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    scenarios = OrderedDict()
    for r in rows:
        scenarios.setdefault(r["scenario"], OrderedDict()).setdefault(r["server"], []).append(r)
    for scen, by_server in scenarios.items():
        c, m = scen.split("x")
        n = next(iter(by_server.values()))[0]["n"]
        print(f"\n== {c} connections x {m} streams, {n} requests per run ==")
        head = (f"{'server':<14} {'runs':>4} {'req/s':>10} {'mean us':>9} {'p50 us':>8} "
                f"{'p99 us':>8} {'failed':>7} {'CPU us/req':>11} {'client CPU%':>11}")
        print(head)
        print("-" * len(head))
        med = {}
        for server, rs in by_server.items():
            med[server] = {k: median(rs, k) for k in
                           ("req_per_s", "mean_us", "p50_us", "p99_us",
                            "server_cpu_us_per_req", "client_cpu_pct")}
            failed = sum(int(r["failed"]) for r in rs)
            ok_runs = sum(1 for r in rs if num(r["req_per_s"]) is not None)
            d = med[server]
            print(f"{server:<14} {ok_runs:>4} {fmt(d['req_per_s']):>10} {fmt(d['mean_us'], 1):>9} "
                  f"{fmt(d['p50_us']):>8} {fmt(d['p99_us']):>8} {failed:>7} "
                  f"{fmt(d['server_cpu_us_per_req'], 2):>11} {fmt(d['client_cpu_pct']):>11}")
        if "uringrpc" in med:
            u = med["uringrpc"]
            for server, d in med.items():
                if server == "uringrpc":
                    continue
                rps = (u["req_per_s"] / d["req_per_s"]
                       if u["req_per_s"] and d["req_per_s"] else None)
                cpu = (d["server_cpu_us_per_req"] / u["server_cpu_us_per_req"]
                       if u["server_cpu_us_per_req"] and d["server_cpu_us_per_req"] else None)
                print(f"ratio vs {server}: req/s uringrpc/{server} = {fmt(rps, 2)}x, "
                      f"CPU us/req {server}/uringrpc = {fmt(cpu, 2)}x")
        if any((d["client_cpu_pct"] or 0) >= 95 for d in med.values()):
            print("note: h2load used ~all of its core in some runs: req/s there is client-bound")
    print("\n(medians over rounds; failed = total over rounds of requests not answered 2xx)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_unary.py results.tsv")
    main(sys.argv[1])
