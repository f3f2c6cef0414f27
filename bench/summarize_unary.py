#!/usr/bin/python3
"""Tables of medians over rounds from unary.sh's results.tsv (re-run it on an old file freely:
one without a client column was all h2load)."""
import csv
import sys
from collections import OrderedDict

from tsv_stats import median, num

KEYS = ("req_per_s", "mean_us", "p50_us", "p99_us", "server_cpu_us_per_req", "client_cpu_pct")




def fmt(v, digits=0):
    return "NA" if v is None else f"{v:.{digits}f}"


def ratio(a, b):
    return a / b if a and b else None


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    scenarios = OrderedDict()
    for r in rows:
        client = r.get("client") or "h2load"
        scenarios.setdefault(r["scenario"], OrderedDict()).setdefault(
            (r["server"], client), []).append(r)
    for scen, by_run in scenarios.items():
        c, m = scen.split("x")
        n = next(iter(by_run.values()))[0]["n"]
        print(f"\n== {c} connections x {m} streams, {n} requests per run ==")
        head = (f"{'server':<14} {'client':<13} {'runs':>4} {'req/s':>10} {'mean us':>9} "
                f"{'p50 us':>8} {'p99 us':>8} {'failed':>7} {'CPU us/req':>11} "
                f"{'client CPU%':>11}")
        print(head)
        print("-" * len(head))
        servers = list(OrderedDict.fromkeys(sv for sv, _ in by_run))
        clients = list(OrderedDict.fromkeys(cl for _, cl in by_run))
        med = OrderedDict()
        # Each server's clients on adjacent rows.
        for server, client in sorted(by_run, key=lambda k: (servers.index(k[0]),
                                                            clients.index(k[1]))):
            rs = by_run[(server, client)]
            d = med[(server, client)] = {k: median(rs, k) for k in KEYS}
            failed = sum(int(r["failed"]) for r in rs)
            ok_runs = sum(1 for r in rs if num(r["req_per_s"]) is not None)
            print(f"{server:<14} {client:<13} {ok_runs:>4} {fmt(d['req_per_s']):>10} "
                  f"{fmt(d['mean_us'], 1):>9} {fmt(d['p50_us']):>8} {fmt(d['p99_us']):>8} "
                  f"{failed:>7} {fmt(d['server_cpu_us_per_req'], 2):>11} "
                  f"{fmt(d['client_cpu_pct']):>11}")
        # Server against server, driven by the same client.
        for client in clients:
            u = med.get(("uringrpc", client))
            if not u:
                continue
            for server in servers:
                d = med.get((server, client))
                if server == "uringrpc" or not d:
                    continue
                rps = ratio(u["req_per_s"], d["req_per_s"])
                cpu = ratio(d["server_cpu_us_per_req"], u["server_cpu_us_per_req"])
                via = f" ({client})" if len(clients) > 1 else ""
                print(f"ratio vs {server}{via}: req/s uringrpc/{server} = {fmt(rps, 2)}x, "
                      f"CPU us/req {server}/uringrpc = {fmt(cpu, 2)}x")
        # Client against client, on the same server.
        if "h2load" in clients:
            for client in clients:
                if client == "h2load":
                    continue
                parts = []
                for server in servers:
                    h, o = med.get((server, "h2load")), med.get((server, client))
                    if h and o:
                        parts.append(f"{server} {fmt(ratio(o['req_per_s'], h['req_per_s']), 2)}x")
                if parts:
                    print(f"req/s {client}/h2load: " + ", ".join(parts))
        busy = sorted({cl for (_, cl), d in med.items() if (d["client_cpu_pct"] or 0) >= 95})
        if busy:
            print(f"note: client at ~100% of its core in some runs ({', '.join(busy)}): "
                  "req/s there is client-bound")
    print("\n(medians over rounds; failed = total over rounds of requests not answered 2xx "
          "(h2load) or not ended OK (uringrpc-load))")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_unary.py results.tsv")
    main(sys.argv[1])
