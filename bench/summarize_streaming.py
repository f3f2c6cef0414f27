#!/usr/bin/python3
"""Tables of medians over rounds from streaming.sh's results.tsv (re-run it on an old file freely)."""
import csv
import sys
from collections import OrderedDict

from tsv_stats import median

TARGET = 2.0  # the project's goal: >= 2x grpc C++ streaming messages/s on one core




def fmt(v, digits=0):
    return "NA" if v is None else f"{v:,.{digits}f}" if digits == 0 else f"{v:.{digits}f}"


def ratio(a, b):
    return a / b if a and b else None


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    scenarios = OrderedDict()
    for r in rows:
        scenarios.setdefault(r["scenario"], OrderedDict()).setdefault(r["server"], []).append(r)
    verdicts = []
    for scen, by_server in scenarios.items():
        first = next(iter(by_server.values()))[0]
        calls, n, size = first["calls"], first["messages"], first["size"]
        med = {}
        if scen == "pingpong":
            print(f"\n== pingpong: 1 FullDuplexCall, {n} round trips of {size} B each way ==")
            head = (f"{'server':<14} {'runs':>4} {'failed':>6} {'rt/s':>9} {'mean us':>9} "
                    f"{'p50 us':>8} {'p99 us':>8} {'CPU us/rt':>10} {'client CPU%':>11}")
            keys = ("msgs_per_s", "mean_us", "p50_us", "p99_us", "server_cpu_us_per_msg",
                    "client_cpu_pct")
        else:
            per = int(n) // int(calls)
            print(f"\n== {scen}: {calls} StreamingOutputCall x {per} messages of {size} B "
                  f"({n} per run, one connection) ==")
            head = (f"{'server':<14} {'runs':>4} {'failed':>6} {'msgs/s':>11} "
                    f"{'steady msgs/s':>13} {'1st msg ms':>10} {'CPU us/msg':>10} "
                    f"{'client CPU%':>11}")
            keys = ("msgs_per_s", "steady_msgs_per_s", "first_msg_ms", "server_cpu_us_per_msg",
                    "client_cpu_pct")
        print(head)
        print("-" * len(head))
        for server, rs in by_server.items():
            d = med[server] = {k: median(rs, k) for k in keys}
            ok = sum(1 for r in rs if r["ok"] == "1")
            failed = len(rs) - ok
            if scen == "pingpong":
                print(f"{server:<14} {ok:>4} {failed:>6} {fmt(d['msgs_per_s']):>9} "
                      f"{fmt(d['mean_us'], 1):>9} {fmt(d['p50_us'], 1):>8} "
                      f"{fmt(d['p99_us'], 1):>8} {fmt(d['server_cpu_us_per_msg'], 2):>10} "
                      f"{fmt(d['client_cpu_pct']):>11}")
            else:
                print(f"{server:<14} {ok:>4} {failed:>6} {fmt(d['msgs_per_s']):>11} "
                      f"{fmt(d['steady_msgs_per_s']):>13} {fmt(d['first_msg_ms'], 1):>10} "
                      f"{fmt(d['server_cpu_us_per_msg'], 3):>10} {fmt(d['client_cpu_pct']):>11}")
        if "uringrpc" not in med:
            continue
        u = med["uringrpc"]
        for server, d in med.items():
            if server == "uringrpc":
                continue
            cpu = ratio(d["server_cpu_us_per_msg"], u["server_cpu_us_per_msg"])
            if scen == "pingpong":
                print(f"ratio vs {server}: round trips/s uringrpc/{server} = "
                      f"{fmt(ratio(u['msgs_per_s'], d['msgs_per_s']), 2)}x, p50 latency "
                      f"{server}/uringrpc = {fmt(ratio(d['p50_us'], u['p50_us']), 2)}x, "
                      f"p99 {fmt(ratio(d['p99_us'], u['p99_us']), 2)}x, CPU us/round trip "
                      f"{server}/uringrpc = {fmt(cpu, 2)}x")
            else:
                r = ratio(u["msgs_per_s"], d["msgs_per_s"])
                print(f"ratio vs {server}: msgs/s uringrpc/{server} = {fmt(r, 2)}x (steady "
                      f"{fmt(ratio(u['steady_msgs_per_s'], d['steady_msgs_per_s']), 2)}x), "
                      f"CPU us/msg {server}/uringrpc = {fmt(cpu, 2)}x")
                if r is not None and server.startswith("peer"):  # the target is vs grpc C++
                    verdicts.append(f"{scen} vs {server}: {r:.2f}x "
                                    f"({'met' if r >= TARGET else 'NOT met'})")
        if any((d.get("client_cpu_pct") or 0) >= 95 for d in med.values()):
            print("note: the load client used ~all of its core in some runs: those are client-bound")
    if verdicts:
        print(f"\ntarget >= {TARGET:g}x grpc C++ streaming msgs/s on one core: " + "; ".join(verdicts))
    print("\n(medians over rounds; failed = runs with an error or a timeout; CPU = the server's "
          "utime+stime over the run / messages or round trips, 10 ms clock ticks)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_streaming.py results.tsv")
    main(sys.argv[1])
