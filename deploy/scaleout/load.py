#!/usr/bin/python3
"""Steady gRPC load for the scale-out test: helloworld.Greeter/SayHello from python3-grpcio.

Runs --threads threads on each of --channels channels (each channel its own connections:
grpc.use_local_subchannel_pool), paced to --rate calls/s in all (0: as fast as they go), until
--count calls were made or --duration seconds passed, or until SIGTERM/SIGINT. No retry policy
is configured: a call counts as failed whatever its status, exactly as the application would
see it (grpc's own transparent retry of streams the server never processed — the ones a GOAWAY
names as unprocessed — is part of every grpc client and stays on).

Prints `load started` when every channel is READY and the load begins, then one JSON line:
{"ok": N, "failed": {"UNAVAILABLE": n, ...}, "errors": [first few], "elapsed": s, ...}.
"""
import argparse
import json
import os
import signal
import sys
import threading
import time

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

import grpc  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--target", required=True)
    p.add_argument("--stubs", required=True, help="directory holding helloworld_pb2*.py")
    p.add_argument("--lb", default="pick_first")
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="per channel")
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--duration", type=float, default=0)
    p.add_argument("--rate", type=float, default=0, help="calls/s in all; 0 = unpaced")
    p.add_argument("--deadline", type=float, default=5.0)
    p.add_argument("--ready-timeout", type=float, default=15.0)
    p.add_argument("--dns-min-reresolve-ms", type=int, default=0,
                   help="grpc.dns_min_time_between_resolutions_ms (grpc's default: 30000)")
    a = p.parse_args()
    if not a.count and not a.duration:
        p.error("--count or --duration")
    sys.path.insert(0, a.stubs)
    import helloworld_pb2
    import helloworld_pb2_grpc

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())

    opts = [("grpc.lb_policy_name", a.lb), ("grpc.use_local_subchannel_pool", 1)]
    if a.dns_min_reresolve_ms:
        opts.append(("grpc.dns_min_time_between_resolutions_ms", a.dns_min_reresolve_ms))
    channels = [grpc.insecure_channel(a.target, options=opts) for _ in range(a.channels)]
    try:
        for ch in channels:
            grpc.channel_ready_future(ch).result(timeout=a.ready_timeout)
    except grpc.FutureTimeoutError:
        print(json.dumps({"error": f"channel to {a.target} not READY in {a.ready_timeout} s"}),
              flush=True)
        sys.exit(2)

    lock = threading.Lock()
    ok = [0]
    failed = {}
    errors = []
    issued = [0]
    nthreads = a.channels * a.threads
    interval = nthreads / a.rate if a.rate > 0 else 0.0
    req = helloworld_pb2.HelloRequest(name="scaleout")
    t0 = time.monotonic()
    end = t0 + a.duration if a.duration else float("inf")

    def worker(ch, k):
        stub = helloworld_pb2_grpc.GreeterStub(ch)
        nxt = t0 + (k * interval / nthreads if interval else 0)
        while not stop.is_set():
            now = time.monotonic()
            if now >= end:
                return
            if interval:
                if nxt > now:
                    time.sleep(min(nxt - now, 0.5))
                    continue
                nxt = max(nxt + interval, now - 1.0)  # no catch-up burst beyond 1 s
            if a.count:
                with lock:
                    if issued[0] >= a.count:
                        return
                    issued[0] += 1
            try:
                stub.SayHello(req, timeout=a.deadline)
                with lock:
                    ok[0] += 1
            except grpc.RpcError as e:
                code = e.code().name if e.code() else "?"
                with lock:
                    failed[code] = failed.get(code, 0) + 1
                    if len(errors) < 5:
                        errors.append(f"{time.monotonic() - t0:.3f}s {code}: {e.details()}")

    threads = [threading.Thread(target=worker, args=(ch, i * a.threads + j), daemon=True)
               for i, ch in enumerate(channels) for j in range(a.threads)]
    print("load started", flush=True)
    for t in threads:
        t.start()
    for t in threads:
        while t.is_alive():
            t.join(timeout=0.2)
    elapsed = time.monotonic() - t0
    for ch in channels:
        ch.close()
    total = ok[0] + sum(failed.values())
    print(json.dumps({"ok": ok[0], "failed": failed, "errors": errors, "calls": total,
                      "elapsed": round(elapsed, 3),
                      "rate": round(total / elapsed, 1) if elapsed else 0}), flush=True)


if __name__ == "__main__":
    main()
