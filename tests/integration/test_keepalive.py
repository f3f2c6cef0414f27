#!/usr/bin/python3
"""Connection lifetime (grpc's keepalive and connection-management settings), against raw
HTTP/2 frames and python3-grpcio channels with keepalive on.

  keepalive_ping   --keepalive-time 1: a silent client gets a PING; answered, the connection
                   stays; unanswered, it is closed after --keepalive-timeout
  ping_strikes     four PINGs in a row without calls: GOAWAY(ENHANCE_YOUR_CALM,
                   "too_many_pings"); PINGs each followed by a call (the server sends DATA)
                   are forgiven; --permit-keepalive-without-calls --min-ping-interval 0 allows
                   any number
  grpcio_keepalive a grpcio channel pinging every second during a call: the default server
                   tells it too_many_pings (as grpc's servers do); pinging every 1.5 s, a
                   server with --min-ping-interval 1 serves it quietly
  max_idle         --max-connection-idle 1: a connection without calls gets the graceful
                   GOAWAY and closes; one with a call in flight is left alone until it ends
  idle_trim        300 connections that made a call cost < 15 KiB of server RSS each a quiet
                   second later (nghttp2's scratch pages given back), and are served again
  max_age          --max-connection-age 1 --max-connection-age-grace 1: GOAWAY after about a
                   second, a longer call is cut at the end of the grace; grpcio calling
                   without pause for 4 s sees no failure while its connection is replaced

Each case but idle_trim also checks the server's metrics (admin endpoint) against what the
client saw: connections closed by reason, ping strikes, GOAWAYs sent by code, limit hits.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None
try:
    import hpack
    import h2raw
    from h2raw import (T_GOAWAY, T_PING, answer_drain, frame, goaways, grpc_statuses,
                       read_frames, ready_conn, request)
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

RPC_TIMEOUT = 30
ENHANCE_YOUR_CALM = 11
CLOSE_REASONS = ("peer", "goaway", "idle", "age", "keepalive_timeout", "error", "limit",
                 "shutdown")


def closed(m, reason):
    return m.get("uringrpc_connections_closed_total", reason=reason)


def closed_all(m):
    return sum(closed(m, r) for r in CLOSE_REASONS)


def expect_closed(m, **want):
    """Connections closed by each reason: as in `want`, 0 for the others."""
    got = {r: closed(m, r) for r in CLOSE_REASONS}
    check(got == {r: want.get(r, 0) for r in CLOSE_REASONS},
          f"uringrpc_connections_closed_total by reason {got}, expected {want} (others 0)")


def need_h2():
    harness.require(h2raw, "python3-h2")


def stubs(args):
    harness.require(grpc, "python3-grpcio")
    return harness.Stubs(args.proto_dir)


def server_pings(frames):
    return [p for t, fl, _, p in frames if t == T_PING and not fl & 1]


def ping_msg(delay_s, seq=1):
    """fgrpc.PingMessage by hand: seq (field 1) and delayNanos (field 4), varints."""
    return b"\x08" + harness.varint(seq) + b"\x20" + harness.varint(int(delay_s * 1e9))


def case_keepalive_ping(args):
    need_h2()
    with Server(args.server, "--shards", "1", "--keepalive-time", "1",
                "--keepalive-timeout", "1", *harness.ADMIN) as srv:
        s = ready_conn(srv.port)
        t0 = time.monotonic()
        frames, eof = read_frames(s, 8, stop=lambda fr: server_pings(fr))
        first = time.monotonic() - t0
        check(server_pings(frames) and not eof, f"no keepalive PING within 5 s: {frames}")
        s.sendall(frame(T_PING, 0x1, 0, server_pings(frames)[0]))
        # Answered: the next PING comes a keepalive time later, and the connection lives.
        frames, eof = read_frames(s, 5, stop=lambda fr: server_pings(fr))
        check(server_pings(frames) and not eof, f"answered, yet no second PING: eof={eof}")
        t1 = time.monotonic()
        frames, eof = read_frames(s, 10)  # now silent: closed after the timeout
        gone = time.monotonic() - t1
        s.close()
        check(eof, "an unanswered keepalive PING did not close the connection")
        check(0.8 <= first <= 5.0, f"first PING after {first:.2f} s with --keepalive-time 1")
        check(0.8 <= gone <= 6.0, f"closed {gone:.2f} s after an unanswered PING (timeout 1 s)")
        # Counted before the socket is closed: the client's EOF means the count is in.
        m = srv.metrics()
        expect_closed(m, keepalive_timeout=1)
        m.expect("uringrpc_connections_accepted_total", 1)
        m.expect("uringrpc_http2_ping_strikes_total", 0)  # the client only acked our PING
        h2raw.say_hello_ok(srv.port)
        m = srv.wait_metrics(lambda m: closed_all(m) == 2)
        expect_closed(m, keepalive_timeout=1, peer=1)  # the probe closed by its client
        m.expect("uringrpc_connections_accepted_total", 2)
        srv.stop()
        log(f"PING after {first:.2f} s; answered → kept; unanswered → closed after {gone:.2f} s")


def too_many_pings(frames):
    for t, _, _, p in frames:
        if t == T_GOAWAY and int.from_bytes(p[4:8], "big") == ENHANCE_YOUR_CALM:
            return p[8:] == b"too_many_pings"
    return False


def case_ping_strikes(args):
    need_h2()
    with Server(args.server, "--shards", "1", *harness.ADMIN) as srv:
        s = ready_conn(srv.port)
        for i in range(4):  # the first is free, then grpc's default allows two strikes
            s.sendall(frame(T_PING, 0, 0, bytes(7) + bytes([i])))
        frames, eof = read_frames(s, 5)
        s.close()
        check(too_many_pings(frames) and eof,
              f"4 PINGs in a row: expected GOAWAY(ENHANCE_YOUR_CALM, too_many_pings) and close; "
              f"got {goaways(frames)} eof={eof}")
        # The first PING is free, the next two are the strikes allowed, the fourth is one too
        # many; the client saw the GOAWAY and the close, so all is counted.
        m = srv.metrics()
        m.expect("uringrpc_http2_ping_strikes_total", 3)
        m.expect("uringrpc_limit_hits_total", 1, limit="pings")
        m.expect("uringrpc_http2_goaway_sent_total", 1, code="ENHANCE_YOUR_CALM")
        check(m.sum("uringrpc_http2_goaway_sent_total") == 1,
              "GOAWAYs other than the ENHANCE_YOUR_CALM one were counted")
        expect_closed(m, limit=1)
        # Each PING followed by a call: the server's DATA forgives the strikes.
        s = ready_conn(srv.port)
        enc, seen = hpack.Encoder(), []  # one HPACK context: decode everything read so far
        for i in range(6):
            sid = 1 + 2 * i
            s.sendall(frame(T_PING, 0, 0, bytes(7) + bytes([i])) + request(enc, sid, ping_msg(0)))
            frames, eof = read_frames(s, 5, stop=lambda fr, sid=sid: sid in grpc_statuses(seen + fr))
            seen += frames
            check(not eof and not goaways(frames), f"PING + call {i}: {goaways(frames)} eof={eof}")
        m = srv.wait_metrics(lambda m: m.sum("grpc_server_handled_total", grpc_method="Ping") == 6)
        m.expect("uringrpc_http2_ping_strikes_total", 3)  # forgiven: no strike more
        m.expect("uringrpc_limit_hits_total", 1, limit="pings")
        check(m.sum("grpc_server_handled_total", grpc_method="Ping", grpc_code="OK") == 6,
              "the 6 Ping calls between the PINGs are not all counted OK")
        s.close()
        srv.stop()
    with Server(args.server, "--shards", "1", "--permit-keepalive-without-calls",
                "--min-ping-interval", "0", *harness.ADMIN) as srv:
        s = ready_conn(srv.port)
        for i in range(10):
            s.sendall(frame(T_PING, 0, 0, bytes(7) + bytes([i])))
        frames, eof = read_frames(s, 2, stop=lambda fr: sum(
            t == T_PING and fl & 1 for t, fl, _, _ in fr) == 10)
        s.close()
        acks = sum(t == T_PING and fl & 1 for t, fl, _, _ in frames)
        check(acks == 10 and not goaways(frames), f"10 PINGs allowed: {acks} acks, "
                                                  f"GOAWAY {goaways(frames)}")
        m = srv.metrics()
        m.expect("uringrpc_http2_ping_strikes_total", 0)
        m.expect("uringrpc_limit_hits_total", 0, limit="pings")
        m.expect("uringrpc_http2_goaway_sent_total", 0, code="ENHANCE_YOUR_CALM")
        srv.stop()
    log("4 idle PINGs → too_many_pings; PINGs between calls forgiven; permitted when asked")


def keepalive_channel(target, every_ms):
    return grpc.insecure_channel(target, options=[
        ("grpc.use_local_subchannel_pool", 1), ("grpc.keepalive_time_ms", every_ms),
        ("grpc.keepalive_timeout_ms", 5000), ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.http2.min_time_between_pings_ms", every_ms)])


def watch_while_pinging(st, target, every_ms, seconds):
    """A Health/Watch stream open for `seconds` on a channel that pings every `every_ms` (an
    open call keeps grpcio's poller, and so its keepalive timer, running). Returns the error
    that ended the stream, or None if it was still open."""
    ch = keepalive_channel(target, every_ms)
    watch = st.health_grpc.HealthStub(ch).Watch(st.health.HealthCheckRequest(service=""),
                                                timeout=seconds)
    err = None
    try:
        for _ in watch:
            pass
    except grpc.RpcError as e:
        err = e.code()
    ch.close()
    return None if err == grpc.StatusCode.DEADLINE_EXCEEDED else err


def case_grpcio_keepalive(args):
    st = stubs(args)
    # grpc's server default: a ping more often than every 5 minutes is a strike; the fourth
    # ping (1 s apart) ends the connection with too_many_pings, and the call fails.
    with Server(args.server, "--shards", "1", *harness.ADMIN) as srv:
        err = watch_while_pinging(st, srv.target, 1000, 6)
        # The client may see the GOAWAY a moment before the server has closed the connection.
        m = srv.wait_metrics(lambda m: closed(m, "limit") >= 1)
        res = srv.stop()
        check("too many PINGs" in res.stderr, f"no too_many_pings: {res.stderr!r}")
        check(err == grpc.StatusCode.UNAVAILABLE, f"the pinging client's call ended with {err}")
        # One connection ended, on its third strike (grpcio may ping more, e.g. for BDP):
        m.expect("uringrpc_http2_goaway_sent_total", 1, code="ENHANCE_YOUR_CALM")
        m.expect("uringrpc_limit_hits_total", 1, limit="pings")
        strikes = m.get("uringrpc_http2_ping_strikes_total")
        check(strikes >= 3,
              f"{strikes:g} ping strikes counted before too_many_pings, expected >= 3")
        check(closed(m, "limit") == 1, f"{closed(m, 'limit'):g} connections closed for a limit")
        log(f"metrics: {strikes:g} ping strikes, one GOAWAY(ENHANCE_YOUR_CALM), one limit close")
    # Allowed as often as every second, pings 1.5 s apart are served quietly.
    with Server(args.server, "--shards", "1", "--permit-keepalive-without-calls",
                "--min-ping-interval", "1", *harness.ADMIN) as srv:
        err = watch_while_pinging(st, srv.target, 1500, 6)
        m = srv.metrics()
        res = srv.stop()
        check("too many PINGs" not in res.stderr, f"too_many_pings: {res.stderr!r}")
        check(err is None, f"the call ended with {err}")
        m.expect("uringrpc_http2_goaway_sent_total", 0, code="ENHANCE_YOUR_CALM")
        m.expect("uringrpc_limit_hits_total", 0, limit="pings")
        check(closed(m, "limit") == 0, "a connection closed for a limit")
    log("grpcio pinging every 1 s: too_many_pings by default; every 1.5 s with "
        "--min-ping-interval 1: served")


def case_max_idle(args):
    need_h2()
    with Server(args.server, "--shards", "1", "--max-connection-idle", "1",
                *harness.ADMIN) as srv:
        s = ready_conn(srv.port)
        t0 = time.monotonic()
        check(answer_drain(s), "an idle connection was not closed")
        idle_gone = time.monotonic() - t0
        s.close()
        # A graceful drain: GOAWAY(NO_ERROR) notice, PING, final GOAWAY(NO_ERROR), close.
        m = srv.metrics()
        expect_closed(m, idle=1)
        m.expect("uringrpc_http2_goaway_sent_total", 2, code="NO_ERROR")
        check(m.sum("uringrpc_http2_goaway_sent_total") == 2, "GOAWAYs with an error counted")
        # A call of 2.5 s keeps its connection: the GOAWAY comes after it ends.
        s = ready_conn(srv.port)
        enc = hpack.Encoder()
        t0 = time.monotonic()
        s.sendall(request(enc, 1, ping_msg(2.5)))
        frames, eof = read_frames(s, 10, stop=lambda fr: 1 in grpc_statuses(fr) or goaways(fr))
        check(grpc_statuses(frames).get(1) == 0, f"the long call did not end OK: {frames}")
        check(not goaways(frames), f"GOAWAY while a call was open: {goaways(frames)}")
        check(answer_drain(s), "idle after its call, the connection was not closed")
        after = time.monotonic() - t0
        s.close()
        m = srv.metrics()
        expect_closed(m, idle=2)
        m.expect("uringrpc_http2_goaway_sent_total", 4, code="NO_ERROR")
        m.expect("uringrpc_connections_accepted_total", 2)
        check(m.sum("grpc_server_handled_total", grpc_method="Ping", grpc_code="OK") == 1,
              "the 2.5 s Ping is not counted OK")
        srv.stop()
        check(0.8 <= idle_gone <= 6.0, f"idle connection closed after {idle_gone:.2f} s")
        check(after >= 3.3, f"the connection with a call went after {after:.2f} s")
        log(f"idle: closed after {idle_gone:.2f} s; with a 2.5 s call: GOAWAY only after it "
            f"({after:.2f} s)")


def case_max_age(args):
    need_h2()
    st = stubs(args)
    with Server(args.server, "--shards", "1", "--max-connection-age", "1",
                "--max-connection-age-grace", "1", *harness.ADMIN) as srv:
        s = ready_conn(srv.port)
        enc = hpack.Encoder()
        t0 = time.monotonic()
        s.sendall(request(enc, 1, ping_msg(10)))
        frames, eof = read_frames(s, 8, stop=lambda fr: goaways(fr))
        aged = time.monotonic() - t0
        check(goaways(frames) and goaways(frames)[0][1] == 0, f"no GOAWAY at age: {frames}")
        pings = server_pings(frames)
        if pings:
            s.sendall(frame(T_PING, 0x1, 0, pings[0]))
        frames, eof = read_frames(s, 10)
        cut = time.monotonic() - t0
        s.close()
        check(eof and 1 not in grpc_statuses(frames), "the 10 s call was not cut at the grace")
        check(0.8 <= aged <= 5.0, f"GOAWAY at {aged:.2f} s with --max-connection-age 1 (+-10 %)")
        check(1.7 <= cut <= 8.0, f"cut at {cut:.2f} s, expected age + 1 s grace")
        m = srv.metrics()
        expect_closed(m, age=1)
        check(m.get("uringrpc_http2_goaway_sent_total", code="NO_ERROR") >= 1,
              "the GOAWAY at age is not counted")
        # The call cut at the grace ends without a status sent: counted Canceled.
        m = srv.wait_metrics(lambda m: m.sum("grpc_server_handled_total", grpc_method="Ping") == 1)
        check(m.sum("grpc_server_handled_total", grpc_method="Ping", grpc_code="Canceled") == 1,
              "the Ping cut at the grace is not counted Canceled")
        # A real client calling without pause: connections are replaced, no call fails.
        ch = grpc.insecure_channel(srv.target)
        greeter = st.hw_grpc.GreeterStub(ch)
        n, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 4:
            r = greeter.SayHello(st.hw.HelloRequest(name=str(n)), timeout=RPC_TIMEOUT)
            check(r.message == f"Hello {n}", f"call {n} -> {r.message!r}")
            n += 1
        ch.close()
        # Every grpcio connection but the last was replaced at its age (the last one may have
        # gone with the channel, before its age); each aged one got at least the GOAWAY notice.
        m = srv.wait_metrics(lambda m: m.get("uringrpc_connections_open") == 0)
        accepted = m.get("uringrpc_connections_accepted_total")
        aged = closed(m, "age")
        check(closed_all(m) == accepted, f"{accepted:g} connections accepted, "
              f"{closed_all(m):g} closed, none open")
        check(accepted - 1 <= aged <= accepted,
              f"{aged:g} of {accepted:g} connections closed at their age")
        check(m.get("uringrpc_http2_goaway_sent_total", code="NO_ERROR") >= aged,
              f"fewer GOAWAY(NO_ERROR) than connections aged: {m.samples}")
        check(m.sum("grpc_server_handled_total", grpc_method="SayHello", grpc_code="OK") == n,
              f"{n} SayHello OK, but the counts say otherwise")
        res = srv.stop()
        conns = res.total("connections")
        check(conns >= 3, f"{conns} connections in 4 s with a 1 s maximum age")
        check(conns == accepted, f"stats line {conns} connections, metrics {accepted:g}")
        log(f"metrics: {aged:g} of {accepted:g} connections closed at their age, "
            f"{m.get('uringrpc_http2_goaway_sent_total', code='NO_ERROR'):g} GOAWAY(NO_ERROR)")
        log(f"age: GOAWAY at {aged:.2f} s, long call cut at {cut:.2f} s; grpcio made {n} calls "
            f"over {conns} connections without a failure")


def case_idle_trim(args):
    """Idle connections give back nghttp2's scratch pages (rpc/idle_trim.c) and keep working:
    300 connections that each made a call cost under 15 KiB of server RSS apiece a quiet
    second later (9 KiB on a quiet machine, 12.5 once in CI beside another test: the session,
    its HPACK tables and entries; 17 KiB without the trim on a quiet machine, so the bound still
    fails without it), then each makes another."""
    need_h2()
    n = 300
    with Server(args.server, "--shards", "1") as srv:
        warm = [h2raw.Client(srv.port) for _ in range(20)]
        for i, c in enumerate(warm):
            h2raw.check_ok_reply(c.wait(c.unary("/helloworld.Greeter/SayHello",
                                                harness.hello_request(f"w{i}"))), f"Hello w{i}")
            c.close()
        time.sleep(1.5)
        before = harness.rss_kib(srv.proc.pid)
        clients = [h2raw.Client(srv.port) for _ in range(n)]
        for i, c in enumerate(clients):
            st = c.wait(c.unary("/helloworld.Greeter/SayHello", harness.hello_request(f"a{i}")))
            h2raw.check_ok_reply(st, f"Hello a{i}")
        time.sleep(2.5)  # a quiet second, then the lifetime timer trims
        per_conn = (harness.rss_kib(srv.proc.pid) - before) / n
        for i, c in enumerate(clients):
            st = c.wait(c.unary("/helloworld.Greeter/SayHello", harness.hello_request(f"b{i}")))
            h2raw.check_ok_reply(st, f"Hello b{i}")
            c.close()
        shadowed = harness.sanitized(srv.proc.pid)
        srv.stop()
        if shadowed:
            log(f"{n} idle connections served again after the trim; RSS bound not checked under "
                f"a sanitizer ({per_conn:.2f} KiB each, shadow memory included)")
            return
        check(per_conn < 15, f"{per_conn:.2f} KiB of server RSS per idle connection")
        log(f"{n} idle connections: {per_conn:.2f} KiB RSS each after the trim; all served again")


CASES = {
    "keepalive_ping": case_keepalive_ping,
    "ping_strikes": case_ping_strikes,
    "grpcio_keepalive": case_grpcio_keepalive,
    "max_idle": case_max_idle,
    "max_age": case_max_age,
    "idle_trim": case_idle_trim,
}


def main():
    args = harness.parse_args()
    harness.run_cases(CASES, args)


if __name__ == "__main__":
    main()
