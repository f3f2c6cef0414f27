#!/usr/bin/python3
"""uringrpc-server against Debian's python3-grpcio: one scenario per --case.

  load         1,000 SayHello + 1,000 Health/Check over 4 channels (4 connections), all correct
  health       Check "" / each registered service -> SERVING, unknown -> NOT_FOUND
  unimplemented unknown method and unknown service -> UNIMPLEMENTED; the channel still works
  too_large    a 5 MiB request -> RESOURCE_EXHAUSTED; the same channel still works
  max_recv     --max-recv-message 1000: a 1000-byte message passes, 1001 bytes does not
  big_messages --max-recv-message 16 MiB: 5 MiB requests and replies on all three paths
  demo         BlockingHello and AsyncHello, 200 calls each, concurrently
  cancel       calls cancelled by the client and channels closed with calls in flight;
               the server keeps serving and shuts down cleanly
  shutdown_inflight  SIGTERM with AsyncHello/BlockingHello calls in flight: exit 0

Each case starts its own server, and after SIGTERM checks exit code 0 and that the shards'
ok counters add up to at least the successful calls made.
"""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None

RPC_TIMEOUT = 30  # seconds, per call (ASan on a loaded box)


def channel(target, **opts):
    options = [("grpc.use_local_subchannel_pool", 1)]  # a connection per channel
    options += list(opts.items())
    return grpc.insecure_channel(target, options=options)


def wait_ready(ch):
    grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT)


def expect_code(fn, code, what):
    try:
        resp = fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"{what}: expected {code.name}, got {e.code().name} "
                                f"({e.details()!r})")
        return e
    raise TestFailure(f"{what}: expected {code.name}, got OK with {resp!r}")


def finish(srv, ok_calls, extra=None):
    res = srv.stop()
    check(res.total("ok") >= ok_calls,
          f"stats ok counts sum to {res.total('ok')}, expected >= {ok_calls} calls made: "
          f"{res.stats}")
    check(res.total("calls") >= ok_calls,
          f"stats calls sum to {res.total('calls')}, expected >= {ok_calls}: {res.stats}")
    if extra:
        extra(res)
    return res


# ---- cases -------------------------------------------------------------------------------

def case_load(args, st):
    per_kind = 1000
    n_channels = 4
    with Server(args.server, "--shards", "2") as srv:
        chans = [channel(srv.target) for _ in range(n_channels)]
        errors = []

        def worker(ci):
            try:
                ch = chans[ci]
                wait_ready(ch)
                greeter = st.hw_grpc.GreeterStub(ch)
                health = st.health_grpc.HealthStub(ch)
                futs = []
                for i in range(ci, per_kind, n_channels):
                    name = f"client{ci}-call{i}"
                    futs.append(("hello", name,
                                 greeter.SayHello.future(st.hw.HelloRequest(name=name),
                                                         timeout=RPC_TIMEOUT)))
                    futs.append(("health", "", health.Check.future(
                        st.health.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)))
                for kind, name, f in futs:
                    r = f.result(timeout=RPC_TIMEOUT)
                    if kind == "hello" and r.message != f"Hello {name}":
                        errors.append(f"SayHello({name!r}) -> {r.message!r}")
                    if kind == "health" and r.status != st.health.HealthCheckResponse.SERVING:
                        errors.append(f"Check('') -> {r.status}")
            except Exception as e:  # a failed RPC is reported with the others
                errors.append(f"channel {ci}: {type(e).__name__}: {e}")

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_channels)]
        t0 = time.monotonic()
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
            check(not t.is_alive(), "a client thread did not finish within 120 s")
        log(f"{2 * per_kind} calls in {time.monotonic() - t0:.2f} s")
        for ch in chans:
            ch.close()
        check(not errors, f"{len(errors)} wrong results, first: {errors[:5]}")

        def more(res):
            check(res.total("failed") == 0 and res.total("cancelled") == 0,
                  f"expected no failed or cancelled calls: {res.stats}")
            check(res.total("connections") >= n_channels,
                  f"expected >= {n_channels} connections: {res.stats}")
        finish(srv, 2 * per_kind, more)


def case_health(args, st):
    with Server(args.server) as srv, channel(srv.target) as ch:
        health = st.health_grpc.HealthStub(ch)
        serving = ["", "helloworld.Greeter", "urpc.example.Demo", "grpc.health.v1.Health"]
        for name in serving:
            r = health.Check(st.health.HealthCheckRequest(service=name), timeout=RPC_TIMEOUT)
            check(r.status == st.health.HealthCheckResponse.SERVING,
                  f"Check({name!r}) -> status {r.status}, expected SERVING")
        for name in ["nope", "helloworld.Greeter.", "helloworld", "helloworld.greeter",
                     "helloworld.Greeter/SayHello"]:
            expect_code(lambda: health.Check(st.health.HealthCheckRequest(service=name),
                                             timeout=RPC_TIMEOUT),
                        grpc.StatusCode.NOT_FOUND, f"Check({name!r})")
        finish(srv, len(serving))


def case_health_watch(args, st):
    """Watch sends the current status at once and keeps the call open; an unknown service
    gets SERVICE_UNKNOWN (not an error) and stays open too (doc/health-checking.md)."""
    with Server(args.server) as srv, channel(srv.target) as ch:
        health = st.health_grpc.HealthStub(ch)
        for name, want in [("", st.health.HealthCheckResponse.SERVING),
                           ("helloworld.Greeter", st.health.HealthCheckResponse.SERVING),
                           ("nope", st.health.HealthCheckResponse.SERVICE_UNKNOWN)]:
            call = health.Watch(st.health.HealthCheckRequest(service=name), timeout=1.0)
            first = next(call)
            check(first.status == want, f"Watch({name!r}) first status {first.status}, want {want}")
            expect_code(lambda: next(call), grpc.StatusCode.DEADLINE_EXCEEDED,
                        f"Watch({name!r}) stays open")
        # The server is fine after the watches ended by deadline.
        r = health.Check(st.health.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
        check(r.status == st.health.HealthCheckResponse.SERVING, "Check after Watch")
        finish(srv, 1)


def case_ping(args, st):
    """fgrpc.PingServer/Ping as fortio's -ping mode calls it: the message comes back with ts set
    to the server's clock (ns), after delayNanos; 50 delayed pings at once must not queue
    behind each other (the shard waits on its timer wheel, it does not sleep)."""
    with Server(args.server, "--shards", "1") as srv, channel(srv.target) as ch:
        ping = st.ping_grpc.PingServerStub(ch)
        before = time.time_ns()
        r = ping.Ping(st.ping.PingMessage(seq=7, payload="abc"), timeout=RPC_TIMEOUT)
        check(r.seq == 7 and r.payload == "abc", f"echo: {r}")
        check(before - 1_000_000_000 <= r.ts <= time.time_ns() + 1_000_000_000,
              f"ts {r.ts} is not the server's wall clock (client {before})")
        delay = 200_000_000  # 200 ms each
        start = time.monotonic()
        futs = [ping.Ping.future(st.ping.PingMessage(seq=i, delayNanos=delay),
                                 timeout=RPC_TIMEOUT) for i in range(50)]
        got = sorted(f.result().seq for f in futs)
        elapsed = time.monotonic() - start
        check(got == list(range(50)), f"seqs {got}")
        check(elapsed >= delay / 1e9, f"50 pings of 200 ms came back in {elapsed:.3f} s")
        log(f"50 concurrent 200 ms pings on one shard took {elapsed:.2f} s")
        finish(srv, 51)


def case_unimplemented(args, st):
    ident = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with Server(args.server) as srv, channel(srv.target) as ch:
        req = harness.hello_request("x")
        paths = ["/helloworld.Greeter/Nope", "/nope.Nope/SayHello", "/helloworld.Greeter/",
                 "/helloworld.Greeter/SayHello/extra", "/helloworld.greeter/SayHello",
                 "/grpc.testing.TestService/UnimplementedCall"]  # declared, not registered
        for path in paths:
            e = expect_code(lambda: ch.unary_unary(path, **ident)(req, timeout=RPC_TIMEOUT),
                            grpc.StatusCode.UNIMPLEMENTED, f"call {path}")
            log(f"{path}: UNIMPLEMENTED {e.details()!r}")
        greeter = st.hw_grpc.GreeterStub(ch)
        r = greeter.SayHello(st.hw.HelloRequest(name="after"), timeout=RPC_TIMEOUT)
        check(r.message == "Hello after", f"SayHello after UNIMPLEMENTED -> {r.message!r}")
        # The generic path works for a registered method too (the bytes are the same).
        r = ch.unary_unary("/helloworld.Greeter/SayHello", **ident)(req, timeout=RPC_TIMEOUT)
        check(harness.parse_string_field1(r) == "Hello x", f"generic SayHello -> {r!r}")
        finish(srv, 2)


def case_too_large(args, st):
    big = 5 << 20
    with Server(args.server) as srv, channel(
            srv.target, **{"grpc.max_send_message_length": 16 << 20,
                           "grpc.max_receive_message_length": 16 << 20}) as ch:
        greeter = st.hw_grpc.GreeterStub(ch)
        r = greeter.SayHello(st.hw.HelloRequest(name="before"), timeout=RPC_TIMEOUT)
        check(r.message == "Hello before", f"SayHello -> {r.message!r}")
        for i in range(3):
            e = expect_code(lambda: greeter.SayHello(st.hw.HelloRequest(name="x" * big),
                                                     timeout=RPC_TIMEOUT),
                            grpc.StatusCode.RESOURCE_EXHAUSTED, f"5 MiB SayHello #{i}")
            log(f"5 MiB request: RESOURCE_EXHAUSTED {e.details()!r}")
            r = greeter.SayHello(st.hw.HelloRequest(name=f"after{i}"), timeout=RPC_TIMEOUT)
            check(r.message == f"Hello after{i}",
                  f"SayHello on the same channel after RESOURCE_EXHAUSTED -> {r.message!r}")
        # Just under the default limit of 4 MiB: accepted and echoed.
        name = "y" * ((4 << 20) - 8)
        r = greeter.SayHello(st.hw.HelloRequest(name=name), timeout=RPC_TIMEOUT)
        check(r.message == "Hello " + name, "SayHello with a 4 MiB - 4 byte message: wrong reply")
        finish(srv, 5)


def case_max_recv(args, st):
    limit = 1000
    with Server(args.server, "--max-recv-message", str(limit)) as srv, \
            channel(srv.target) as ch:
        greeter = st.hw_grpc.GreeterStub(ch)
        # HelloRequest with a name of n >= 128 bytes packs to 1 + 2 + n bytes.
        at = "a" * (limit - 3)
        check(len(st.hw.HelloRequest(name=at).SerializeToString()) == limit, "size arithmetic")
        r = greeter.SayHello(st.hw.HelloRequest(name=at), timeout=RPC_TIMEOUT)
        check(r.message == "Hello " + at, "a request of exactly the limit was not echoed")
        expect_code(lambda: greeter.SayHello(st.hw.HelloRequest(name=at + "b"),
                                             timeout=RPC_TIMEOUT),
                    grpc.StatusCode.RESOURCE_EXHAUSTED, "a request one byte over the limit")
        r = greeter.SayHello(st.hw.HelloRequest(name="ok"), timeout=RPC_TIMEOUT)
        check(r.message == "Hello ok", f"SayHello after the limit -> {r.message!r}")
        finish(srv, 2)


def case_big_messages(args, st):
    """--max-recv-message 16 MiB: a 5 MiB request is served and its 5 MiB reply arrives whole,
    also on the worker and async paths, with small calls interleaved on the same channel."""
    big = 5 << 20
    name = "".join(chr(65 + i % 26) for i in range(big))
    with Server(args.server, "--max-recv-message", str(16 << 20)) as srv, channel(
            srv.target, **{"grpc.max_send_message_length": 32 << 20,
                           "grpc.max_receive_message_length": 32 << 20}) as ch:
        greeter = st.hw_grpc.GreeterStub(ch)
        demo = st.demo_grpc.DemoStub(ch)
        calls = [(greeter.SayHello, name, "Hello " + name),
                 (demo.BlockingHello, name, f"Hello {name} (worker)"),
                 (demo.AsyncHello, name, f"Hello {name} (async)")]
        futs = []
        for i, (fn, n, want) in enumerate(calls):
            futs.append((fn.future(st.hw.HelloRequest(name=n), timeout=RPC_TIMEOUT), want))
            small = f"small{i}"
            futs.append((greeter.SayHello.future(st.hw.HelloRequest(name=small),
                                                 timeout=RPC_TIMEOUT), "Hello " + small))
        for f, want in futs:
            got = f.result(timeout=RPC_TIMEOUT).message
            check(got == want, f"reply of {len(got)} bytes differs from the expected "
                               f"{len(want)} bytes (first 40: {got[:40]!r})")
        finish(srv, len(futs))


def case_demo(args, st):
    n = 200
    with Server(args.server, "--shards", "2", "--workers-per-shard", "2") as srv:
        chans = [channel(srv.target) for _ in range(2)]
        futs = []
        for i in range(n):
            for kind, suffix in (("BlockingHello", "worker"), ("AsyncHello", "async")):
                stub = st.demo_grpc.DemoStub(chans[i % 2])
                name = f"{kind}-{i}"
                futs.append((name, f"Hello {name} ({suffix})",
                             getattr(stub, kind).future(st.hw.HelloRequest(name=name),
                                                        timeout=RPC_TIMEOUT)))
        bad = []
        for name, want, f in futs:
            try:
                got = f.result(timeout=RPC_TIMEOUT).message
                if got != want:
                    bad.append(f"{name}: {got!r} != {want!r}")
            except grpc.RpcError as e:
                bad.append(f"{name}: {e.code().name} {e.details()!r}")
        for ch in chans:
            ch.close()
        check(not bad, f"{len(bad)} of {2 * n} demo calls wrong, first: {bad[:5]}")

        def more(res):
            check(res.total("failed") == 0, f"expected no failed calls: {res.stats}")
        finish(srv, 2 * n, more)


def case_worker_stream(args, st):
    """A worker thread streams 16 KiB replies and waits for on_writable (run on the shard) each
    time its send buffer is full: 4 calls x 400 replies all arrive, none waits forever for a
    notification it missed, and a cancelled one ends."""
    with Server(args.server, "--shards", "1", "--workers-per-shard", "4") as srv:
        with channel(srv.target) as ch:
            stub = st.demo_grpc.DemoStub(ch)
            calls = [stub.StreamFromWorker(st.hw.HelloRequest(name="400"), timeout=RPC_TIMEOUT)
                     for _ in range(4)]
            counts = [sum(1 for r in c if len(r.message) == 16384) for c in calls]
            check(counts == [400] * 4, f"replies per call: {counts}")
            c = stub.StreamFromWorker(st.hw.HelloRequest(name="10000"), timeout=RPC_TIMEOUT)
            next(c)
            c.cancel()
        log(f"4 streams of 400 x 16 KiB sent from worker threads: {counts}; one cancelled")
        finish(srv, 4)


def case_cancel(args, st):
    """Client-side cancellation and vanished connections while handlers still hold calls."""
    with Server(args.server, "--shards", "1", "--workers-per-shard", "1") as srv:
        with channel(srv.target) as ch:
            wait_ready(ch)
            demo = st.demo_grpc.DemoStub(ch)
            futs = [demo.AsyncHello.future(st.hw.HelloRequest(name=f"c{i}"), timeout=RPC_TIMEOUT)
                    for i in range(50)]
            futs += [demo.BlockingHello.future(st.hw.HelloRequest(name=f"b{i}"),
                                               timeout=RPC_TIMEOUT) for i in range(50)]
            for f in futs:
                f.cancel()
            for f in futs:
                try:
                    f.result(timeout=RPC_TIMEOUT)
                except (grpc.FutureCancelledError, grpc.RpcError):
                    pass
            greeter = st.hw_grpc.GreeterStub(ch)
            r = greeter.SayHello(st.hw.HelloRequest(name="after cancel"), timeout=RPC_TIMEOUT)
            check(r.message == "Hello after cancel", f"SayHello after cancels -> {r.message!r}")
        # Channels closed with calls in flight: the replies come back to dead connections.
        for _ in range(5):
            ch = channel(srv.target)
            wait_ready(ch)
            demo = st.demo_grpc.DemoStub(ch)
            for i in range(20):
                demo.AsyncHello.future(st.hw.HelloRequest(name="gone"), timeout=RPC_TIMEOUT)
                demo.BlockingHello.future(st.hw.HelloRequest(name="gone"), timeout=RPC_TIMEOUT)
            time.sleep(0.0005)
            ch.close()
        time.sleep(0.2)
        with channel(srv.target) as ch:
            demo = st.demo_grpc.DemoStub(ch)
            r = demo.AsyncHello(st.hw.HelloRequest(name="still"), timeout=RPC_TIMEOUT)
            check(r.message == "Hello still (async)", f"AsyncHello afterwards -> {r.message!r}")
            r = demo.BlockingHello(st.hw.HelloRequest(name="still"), timeout=RPC_TIMEOUT)
            check(r.message == "Hello still (worker)",
                  f"BlockingHello afterwards -> {r.message!r}")
        finish(srv, 3)


def case_shutdown_inflight(args, st):
    """SIGTERM while AsyncHello and BlockingHello calls are in flight: clean exit 0."""
    with Server(args.server, "--shards", "2", "--workers-per-shard", "1") as srv:
        ch = channel(srv.target)
        wait_ready(ch)
        demo = st.demo_grpc.DemoStub(ch)
        futs = []
        for i in range(100):
            futs.append(demo.AsyncHello.future(st.hw.HelloRequest(name="t"), timeout=RPC_TIMEOUT))
            futs.append(demo.BlockingHello.future(st.hw.HelloRequest(name="t"),
                                                  timeout=RPC_TIMEOUT))
        time.sleep(0.002)
        res = srv.stop()  # checks exit 0, stats lines, no sanitizer report
        log(f"calls={res.total('calls')} ok={res.total('ok')} cancelled={res.total('cancelled')}")
        done = 0
        for f in futs:
            try:
                f.result(timeout=RPC_TIMEOUT)
                done += 1
            except grpc.RpcError:
                pass
        ch.close()
        check(res.total("ok") >= done, f"{done} calls succeeded but ok counts are {res.stats}")


CASES = {
    "health_watch": case_health_watch,
    "ping": case_ping,
    "load": case_load,
    "health": case_health,
    "unimplemented": case_unimplemented,
    "too_large": case_too_large,
    "max_recv": case_max_recv,
    "big_messages": case_big_messages,
    "demo": case_demo,
    "cancel": case_cancel,
    "worker_stream": case_worker_stream,
    "shutdown_inflight": case_shutdown_inflight,
}


def main():
    args = harness.parse_args()

    def run(a):
        if grpc is None:
            raise Skip("python3-grpcio is not installed for /usr/bin/python3")
        st = harness.Stubs(a.proto_dir)
        CASES[a.case](a, st)

    harness.run_cases({k: run for k in CASES}, args)


if __name__ == "__main__":
    main()
