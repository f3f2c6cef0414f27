#!/usr/bin/python3
"""HTTP/2-level behaviour of uringrpc-server: nghttp (nghttp2-client) for plain HTTP errors and
python3-h2 over a raw socket for hand-made and hostile requests. One scenario per --case.

  nghttp_415 / nghttp_405 / content_type   HTTP 415 and 405 with no gRPC headers or body
  split_message / h2_extras     messages split across frames, padding, trailers, CONTINUATION
  cardinality / zero_messages   two messages or none for a unary method -> UNIMPLEMENTED
  truncated / compressed_flag   cut-short message, flag 1 without grpc-encoding -> INTERNAL
  encoding_br / bad_timeout     unknown grpc-encoding -> UNIMPLEMENTED; bad grpc-timeout -> error
  bad_pseudo / bad_preface / bad_frames   RST_STREAM, 4xx, GOAWAY or close as appropriate
  percent_message / header_flood          percent-encoded grpc-message; oversized header list
  resets / flow_control / floods          client resets, tiny windows, PING/SETTINGS/
                                          CONTINUATION floods and rapid reset
  many_streams / many_connections         1,000 streams on a connection; 600 connections
  deadline / deadline_race                grpc-timeout enforced (DEADLINE_EXCEEDED)
  missing_content_type / accept_encoding  grpc-protocol.md rules beyond the basic contract

deadline, deadline_race and flow_control also check the server's metrics (admin endpoint)
against what the client saw: deadlines expired, calls handled by code, window stalls.

Every case runs its own single-shard server (so every connection lands on the shard the hostile
input went to), checks the answer to each hostile request, then checks that the same server
still answers a normal SayHello on a fresh connection, and finally that it exits 0 on SIGTERM
with no sanitizer report.
"""
import os
import re
import shutil
import socket
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, check, grpc_frame, hello_request, log  # noqa: E402

try:
    import h2raw  # needs python3-h2
    from h2raw import (PREFACE, T_CONT, T_DATA, T_GOAWAY, T_HEADERS, T_PING, T_RST,  # noqa: F401
                       T_SETTINGS, frame, goaway_of, raw_conn, read_frames)
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT, DEADLINE_EXCEEDED, NOT_FOUND = 0, 1, 2, 3, 4, 5
RESOURCE_EXHAUSTED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE = 8, 12, 13, 14
SAYHELLO = "/helloworld.Greeter/SayHello"


def expect_status(st, code, what):
    check(st.http_status == 200, f"{what}: expected :status 200; {st.describe()}")
    check(st.grpc_status == code,
          f"{what}: expected grpc-status {code}, got {st.grpc_status}; {st.describe()}")
    if code != OK:
        check(st.messages() == [], f"{what}: an error status came with a message body")
    log(f"{what}: grpc-status {st.grpc_status} grpc-message {st.grpc_message!r}")


def expect_error_status(st, what):
    check(st.http_status == 200 and st.grpc_status not in (None, OK),
          f"{what}: expected a non-OK grpc-status; {st.describe()}")
    log(f"{what}: grpc-status {st.grpc_status} grpc-message {st.grpc_message!r}")


def one_call(port, what, send, settings=None):
    """Runs send(client) -> stream id on a fresh connection; returns the finished stream."""
    with h2raw.Client(port, settings=settings) as c:
        sid = send(c)
        return c.wait(sid)


def probe(srv, what):
    check(srv.alive(), f"server died after {what}")
    h2raw.say_hello_ok(srv.port, "probe")


def run_server(args, body, *flags):
    if h2raw is None:
        raise Skip("python3-h2 is not installed for /usr/bin/python3")
    with Server(args.server, "--shards", "1", *flags) as srv:
        body(srv)
        probe(srv, "the last case")
        return srv.stop()


# ---- nghttp ------------------------------------------------------------------------------

def nghttp(args, port, path, headers=(), data=None):
    exe = shutil.which("nghttp")
    if not exe:
        raise Skip("nghttp (nghttp2-client) not found")
    cmd = [exe, "-v", "-t", "10"]
    for h in headers:
        cmd += ["-H", h]
    if data is not None:
        cmd += ["-d", data]
    cmd.append(f"http://127.0.0.1:{port}{path}")
    r = harness.run_cmd(cmd, timeout=30)
    recv_headers = re.findall(r"recv \(stream_id=\d+\) ([^:\s][^:]*|:[a-z]+): (.*)", r.stdout)
    data_frames = re.findall(r"recv DATA frame", r.stdout)
    return r, recv_headers, data_frames


def check_text_body(r, hdrs, frames, status):
    """A non-gRPC request's answer: a complete HTTP response with a line of text."""
    check(("content-type", "text/plain; charset=utf-8") in hdrs,
          f"a {status} should say its body is text: {hdrs}")
    check(frames and "gRPC server" in r.stdout and r.returncode == 0,
          f"a {status} should end with a line of text, and nghttp succeed: rc={r.returncode}\n"
          f"{r.stdout[-2000:]}")


def body_file(tmpdir, name="world"):
    path = os.path.join(tmpdir, "hello.bin")
    with open(path, "wb") as f:
        f.write(grpc_frame(hello_request(name)))
    return path


def case_nghttp_415(args):
    import tempfile

    def body(srv):
        with tempfile.TemporaryDirectory() as d:
            bf = body_file(d)
            r, hdrs, frames = nghttp(args, srv.port, SAYHELLO,
                                     ["content-type: text/plain", "te: trailers"], bf)
            log(f"nghttp rc={r.returncode} headers={hdrs} data_frames={len(frames)}")
            check((":status", "415") in hdrs, f"expected :status 415, got {hdrs}\n{r.stdout}")
            check(not any(k.startswith("grpc-") for k, _ in hdrs),
                  f"a 415 must carry no gRPC headers: {hdrs}")
            check_text_body(r, hdrs, frames, "415")
            # The same request with the right content-type works, through nghttp too.
            r, hdrs, frames = nghttp(args, srv.port, SAYHELLO,
                                     ["content-type: application/grpc", "te: trailers"], bf)
            check((":status", "200") in hdrs and ("grpc-status", "0") in hdrs,
                  f"SayHello via nghttp: {hdrs}\n{r.stdout}")
    res = run_server(args, body)
    check(res.total("ok") >= 2, f"ok counts {res.stats}")


def case_nghttp_405(args):
    def body(srv):
        r, hdrs, frames = nghttp(args, srv.port, SAYHELLO,
                                 ["content-type: application/grpc", "te: trailers"])
        log(f"nghttp GET rc={r.returncode} headers={hdrs}")
        check((":status", "405") in hdrs, f"GET: expected :status 405, got {hdrs}\n{r.stdout}")
        check(not any(k.startswith("grpc-") for k, _ in hdrs), f"405 with gRPC headers: {hdrs}")
        check_text_body(r, hdrs, frames, "405")
    run_server(args, body)


def case_content_type(args):
    """Method and content-type rules over raw HTTP/2, including the accepted variants."""
    def req(method, ct, end=False):
        hdrs = [(":method", method), (":scheme", "http"), (":path", SAYHELLO),
                (":authority", "x"), ("te", "trailers")]
        if ct is not None:
            hdrs.append(("content-type", ct))

        def send(c):
            sid = c.headers(raw=hdrs, end_stream=end)
            if not end:
                c.data(sid, grpc_frame(hello_request("ct")), end_stream=True)
            return sid
        return send

    def body(srv):
        for method, ct, want in [("PUT", "application/grpc", 405),
                                 ("GET", "application/grpc", 405),
                                 ("POST", "text/plain", 415),
                                 ("POST", "application/json", 415),
                                 ("POST", "application/grpcx", 415),
                                 ("POST", "application/grp", 415),
                                 ("POST", "", 415)]:
            st = one_call(srv.port, "", req(method, ct, end=method == "GET"))
            check(st.http_status == want and st.grpc_status is None and
                  b"gRPC server" in st.data and st.ended,
                  f"{method} content-type {ct!r}: expected HTTP {want} with no gRPC headers and "
                  f"a line of text; {st.describe()}")
            log(f"{method} {ct!r}: HTTP {st.http_status}")
        for ct in ["application/grpc+proto", "application/grpc;charset=utf-8",
                   "application/grpc+json"]:
            st = one_call(srv.port, "", req("POST", ct))
            h2raw.check_ok_reply(st, "Hello ct")
            log(f"POST {ct!r}: OK, response content-type {st.header('content-type')!r}")
        st = one_call(srv.port, "", req("POST", None))
        log(f"NOTE: no content-type at all -> HTTP {st.http_status} grpc-status "
            f"{st.grpc_status} (grpc servers answer 415)")
    run_server(args, body)


# ---- message framing ---------------------------------------------------------------------

def case_split_message(args):
    msg = grpc_frame(hello_request("split"))

    def body(srv):
        with h2raw.Client(srv.port) as c:
            # The 5-byte prefix in one DATA frame, the message in two more.
            sid = c.headers(SAYHELLO)
            c.data(sid, msg[:5])
            time.sleep(0.02)  # separate reads on the server, not just separate frames
            c.data(sid, msg[5:8])
            time.sleep(0.02)
            c.data(sid, msg[8:], end_stream=True)
            h2raw.check_ok_reply(c.wait(sid), "Hello split")
            # One byte per DATA frame, prefix included, END_STREAM on an empty last frame.
            sid = c.headers(SAYHELLO)
            for b in msg:
                c.data(sid, bytes([b]))
            c.data(sid, b"", end_stream=True)
            h2raw.check_ok_reply(c.wait(sid), "Hello split")
            # Interleaved on two streams of one connection.
            a, b = c.headers(SAYHELLO), c.headers(SAYHELLO)
            ma, mb = grpc_frame(hello_request("A")), grpc_frame(hello_request("B"))
            for i in range(max(len(ma), len(mb))):
                if i < len(ma):
                    c.data(a, ma[i:i + 1], end_stream=i == len(ma) - 1)
                if i < len(mb):
                    c.data(b, mb[i:i + 1], end_stream=i == len(mb) - 1)
            h2raw.check_ok_reply(c.wait(a), "Hello A")
            h2raw.check_ok_reply(c.wait(b), "Hello B")
            # An empty message (HelloRequest with no fields) is one valid message.
            sid = c.unary(SAYHELLO, b"")
            h2raw.check_ok_reply(c.wait(sid), "Hello ")
    res = run_server(args, body)
    check(res.total("ok") >= 6 and res.total("failed") == 0, f"stats {res.stats}")


def case_cardinality(args):
    m = grpc_frame(hello_request("one"))

    def two_in_one(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, m + m, end_stream=True)
        return sid

    def two_in_two(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, m)
        c.data(sid, m, end_stream=True)
        return sid

    def two_open(c):  # the second message arrives before END_STREAM and the stream stays open
        sid = c.headers(SAYHELLO)
        c.data(sid, m + m)
        return sid

    def body(srv):
        expect_status(one_call(srv.port, "", two_in_one), UNIMPLEMENTED,
                      "two messages in one DATA frame")
        expect_status(one_call(srv.port, "", two_in_two), UNIMPLEMENTED,
                      "two messages in two DATA frames")
        expect_status(one_call(srv.port, "", two_open), UNIMPLEMENTED,
                      "two messages, no END_STREAM")
        for path in ("/urpc.example.Demo/AsyncHello", "/urpc.example.Demo/BlockingHello"):
            st = one_call(srv.port, "", lambda c: (lambda s: (c.data(s, m + m, True), s)[1])(
                c.headers(path)))
            expect_status(st, UNIMPLEMENTED, f"two messages to {path}")
    run_server(args, body)


def case_zero_messages(args):
    def headers_end(c):
        return c.headers(SAYHELLO, end_stream=True)

    def empty_data_end(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, b"", end_stream=True)
        return sid

    def body(srv):
        expect_status(one_call(srv.port, "", headers_end), UNIMPLEMENTED,
                      "END_STREAM on HEADERS (no message)")
        expect_status(one_call(srv.port, "", empty_data_end), UNIMPLEMENTED,
                      "an empty DATA frame with END_STREAM (no message)")
        st = one_call(srv.port, "", lambda c: c.headers("/urpc.example.Demo/BlockingHello",
                                                         end_stream=True))
        expect_status(st, UNIMPLEMENTED, "BlockingHello with no message")
    run_server(args, body)


def case_truncated(args):
    def partial_body(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, b"\x00\x00\x00\x00\x0a" + b"\x0a\x03ab", end_stream=True)  # 10 promised, 4 sent
        return sid

    def partial_prefix(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, b"\x00\x00\x00", end_stream=True)
        return sid

    def good_then_partial(c):
        sid = c.headers(SAYHELLO)
        c.data(sid, grpc_frame(hello_request("x")) + b"\x00\x00", end_stream=True)
        return sid

    def garbage_protobuf(c):  # a complete frame whose bytes are not a HelloRequest
        sid = c.headers(SAYHELLO)
        c.data(sid, grpc_frame(b"\x0a\xff\xff\xff\xff\x0f"), end_stream=True)
        return sid

    def body(srv):
        expect_status(one_call(srv.port, "", partial_body), INTERNAL,
                      "a message cut short by END_STREAM")
        expect_status(one_call(srv.port, "", partial_prefix), INTERNAL,
                      "a prefix cut short by END_STREAM")
        st = one_call(srv.port, "", good_then_partial)
        expect_error_status(st, "a message then a partial prefix")
        st = one_call(srv.port, "", garbage_protobuf)
        expect_error_status(st, "an unparseable protobuf message")
    run_server(args, body)


def case_compressed_flag(args):
    def body(srv):
        st = one_call(srv.port, "", lambda c: c.unary(SAYHELLO, hello_request("z"),
                                                      compressed=True))
        expect_status(st, INTERNAL, "compressed flag without grpc-encoding")

        def flag2(c):
            sid = c.headers(SAYHELLO)
            c.data(sid, b"\x02" + grpc_frame(hello_request("z"))[1:], end_stream=True)
            return sid
        expect_status(one_call(srv.port, "", flag2), INTERNAL, "message flag 2")
        # grpc-encoding: identity is always acceptable.
        st = one_call(srv.port, "", lambda c: c.unary(SAYHELLO, hello_request("id"),
                                                      extra=[("grpc-encoding", "identity")]))
        h2raw.check_ok_reply(st, "Hello id")
    run_server(args, body)


def case_encoding_br(args):
    def body(srv):
        st = one_call(srv.port, "", lambda c: c.unary(SAYHELLO, hello_request("z"), compressed=True,
                                                      extra=[("grpc-encoding", "br")]))
        expect_status(st, UNIMPLEMENTED, "grpc-encoding: br")
        acc = st.header("grpc-accept-encoding")
        if acc is None:
            log("NOTE: UNIMPLEMENTED for grpc-encoding br carries no grpc-accept-encoding "
                "(grpc-protocol.md asks for one listing the supported encodings)")
        else:
            log(f"grpc-accept-encoding: {acc!r}")
        st = one_call(srv.port, "", lambda c: c.unary(SAYHELLO, hello_request("z"),
                                                      extra=[("grpc-encoding", "x" * 300)]))
        expect_status(st, UNIMPLEMENTED, "grpc-encoding of 300 bytes")
    run_server(args, body)


def case_bad_timeout(args):
    bad = ["12345678901S", "10x", "123456789S", "", "S", "1", "-1S", "1.5S", " 1S", "1S ",
           "1s", "0x10S", "1SS", "\xff1S"]
    good = ["1S", "99999999H", "30000m", "1000000u", "99999999n"]

    def body(srv):
        with h2raw.Client(srv.port) as c:
            for t in bad:
                sid = c.unary(SAYHELLO, hello_request("t"), extra=[("grpc-timeout", t)])
                st = c.wait(sid)
                if st.reset is not None and t in ("", " 1S", "1S ", "\xff1S"):
                    # not a valid header value at all: a stream error is a fine answer
                    log(f"grpc-timeout {t!r}: RST_STREAM {st.reset}")
                    continue
                expect_error_status(st, f"grpc-timeout {t!r}")
            for t in good:
                sid = c.unary(SAYHELLO, hello_request("t"), extra=[("grpc-timeout", t)])
                h2raw.check_ok_reply(c.wait(sid), "Hello t")
                log(f"grpc-timeout {t!r}: OK")
    run_server(args, body)


def case_bad_pseudo(args):
    base = [(":method", "POST"), (":scheme", "http"), (":path", SAYHELLO),
            (":authority", "x"), ("content-type", "application/grpc"), ("te", "trailers")]

    def without(name):
        return [h for h in base if h[0] != name]

    variants = {
        "missing :path": without(":path"),
        "missing :method": without(":method"),
        "missing :scheme": without(":scheme"),
        "empty :path": [(k, "" if k == ":path" else v) for k, v in base],
        ":path not starting with /": [(k, "helloworld.Greeter/SayHello" if k == ":path" else v)
                                      for k, v in base],
        "duplicate :path": base + [(":path", "/x.Y/Z")],
        "unknown pseudo-header": base + [(":foo", "bar")],
        "pseudo-header after a regular one": [base[0], base[4], *base[1:4], base[5]],
        "uppercase header name": base + [("X-Upper", "1")],
        "connection-specific header": base + [("connection", "keep-alive")],
        "te other than trailers": without("te") + [("te", "gzip")],
        ":status in a request": base + [(":status", "200")],
    }

    def body(srv):
        with h2raw.Client(srv.port) as c:
            for what, hdrs in variants.items():
                sid = c.headers(raw=hdrs)
                try:
                    c.data(sid, grpc_frame(hello_request("p")), end_stream=True)
                except Exception:  # the stream may already be closed by then
                    pass
                st = c.wait(sid)
                ok = st.reset is not None or (st.http_status is not None and
                                               400 <= st.http_status < 500)
                check(ok, f"{what}: expected RST_STREAM or HTTP 4xx; {st.describe()}")
                log(f"{what}: " + (f"RST_STREAM {st.reset}" if st.reset is not None
                                   else f"HTTP {st.http_status}"))
                check(c.goaway is None and not c.eof,
                      f"{what}: a stream error closed the whole connection "
                      f"(goaway={c.goaway} eof={c.eof})")
            # The connection itself is still fine.
            sid = c.unary(SAYHELLO, hello_request("same connection"))
            h2raw.check_ok_reply(c.wait(sid), "Hello same connection")
    run_server(args, body)


def case_bad_preface(args):
    garbage = [
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"\x00" * 64,
        bytes(range(256)),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\xff" * 32,  # the preface, then a bogus frame
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\x00" * 40,  # a TLS ClientHello
    ]

    def body(srv):
        for g in garbage:
            c = h2raw.Client(srv.port, preface=False)
            try:
                c.send_raw(g)
                deadline = time.monotonic() + 10
                got = b""
                closed = False
                while time.monotonic() < deadline:
                    c.sock.settimeout(max(0.01, deadline - time.monotonic()))
                    try:
                        chunk = c.sock.recv(65536)
                    except socket.timeout:
                        break
                    except ConnectionResetError:
                        closed = True
                        break
                    if not chunk:
                        closed = True
                        break
                    got += chunk
                check(closed, f"garbage {g[:24]!r}: connection still open after 10 s "
                              f"(received {got[:64]!r})")
                if g.startswith(b"GET "):  # HTTP/1.1 gets a readable HTTP/1.1 answer
                    check(got.startswith(b"HTTP/1.1 505 ") and b"HTTP/2" in got,
                          f"an HTTP/1.1 request got {got[:200]!r}")
                    first_line = got.split(b"\r\n")[0].decode()
                    log(f"HTTP/1.1 request: {first_line}, then closed")
                else:  # anything else: SETTINGS, GOAWAY(PROTOCOL_ERROR), close
                    codes = [code for _, code in h2raw.goaways(frames_of(got))]
                    check(codes == [1], f"garbage {g[:24]!r}: expected GOAWAY(PROTOCOL_ERROR) "
                                        f"before the close, got {codes} in {got[:80]!r}")
                    log(f"garbage {g[:24]!r}: GOAWAY(PROTOCOL_ERROR), closed")
            finally:
                c.close()
            probe(srv, f"garbage {g[:24]!r}")
    run_server(args, body)


def frames_of(data):
    """The whole frames in `data`, as (type, flags, stream, payload)."""
    out = []
    while len(data) >= 9:
        n = int.from_bytes(data[:3], "big")
        if len(data) < 9 + n:
            break
        out.append((data[3], data[4], int.from_bytes(data[5:9], "big") & 0x7FFFFFFF,
                    data[9:9 + n]))
        data = data[9 + n:]
    return out


def case_bad_frames(args):
    """A valid preface, then frames that are connection errors: GOAWAY or close expected."""
    frames = {
        # length 2^24-1 > SETTINGS_MAX_FRAME_SIZE: FRAME_SIZE_ERROR
        "oversized frame": b"\xff\xff\xff\x00\x00\x00\x00\x00\x01",
        "DATA on stream 0": b"\x00\x00\x01\x00\x00\x00\x00\x00\x00" + b"x",
        "HEADERS on an even stream": b"\x00\x00\x01\x01\x05\x00\x00\x00\x02" + b"\x82",
        "SETTINGS with bad length": b"\x00\x00\x05\x04\x00\x00\x00\x00\x00" + b"\x00" * 5,
        "WINDOW_UPDATE of 0 on stream 0": b"\x00\x00\x04\x08\x00\x00\x00\x00\x00" + b"\x00" * 4,
        "bad HPACK": b"\x00\x00\x03\x01\x05\x00\x00\x00\x01" + b"\xff\xff\xff",
    }

    def body(srv):
        for what, f in frames.items():
            with h2raw.Client(srv.port) as c:
                c.pump(lambda: False, 0.05)
                c.send_raw(f)
                closed = c.wait_closed(10)
                check(closed, f"{what}: expected GOAWAY or close; goaway={c.goaway} eof={c.eof}")
                log(f"{what}: goaway={c.goaway} eof={c.eof}")
            probe(srv, what)
    run_server(args, body)


# ---- status messages ---------------------------------------------------------------------

def check_percent_encoded(raw, original, what):
    check(raw is not None, f"{what}: no grpc-message")
    check(all(0x20 <= b <= 0x7E for b in raw),
          f"{what}: grpc-message has bytes outside 0x20-0x7E: {raw!r}")
    decoded = urllib.parse.unquote_to_bytes(raw.decode())
    check(original in decoded,
          f"{what}: grpc-message {raw!r} does not decode to text containing {original!r} "
          f"(decoded {decoded!r})")
    check(b"%" not in original or b"%25" in raw, f"{what}: '%' not encoded as %25 in {raw!r}")


def case_percent_message(args):
    paths = [
        "/héllo.Wörld/Ünïcode".encode(),
        b"/pct%41.Svc/M%",
        b"/ctl.Svc/\x7f\x80\xfe",
    ]

    def body(srv):
        sent = 0
        with h2raw.Client(srv.port) as c:
            for p in paths:
                sid = c.unary(p, hello_request("x"))
                st = c.wait(sid)
                if st.reset is not None:
                    log(f"path {p!r}: refused by HTTP/2 validation (RST_STREAM {st.reset})")
                    continue
                expect_status(st, UNIMPLEMENTED, f"path {p!r}")
                check_percent_encoded(st.grpc_message, p, f"path {p!r}")
                sent += 1
        check(sent >= 2, "no non-ASCII path got through to the gRPC layer: cannot check "
                         "percent-encoding")
    run_server(args, body)


def case_header_flood(args):
    def body(srv):
        # 40 KiB of metadata in HEADERS + CONTINUATION: over the advertised 16 KiB list size.
        extra = [(f"x-meta-{i}", "v" * 1000) for i in range(40)]
        with h2raw.Client(srv.port) as c:
            sid = c.headers(SAYHELLO, extra)
            try:
                c.data(sid, grpc_frame(hello_request("big")), end_stream=True)
            except Exception:
                pass
            st = c.wait(sid)
            ok = (st.reset is not None or (st.http_status and st.http_status >= 400) or
                  st.grpc_status not in (None, OK))
            check(ok, f"40 KiB of request headers: expected an error; {st.describe()}")
            log(f"40 KiB headers: status {st.http_status} grpc-status {st.grpc_status} "
                f"{st.grpc_message!r} reset={st.reset}")
            # Many small headers below the limit are fine.
            sid = c.unary(SAYHELLO, hello_request("meta"),
                          extra=[(f"x-m-{i}", "v") for i in range(50)])
            h2raw.check_ok_reply(c.wait(sid), "Hello meta")
    run_server(args, body)


# ---- lifecycle ---------------------------------------------------------------------------

def case_resets(args):
    """Client RST_STREAM at every point of a call, and connections dropped mid-call."""
    msg = grpc_frame(hello_request("r"))

    def body(srv):
        with h2raw.Client(srv.port) as c:
            sid = c.headers(SAYHELLO)                      # after HEADERS
            c.rst(sid)
            sid = c.headers(SAYHELLO)                      # inside a message
            c.data(sid, msg[:7])
            c.rst(sid)
            for path in ("/urpc.example.Demo/AsyncHello", "/urpc.example.Demo/BlockingHello",
                         SAYHELLO):
                for _ in range(20):                        # while the handler runs
                    sid = c.unary(path, hello_request("r"))
                    c.rst(sid)
            time.sleep(0.1)  # let the async and worker replies come back to reset streams
            sid = c.unary(SAYHELLO, hello_request("same"))
            h2raw.check_ok_reply(c.wait(sid), "Hello same")
        for path in ("/urpc.example.Demo/AsyncHello", "/urpc.example.Demo/BlockingHello"):
            for _ in range(5):                             # the connection vanishes mid-call
                c = h2raw.Client(srv.port)
                for _ in range(20):
                    c.unary(path, hello_request("gone"))
                c.close()
            c = h2raw.Client(srv.port)                     # mid-request
            sid = c.headers(path)
            c.data(sid, msg[:3])
            c.close()
        time.sleep(0.1)
        for path, tag in (("/urpc.example.Demo/AsyncHello", "async"),
                          ("/urpc.example.Demo/BlockingHello", "worker")):
            st = one_call(srv.port, "", lambda c: c.unary(path, hello_request("back")))
            h2raw.check_ok_reply(st, f"Hello back ({tag})")
    res = run_server(args, body)
    check(res.total("cancelled") >= 1, f"no call counted cancelled: {res.stats}")


def case_flow_control(args):
    """A reply larger than the client's stream window: the server must wait for WINDOW_UPDATEs
    and still deliver every byte, in order."""
    def body(srv):
        for size in (1000, 70000, 1 << 20):
            name = "".join(chr(97 + (i * 7) % 26) for i in range(size))
            with h2raw.Client(srv.port, settings=h2raw.settings_small_window(1024)) as c:
                c.pump(lambda: False, 0.05)
                sid = c.headers(SAYHELLO)
                payload = grpc_frame(hello_request(name))
                # The request itself is bigger than 64 KiB for the larger sizes: send it as the
                # server's window allows.
                while payload:
                    w = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size)
                    if w <= 0:
                        c.pump(lambda: c.conn.local_flow_control_window(sid) > 0, 10)
                        check(c.conn.local_flow_control_window(sid) > 0,
                              "server never opened its receive window")
                        continue
                    c.data(sid, payload[:w], end_stream=len(payload) <= w)
                    payload = payload[w:]
                h2raw.check_ok_reply(c.wait(sid, 60), "Hello " + name)
                log(f"{size}-byte reply through a 1 KiB window: OK")
        m = srv.wait_metrics(lambda m: m.get("uringrpc_connections_open") == 0)
        stalls = {w: m.get("uringrpc_flow_control_stalls_total", window=w)
                  for w in ("stream", "connection")}
        windows = {d: m.get("uringrpc_flow_control_window_bytes", direction=d)
                   for d in ("send", "receive")}
        log(f"metrics: window stalls {stalls}, windows {windows} with no connection open")
        # Each reply goes out in sends of at most the 1 KiB window (the client gives back what
        # it read, never more): every send but a reply's last was cut short by a window.
        cuts = sum(-(-len(grpc_frame(hello_request("Hello " + "x" * size))) // 1024) - 1
                   for size in (1000, 70000, 1 << 20))
        check(stalls["stream"] + stalls["connection"] >= cuts,
              f"replies through a 1 KiB window: {stalls}, expected at least {cuts} in all")
        check(stalls["stream"] >= 1, f"no stall of a stream window: {stalls}")
        check(windows == {"send": 0, "receive": 0},
              f"connection windows summed {windows} with no connection open")
    run_server(args, body, *harness.ADMIN)


# ---- floods and concurrency --------------------------------------------------------------

def case_floods(args):
    """PING, SETTINGS and CONTINUATION floods and rapid reset: the server answers or sends
    GOAWAY, never dies, and other connections are served."""
    # A literal header block for a gRPC SayHello request (HPACK, no Huffman, no indexing).
    def lit(name, value):
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    block = (b"\x83" + b"\x86" + lit(b":path", SAYHELLO.encode()) +
             lit(b":authority", b"x") + lit(b"content-type", b"application/grpc") +
             lit(b"te", b"trailers"))

    def body(srv):
        n = 5000
        with raw_conn(srv.port) as s:  # PING flood, sent without reading
            s.sendall(b"".join(frame(T_PING, 0, 0, i.to_bytes(8, "big")) for i in range(n)))
            frames, eof = read_frames(s, 10, lambda f: sum(t == T_PING for t, *_ in f) >= n)
            acks = sum(1 for t, fl, _, _ in frames if t == T_PING and fl & 1)
            log(f"{n} PINGs: {acks} ACKs, GOAWAY {goaway_of(frames)}, eof {eof}")
            check(acks == n or goaway_of(frames) is not None or eof,
                  f"PING flood: {acks} of {n} acknowledged and no GOAWAY")
        probe(srv, "a PING flood")
        with raw_conn(srv.port) as s:  # SETTINGS flood
            s.sendall(frame(T_SETTINGS, 0, 0) * n)
            frames, eof = read_frames(s, 10, lambda f: sum(
                t == T_SETTINGS and fl & 1 for t, fl, *_ in f) >= n + 1)
            acks = sum(1 for t, fl, _, _ in frames if t == T_SETTINGS and fl & 1)
            log(f"{n} SETTINGS: {acks} ACKs, GOAWAY {goaway_of(frames)}, eof {eof}")
        probe(srv, "a SETTINGS flood")
        with raw_conn(srv.port) as s:  # CONTINUATION flood (CVE-2024-27316 style)
            s.sendall(frame(T_HEADERS, 0, 1, block[:1]))
            try:
                for _ in range(50):
                    s.sendall(frame(T_CONT, 0, 1, b"") * 200)
            except (BrokenPipeError, ConnectionResetError):
                pass
            frames, eof = read_frames(s, 10, lambda f: goaway_of(f) is not None)
            log(f"CONTINUATION flood: GOAWAY {goaway_of(frames)}, eof {eof}")
            check(goaway_of(frames) is not None or eof,
                  "10,000 empty CONTINUATION frames: the connection is still open, no GOAWAY")
        probe(srv, "a CONTINUATION flood")
        with raw_conn(srv.port) as s:  # rapid reset
            out = b""
            for i in range(2000):
                sid = 1 + 2 * i
                out += frame(T_HEADERS, 0x4 | 0x1, sid, block) + frame(T_RST, 0, sid, b"\0\0\0\x08")
            try:
                s.sendall(out)
            except (BrokenPipeError, ConnectionResetError):
                pass
            frames, eof = read_frames(s, 5, lambda f: goaway_of(f) is not None)
            log(f"rapid reset: GOAWAY {goaway_of(frames)}, eof {eof}, {len(frames)} frames")
        probe(srv, "rapid reset")
    run_server(args, body)


def case_many_streams(args):
    """1,000 concurrent streams on one connection (the advertised maximum), half to the
    worker thread and half answered asynchronously, all answered correctly."""
    def body(srv):
        with h2raw.Client(srv.port, timeout=60) as c:
            c.pump(lambda: c.conn.remote_settings.max_concurrent_streams < 2 ** 31 - 1, 5)
            limit = c.conn.remote_settings.max_concurrent_streams
            check(limit >= 1000, f"server advertises {limit} concurrent streams")
            want = {}
            for i in range(1000):
                path, tag = (("/urpc.example.Demo/AsyncHello", "async") if i % 2 else
                             ("/urpc.example.Demo/BlockingHello", "worker"))
                sid = c.headers(path)
                c.conn.send_data(sid, grpc_frame(hello_request(f"s{i}")), end_stream=True)
                want[sid] = f"Hello s{i} ({tag})"
                if i % 50 == 49:
                    c.flush()
                    c.pump(lambda: False, 0.001)
            c.flush()
            done = c.pump(lambda: all(c.streams[s].done for s in want), 60)
            check(done, f"{sum(not c.streams[s].done for s in want)} of 1000 streams "
                        f"unanswered after 60 s")
            for sid, w in want.items():
                h2raw.check_ok_reply(c.streams[sid], w)
    res = run_server(args, body, "--workers-per-shard", "2")
    check(res.total("ok") >= 1000, f"stats {res.stats}")


def case_many_connections(args):
    """Hundreds of connections sending at the same moment, some with 64 KiB requests, so the
    shard's provided receive buffers run dry (ENOBUFS) and recv must be re-armed without
    losing any connection's bytes. Every connection gets its exact reply."""
    import selectors

    def lit(name, value):
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    block = (b"\x83\x86" + lit(b":path", SAYHELLO.encode()) + lit(b":authority", b"x") +
             lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers"))

    def request(name):
        msg = grpc_frame(hello_request(name))
        out = PREFACE + frame(T_SETTINGS, 1, 0) + frame(T_HEADERS, 0x4, 1, block)
        # Max frame size is 16 KiB until settings say otherwise.
        for i in range(0, len(msg), 16384):
            chunk = msg[i:i + 16384]
            out += frame(T_DATA, 0x1 if i + 16384 >= len(msg) else 0, 1, chunk)
        return out

    def body(srv):
        n = 600
        names = [(f"c{i}-" + "x" * (60000 if i % 3 == 0 else 10)) for i in range(n)]
        socks = []
        for _ in range(n):
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            socks.append(s)
        payloads = [request(nm) for nm in names]
        for s, p in zip(socks, payloads):  # all at once: no reading in between
            s.sendall(p)
        sel = selectors.DefaultSelector()
        bufs = {}
        for i, s in enumerate(socks):
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            bufs[i] = b""
        done = {}
        deadline = time.monotonic() + 60
        while len(done) < n and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=1):
                i = key.data
                try:
                    chunk = key.fileobj.recv(1 << 17)
                except (BlockingIOError, InterruptedError):
                    continue
                if not chunk:
                    sel.unregister(key.fileobj)
                    done.setdefault(i, None)
                    continue
                bufs[i] += chunk
                # Done when a HEADERS frame with END_STREAM on stream 1 arrived.
                b, frames = bufs[i], []
                while len(b) >= 9 and len(b) >= 9 + int.from_bytes(b[:3], "big"):
                    ln = int.from_bytes(b[:3], "big")
                    frames.append((b[3], b[4], int.from_bytes(b[5:9], "big"), b[9:9 + ln]))
                    b = b[9 + ln:]
                if any(t == T_HEADERS and fl & 1 and sid == 1 for t, fl, sid, _ in frames):
                    data = b"".join(p for t, _, sid, p in frames if t == T_DATA and sid == 1)
                    done[i] = data
                    sel.unregister(key.fileobj)
        sel.close()
        for s in socks:
            s.close()
        missing = [i for i in range(n) if done.get(i) is None]
        check(not missing, f"{len(missing)} of {n} connections got no complete reply "
                           f"(first: {missing[:10]})")
        for i, data in done.items():
            got = harness.parse_string_field1(data[5:]) if len(data) > 5 else None
            check(got == "Hello " + names[i], f"connection {i}: wrong reply ({len(data)} bytes)")
        log(f"{n} simultaneous connections answered")
    res = run_server(args, body)
    check(res.total("connections") >= 600 and res.total("ok") >= 600, f"stats {res.stats}")


def case_h2_extras(args):
    """Legal HTTP/2 that gRPC clients rarely send: padding, request trailers, unknown frame
    types, PRIORITY, a header block split over CONTINUATION frames, a stream WINDOW_UPDATE."""
    msg = grpc_frame(hello_request("extra"))

    def body(srv):
        with h2raw.Client(srv.port) as c:
            sid = c.headers(SAYHELLO)                         # padded DATA frames
            c.conn.send_data(sid, msg[:4], pad_length=200)
            c.conn.send_data(sid, msg[4:], end_stream=True, pad_length=17)
            c.flush()
            h2raw.check_ok_reply(c.wait(sid), "Hello extra")
            sid = c.headers(SAYHELLO)                         # trailers end the request
            c.data(sid, msg)
            c.conn.send_headers(sid, [(b"x-trailer", b"1")], end_stream=True)
            c.flush()
            h2raw.check_ok_reply(c.wait(sid), "Hello extra")
            # Unknown frame types (must be ignored), PRIORITY, WINDOW_UPDATE on a stream.
            sid = c.headers(SAYHELLO)
            c.send_raw(frame(0xFA, 0, 0, b"ignored") + frame(0xFB, 0xFF, sid, b"x" * 100) +
                       frame(2, 0, sid, b"\x00\x00\x00\x00\x10") +
                       frame(8, 0, sid, (1000).to_bytes(4, "big")))
            c.data(sid, msg, end_stream=True)
            h2raw.check_ok_reply(c.wait(sid), "Hello extra")
        # A header block split over HEADERS + 3 CONTINUATION frames (raw: h2 never splits).
        def lit(name, value):
            return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
        block = (b"\x83\x86" + lit(b":path", SAYHELLO.encode()) + lit(b":authority", b"x") +
                 lit(b"content-type", b"application/grpc") + lit(b"te", b"trailers"))
        q = len(block) // 4
        parts = [block[:q], block[q:2 * q], block[2 * q:3 * q], block[3 * q:]]
        with raw_conn(srv.port) as s:
            s.sendall(frame(T_SETTINGS, 1, 0) + frame(T_HEADERS, 0, 1, parts[0]) +
                      frame(T_CONT, 0, 1, parts[1]) + frame(T_CONT, 0, 1, parts[2]) +
                      frame(T_CONT, 0x4, 1, parts[3]) + frame(T_DATA, 1, 1, msg))
            frames, eof = read_frames(s, 10, lambda f: any(
                t == T_HEADERS and fl & 1 for t, fl, *_ in f))
            data = b"".join(p for t, _, sid, p in frames if t == T_DATA and sid == 1)
            ok = harness.parse_string_field1(data[5:]) == "Hello extra"
            check(ok, f"CONTINUATION-split request: reply {data!r}, frames "
                      f"{[(t, fl, sid) for t, fl, sid, _ in frames]}")
    run_server(args, body)


def case_deadline(args):
    """grpc-timeout is enforced: a request still open at its deadline, and a call whose
    handler has not answered by then, get DEADLINE_EXCEEDED; a call with a long deadline is
    served; a server with deadlines pending stops cleanly."""
    msg = grpc_frame(hello_request("d"))

    def body(srv):
        with h2raw.Client(srv.port) as c:
            sid = c.headers(SAYHELLO, [("grpc-timeout", "100m")])
            c.data(sid, msg)  # no END_STREAM: the request never completes
            t0 = time.monotonic()
            st = c.wait(sid, 10)
            took = time.monotonic() - t0
            expect_status(st, DEADLINE_EXCEEDED, "request open past grpc-timeout 100m")
            check(0.08 <= took < 5, f"DEADLINE_EXCEEDED after {took:.3f} s for a 100 ms deadline")
            # A handler that has not answered by its deadline: Ping waits 2 s (delayNanos) on
            # the shard's timer wheel; the call's 50 ms deadline comes first, whatever the load.
            ping = bytes([0x20]) + harness.varint(2_000_000_000)  # PingMessage{delayNanos: 2 s}
            late = c.unary("/fgrpc.PingServer/Ping", ping, extra=[("grpc-timeout", "50m")])
            expect_status(c.wait(late, 30), DEADLINE_EXCEEDED, "Ping of 2 s past a 50 ms deadline")
            # Counted before the status goes out; the calls' ends (handled) when released.
            m = srv.wait_metrics(lambda m: m.sum("grpc_server_handled_total",
                                                 grpc_code="DeadlineExceeded") == 2)
            m.expect("uringrpc_deadlines_expired_total", 2)
            for method in ("SayHello", "Ping"):
                got = m.sum("grpc_server_handled_total", grpc_method=method,
                            grpc_code="DeadlineExceeded")
                check(got == 1, f"{method}: {got:g} calls counted DeadlineExceeded, expected 1")
            check(m.sum("grpc_server_handled_total") == 2, "other calls counted handled")
            # The open request got its status, then RST_STREAM(NO_ERROR) (RFC 9113 8.1).
            m = srv.wait_metrics(lambda m: m.get("uringrpc_http2_rst_stream_sent_total",
                                                 code="NO_ERROR") == 1)
            m.expect("uringrpc_http2_rst_stream_sent_total", 1, code="NO_ERROR")
            sid = c.unary("/urpc.example.Demo/AsyncHello", hello_request("long"),
                          extra=[("grpc-timeout", "10S")])
            h2raw.check_ok_reply(c.wait(sid), "Hello long (async)")
            # Left pending at shutdown: an hour-long deadline on an open request.
            sid = c.headers(SAYHELLO, [("grpc-timeout", "1H")])
            c.data(sid, msg)
            probe(srv, "deadlines")
            m = srv.metrics()
            m.expect("uringrpc_deadlines_expired_total", 2)  # not the 10 s one, nor the hour
            got = m.sum("grpc_server_handled_total", grpc_method="AsyncHello", grpc_code="OK")
            check(got == 1, f"AsyncHello within its deadline: {got:g} counted OK, expected 1")
    res = run_server(args, body, "--workers-per-shard", "1", *harness.ADMIN)
    check(res.total("ok") >= 1, f"stats {res.stats}")


def case_deadline_race(args):
    """Deadlines of about the handler's own time (AsyncHello answers after ~1 ms), so the
    deadline timer and the reply race each other, and client resets join in. Every call ends
    with its correct reply or DEADLINE_EXCEEDED (or the reset); nothing else, no crash."""
    def body(srv):
        outcomes = {"ok": 0, "deadline": 0, "reset": 0}
        for round_ in range(4):
            with h2raw.Client(srv.port, timeout=60) as c:
                want = {}
                for i in range(400):
                    path, tag = (("/urpc.example.Demo/AsyncHello", "async") if i % 2 else
                                 ("/urpc.example.Demo/BlockingHello", "worker"))
                    t = ["1m", "2m", "900u", "1500u"][i % 4]
                    sid = c.unary(path, hello_request(f"r{i}"), extra=[("grpc-timeout", t)])
                    want[sid] = f"Hello r{i} ({tag})"
                    if i % 7 == 3:
                        c.rst(sid)
                        want[sid] = None
                        outcomes["reset"] += 1
                c.pump(lambda: all(c.streams[s].done for s, w in want.items() if w), 60)
                for sid, w in want.items():
                    st = c.streams[sid]
                    if w is None:
                        continue
                    check(st.done, f"unanswered: {st.describe()}")
                    if st.grpc_status == DEADLINE_EXCEEDED:
                        outcomes["deadline"] += 1
                        check(st.messages() == [], f"DEADLINE_EXCEEDED with a body: "
                                                   f"{st.describe()}")
                    else:
                        h2raw.check_ok_reply(st, w)
                        outcomes["ok"] += 1
        log(f"outcomes: {outcomes}")
        # Every DEADLINE_EXCEEDED the client saw was a deadline counted; beyond those, only a
        # call the client reset may have expired (its status decided, unseen). Each call whose
        # deadline expired ends DeadlineExceeded (the status is taken when it is submitted).
        m = srv.wait_metrics(lambda m: m.get("uringrpc_calls_live") == 0, timeout=10)
        expired = m.get("uringrpc_deadlines_expired_total")
        handled = m.sum("grpc_server_handled_total", grpc_code="DeadlineExceeded")
        log(f"metrics: {expired:g} deadlines expired, {handled:g} calls handled DeadlineExceeded")
        check(outcomes["deadline"] <= expired <= outcomes["deadline"] + outcomes["reset"]
              and handled == expired,
              f"client saw {outcomes}; server counted {expired:g} deadlines expired, {handled:g} "
              f"calls handled DeadlineExceeded")
        ok = m.sum("grpc_server_handled_total", grpc_code="OK")  # a reset may come too late
        check(outcomes["ok"] <= ok <= outcomes["ok"] + outcomes["reset"],
              f"client saw {outcomes}; server counted {ok:g} OK")
    run_server(args, body, "--workers-per-shard", "2", *harness.ADMIN)


# ---- the gRPC protocol checklist (grpc-protocol.md) beyond the basic contract -----------

def case_missing_content_type(args):
    """grpc-protocol.md: content-type not starting with application/grpc -> 415. No
    content-type at all does not start with it either (grpc-go and grpc C++ answer 415)."""
    def send(c):
        sid = c.headers(raw=[(":method", "POST"), (":scheme", "http"), (":path", SAYHELLO),
                             (":authority", "x"), ("te", "trailers")])
        c.data(sid, grpc_frame(hello_request("noct")), end_stream=True)
        return sid

    def body(srv):
        st = one_call(srv.port, "", send)
        check(st.http_status == 415 and st.grpc_status is None,
              f"POST without content-type: expected HTTP 415 and no grpc-status; "
              f"{st.describe()}")
    run_server(args, body)


def case_accept_encoding(args):
    """grpc-protocol.md: an encoding the server lacks -> UNIMPLEMENTED with
    grpc-accept-encoding listing what it has."""
    def body(srv):
        st = one_call(srv.port, "", lambda c: c.unary(SAYHELLO, hello_request("z"), compressed=True,
                                                      extra=[("grpc-encoding", "br")]))
        expect_status(st, UNIMPLEMENTED, "grpc-encoding: br")
        acc = st.header("grpc-accept-encoding")
        check(acc is not None and b"identity" in acc,
              f"UNIMPLEMENTED for grpc-encoding br: expected grpc-accept-encoding listing the "
              f"supported encodings; headers {st.all_names()}")
    run_server(args, body)


CASES = {
    "nghttp_415": case_nghttp_415,
    "nghttp_405": case_nghttp_405,
    "content_type": case_content_type,
    "split_message": case_split_message,
    "cardinality": case_cardinality,
    "zero_messages": case_zero_messages,
    "truncated": case_truncated,
    "compressed_flag": case_compressed_flag,
    "encoding_br": case_encoding_br,
    "bad_timeout": case_bad_timeout,
    "bad_pseudo": case_bad_pseudo,
    "bad_preface": case_bad_preface,
    "bad_frames": case_bad_frames,
    "percent_message": case_percent_message,
    "header_flood": case_header_flood,
    "resets": case_resets,
    "flow_control": case_flow_control,
    "floods": case_floods,
    "many_streams": case_many_streams,
    "many_connections": case_many_connections,
    "h2_extras": case_h2_extras,
    "deadline": case_deadline,
    "deadline_race": case_deadline_race,
    "missing_content_type": case_missing_content_type,
    "accept_encoding": case_accept_encoding,
}

if __name__ == "__main__":
    harness.run_cases(CASES, harness.parse_args())
