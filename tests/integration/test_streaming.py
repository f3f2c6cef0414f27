#!/usr/bin/python3
"""Streaming under pressure, with python3-grpcio against grpc.testing.TestService:

  backpressure_server_stream  1 GiB server stream to a client that reads slower than the server
                              writes: every byte arrives and the server's RSS stays bounded
  client_stream_large         256 MiB client stream: every byte counted, windows given back
  slow_handler_slows_client   16 MiB streamed into a handler that takes 5 ms per message and
                              holds the window meanwhile (urpc_call_pause_recv): the client is
                              held to the handler's pace, the server buffers nothing
  cancel_streams              1,000 bidi calls cancelled mid-flight and 1,000 deadlines expiring
                              on open streams, then the server exits with no call still live

backpressure_server_stream and cancel_streams also check the server's metrics (admin endpoint):
window stalls, deadlines expired and calls handled by code against what the client saw.

The harness checks at exit that every shard reports live=0 and that no sanitizer spoke."""
import os
import sys
import threading
import time
from concurrent import futures

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import test_interop as interop  # noqa: E402
from harness import Server, Skip, check, log  # noqa: E402

try:
    import grpc
except ImportError:
    grpc = None

MIB = 1 << 20
RSS_BOUND = 96 * MIB  # growth allowed while streaming 1 GiB: the send buffers, not the stream


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop_flag = pid, 0, False

    def run(self):
        while not self.stop_flag:
            self.peak = max(self.peak, harness.rss_kib(self.pid) * 1024)
            time.sleep(0.02)


def case_backpressure_server_stream(c, srv):
    n = 1024  # 1,024 messages of 1 MiB
    req = c.m.StreamingOutputCallRequest(
        response_type=c.m.COMPRESSABLE,
        response_parameters=[c.m.ResponseParameters(size=MIB) for _ in range(n)])
    base = harness.rss_kib(srv.proc.pid) * 1024
    sampler = RssSampler(srv.proc.pid)
    sampler.start()
    got = total = 0
    start = time.monotonic()
    call = c.stub.StreamingOutputCall(req, timeout=120)
    for r in call:
        got += 1
        total += len(r.payload.body)
        if got == 1:
            # a reader that stops: the server fills the client's windows whatever its speed
            # (a TSan build sends slower than the periodic naps below let the client read)
            time.sleep(1.5)
        if got % 64 == 0:
            time.sleep(0.05)  # a reader slower than the server: the window must hold it back
    sampler.stop_flag = True
    sampler.join()
    check(call.code() == grpc.StatusCode.OK, f"status {call.code()} {call.details()!r}")
    check(got == n and total == n * MIB, f"received {got} messages, {total} bytes")
    growth = sampler.peak - base
    log(f"1 GiB in {time.monotonic() - start:.1f} s; server RSS {base // 1024} KiB -> peak "
        f"{sampler.peak // 1024} KiB (+{growth // 1024} KiB, bound {RSS_BOUND // 1024} KiB)")
    check(growth < RSS_BOUND, f"server RSS grew by {growth // MIB} MiB streaming 1 GiB")
    # The server held back by the client's windows: counted as stalls.
    m = srv.metrics()
    stalls = {w: m.get("uringrpc_flow_control_stalls_total", window=w)
              for w in ("stream", "connection")}
    log(f"metrics: window stalls {stalls}")
    check(sum(stalls.values()) >= 1, f"1 GiB to a slow reader, yet no window stall: {stalls}")


def case_client_stream_large(c, srv):
    n = 256  # 256 messages of 1 MiB
    body = c.m.StreamingInputCallRequest(payload=c.zeros(MIB))
    r = c.stub.StreamingInputCall(iter([body] * n), timeout=120)
    check(r.aggregated_payload_size == n * MIB,
          f"aggregated_payload_size {r.aggregated_payload_size}, expected {n * MIB}")
    log(f"{n} MiB counted by the server")


def case_slow_handler_slows_client(c, srv):
    hw = harness.Stubs(c.proto_dir)
    demo = hw.demo_grpc.DemoStub(c.ch)
    n, size, window = 512, 32 * 1024, 64 * 1024  # the server runs with --stream-window 65536
    name = "x" * size
    base = harness.rss_kib(srv.proc.pid) * 1024
    sampler = RssSampler(srv.proc.pid)
    sampler.start()
    start = time.monotonic()
    r = demo.CountSlowly(iter([hw.hw.HelloRequest(name=name)] * n), timeout=120)
    took = time.monotonic() - start
    sampler.stop_flag = True
    sampler.join()
    check(r.message == f"counted {n * size} bytes in {n} messages", f"reply {r.message!r}")
    # Each 5 ms pause lets at most one stream window through, so the stream cannot finish in
    # less than (bytes / window - 1) pauses: a lower bound, which only a broken pause can beat.
    floor = (n * size // window - 1) * 0.005
    log(f"16 MiB through a 5 ms/message handler in {took:.2f} s (floor {floor:.2f} s); "
        f"server RSS +{(sampler.peak - base) // 1024} KiB")
    check(took >= floor, f"the client was not held back: {took:.2f} s < {floor:.2f} s")
    check(sampler.peak - base < 32 * MIB, "the server buffered the stream")


def one_cancelled(c):
    pipe = interop.Pipe()
    call = c.stub.FullDuplexCall(pipe, timeout=30)
    pipe.add(c.m.StreamingOutputCallRequest(response_parameters=c.params(100)))
    first = next(call)
    check(len(first.payload.body) == 100, "first response size")
    call.cancel()
    pipe.close()


def one_deadline(c):
    pipe = interop.Pipe()
    call = c.stub.FullDuplexCall(pipe, timeout=0.05)
    try:
        for _ in call:
            pass
    except grpc.RpcError:
        pass
    check(call.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"status {call.code()}")
    pipe.close()


def case_cancel_streams(c, srv):
    ctxs = [interop.Ctx(c.target, c.st) for _ in range(4)]
    try:
        with futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: one_cancelled(ctxs[i % 4]), range(1000)))
            log("1,000 streams cancelled after their first response")
            list(pool.map(lambda i: one_deadline(ctxs[i % 4]), range(1000)))
            log("1,000 streams ended by their deadline")
        # The server still serves.
        r = c.stub.UnaryCall(c.m.SimpleRequest(response_size=10), timeout=10)
        check(len(r.payload.body) == 10, "UnaryCall after the cancellations")
        # Each call the server saw (the 1,000 cancelled ones, and those of the 1,000 with a
        # deadline whose HEADERS went out before grpcio gave up) ended Canceled (the client's
        # reset) or, where the server's timer came first, DeadlineExceeded: one per deadline
        # counted expired.
        m = srv.wait_metrics(lambda m: m.get("uringrpc_calls_live") == 0, timeout=10)
        expired = m.get("uringrpc_deadlines_expired_total")
        by_code = {code: m.sum("grpc_server_handled_total", grpc_method="FullDuplexCall",
                               grpc_code=code) for code in ("Canceled", "DeadlineExceeded")}
        started = m.sum("grpc_server_started_total", grpc_method="FullDuplexCall")
        handled = m.sum("grpc_server_handled_total", grpc_method="FullDuplexCall")
        log(f"metrics: {expired:g} deadlines expired; FullDuplexCall started {started:g}, "
            f"handled {by_code}")
        check(1000 + expired <= started <= 2000 and handled == started
              and sum(by_code.values()) == handled,
              f"FullDuplexCall started {started:g}, handled {handled:g} {by_code}: expected "
              f"1,000 + {expired:g} to 2,000, each Canceled or DeadlineExceeded")
        check(by_code["Canceled"] >= 1000 and by_code["DeadlineExceeded"] == expired,
              f"{expired:g} deadlines expired, FullDuplexCall handled {by_code}")
    finally:
        for x in ctxs:
            x.close()


CASES = {
    "backpressure_server_stream": case_backpressure_server_stream,
    "client_stream_large": case_client_stream_large,
    "cancel_streams": case_cancel_streams,
    "slow_handler_slows_client": case_slow_handler_slows_client,
}

SERVER_ARGS = {"slow_handler_slows_client": ["--stream-window", "65536"],
               "backpressure_server_stream": list(harness.ADMIN),
               "cancel_streams": list(harness.ADMIN)}


def run_case(args):
    # Under ASan, freed buffers wait in its quarantine (256 MiB by default) and would count as
    # RSS: keep it small so the bound measures the server, not the sanitizer.
    os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
    if grpc is None:
        raise Skip("python3-grpcio is not installed for /usr/bin/python3")
    st = interop.InteropStubs(interop.find_proto_dir(args))
    with Server(args.server, *args.server_arg, *SERVER_ARGS.get(args.case, [])) as srv:
        c = interop.Ctx(srv.target, st)
        c.proto_dir = args.proto_dir
        try:
            grpc.channel_ready_future(c.ch).result(timeout=10)
            CASES[args.case](c, srv)
        finally:
            c.close()
        srv.stop()  # exit 0, live=0 on every shard, no sanitizer report


def main():
    args = interop.parse_args()
    harness.run_cases({k: run_case for k in CASES}, args)


if __name__ == "__main__":
    main()
