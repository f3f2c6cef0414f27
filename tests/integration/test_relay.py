#!/usr/bin/python3
"""Service A calls service B: urpc.example.Relay/Forward (examples/relay.c), whose handler calls
the next hop with uringrpc's client (client/urpc_client.h) on its own shard. The client is
Debian's python3-grpcio; A and B are uringrpc-server processes, A started with
--upstream pointing at B.

  chain         client -> A -> B: the reply comes back through A; each hop reports what was left
                of its deadline (B's <= A's <= the client's timeout; -1 for both without one);
                two hops into B, which has no upstream, give B's FAILED_PRECONDITION and message
                to the client as they came; 200 calls from 8 threads all succeed
  deadline      the client's 600 ms deadline, B sleeping 3 s: the client gets DEADLINE_EXCEEDED
                at about 600 ms, A's access log has DEADLINE_EXCEEDED (or CANCELLED: grpcio's
                own reset at its deadline may come first), and B's call ended with
                the propagated deadline (its access-log line ends well before the 3 s sleep:
                without propagation B would sleep it out and answer OK)
  handler_deadline  a 300 ms timeout of A's own on its call to B, the client's deadline 10 s:
                A's handler gets DEADLINE_EXCEEDED from the client and passes it on, so the
                client sees DEADLINE_EXCEEDED long before its own deadline
  cancel        the client cancels its call to A while B sleeps 5 s: B's call is cancelled
                within 2 s (its access-log line says cancelled)
  unavailable   A's upstream refuses connections: UNAVAILABLE naming the connect failure
  dns           --upstream localhost:PORT with B on 127.0.0.1 only: resolved off the shards,
                and pick_first goes on to the address that answers if ::1 comes first
  round_robin   --upstream ipv4:B1,B2 --upstream-lb round_robin: 40 calls reach both
  tls           B serves TLS only for A: --upstream-ca verifies B's certificate (localhost), and
                an upstream with the wrong CA fails UNAVAILABLE
  bad_flags     --upstream-lb random, --upstream 'dns://8.8.8.8/x' exit 2 with one line

Every server's exit is checked clean (exit 0, no live calls, no sanitizer report): no call or
connection leaks on either side. Every wait is bounded; only our own PIDs are signalled.
"""
import concurrent.futures
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Stubs, TestFailure, check, log, run_cmd  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover
    grpc = None

FORWARD = "urpc.example.Relay/Forward"


def stubs(args):
    harness.require(grpc, "python3-grpcio")
    return Stubs(args.proto_dir)


def forward(st, port, timeout=10.0, **fields):
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = st.relay_grpc.RelayStub(ch)
        return stub.Forward(st.relay.ForwardRequest(**fields), timeout=timeout)


def forward_error(st, port, timeout=10.0, **fields):
    t0 = time.monotonic()
    try:
        r = forward(st, port, timeout, **fields)
    except grpc.RpcError as e:
        return e.code(), e.details(), time.monotonic() - t0
    raise TestFailure(f"expected an error, got {r}")


def log_lines(path, method=FORWARD, want=1, timeout=5.0):
    """The access log's lines for `method`, once there are `want` of them."""
    deadline = time.monotonic() + timeout
    while True:
        lines = []
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                lines = [json.loads(l) for l in f if l.strip()]
        lines = [l for l in lines if l["method"] == f"/{method}"]
        if len(lines) >= want or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)



def case_chain(args):
    st = stubs(args)
    with Server(args.server) as b, Server(args.server, "--upstream", f"127.0.0.1:{b.port}") as a:
        r = forward(st, a.port, timeout=5.0, name="chain", hops=1)
        check(r.message == "Hello chain", f"reply through A: {r.message!r}")
        left = list(r.deadline_left_ms)
        check(len(left) == 2 and 0 < left[0] <= left[1] <= 5000,
              f"deadline left at B, then A (ms), expected 0 < B <= A <= 5000: {left}")
        with grpc.insecure_channel(f"127.0.0.1:{a.port}") as ch:
            stub = st.relay_grpc.RelayStub(ch)
            r = stub.Forward(st.relay.ForwardRequest(name="x", hops=1))
            check(list(r.deadline_left_ms) == [-1, -1], f"no deadline anywhere: {r}")
        code, details, _ = forward_error(st, a.port, name="far", hops=2)
        check(code == grpc.StatusCode.FAILED_PRECONDITION and "--upstream" in details,
              f"B has no upstream: its status should come through A: {code} {details!r}")
        with grpc.insecure_channel(f"127.0.0.1:{a.port}") as ch:
            stub = st.relay_grpc.RelayStub(ch)
            req = st.relay.ForwardRequest(name="many", hops=1)
            with concurrent.futures.ThreadPoolExecutor(8) as pool:
                replies = list(pool.map(lambda _: stub.Forward(req, timeout=20), range(200)))
        check(all(r.message == "Hello many" for r in replies), "200 concurrent relayed calls")
        a.stop()
        b.stop()
        check(b.result.total("ok") >= 202, f"B answered the relayed calls: {b.result}")


def case_deadline(args):
    st = stubs(args)
    with tempfile.TemporaryDirectory(prefix="urpc-relay-") as d:
        alog, blog = os.path.join(d, "a.log"), os.path.join(d, "b.log")
        with Server(args.server, "--access-log", blog) as b, \
                Server(args.server, "--access-log", alog, "--upstream",
                       f"127.0.0.1:{b.port}") as a:
            code, _, took = forward_error(st, a.port, timeout=0.6, name="slow", hops=1,
                                          sleep_ms=3000)
            check(code == grpc.StatusCode.DEADLINE_EXCEEDED, f"client: {code}")
            check(took < 2.5, f"the client waited {took:.2f} s for a 0.6 s deadline")
            (bl,) = log_lines(blog) or [None]
            check(bl is not None, "B logged no call")
            check(bl["duration_us"] < 2_000_000 and bl["code"] != "OK",
                  f"B's call should end with the propagated deadline (~0.6 s), not after its "
                  f"3 s sleep: {bl}")
            (al,) = log_lines(alog) or [None]
            # grpcio resets the stream at its deadline: that may reach A before A's own timer
            check(al is not None and al["code"] in ("DEADLINE_EXCEEDED", "CANCELLED")
                  and al["duration_us"] < 2_000_000, f"A's line: {al}")
            # A later call still works: nothing of the expired one is left in the way
            r = forward(st, a.port, timeout=5.0, name="after", hops=1)
            check(r.message == "Hello after", f"after the deadline: {r}")
            a.stop()
            b.stop()


def case_handler_deadline(args):
    st = stubs(args)
    with Server(args.server) as b, Server(args.server, "--upstream", f"127.0.0.1:{b.port}") as a:
        code, details, took = forward_error(st, a.port, timeout=10.0, name="slow", hops=1,
                                            sleep_ms=3000, timeout_ms=300)
        check(code == grpc.StatusCode.DEADLINE_EXCEEDED,
              f"A's call to B timed out: A's handler passes DEADLINE_EXCEEDED on: {code} "
              f"{details!r}")
        check(took < 2.5, f"took {took:.2f} s: A's 300 ms timeout should end it, not B's sleep")
        a.stop()
        b.stop()


def case_cancel(args):
    st = stubs(args)
    with tempfile.TemporaryDirectory(prefix="urpc-relay-") as d:
        blog = os.path.join(d, "b.log")
        with Server(args.server, "--access-log", blog) as b, \
                Server(args.server, "--upstream", f"127.0.0.1:{b.port}") as a:
            with grpc.insecure_channel(f"127.0.0.1:{a.port}") as ch:
                stub = st.relay_grpc.RelayStub(ch)
                fut = stub.Forward.future(
                    st.relay.ForwardRequest(name="c", hops=1, sleep_ms=5000), timeout=10)
                time.sleep(0.3)
                t0 = time.monotonic()
                fut.cancel()
                lines = log_lines(blog, timeout=2.0)
                took = time.monotonic() - t0
            check(len(lines) == 1 and lines[0]["cancelled"],
                  f"B's call should be cancelled with the client's within 2 s: {lines}")
            log(f"B's call ended {took:.2f} s after the client cancelled")
            a.stop()
            b.stop()


def case_unavailable(args):
    st = stubs(args)
    with Server(args.server, "--upstream", f"127.0.0.1:{harness.closed_port()}") as a:
        code, details, took = forward_error(st, a.port, name="x", hops=1)
        check(code == grpc.StatusCode.UNAVAILABLE and "refused" in details.lower(),
              f"expected UNAVAILABLE naming the refused connection: {code} {details!r}")
        check(took < 5, f"took {took:.2f} s")
        a.stop()


def case_dns(args):
    st = stubs(args)
    with Server(args.server) as b, Server(args.server, "--upstream", f"localhost:{b.port}") as a:
        r = forward(st, a.port, timeout=10.0, name="dns", hops=1)
        check(r.message == "Hello dns", f"through localhost: {r}")
        a.stop()
        b.stop()


def case_round_robin(args):
    st = stubs(args)
    with Server(args.server, "--shards", "1") as b1, Server(args.server, "--shards", "1") as b2, \
            Server(args.server, "--shards", "1", "--upstream-lb", "round_robin", "--upstream",
                   f"ipv4:127.0.0.1:{b1.port},127.0.0.1:{b2.port}") as a:
        for i in range(40):
            r = forward(st, a.port, timeout=10.0, name=str(i), hops=1)
            check(r.message == f"Hello {i}", f"call {i}: {r}")
        a.stop()
        b1.stop()
        b2.stop()
        n1, n2 = b1.result.total("ok"), b2.result.total("ok")
        log(f"B1 answered {n1}, B2 {n2}")
        check(n1 + n2 == 40 and n1 >= 10 and n2 >= 10,
              f"round_robin should spread 40 calls over both: {n1} + {n2}")


def case_tls(args):
    from pki import Pki  # noqa: E402
    st = stubs(args)
    pki = Pki()
    with Server(args.server, *pki.server_args()) as b:
        with Server(args.server, "--upstream", f"localhost:{b.tls_port}", "--upstream-ca",
                    pki.path("ca.pem")) as a:
            r = forward(st, a.port, timeout=10.0, name="tls", hops=1)
            check(r.message == "Hello tls", f"over TLS: {r}")
            a.stop()
        with Server(args.server, "--upstream", f"localhost:{b.tls_port}", "--upstream-ca",
                    pki.path("other.pem")) as a:
            code, details, _ = forward_error(st, a.port, name="x", hops=1)
            check(code == grpc.StatusCode.UNAVAILABLE,
                  f"a certificate from another CA: {code} {details!r}")
            log(f"wrong CA: {details}")
            a.stop()
        b.stop()


def case_bad_flags(args):
    for flags, word in ((["--upstream-lb", "random"], "--upstream-lb"),
                        (["--upstream", "dns://8.8.8.8/x:1"], "--upstream")):
        r = run_cmd([args.server, "--listen", "127.0.0.1:0", *flags], timeout=20)
        err = r.stderr.strip().splitlines()
        check(r.returncode == 2 and len(err) == 1 and word in err[0],
              f"{flags}: expected exit 2 and one line naming {word}: rc={r.returncode} {err}")


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    harness.run_cases(CASES, harness.parse_args())
