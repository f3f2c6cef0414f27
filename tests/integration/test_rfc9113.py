#!/usr/bin/python3
"""RFC 9113 answers to what a client does wrong, found by an HTTP/2 conformance run (issue 8);
raw frames and python3-h2, and python's http.client for HTTP/1.1.

  client_goaway      a client GOAWAY on a connection with nothing open: the server closes it
  closed_stream      DATA after the stream ended both ways, DATA after the client's
                     RST_STREAM, HEADERS after the end, DATA after the client's END_STREAM (the
                     handler still busy): RST_STREAM(STREAM_CLOSED) each, and the connection
                     goes on; DATA the client sent before it saw the server's own
                     reset is ignored, as 5.1 requires
  lower_stream_id    HEADERS on a stream id below one already opened (and never used):
                     GOAWAY(PROTOCOL_ERROR)
  malformed          a second HEADERS without END_STREAM, and content-length not matching the
                     DATA: RST_STREAM(PROTOCOL_ERROR), no gRPC answer
  concurrent_streams 1,000 calls in flight (MAX_CONCURRENT_STREAMS) and one more: the extra one
                     gets REFUSED_STREAM and the 1,000 complete
  http1              python's http.client (HTTP/1.1) on the plaintext port gets a readable
                     505 and the connection closes
"""
import http.client
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, check, grpc_frame, hello_request, log  # noqa: E402

try:
    import hpack
    import h2raw
    from h2raw import T_DATA, T_HEADERS, T_RST, frame, goaways, read_frames, ready_conn
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

SAYHELLO = "/helloworld.Greeter/SayHello"
PROTOCOL_ERROR, STREAM_CLOSED, REFUSED_STREAM = 1, 5, 7


def need_h2():
    harness.require(h2raw, "python3-h2")


def request_block(enc, path=SAYHELLO, extra=()):
    return enc.encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                       (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                       ("te", "trailers"), *extra])


def hello(enc, sid, name="x"):
    return frame(T_HEADERS, 0x4, sid, request_block(enc)) + frame(
        T_DATA, 0x1, sid, grpc_frame(hello_request(name)))


def resets(frames):
    return [(sid, int.from_bytes(p[:4], "big")) for t, _, sid, p in frames if t == T_RST]


def ended(frames, sid):
    return any(t == T_HEADERS and fl & 1 and s == sid for t, fl, s, _ in frames)


def until_ended(sid):
    return lambda fr: ended(fr, sid)


def case_client_goaway(args):
    need_h2()
    with Server(args.server, "--shards", "1") as srv:
        s = ready_conn(srv.port)
        read_frames(s, 1)  # the server's SETTINGS and ACK: nothing left for it to send
        s.sendall(frame(7, 0, 0, (0).to_bytes(4, "big") + (0).to_bytes(4, "big")))
        _, eof = read_frames(s, 5)
        check(eof, "a client GOAWAY with no stream open: the connection stayed open")
        s.close()
        h2raw.say_hello_ok(srv.port)
        srv.stop()
        log("client GOAWAY, no streams: closed")


def case_closed_stream(args):
    need_h2()
    with Server(args.server, "--shards", "1") as srv:
        s, enc = ready_conn(srv.port), hpack.Encoder()
        s.sendall(hello(enc, 1))
        read_frames(s, 5, stop=until_ended(1))
        s.sendall(frame(T_DATA, 0x1, 1, grpc_frame(hello_request("late"))))  # after the end
        s.sendall(frame(T_HEADERS, 0x4, 3, request_block(enc)))  # stream 3, then reset
        s.sendall(frame(T_RST, 0, 3, (8).to_bytes(4, "big")))
        time.sleep(0.2)
        s.sendall(frame(T_DATA, 0x1, 3, grpc_frame(hello_request("after rst"))))
        s.sendall(hello(enc, 5))
        seen, _ = read_frames(s, 5, stop=until_ended(5))
        s.sendall(frame(T_HEADERS, 0x5, 5, enc.encode([("x-late", "1")])))  # HEADERS after end
        # Stream 11 waits in its handler (Ping, 2 s): DATA after its END_STREAM is a stream error.
        s.sendall(frame(T_HEADERS, 0x4, 11, request_block(enc, "/fgrpc.PingServer/Ping")) +
                  frame(T_DATA, 0x1, 11, grpc_frame(b"\x20" + harness.varint(2_000_000_000))))
        time.sleep(0.2)
        s.sendall(frame(T_DATA, 0x1, 11, grpc_frame(b"")))
        frames, eof = read_frames(s, 3, stop=lambda fr: len(resets(seen + fr)) >= 4)
        got = resets(seen + frames)
        want = [(1, STREAM_CLOSED), (3, STREAM_CLOSED), (5, STREAM_CLOSED), (11, STREAM_CLOSED)]
        check(got == want and not eof,
              f"expected RST_STREAM(STREAM_CLOSED) on 1 (DATA after the end), 3 (DATA after "
              f"RST_STREAM), 5 (HEADERS after the end) and 11 (DATA after the client's "
              f"END_STREAM), the connection open; got {got}, eof={eof}")
        # The server answers a call before the client has finished sending: it resets the stream
        # (NO_ERROR), and the client's DATA already on its way is ignored, not answered.
        s.sendall(frame(T_HEADERS, 0x4, 13, request_block(enc, "/nope.Nope/Nope")))
        frames, _ = read_frames(s, 3, stop=lambda fr: any(sid == 13 for sid, _ in resets(fr)))
        check((13, 0) in resets(frames), f"no RST_STREAM(NO_ERROR) after answering 13: {frames}")
        s.sendall(frame(T_DATA, 0x1, 13, grpc_frame(hello_request("in flight"))) + hello(enc, 15))
        frames, eof = read_frames(s, 3, stop=until_ended(15))
        check(ended(frames, 15) and not resets(frames) and not eof,
              f"DATA in flight after our reset must be ignored: {resets(frames)} eof={eof}")
        s.close()
        srv.stop()
        log("DATA/HEADERS on closed streams: RST_STREAM(STREAM_CLOSED); in-flight DATA after "
            "our own reset ignored")


def case_lower_stream_id(args):
    need_h2()
    with Server(args.server, "--shards", "1") as srv:
        s, enc = ready_conn(srv.port), hpack.Encoder()
        s.sendall(hello(enc, 5))
        read_frames(s, 5, stop=until_ended(5))
        s.sendall(hello(enc, 3))
        frames, eof = read_frames(s, 5)
        check([c for _, c in goaways(frames)] == [PROTOCOL_ERROR] and eof,
              f"HEADERS on stream 3 after 5: expected GOAWAY(PROTOCOL_ERROR) and close, got "
              f"{goaways(frames)} eof={eof}")
        s.close()
        h2raw.say_hello_ok(srv.port)
        srv.stop()
        log("a lower stream id: GOAWAY(PROTOCOL_ERROR)")


def case_malformed(args):
    need_h2()
    msg = grpc_frame(hello_request("m"))
    with Server(args.server, "--shards", "1") as srv:
        s, enc = ready_conn(srv.port), hpack.Encoder()
        s.sendall(frame(T_HEADERS, 0x4, 1, request_block(enc)) + frame(T_DATA, 0, 1, msg) +
                  frame(T_HEADERS, 0x4, 1, enc.encode([("x-trailer", "1")])))
        s.sendall(frame(T_HEADERS, 0x4, 3, request_block(enc, extra=[("content-length", "3")])) +
                  frame(T_DATA, 0x1, 3, msg))
        s.sendall(frame(T_HEADERS, 0x4, 5, request_block(enc, extra=[("content-length", "99")])) +
                  frame(T_DATA, 0x1, 5, msg))
        frames, eof = read_frames(s, 5, stop=lambda fr: len(resets(fr)) >= 3)
        got = dict(resets(frames))
        answered = [sid for t, _, sid, _ in frames if t == T_HEADERS]
        check(got == {1: PROTOCOL_ERROR, 3: PROTOCOL_ERROR, 5: PROTOCOL_ERROR} and not answered,
              f"expected RST_STREAM(PROTOCOL_ERROR) on 1, 3, 5 and no response HEADERS; got "
              f"resets {got}, HEADERS on {answered}")
        s.close()
        h2raw.say_hello_ok(srv.port)
        srv.stop()
        log("second HEADERS without END_STREAM, content-length mismatches: PROTOCOL_ERROR")


def case_concurrent_streams(args):
    need_h2()
    ping = b"\x20" + harness.varint(2_000_000_000)  # fgrpc.PingMessage{delayNanos: 2 s}
    with Server(args.server, "--shards", "1") as srv:
        s, enc = ready_conn(srv.port), hpack.Encoder()
        settings, _ = read_frames(s, 2, stop=lambda fr: any(t == 4 and not fl & 1
                                                             for t, fl, _, _ in fr))
        mcs = [int.from_bytes(p[i + 2:i + 6], "big") for t, fl, _, p in settings
               if t == 4 and not fl & 1 for i in range(0, len(p), 6)
               if int.from_bytes(p[i:i + 2], "big") == 3]
        check(mcs == [1000], f"advertised MAX_CONCURRENT_STREAMS: {mcs}")
        batch = b""
        for i in range(1001):
            sid = 1 + 2 * i
            batch += frame(T_HEADERS, 0x4, sid, request_block(enc, "/fgrpc.PingServer/Ping"))
            batch += frame(T_DATA, 0x1, sid, grpc_frame(ping))
        s.sendall(batch)
        frames, eof = read_frames(s, 20, stop=lambda fr: sum(
            t == T_HEADERS and fl & 1 for t, fl, _, _ in fr) >= 1000)
        done = {sid for t, fl, sid, _ in frames if t == T_HEADERS and fl & 1}
        check(resets(frames) == [(2001, REFUSED_STREAM)] and len(done) == 1000 and not eof,
              f"the 1001st stream: expected REFUSED_STREAM for it alone and the 1,000 answered; "
              f"resets {resets(frames)[:5]}, {len(done)} answered, goaway {goaways(frames)}")
        s.close()
        srv.stop()
        log("1,001 streams: the extra one REFUSED_STREAM, the 1,000 answered")


def case_http1(args):
    with Server(args.server, "--shards", "1") as srv:
        c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
        c.request("GET", "/")
        r = c.getresponse()
        body = r.read().decode()
        check(r.status == 505 and "HTTP/2" in body, f"HTTP/1.1 GET: {r.status} {body!r}")
        check(r.getheader("connection") == "close", f"headers {r.getheaders()}")
        c.close()
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
        sock.sendall(b"POST /helloworld.Greeter/SayHello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
        check(data.startswith(b"HTTP/1.1 505"), f"HTTP/1.1 POST: {data[:100]!r}")
        sock.close()
        if h2raw:
            h2raw.say_hello_ok(srv.port)
        srv.stop()
        log(f"HTTP/1.1: {r.status} {r.reason}: {body.strip()}")


CASES = {name[5:]: fn for name, fn in globals().items() if name.startswith("case_")}

if __name__ == "__main__":
    harness.run_cases(CASES, harness.parse_args())
