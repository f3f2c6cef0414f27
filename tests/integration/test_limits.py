#!/usr/bin/python3
"""What one client can make the server hold is bounded, per connection and per server (issue 8):
hostile requests from raw HTTP/2 frames and python3-h2, a well-behaved python3-grpcio client
beside them.

  calls_per_connection  --max-calls-per-connection 20: 20 Pings waiting 10 s are taken, the
                        21st stream gets REFUSED_STREAM; reset 10 of them and their waits end
                        at once (urpc_call_defer is cut short), so 10 new streams are taken
                        again, long before the 10 s are over, and the 11th is refused
  reset_flood           two connections send Ping(10 s) + RST_STREAM as fast as they can for
                        3 s: the server's RSS stays within 24 MiB of where it was and a grpcio
                        client beside them sees every call succeed
  made_you_reset        --stream-reset-rate 5: requests each followed by a WINDOW_UPDATE that
                        overflows the stream window make the server reset them
                        (FLOW_CONTROL_ERROR); past the 50-reset burst, GOAWAY(ENHANCE_YOUR_CALM)
  client_reset_rate     --stream-reset-rate 5: 200 client resets → GOAWAY; with the default a
                        grpcio client cancelling half of its calls (thousands per second) for
                        12 s is never cut off (nghttp2's default, 1,000 then 33/s, did that
                        within a second here)
  decompression_budget  gzip requests of ~2 KiB that inflate to 2 MiB, held 3 s by their
                        handler: one connection gets RESOURCE_EXHAUSTED past
                        --max-connection-memory 16 MiB while a second client is served; six
                        connections together stay within --max-memory 48 MiB (RSS checked);
                        the memory comes back when the calls end
  zero_window           a client that never opens its window asks 40 x 1 MiB responses: past
                        --max-connection-memory 8 MiB the rest get RESOURCE_EXHAUSTED, RSS stays
                        bounded, and the memory comes back when the connection goes

Every server is a single shard (every connection lands on the shard under attack) and must
exit 0 with no call live and no sanitizer report.
"""
import gzip
import os

# Under ASan, freed buffers wait in its quarantine (256 MiB by default) and count as RSS: keep it
# small so the growth bounds measure the server, not the sanitizer.
os.environ["ASAN_OPTIONS"] = os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=16"
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ADMIN, Server, check, grpc_frame, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None
try:
    import hpack
    import h2raw
    from h2raw import T_DATA, T_HEADERS, T_PING, T_RST, frame, goaways
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

PING = "/fgrpc.PingServer/Ping"
UNARY_CALL = "/grpc.testing.TestService/UnaryCall"
T_WINDOW_UPDATE = 8
FLOW_CONTROL_ERROR, REFUSED_STREAM, CANCEL, ENHANCE_YOUR_CALM = 3, 7, 8, 11
RESOURCE_EXHAUSTED = 8
RPC_TIMEOUT = 30
SYNC_PINGS = ("--min-ping-interval", "0")  # the tests' PINGs are not strikes


def need_h2():
    harness.require(h2raw, "python3-h2")


def need_grpc():
    harness.require(grpc, "python3-grpcio")


def ping_msg(delay_s=0.0, payload=b""):
    """fgrpc.PingMessage: payload (field 3) and delayNanos (field 4)."""
    out = b""
    if payload:
        out += b"\x1a" + harness.varint(len(payload)) + payload
    if delay_s:
        out += b"\x20" + harness.varint(int(delay_s * 1e9))
    return out


def unary_call_msg(response_size):
    """grpc.testing.SimpleRequest{response_size} (field 2)."""
    return b"\x10" + harness.varint(response_size)


class RawConn:
    """A raw HTTP/2 client connection: whole requests as frames, one HPACK context each way."""

    def __init__(self, port, settings=b"", open_window=False):
        """open_window: windows of 2^31-1, so big responses flow without WINDOW_UPDATEs."""
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if open_window:
            settings += (4).to_bytes(2, "big") + (2**31 - 1).to_bytes(4, "big")
        start = h2raw.PREFACE[:-9] + frame(4, 0, 0, settings) + frame(4, 0x1, 0)
        if open_window:
            start += frame(T_WINDOW_UPDATE, 0, 0, (2**31 - 1 - 65535).to_bytes(4, "big"))
        self.sock.sendall(start)
        self.enc, self.dec = hpack.Encoder(), hpack.Decoder()
        self.next_sid = 1
        self.frames, self.eof, self.buf = [], False, bytearray()
        self.status = {}  # stream id -> grpc-status

    def headers_block(self, path, extra=()):
        return self.enc.encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                                (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                                ("te", "trailers"), *extra])

    def request(self, path, msg, extra=(), compressed=False, send=True):
        """HEADERS + DATA(END_STREAM); returns (stream id, bytes)."""
        sid, self.next_sid = self.next_sid, self.next_sid + 2
        data = frame(T_HEADERS, 0x4, sid, self.headers_block(path, extra)) + frame(
            T_DATA, 0x1, sid, grpc_frame(msg, compressed))
        if send:
            self.sock.sendall(data)
        return sid, data

    def read(self, timeout, stop=None):
        """Reads frames (into self.frames, decoding grpc-status) until stop() or timeout."""
        deadline = time.monotonic() + timeout
        while not self.eof and not (stop and stop()):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(min(0.2, left))
            try:
                chunk = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.eof = True
                break
            self.buf += chunk
            self._frames()

    def _frames(self):
        off = 0
        while len(self.buf) - off >= 9:
            n = int.from_bytes(self.buf[off:off + 3], "big")
            if len(self.buf) - off < 9 + n:
                break
            t, fl = self.buf[off + 3], self.buf[off + 4]
            sid = int.from_bytes(self.buf[off + 5:off + 9], "big") & 0x7FFFFFFF
            p = bytes(self.buf[off + 9:off + 9 + n])
            if t == T_HEADERS:
                for k, v in self.dec.decode(p):
                    if k == "grpc-status":
                        self.status[sid] = int(v)
            self.frames.append((t, fl, sid, p if t != T_DATA else b""))
            off += 9 + n
        del self.buf[:off]

    def resets(self):
        return {sid: int.from_bytes(p[:4], "big") for t, _, sid, p in self.frames if t == T_RST}

    def ping_round_trip(self, timeout=10):
        """A PING and its ACK: the server has processed everything sent before."""
        acks = lambda: sum(t == T_PING and fl & 1 for t, fl, _, _ in self.frames)  # noqa: E731
        want = acks() + 1
        self.sock.sendall(frame(T_PING, 0, 0, b"urpclims"))
        self.read(timeout, stop=lambda: acks() >= want)
        check(acks() >= want, f"no PING ACK within {timeout} s (eof={self.eof})")
        self.read(0.2)  # what the same flush carried

    def close(self):
        self.sock.close()


def refused(conn, sid):
    return conn.resets().get(sid) == REFUSED_STREAM


def good_client(target, stop, results, stubs):
    """SayHello in a loop until stop is set: results gets ('ok'|code, latency)."""
    with grpc.insecure_channel(target) as ch:
        greeter = stubs.hw_grpc.GreeterStub(ch)
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                greeter.SayHello(stubs.hw.HelloRequest(name="good"), timeout=RPC_TIMEOUT)
                results.append(("ok", time.monotonic() - t0))
            except grpc.RpcError as e:
                results.append((e.code(), time.monotonic() - t0))
            time.sleep(0.01)


def run_good_client(srv, stubs):
    stop, results = threading.Event(), []
    t = threading.Thread(target=good_client, args=(srv.target, stop, results, stubs), daemon=True)
    t.start()
    return stop, results, t


def end_good_client(stop, results, t, what):
    stop.set()
    t.join(timeout=RPC_TIMEOUT + 5)
    bad = [r for r, _ in results if r != "ok"]
    check(results and not bad, f"good client during {what}: {len(results)} calls, failures {bad}")
    lat = sorted(d for _, d in results)
    log(f"good client during {what}: {len(lat)} calls OK, p50 {lat[len(lat) // 2] * 1e3:.1f} ms "
        f"max {lat[-1] * 1e3:.1f} ms")


def rss_grew_less(srv, grown_mib, bound_mib, what):
    """RSS growth below a bound (not checked under a sanitizer: its shadow memory grows with
    the server's and its allocator keeps what is freed)."""
    if harness.sanitized(srv.proc.pid):
        log(f"{what}: +{grown_mib:.1f} MiB, not checked under a sanitizer")
        return
    check(grown_mib < bound_mib, f"{what}: RSS grew by {grown_mib:.1f} MiB (bound {bound_mib})")


def memory_came_back(srv, before, slack_kib, what):
    """RSS back within slack of `before` (not checked under a sanitizer, whose allocator keeps
    freed memory)."""
    after = harness.rss_kib(srv.proc.pid)
    if harness.sanitized(srv.proc.pid):
        log(f"{what}: RSS {before} -> {after} KiB, not checked under a sanitizer")
        return
    log(f"{what}: RSS {before} -> {after} KiB")
    check(after - before < slack_kib, f"{what}: memory did not come back: {before} -> {after} KiB")


def finish(srv):
    res = srv.stop()
    check(res.total("live") == 0, f"calls live at exit: {res.stats}")
    return res


# ---- calls per connection, resets --------------------------------------------------------

def case_calls_per_connection(args):
    need_h2()
    with Server(args.server, "--shards", "1", "--max-calls-per-connection", "20",
                *SYNC_PINGS, *ADMIN) as srv:
        c = RawConn(srv.port)
        held = [c.request(PING, ping_msg(10.0))[0] for _ in range(20)]
        extra = c.request(PING, ping_msg(10.0))[0]
        c.ping_round_trip()
        check(not any(refused(c, s) for s in held), f"one of the first 20 refused: {c.resets()}")
        check(refused(c, extra), f"the 21st stream was not refused: resets {c.resets()}")
        # Reset half: their handlers' waits end at once, and the calls with them.
        for s in held[:10]:
            c.sock.sendall(frame(T_RST, 0, s, CANCEL.to_bytes(4, "big")))
        t0 = time.monotonic()
        taken, turned_away = [], 0
        while len(taken) < 10 and time.monotonic() - t0 < 5:
            sid = c.request(PING, ping_msg(10.0))[0]
            c.ping_round_trip()
            if refused(c, sid):
                turned_away += 1
            else:
                taken.append(sid)
        took = time.monotonic() - t0
        check(len(taken) == 10, f"after 10 resets only {len(taken)} new streams were taken in "
                                f"{took:.1f} s: the reset calls still count (resets {c.resets()})")
        sid = c.request(PING, ping_msg(10.0))[0]
        c.ping_round_trip()
        check(refused(c, sid), "the limit is back: the 21st live call should be refused")
        n_refused = sum(code == REFUSED_STREAM for code in c.resets().values())
        m = srv.metrics()
        m.expect("uringrpc_limit_hits_total", n_refused, limit="streams")
        m.expect("uringrpc_http2_rst_stream_sent_total", n_refused, code="REFUSED_STREAM")
        c.close()
        h2raw.say_hello_ok(srv.port)
        finish(srv)
        log(f"21st stream REFUSED_STREAM; 10 resets freed 10 places ({turned_away} refused "
            f"on the way, {took:.2f} s with the test's round trips)")


def case_reset_flood(args):
    need_h2()
    need_grpc()
    st = harness.Stubs(args.proto_dir)
    with Server(args.server, "--shards", "1") as srv:
        h2raw.say_hello_ok(srv.port)
        before = harness.rss_kib(srv.proc.pid)
        good = run_good_client(srv, st)
        conns = [RawConn(srv.port) for _ in range(2)]
        sent, t0 = 0, time.monotonic()
        while time.monotonic() - t0 < 3 and sent < 200_000:
            for c in conns:
                batch = b""
                for _ in range(50):
                    sid, data = c.request(PING, ping_msg(10.0), send=False)
                    batch += data + frame(T_RST, 0, sid, CANCEL.to_bytes(4, "big"))
                c.sock.sendall(batch)
                sent += 50
                c.read(0.01)  # keep the server's answers from filling the socket
        peak = harness.rss_kib(srv.proc.pid)
        for c in conns:
            c.close()
        end_good_client(*good, "the reset flood")
        grown = (peak - before) / 1024
        log(f"{sent} Ping(10 s) + RST_STREAM in 3 s: RSS {before} -> {peak} KiB (+{grown:.1f} MiB)")
        rss_grew_less(srv, grown, 24, "the reset flood")
        finish(srv)


def case_made_you_reset(args):
    need_h2()
    with Server(args.server, "--shards", "1", "--stream-reset-rate", "5", *ADMIN) as srv:
        c = RawConn(srv.port)
        try:
            for _ in range(60):
                sid, data = c.request(PING, ping_msg(1.0), send=False)
                c.sock.sendall(data + frame(T_WINDOW_UPDATE, 0, sid, (2**31 - 1).to_bytes(4, "big")))
        except OSError as e:  # closed by the server once it had enough
            log(f"send stopped: {e}")
        c.read(10, stop=lambda: c.eof)
        codes = set(c.resets().values())
        gw = goaways(c.frames)
        log(f"server resets {len(c.resets())} (codes {codes}), GOAWAY {gw}, eof {c.eof}")
        check(FLOW_CONTROL_ERROR in codes, f"no FLOW_CONTROL_ERROR reset: {c.resets()}")
        check(any(code == ENHANCE_YOUR_CALM for _, code in gw),
              f"60 provoked resets with a burst of 50: expected GOAWAY(ENHANCE_YOUR_CALM), got {gw}")
        check(c.eof, "the connection was not closed after its GOAWAY")
        n_flow = sum(code == FLOW_CONTROL_ERROR for code in c.resets().values())
        m = srv.metrics()
        m.expect("uringrpc_limit_hits_total", 1, limit="stream_resets")
        m.expect("uringrpc_http2_goaway_sent_total", 1, code="ENHANCE_YOUR_CALM")
        m.expect("uringrpc_http2_rst_stream_sent_total", n_flow, code="FLOW_CONTROL_ERROR")
        m.expect("uringrpc_connections_closed_total", 1, reason="limit")
        c.close()
        h2raw.say_hello_ok(srv.port)
        finish(srv)


def case_client_reset_rate(args):
    need_h2()
    need_grpc()
    with Server(args.server, "--shards", "1", "--stream-reset-rate", "5") as srv:
        c = RawConn(srv.port)
        batch = b""
        for _ in range(200):
            sid, data = c.request(PING, ping_msg(1.0), send=False)
            batch += data + frame(T_RST, 0, sid, CANCEL.to_bytes(4, "big"))
        try:
            c.sock.sendall(batch)
        except OSError as e:
            log(f"send stopped: {e}")
        c.read(10, stop=lambda: c.eof)
        check(goaways(c.frames), f"200 resets with a burst of 50: no GOAWAY (eof {c.eof})")
        log(f"200 client resets at --stream-reset-rate 5: GOAWAY {goaways(c.frames)}")
        c.close()
        finish(srv)
    st = harness.Stubs(args.proto_dir)
    with Server(args.server, "--shards", "1") as srv, grpc.insecure_channel(srv.target) as ch:
        ping = st.ping_grpc.PingServerStub(ch)
        ok = cancelled = 0
        failures = []
        t0 = time.monotonic()
        while time.monotonic() - t0 < 12:
            futs = [ping.Ping.future(st.ping.PingMessage(seq=i, delayNanos=5_000_000),
                                     timeout=RPC_TIMEOUT) for i in range(100)]
            for f in futs[::2]:
                f.cancel()
            for i, f in enumerate(futs):
                try:
                    f.result()
                    ok += 1
                except grpc.FutureCancelledError:
                    cancelled += 1
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.CANCELLED:
                        cancelled += 1
                    else:
                        failures.append(e.code())
        rate = (ok + cancelled) / (time.monotonic() - t0)
        log(f"grpcio: {ok} calls OK, {cancelled} cancelled in 12 s ({rate:.0f} calls/s), "
            f"failures {failures[:5]}")
        check(not failures, f"calls failed while the client cancelled half of them: "
                            f"{len(failures)}, e.g. {failures[:5]}")
        check(cancelled > 1500, f"only {cancelled} cancellations: the test did not test the limit")
        finish(srv)


# ---- memory ------------------------------------------------------------------------------

def gzip_ping(c, delay_s, size):
    """A Ping whose 2 MiB payload travels gzip-compressed (~2 KiB on the wire)."""
    body = gzip.compress(ping_msg(delay_s, b"a" * size))
    return c.request(PING, body, extra=[("grpc-encoding", "gzip")], compressed=True)[0]


def case_decompression_budget(args):
    need_h2()
    need_grpc()
    st = harness.Stubs(args.proto_dir)
    flags = ["--shards", "1", "--max-connection-memory", str(16 << 20),
             "--max-memory", str(48 << 20), *ADMIN]
    with Server(args.server, *flags) as srv:
        h2raw.say_hello_ok(srv.port)
        before = harness.rss_kib(srv.proc.pid)
        # One connection: its limit, not the server's, stops it; others are served meanwhile.
        good = run_good_client(srv, st)
        c = RawConn(srv.port, open_window=True)
        sids = [gzip_ping(c, 3.0, 2 << 20) for _ in range(20)]
        c.read(6, stop=lambda: len([s for s in sids if s in c.status]) == len(sids))
        busy = [s for s in sids if c.status.get(s) == RESOURCE_EXHAUSTED]
        done = [s for s in sids if c.status.get(s) == 0]
        end_good_client(*good, "one connection's decompression bomb")
        log(f"one connection, 20 x 2 MiB: {len(done)} served, {len(busy)} RESOURCE_EXHAUSTED")
        check(busy and done and len(busy) + len(done) == len(sids),
              f"expected some served and the rest RESOURCE_EXHAUSTED: {c.status}")
        srv.metrics().expect("uringrpc_limit_hits_total", len(busy), limit="memory")
        c.close()
        # Six connections: together they meet the server's limit.
        conns = [RawConn(srv.port, open_window=True) for _ in range(6)]
        per = [[gzip_ping(k, 3.0, 2 << 20) for _ in range(10)] for k in conns]
        time.sleep(1.0)  # the requests are in; the handlers wait 3 s
        peak = harness.rss_kib(srv.proc.pid)
        for k, sids in zip(conns, per):
            k.read(10, stop=lambda k=k, sids=sids: all(s in k.status for s in sids))
        codes = [k.status.get(s) for k, sids in zip(conns, per) for s in sids]
        for k in conns:
            k.close()
        grown = (peak - before) / 1024
        log(f"six connections, 60 x 2 MiB: RSS {before} -> {peak} KiB (+{grown:.1f} MiB); "
            f"statuses {sorted(set(map(str, codes)))}, {codes.count(RESOURCE_EXHAUSTED)} "
            f"RESOURCE_EXHAUSTED")
        check(codes.count(RESOURCE_EXHAUSTED) >= 30, f"server limit not applied: {codes}")
        # What is counted is what the calls hold; the process also has its copies in flight.
        rss_grew_less(srv, grown, 2 * 48 + 16, "six connections at a 48 MiB server limit")
        time.sleep(1.5)  # the calls are over; a second later the shard trims the heap
        h2raw.say_hello_ok(srv.port)
        memory_came_back(srv, before, 16 * 1024, "after the calls ended")
        finish(srv)


def case_zero_window(args):
    need_h2()
    flags = ["--shards", "1", "--max-connection-memory", str(8 << 20)]
    with Server(args.server, *flags, *harness.ADMIN) as srv:
        h2raw.say_hello_ok(srv.port)
        before = harness.rss_kib(srv.proc.pid)
        c = RawConn(srv.port, settings=(4).to_bytes(2, "big") + (0).to_bytes(4, "big"))
        sids = [c.request(UNARY_CALL, unary_call_msg(1 << 20))[0] for _ in range(40)]
        c.read(10, stop=lambda: sum(c.status.get(s) == RESOURCE_EXHAUSTED for s in sids) >= 20)
        busy = sum(c.status.get(s) == RESOURCE_EXHAUSTED for s in sids)
        peak = harness.rss_kib(srv.proc.pid)
        grown = (peak - before) / 1024
        log(f"window 0, 40 x 1 MiB responses: {busy} RESOURCE_EXHAUSTED; RSS +{grown:.1f} MiB")
        check(busy >= 20, f"only {busy} of 40 calls were turned away at an 8 MiB limit")
        rss_grew_less(srv, grown, 40, "a client that never reads")
        # Every response that was queued waits on a stream window of 0: each is a stall,
        # though nghttp2 never asked for its bytes (calls not yet answered may still come).
        name = "uringrpc_flow_control_stalls_total"
        m = srv.wait_metrics(lambda x: x.get(name, window="stream") >= 40 - busy)
        stalls = m.get(name, window="stream")
        log(f"{stalls:g} stream-window stalls for the {40 - busy} calls not turned away")
        check(1 <= stalls <= 40 - busy, f"{stalls:g} stream-window stalls for {40 - busy} "
                                        f"responses held by a window of 0")
        m.expect("uringrpc_limit_hits_total", busy, limit="memory")
        h2raw.say_hello_ok(srv.port)
        c.close()
        time.sleep(1.5)
        h2raw.say_hello_ok(srv.port)
        memory_came_back(srv, before, 8 * 1024, "after the connection went")
        finish(srv)


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    harness.run_cases(CASES, harness.parse_args())
