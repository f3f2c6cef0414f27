#!/usr/bin/python3
"""Writes the seed corpora of tests/fuzz (corpus/<target>/*) from hand-made inputs: HTTP/2
requests framed here with python3-hpack's encoder (the frames test_h2_session.c makes, and
the calls of the example services), gRPC messages, encodings, reflection requests and TLS
ClientHellos.

    /usr/bin/python3 tests/fuzz/make_seeds.py [--tls-server build/examples/uringrpc-server]

TLS seeds need openssl; with --tls-server they also include what a client sends to a real
server after its first flight (a TLS 1.2 client certificate for mTLS, a resumption
ClientHello with a ticket). Deterministic but for the TLS captures, which carry fresh
randoms: existing TLS seeds are kept unless --tls-server or --tls is given.
"""
import argparse
import base64
import gzip
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import zlib

import hpack

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")

# ---- protobuf, by hand ----


def varint(n):
    out = bytearray()
    n &= (1 << 64) - 1
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def f_varint(num, v):
    return varint(num << 3) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(num << 3 | 2) + varint(len(b)) + b


def grpc_msg(body, compressed=False):
    return bytes([1 if compressed else 0]) + len(body).to_bytes(4, "big") + body


def hello(name):
    return f_bytes(1, name)


def bool_value(v):
    return f_varint(1, 1 if v else 0)


def response_params(size, interval_us=0, compressed=False):
    p = f_varint(1, size) + f_varint(2, interval_us)
    if compressed:
        p += f_bytes(3, bool_value(True))
    return p


def streaming_output_request(params, status=None):
    m = b"".join(f_bytes(2, response_params(*p)) for p in params)
    if status:
        m += f_bytes(7, f_varint(1, status[0]) + f_bytes(2, status[1]))
    return m


# ---- HTTP/2 frames ----

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIO = 0x1, 0x1, 0x4, 0x8, 0x20


def frame(ftype, flags, sid, payload=b""):
    return len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big") + payload


class Client:
    """One client connection's bytes after the preface (the fuzz target prepends it)."""

    def __init__(self, settings=b""):
        self.enc = hpack.Encoder()
        self.out = bytearray(frame(SETTINGS, 0, 0, settings))

    def headers(self, sid, nv, flags=END_HEADERS):
        self.out += frame(HEADERS, flags | END_HEADERS, sid, self.enc.encode(nv))
        return self

    def call(self, sid, path, extra=(), end=False, te=True):
        nv = [(":method", "POST"), (":scheme", "http"), (":path", path),
              (":authority", "localhost"), ("content-type", "application/grpc")]
        if te:
            nv.append(("te", "trailers"))
        nv += list(extra)
        return self.headers(sid, nv, END_STREAM if end else 0)

    def data(self, sid, payload, end=True, flags=0):
        self.out += frame(DATA, flags | (END_STREAM if end else 0), sid, payload)
        return self

    def raw(self, b):
        self.out += b
        return self

    def seed(self, flags=0, step=0, tick=0):
        return bytes([flags, step, tick]) + bytes(self.out)


GREETER = "/helloworld.Greeter/SayHello"
TEST = "/grpc.testing.TestService/"
HEALTH = "/grpc.health.v1.Health/"
REFL = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
REFL_ALPHA = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"


def h2_seeds():
    s = {}
    s["unary"] = Client().call(1, GREETER).data(1, grpc_msg(hello("world"))).seed()
    s["unary_pieces"] = Client().call(1, GREETER).data(1, grpc_msg(hello("split"))).seed(step=7)
    s["metadata_timeout"] = Client().call(1, GREETER, [
        ("grpc-timeout", "1S"), ("grpc-accept-encoding", "gzip, deflate"),
        ("user-agent", "grpc-python/1.51"), ("x-user", "alice"),
        ("x-trace-bin", base64.b64encode(b"\x00\x01\x02trace").decode()),
        ("grpc-previous-rpc-attempts", "0")]).data(1, grpc_msg(hello("md"))).seed()
    s["gzip_request"] = Client().call(1, GREETER, [("grpc-encoding", "gzip")]).data(
        1, grpc_msg(gzip.compress(hello("zipped"), mtime=0), True)).seed()
    s["deflate_request"] = Client().call(1, GREETER, [("grpc-encoding", "deflate"), (
        "grpc-accept-encoding", "deflate")]).data(1, grpc_msg(zlib.compress(hello("deflated")), True)).seed()
    s["health_check"] = Client().call(1, HEALTH + "Check").data(1, grpc_msg(f_bytes(1, ""))).seed()
    s["health_watch"] = Client().call(1, HEALTH + "Watch").data(
        1, grpc_msg(f_bytes(1, "helloworld.Greeter"))).seed(flags=0x02)
    s["empty_call"] = Client().call(1, TEST + "EmptyCall").data(1, grpc_msg(b"")).seed()
    s["unary_call_echo"] = Client().call(1, TEST + "UnaryCall", [
        ("x-grpc-test-echo-initial", "initial"),
        ("x-grpc-test-echo-trailing-bin", base64.b64encode(b"\xab\xab\xab").decode()),
        ("grpc-accept-encoding", "gzip")]).data(
        1, grpc_msg(f_varint(2, 100) + f_bytes(6, bool_value(True)) + f_bytes(3, f_bytes(2, b"\0" * 20)))).seed()
    s["unary_call_status"] = Client().call(1, TEST + "UnaryCall").data(
        1, grpc_msg(f_bytes(7, f_varint(1, 3) + f_bytes(2, "t\u00e9st \n error")))).seed()
    s["streaming_output"] = Client().call(1, TEST + "StreamingOutputCall", [("grpc-accept-encoding", "gzip")]).data(
        1, grpc_msg(streaming_output_request([(10, 0), (200, 1000, True), (0, 0)]))).seed(tick=50)
    s["streaming_input"] = Client().call(1, TEST + "StreamingInputCall").data(
        1, grpc_msg(f_bytes(1, f_bytes(2, b"a" * 30))), end=False).data(
        1, grpc_msg(f_bytes(1, f_bytes(2, b"b" * 3))), end=False).data(1, b"").seed()
    s["full_duplex"] = Client().call(1, TEST + "FullDuplexCall").data(
        1, grpc_msg(streaming_output_request([(5, 0)])), end=False).data(
        1, grpc_msg(streaming_output_request([(7, 0)], status=(2, "bye")))).seed()
    s["half_duplex"] = Client().call(1, TEST + "HalfDuplexCall").data(
        1, grpc_msg(streaming_output_request([(5, 0), (6, 0)])), end=False).data(1, b"").seed()
    s["reflection_v1"] = Client().call(1, REFL).data(
        1, grpc_msg(f_bytes(1, "localhost") + f_bytes(7, "")) +
        grpc_msg(f_bytes(4, "helloworld.Greeter")) +
        grpc_msg(f_bytes(3, "grpc/testing/test.proto"))).seed()
    s["reflection_v1alpha"] = Client().call(1, REFL_ALPHA).data(
        1, grpc_msg(f_bytes(6, "grpc.testing.SimpleRequest")) +
        grpc_msg(f_bytes(5, f_bytes(1, "google.protobuf.FileOptions") + f_varint(2, 1001))), end=False).seed()
    s["unknown_method"] = Client().call(1, "/helloworld.Greeter/Nope", end=True).seed()
    s["http_errors"] = (Client()
                        .headers(1, [(":method", "GET"), (":scheme", "http"), (":path", GREETER),
                                     (":authority", "t"), ("content-type", "application/grpc")], END_STREAM)
                        .headers(3, [(":method", "POST"), (":scheme", "http"), (":path", GREETER),
                                     (":authority", "t"), ("content-type", "text/plain")], END_STREAM)
                        .headers(5, [(":method", "POST"), (":scheme", "http"), (":authority", "t"),
                                     ("content-type", "application/grpc")], END_STREAM)
                        .call(7, GREETER, [("grpc-timeout", "123456789S"), ("grpc-encoding", "br")], end=True)
                        .seed())
    s["reset"] = Client().call(1, GREETER).raw(frame(RST_STREAM, 0, 1, (8).to_bytes(4, "big"))).call(
        3, TEST + "FullDuplexCall").data(3, grpc_msg(streaming_output_request([(1, 0)])), end=False).raw(
        frame(RST_STREAM, 0, 3, (8).to_bytes(4, "big"))).seed()
    s["control_frames"] = (Client(settings=b"\x00\x01\x00\x00\x10\x00" b"\x00\x04\x00\x01\x00\x00"
                                  b"\x00\x05\x00\x00\x40\x00" b"\x00\x03\x00\x00\x00\x64")
                           .raw(frame(SETTINGS, ACK, 0))
                           .raw(frame(PING, 0, 0, b"12345678"))
                           .raw(frame(WINDOW_UPDATE, 0, 0, (1 << 20).to_bytes(4, "big")))
                           .raw(frame(PRIORITY, 0, 3, b"\x00\x00\x00\x01\x10"))
                           .call(1, GREETER).raw(frame(WINDOW_UPDATE, 0, 1, (1000).to_bytes(4, "big")))
                           .data(1, grpc_msg(hello("ctl")))
                           .raw(frame(GOAWAY, 0, 0, b"\x00\x00\x00\x01\x00\x00\x00\x00"))
                           .seed())
    c = Client()
    block = c.enc.encode([(":method", "POST"), (":scheme", "https"), (":path", GREETER),
                          (":authority", "t"), ("content-type", "application/grpc+proto"), ("te", "trailers")])
    s["continuation"] = c.raw(frame(HEADERS, 0, 1, block[:5]) + frame(CONTINUATION, 0, 1, block[5:12]) +
                              frame(CONTINUATION, END_HEADERS, 1, block[12:])).data(1, grpc_msg(hello("cont"))).seed()
    c = Client()
    block = c.enc.encode([(":method", "POST"), (":scheme", "http"), (":path", GREETER),
                          (":authority", "t"), ("content-type", "application/grpc")])
    body = grpc_msg(hello("padded"))
    s["padded_priority"] = c.raw(frame(HEADERS, PADDED | PRIO | END_HEADERS, 1,
                                       b"\x03" + b"\x00\x00\x00\x00\x10" + block + b"\0\0\0") +
                                 frame(DATA, PADDED | END_STREAM, 1, b"\x04" + body + b"\0\0\0\0")).seed()
    s["two_messages_unary"] = Client().call(1, GREETER).data(1, grpc_msg(hello("a")) + grpc_msg(hello("b"))).seed()
    s["deadline_open"] = Client().call(1, GREETER, [("grpc-timeout", "20m")]).seed(tick=30)
    s["deadline_stream"] = Client().call(1, TEST + "StreamingOutputCall", [("grpc-timeout", "100m")]).data(
        1, grpc_msg(streaming_output_request([(1, 50000), (1, 500000)]))).seed(tick=200)
    many = Client()
    for i in range(10):
        many.call(1 + 2 * i, GREETER).data(1 + 2 * i, grpc_msg(hello(str(i))))
    s["many_streams"] = many.seed()
    s["drain"] = Client().call(1, GREETER).call(3, TEST + "FullDuplexCall").data(1, grpc_msg(hello("x"))).data(
        3, grpc_msg(streaming_output_request([(1, 0)])), end=False).raw(frame(PING, ACK, 0, b"urpcdrai")).seed(flags=0x01)
    s["keepalive"] = Client().call(1, GREETER).data(1, grpc_msg(hello("ka"))).seed(flags=0x04)
    s["too_large"] = Client().call(1, GREETER).data(1, b"\x00\x00\x01\x00\x01", end=False).seed()
    s["raw_preface"] = bytes([0xC0, 0, 0]) + b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + Client().call(1, GREETER).data(
        1, grpc_msg(hello("raw"))).out
    s["http1"] = bytes([0xC0, 0, 0]) + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    return s


def frame_seeds():
    hdr = lambda limit, step, stop: limit.to_bytes(2, "big") + bytes([step, stop])
    return {
        "one": hdr(1024, 0, 0) + grpc_msg(hello("world")),
        "three_split": hdr(1024, 3, 0) + grpc_msg(b"") + grpc_msg(b"x" * 10, True) + grpc_msg(b"yy"),
        "stop_second": hdr(1024, 1, 2) + grpc_msg(b"a") + grpc_msg(b"b") + grpc_msg(b"c"),
        "too_large": hdr(16, 2, 0) + grpc_msg(b"z" * 17),
        "bad_flag": hdr(100, 1, 0) + b"\x02\x00\x00\x00\x01x",
        "partial": hdr(100, 4, 0) + grpc_msg(b"abc") + b"\x00\x00\x00",
    }


def compress_seeds():
    body = hello("compress me") * 20
    hdr = lambda enc, limit: bytes([enc]) + limit.to_bytes(3, "big")
    return {
        "gzip": hdr(0, 4096) + gzip.compress(body, mtime=0),
        "gzip_small_limit": hdr(0, 100) + gzip.compress(body, mtime=0),
        "deflate": hdr(1, 4096) + zlib.compress(body),
        "gzip_bomb": hdr(0, 0x3ffff) + gzip.compress(b"\0" * 200000, mtime=0),
        "identity": hdr(2, 10) + body[:20],
        "accept": hdr(3, 0) + b" gzip ,deflate,,identity\t,br",
    }


def reflection_seeds():
    v1, alpha = b"\x00", b"\x01"
    return {
        "list": v1 + f_bytes(1, "localhost") + f_bytes(7, "*"),
        "symbol": v1 + f_bytes(4, "grpc.testing.TestService.UnaryCall"),
        "file": alpha + f_bytes(3, "helloworld.proto"),
        "extension": v1 + f_bytes(5, f_bytes(1, "google.protobuf.FileOptions") + f_varint(2, 50000)),
        "ext_numbers": alpha + f_bytes(6, "google.protobuf.MessageOptions"),
        "not_found": v1 + f_bytes(4, "no.such.Symbol"),
        "empty": alpha,
    }


def small_seeds():
    md = lambda *kv: b"".join(bytes([len(k), len(v)]) + k + v for k, v in kv)
    return {
        "fuzz_timeout": {"seconds": b"1S", "millis": b"100m", "max": b"99999999H", "micro": b"5u",
                         "nano": b"30n", "minute": b"1M", "bad": b"1x"},
        "fuzz_percent": {"plain": b"hello world", "escapes": b"%41%zz%4", "utf8": "caf\u00e9 \n\t%".encode()},
        "fuzz_base64": {"padded": b"aGVsbG8=", "unpadded": b"YQ", "two": b"YWI=", "binary": bytes(range(48))},
        "fuzz_metadata": {"text": md((b"x-user", b"alice"), (b"x-id", b"42")),
                          "bin": md((b"x-trace-bin", b"AAEC"), (b"x-bad-bin", b"!!"), (b"grpc-status-details-bin", b"AA==")),
                          "reserved": md((b":path", b"/x"), (b"te", b"trailers"), (b"grpc-timeout", b"1S"),
                                         (b"content-type", b"application/grpc"))},
        # type (0 SimpleRequest, 1 StreamingOutputCallRequest, 2 urpc.loadtest.Kinds,
        # 3 HelloRequest), then JSON
        "fuzz_pb_json": {
            "simple": b'\x00{"responseType": "COMPRESSABLE", "responseSize": 314159, "payload":'
                      b' {"body": "AAAA"}, "responseCompressed": {"value": true}}',
            "streaming": b'\x01{"responseParameters": [{"size": 1, "intervalUs": 10}, {}]}',
            "kinds": b'\x02{"fInt64": "-5", "fSint32": -2, "fBytes": "-_8", "rInt32": [1, 2],'
                     b' "rInner": [{"next": {"a": 1}}], "mStrInt": {"k": 1}, "mBoolInner":'
                     b' {"true": {}}, "oInt32": 0, "wString": "s", "legacy": {"packed": [1]},'
                     b' "fDouble": "NaN", "fColor": "NEGATIVE", "custom": 1}',
            "hello": b'\x03{"name": "world"}',
            "orca": b'\x00{"orcaPerQueryReport": {"requestCost": {"a": 1.5}, "cpuUtilization": 0}}',
        },
    }


# ---- TLS ClientHellos, captured from openssl s_client ----


def capture_client(args, server=None, send_first=None):
    """Runs openssl s_client against a listener here and returns what it sent. With `server`
    (host, port) the bytes are relayed to a real server, so the client goes past its first
    flight."""
    lsock = socket.socket()
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(1)
    port = lsock.getsockname()[1]
    got = bytearray()

    def serve():
        conn, _ = lsock.accept()
        conn.settimeout(3)
        up = socket.create_connection(server) if server else None
        if up:
            up.settimeout(0.2)
        end = time.time() + 4
        while time.time() < end:
            try:
                b = conn.recv(65536)
                if not b:
                    break
                got.extend(b)
                if up:
                    up.sendall(b)
                else:
                    break  # the ClientHello alone
            except socket.timeout:
                pass
            if up:
                try:
                    while True:
                        r = up.recv(65536)
                        if not r:
                            break
                        conn.sendall(r)
                except socket.timeout:
                    pass
                conn.settimeout(0.2)
        conn.close()
        if up:
            up.close()

    t = threading.Thread(target=serve)
    t.start()
    subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}"] + args,
                   input=b"", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=20)
    t.join()
    lsock.close()
    return bytes(got)


def tls_seeds(server_bin):
    # header: context (0 1.3, 1 1.2 allowed, 2 mTLS required, 3 mTLS optional), piece size
    s = {
        "hello13": b"\x00\x00" + capture_client(["-alpn", "h2", "-servername", "localhost", "-tls1_3"]),
        "hello12": b"\x01\x00" + capture_client(["-alpn", "h2", "-tls1_2"]),
        "hello_no_alpn": b"\x00\x00" + capture_client(["-tls1_3"]),
        "hello_pieces": b"\x03\x07" + capture_client(["-alpn", "h2,http/1.1"]),
    }
    if server_bin:
        d = tempfile.mkdtemp()
        cert, key = os.path.join(HERE, "tls", "cert.pem"), os.path.join(HERE, "tls", "key.pem")
        srv = subprocess.Popen([server_bin, "--listen", "127.0.0.1:0", "--tls-listen", "127.0.0.1:50999",
                                "--tls-cert", cert, "--tls-key", key, "--tls12", "--tls-client-ca", cert,
                                "--tls-client-auth", "optional", "--shards", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1)
            up = ("127.0.0.1", 50999)
            s["mtls12_flight"] = b"\x02\x00" + capture_client(
                ["-alpn", "h2", "-tls1_2", "-cert", cert, "-key", key], server=up)
            sess = os.path.join(d, "sess")
            # TLS 1.2 sends its ticket inside the handshake (1.3 after it, which s_client,
            # leaving at once, may not wait for).
            capture_client(["-alpn", "h2", "-tls1_2", "-sess_out", sess], server=up)
            if os.path.exists(sess):
                s["resumption12"] = b"\x01\x00" + capture_client(
                    ["-alpn", "h2", "-tls1_2", "-sess_in", sess], server=up)
        finally:
            srv.terminate()
            srv.wait()
            shutil.rmtree(d)
    return s


def jwt_seeds():
    """fuzz_jwt: mode byte, then a key set, a token, claims to sign, or base64url; the keys and
    tokens are tests/unit/auth/jwt_vectors.h's (python3-jwt's)."""
    import re
    with open(os.path.join(HERE, "..", "unit", "auth", "jwt_vectors.h")) as f:
        text = f.read()
    vec = {}
    for m in re.finditer(r"static const char (\w+)\[\][^=]*=\n(.*?)\n    ;", text, re.S):
        vec[m.group(1)] = "".join(
            bytes(l.strip()[1:-1], "ascii").decode("unicode_escape") for l in m.group(2).split("\n"))
    s = {"jwks": b"\x00" + vec["JWKS"].encode(), "pem": b"\x00" + vec["PEM_KEYS"].encode(),
         "jwk_one": b"\x00" + vec["JWK_EC1_WRONG_ALG"].encode()}
    for name in ("TOK_RS256", "TOK_ES256", "TOK_ES384", "TOK_EDDSA", "TOK_NONE_SIG",
                 "TOK_HS256_PUBKEY", "TOK_CRIT", "TOK_RS256_NOKID"):
        s[name.lower()] = b"\x01" + vec[name].encode()
    s["claims"] = b"\x02" + (b'{"iss":"https://issuer.test","sub":"alice","aud":["svc-a"],'
                             b'"exp":4102444800,"nbf":1700000000,"iat":1700000000}')
    s["header_claims"] = b'\x02{"alg":"EdDSA","kid":"fuzz","typ":"JWT"}\n{"exp":4102444800,' \
                         b'"aud":"svc-a","iss":"https://issuer.test"}'
    s["b64url"] = b"\x03eyJhbGciOiJFUzI1NiJ9"
    return s


def write(target, seeds):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tls", action="store_true", help="capture the TLS ClientHellos again")
    ap.add_argument("--tls-server", help="uringrpc-server binary, for seeds past the first flight")
    a = ap.parse_args()
    write("fuzz_h2_conn", h2_seeds())
    write("fuzz_grpc_frame", frame_seeds())
    write("fuzz_compress", compress_seeds())
    write("fuzz_reflection", reflection_seeds())
    write("fuzz_jwt", jwt_seeds())
    for target, seeds in small_seeds().items():
        write(target, seeds)
    if a.tls or a.tls_server or not os.path.isdir(os.path.join(CORPUS, "fuzz_tls")):
        write("fuzz_tls", tls_seeds(a.tls_server))
    return 0


if __name__ == "__main__":
    sys.exit(main())
