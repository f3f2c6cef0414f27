#!/usr/bin/python3
"""Graceful shutdown of uringrpc-server on SIGTERM, against python3-grpcio and raw HTTP/2
(python3-h2's hpack, frames by hand so the test decides when the PING is answered).

  goaway_sequence  GOAWAY(2^31-1, NO_ERROR), then a PING; a stream the client sends
                   before answering that PING is still served; after the PING ack a GOAWAY
                   names it as the last stream; both calls end OK and the server closes
  inflight         grpcio: 40 calls (1 s server delay) on 4 connections in flight at SIGTERM
                   all succeed; a new connection is refused while they finish; exit 0 as soon
                   as they are done, well before the grace period
  inflight_tls     the same over TLS 1.3: 10 calls in flight finish
  grace            --shutdown-grace 1 with a 30 s call in flight: the call is cut, the server
                   exits at the end of the grace period and says so
  second_signal    a second SIGTERM during the grace period stops at once
  health           a Health/Watch stream hears NOT_SERVING when the drain begins
  idle             20 idle HTTP/2 connections that answer the PING are closed at once; one
                   that never answers is held until the (3 s) grace period ends (the PING round
                   trip is waited for, not assumed)
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None
try:
    import hpack
    import h2raw
    from h2raw import (MAX_STREAM_ID, T_GOAWAY, T_PING, T_SETTINGS, answer_drain, frame, goaways,
                       grpc_statuses, raw_conn, read_frames, ready_conn, request)
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

RPC_TIMEOUT = 30


def stubs(args):
    harness.require(grpc, "python3-grpcio")
    return harness.Stubs(args.proto_dir)


def channel(target):
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


def ping_call(st, ch, delay_s, seq=0):
    return st.ping_grpc.PingServerStub(ch).Ping.future(
        st.ping.PingMessage(seq=seq, delayNanos=int(delay_s * 1e9)), timeout=RPC_TIMEOUT)


def ping_payload(st, delay_s):
    return st.ping.PingMessage(seq=1, delayNanos=int(delay_s * 1e9)).SerializeToString()


def case_goaway_sequence(args):
    harness.require(h2raw, "python3-h2")
    st = stubs(args)
    with Server(args.server, "--shards", "1") as srv:
        s = raw_conn(srv.port)
        enc = hpack.Encoder()
        s.sendall(frame(T_SETTINGS, 0x1, 0) + request(enc, 1, ping_payload(st, 0.5)))
        time.sleep(0.1)
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        first, eof = read_frames(s, 10, stop=lambda fr: any(
            t == T_PING and not fl & 1 for t, fl, _, _ in fr))
        check(not eof, f"the server closed before its PING: {first}")
        g = goaways(first)
        check(g and g[0] == (MAX_STREAM_ID, 0),
              f"first GOAWAY must be (2^31-1, NO_ERROR), got {g}")
        order = [t for t, fl, _, _ in first if t == T_GOAWAY or (t == T_PING and not fl & 1)]
        check(order[:2] == [T_GOAWAY, T_PING],
              f"the PING must follow the GOAWAY (its ack proves the GOAWAY was seen): {order}")
        ping = next(p for t, fl, _, p in first if t == T_PING and not fl & 1)
        # The client had sent stream 3 before it read the GOAWAY: it still counts.
        s.sendall(request(enc, 3, ping_payload(st, 0.0)))
        time.sleep(0.2)
        s.sendall(frame(T_PING, 0x1, 0, ping))
        rest, eof = read_frames(s, 10)
        elapsed = time.monotonic() - t0
        frames = first + rest
        g = goaways(frames)
        check(len(g) == 2 and g[1] == (3, 0),
              f"second GOAWAY must name stream 3 with NO_ERROR: {g}")
        codes = grpc_statuses(frames)
        check(codes == {1: 0, 3: 0}, f"both calls must end OK: {codes}")
        check(eof, "the server must close the connection once its calls are done")
        s.close()
        res = srv.wait_exit(what="SIGTERM")
        check(res.total("ok") >= 2, f"ok counts {res.stats}")
        check(elapsed < 5, f"took {elapsed:.2f} s: the drain waited for something else")
        log(f"GOAWAY(2^31-1) + PING, stream 3 sent late still served, GOAWAY(3), closed "
            f"in {elapsed:.2f} s")


def refused(port):
    """Nobody accepts there any more: refused, or reset (a connection that reached the
    backlog of a listener as it closed)."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except (ConnectionRefusedError, ConnectionResetError):
        return True


def case_inflight(args):
    st = stubs(args)
    with Server(args.server, "--shards", "2") as srv:
        chans = [channel(srv.target) for _ in range(4)]
        for ch in chans:
            grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT)
        # calls of 3 s: the drain lasts long enough for a loaded box (ASan, CI) to show the
        # listeners closed while calls are still in flight
        futs = [ping_call(st, chans[i % 4], 3.0, i) for i in range(40)]
        time.sleep(0.2)
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 2.5
        while not refused(srv.port) and time.monotonic() < deadline:
            time.sleep(0.02)
        check(refused(srv.port), "new connections are still accepted while draining")
        seqs = sorted(f.result(timeout=RPC_TIMEOUT).seq for f in futs)
        check(seqs == list(range(40)), f"calls in flight lost: {seqs}")
        res = srv.wait_exit(what="SIGTERM")
        elapsed = time.monotonic() - t0
        for ch in chans:
            ch.close()
        check(res.total("ok") >= 40, f"ok counts {res.stats}")
        check(elapsed < 8, f"exit {elapsed:.2f} s after SIGTERM: not as soon as the calls ended")
        log(f"40 calls in flight finished OK; listener refused; exit {elapsed:.2f} s after SIGTERM")


def case_inflight_tls(args):
    """The same over TLS: GOAWAY and PING are sealed like any output; 10 calls in flight end OK."""
    st = stubs(args)
    with tempfile.TemporaryDirectory(prefix="urpc-drain-tls-") as d:
        r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-keyout",
                            f"{d}/k.pem", "-out", f"{d}/c.pem", "-subj", "/CN=localhost",
                            "-addext", "subjectAltName=DNS:localhost"],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode == 0, f"openssl: {r.stderr}")
        with open(f"{d}/c.pem", "rb") as f:
            creds = grpc.ssl_channel_credentials(f.read())
        with Server(args.server, "--shards", "1", "--tls-listen", "127.0.0.1:0", "--tls-cert",
                    f"{d}/c.pem", "--tls-key", f"{d}/k.pem") as srv:
            ch = grpc.secure_channel(f"127.0.0.1:{srv.tls_port}", creds,
                                     options=[("grpc.ssl_target_name_override", "localhost")])
            grpc.channel_ready_future(ch).result(timeout=RPC_TIMEOUT)
            futs = [ping_call(st, ch, 1.0, i) for i in range(10)]
            time.sleep(0.2)
            t0 = time.monotonic()
            os.kill(srv.proc.pid, signal.SIGTERM)
            seqs = sorted(f.result(timeout=RPC_TIMEOUT).seq for f in futs)
            check(seqs == list(range(10)), f"calls in flight lost over TLS: {seqs}")
            srv.wait_exit(what="SIGTERM")
            elapsed = time.monotonic() - t0
            ch.close()
            check(elapsed < 8, f"exit {elapsed:.2f} s after SIGTERM")
            log(f"TLS: 10 calls in flight finished OK; exit {elapsed:.2f} s after SIGTERM")


def case_grace(args):
    st = stubs(args)
    with Server(args.server, "--shards", "1", "--shutdown-grace", "1") as srv:
        ch = channel(srv.target)
        fut = ping_call(st, ch, 30.0)
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        res = srv.wait_exit(what="SIGTERM")
        elapsed = time.monotonic() - t0
        try:
            fut.result(timeout=RPC_TIMEOUT)
            raise TestFailure("a 30 s call outlived a 1 s grace period")
        except grpc.RpcError as e:
            check(e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED,
                               grpc.StatusCode.INTERNAL), f"cut call -> {e.code()}")
            code = e.code().name
        ch.close()
        check(0.9 <= elapsed < 8, f"exit {elapsed:.2f} s after SIGTERM with a 1 s grace")
        check("grace period over" in res.stderr, f"stderr: {res.stderr!r}")
        check(res.total("cancelled") >= 1, f"the cut call is not counted cancelled: {res.stats}")
        log(f"grace 1 s: exit after {elapsed:.2f} s, the call in flight got {code}")


def case_second_signal(args):
    st = stubs(args)
    with Server(args.server, "--shards", "1", "--shutdown-grace", "60") as srv:
        ch = channel(srv.target)
        fut = ping_call(st, ch, 30.0)
        time.sleep(0.3)
        os.kill(srv.proc.pid, signal.SIGTERM)
        time.sleep(0.3)
        check(srv.alive(), "the server exited at the first SIGTERM with a call in flight")
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        res = srv.wait_exit(what="the second SIGTERM")
        elapsed = time.monotonic() - t0
        check(elapsed < 5, f"exit {elapsed:.2f} s after the second SIGTERM")
        check("second signal" in res.stderr, f"stderr: {res.stderr!r}")
        try:
            fut.result(timeout=RPC_TIMEOUT)
        except grpc.RpcError:
            pass
        ch.close()
        log(f"second SIGTERM: exit after {elapsed:.2f} s")


def case_health(args):
    st = stubs(args)
    with Server(args.server, "--shards", "2", "--shutdown-grace", "2") as srv:
        ch = channel(srv.target)
        watch = st.health_grpc.HealthStub(ch).Watch(st.health.HealthCheckRequest(service=""),
                                                    timeout=RPC_TIMEOUT)
        seen = []

        def read():
            try:
                for r in watch:
                    seen.append(r.status)
            except grpc.RpcError:
                pass
        reader = threading.Thread(target=read)
        reader.start()
        deadline = time.monotonic() + 10
        while not seen and time.monotonic() < deadline:
            time.sleep(0.02)
        check(seen == [st.health.HealthCheckResponse.SERVING], f"before: {seen}")
        os.kill(srv.proc.pid, signal.SIGTERM)
        srv.wait_exit(what="SIGTERM")
        reader.join(timeout=RPC_TIMEOUT)
        ch.close()
        check(seen[:2] == [st.health.HealthCheckResponse.SERVING,
                           st.health.HealthCheckResponse.NOT_SERVING],
              f"Watch saw {seen}, expected SERVING then NOT_SERVING")
        log("Watch: SERVING, then NOT_SERVING when the drain began")


def case_idle(args):
    harness.require(h2raw, "python3-h2")
    with Server(args.server, "--shards", "2", "--shutdown-grace", "3") as srv:
        # python3-h2 treats the first GOAWAY as the end and will not answer the PING after
        # it, so these clients are raw: preface, SETTINGS ack, then only the PING answer.
        socks = [ready_conn(srv.port) for _ in range(20)]
        silent = raw_conn(srv.port)  # sends its preface, then never reads or answers
        time.sleep(0.3)
        t0 = time.monotonic()
        os.kill(srv.proc.pid, signal.SIGTERM)
        closed = sum(answer_drain(s) for s in socks)
        answered = time.monotonic() - t0
        for s in socks:
            s.close()
        check(closed == 20, f"{closed} of 20 answering connections closed")
        res = srv.wait_exit(what="SIGTERM")
        elapsed = time.monotonic() - t0
        silent.close()
        check(answered < 2.5, f"answering connections closed only after {answered:.2f} s")
        check(2.7 <= elapsed < 9, f"exit {elapsed:.2f} s after SIGTERM: the silent connection "
                                  f"must be held to the 3 s grace period, not closed early")
        check("grace period over" in res.stderr, f"stderr: {res.stderr!r}")
        log(f"20 answering connections closed in {answered:.2f} s; the silent one held until "
            f"the grace period ({elapsed:.2f} s)")


CASES = {
    "goaway_sequence": case_goaway_sequence,
    "inflight": case_inflight,
    "inflight_tls": case_inflight_tls,
    "grace": case_grace,
    "second_signal": case_second_signal,
    "health": case_health,
    "idle": case_idle,
}


def main():
    args = harness.parse_args()
    harness.run_cases(CASES, args)


if __name__ == "__main__":
    main()
