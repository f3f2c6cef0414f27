#!/usr/bin/python3
"""Load through h2load (nghttp2-client) against a 2-shard server:

  h2load -n 100000 -c 32 -m 10 -H 'content-type: application/grpc' -H 'te: trailers'
         -d BODY http://127.0.0.1:PORT/helloworld.Greeter/SayHello

expects 0 failed / 0 errored / 0 timeout and 100000 2xx; after SIGTERM every shard must have
accepted connections and the shards' ok counts must add up to at least 100000 (h2load does not
look at grpc-status: the server's counters do)."""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, check, grpc_frame, hello_request, log  # noqa: E402


def parse_h2load(out):
    m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                  r"(\d+) failed, (\d+) errored, (\d+) timeout", out)
    s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    check(m and s, f"cannot parse h2load output:\n{out}")
    keys = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    r = dict(zip(keys, map(int, m.groups())))
    r.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, s.groups())))
    return r


def case_load(args):
    exe = shutil.which("h2load")
    if not exe:
        raise Skip("h2load (nghttp2-client) not found")
    n, conns, streams = args.requests, 32, 10
    body = grpc_frame(hello_request("world"))
    check(body == b"\x00\x00\x00\x00\x07\x0a\x05world", f"request body {body!r}")
    with tempfile.TemporaryDirectory(prefix="urpc-h2load-") as d, \
            Server(args.server, "--shards", "2") as srv:
        bf = os.path.join(d, "hello.bin")
        with open(bf, "wb") as f:
            f.write(body)
        cmd = [exe, "-n", str(n), "-c", str(conns), "-m", str(streams),
               "-H", "content-type: application/grpc", "-H", "te: trailers", "-d", bf,
               f"http://127.0.0.1:{srv.port}/helloworld.Greeter/SayHello"]
        log(" ".join(cmd))
        r = harness.run_cmd(cmd, timeout=args.h2load_timeout)
        tail = "\n".join(r.stdout.splitlines()[-14:])
        log(tail)
        check(r.returncode == 0, f"h2load exit {r.returncode}\n{r.stderr}")
        h = parse_h2load(r.stdout)
        check(h["failed"] == 0 and h["errored"] == 0 and h["timeout"] == 0,
              f"h2load: {h['failed']} failed, {h['errored']} errored, {h['timeout']} timeout")
        check(h["done"] == n and h["succeeded"] == n, f"h2load: {h}")
        check(h["2xx"] == n, f"h2load: {h['2xx']} 2xx of {n}: {h}")
        res = srv.stop()
        check(len(res.stats) == 2, f"expected 2 shards: {res.stats}")
        for s in res.stats:
            check(s["connections"] > 0, f"shard {s['shard']} accepted no connection: {res.stats}")
        check(res.total("connections") == conns,
              f"expected {conns} connections in all, got {res.total('connections')}")
        check(res.total("ok") >= n, f"ok counts sum to {res.total('ok')} < {n}: {res.stats}")
        check(res.total("failed") == 0 and res.total("cancelled") == 0,
              f"failed or cancelled calls under load: {res.stats}")


if __name__ == "__main__":
    def extra(p):
        p.add_argument("--requests", type=int, default=100000)
        p.add_argument("--h2load-timeout", type=float, default=150)
    harness.run_cases({"load": case_load}, harness.parse_args(extra))
