#!/usr/bin/python3
"""Tables of medians over rounds from tls.sh's results.tsv (re-run it on an old file freely)."""
import csv
import sys
from collections import OrderedDict

from tsv_stats import median, num

TITLES = {
    "handshake": "full TLS handshakes (one connection, one request each)",
    "aes": "TLS unary, TLS_AES_128_GCM_SHA256",
    "chacha": "TLS unary, TLS_CHACHA20_POLY1305_SHA256",
}




def fmt(v, digits=0):
    return "NA" if v is None else f"{v:,.{digits}f}"


def main(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    scenarios = OrderedDict()
    for r in rows:
        scenarios.setdefault(r["scenario"], OrderedDict()).setdefault(r["server"], []).append(r)
    meds = {}
    for scen, by_server in scenarios.items():
        first = next(iter(by_server.values()))[0]
        hs = scen == "handshake"
        unit, op = ("handshakes/s", "hs") if hs else ("req/s", "req")
        shape = (f"{first['n']} connections in batches of {first['conns']}" if hs else
                 f"{first['conns']} connections x {first['streams']} streams, {first['n']} requests")
        print(f"\n== {TITLES.get(scen, scen)}: {shape} per run ==")
        head = (f"{'server':<14} {'runs':>4} {unit:>13} {'failed':>7} {'CPU us/' + op:>11} "
                f"{'client CPU%':>11}  negotiated")
        print(head)
        print("-" * len(head))
        med = meds[scen] = {}
        for server, rs in by_server.items():
            med[server] = {k: median(rs, k) for k in
                           ("rate_per_s", "server_cpu_us_per_op", "client_cpu_pct")}
            failed = sum(int(r["failed"]) for r in rs)
            ok_runs = sum(1 for r in rs if num(r["rate_per_s"]) is not None)
            neg = sorted({f"{r['cipher']} {r['temp_key'].replace('_', ' ')}" for r in rs})
            d = med[server]
            print(f"{server:<14} {ok_runs:>4} {fmt(d['rate_per_s']):>13} {failed:>7} "
                  f"{fmt(d['server_cpu_us_per_op'], 2):>11} {fmt(d['client_cpu_pct']):>11}  "
                  f"{'; '.join(neg)}")
        if "uringrpc" in med:
            u = med["uringrpc"]
            for server, d in med.items():
                if server == "uringrpc":
                    continue
                rate = (u["rate_per_s"] / d["rate_per_s"]
                        if u["rate_per_s"] and d["rate_per_s"] else None)
                cpu = (d["server_cpu_us_per_op"] / u["server_cpu_us_per_op"]
                       if u["server_cpu_us_per_op"] and d["server_cpu_us_per_op"] else None)
                print(f"ratio vs {server}: {unit} uringrpc/{server} = {fmt(rate, 2)}x, "
                      f"CPU us/{op} {server}/uringrpc = {fmt(cpu, 2)}x")
        if any((d["client_cpu_pct"] or 0) >= 95 for d in med.values()):
            print(f"note: h2load used ~all of its core in some runs: {unit} there is client-bound")
    if "aes" in meds and "chacha" in meds:
        print("\n== cipher effect: server CPU us/req, ChaCha20-Poly1305 / AES-128-GCM ==")
        for server in meds["aes"]:
            a = meds["aes"][server]["server_cpu_us_per_op"]
            c = meds["chacha"].get(server, {}).get("server_cpu_us_per_op")
            print(f"{server:<14} aes {fmt(a, 2)}  chacha {fmt(c, 2)}  "
                  f"chacha/aes = {fmt(c / a if a and c else None, 2)}")
    u_hs = meds.get("handshake", {}).get("uringrpc", {}).get("rate_per_s")
    p_hs = meds.get("handshake", {}).get("peer", {}).get("rate_per_s")
    if u_hs and p_hs:
        print(f"\ntarget handshakes/s >= grpc C++: {'MET' if u_hs >= p_hs else 'NOT met'} "
              f"({u_hs / p_hs:.2f}x)")
    for scen in ("aes", "chacha"):
        u = meds.get(scen, {}).get("uringrpc", {}).get("rate_per_s")
        p = meds.get(scen, {}).get("peer", {}).get("rate_per_s")
        if u and p:
            print(f"target TLS unary req/s >= 2x grpc C++ ({scen}): "
                  f"{'MET' if u >= 2 * p else 'NOT met'} ({u / p:.2f}x)")
    print("\n(medians over rounds; failed = total over rounds of requests not answered 2xx)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: summarize_tls.py results.tsv")
    main(sys.argv[1])
