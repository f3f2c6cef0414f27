#!/usr/bin/python3
"""grpc interop client (Debian's python3-grpcio) against grpc.testing.TestService: every case of
grpc's doc/interop-test-descriptions.md that a server takes part in, one per --case.

  empty_unary                  EmptyCall with Empty -> Empty (and zero bytes each way)
  large_unary                  UnaryCall 271828 zero bytes up, 314159 down
  client_streaming             StreamingInputCall 27182+8+1828+45904 -> aggregated 74922
  server_streaming             StreamingOutputCall -> 31415, 9, 2653, 58979
  ping_pong                    FullDuplexCall, one request per reply, the same sizes
  empty_stream                 FullDuplexCall, half-close at once -> no responses, OK
  timeout_on_sleeping_server   FullDuplexCall with a 1 ms deadline -> DEADLINE_EXCEEDED
  cancel_after_begin           StreamingInputCall cancelled at once -> CANCELLED
  cancel_after_first_response  FullDuplexCall cancelled after its first reply -> CANCELLED
  custom_metadata              x-grpc-test-echo-initial / -trailing-bin echoed (unary, bidi)
  status_code_and_message      EchoStatus code 2 "test status message" (unary, bidi)
  special_status_message       EchoStatus with whitespace, BMP and non-BMP characters
  unimplemented_method         TestService/UnimplementedCall -> UNIMPLEMENTED
  unimplemented_service        UnimplementedService/UnimplementedCall -> UNIMPLEMENTED
  client_compressed_unary      expect_compressed probe -> INVALID_ARGUMENT, then gzip / plain
  server_compressed_unary      response_compressed true / false
  client_compressed_streaming  expect_compressed probe -> INVALID_ARGUMENT, then gzip + plain
  server_compressed_streaming  ResponseParameters.compressed true / false

Where grpcio cannot do or see what the description asks (the compressed-flag of a message on
the wire, a plain message inside a compressed call), the case adds the same exchange made with
python3-h2 (h2raw.py) and checks the flag bytes itself; each place says so.

Modes: by default (--server BIN) each case starts its own uringrpc-server on port 0 and stops it
afterwards, requiring a clean exit; with --target HOST:PORT it runs against a server that is
already running (e.g. a reference implementation) and starts nothing. The stubs are generated at
test time with Debian's protoc from grpc/testing/{empty,messages,test}.proto (the repository's
proto/ directory if it has them, else /usr/share/grpc-proto).

Every wait is bounded: each RPC has a deadline (--rpc-timeout, default 10 s).
"""
import argparse
import gzip
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None

RPC_TIMEOUT = 10.0  # seconds; replaced by --rpc-timeout

INITIAL_KEY = "x-grpc-test-echo-initial"
INITIAL_VALUE = "test_initial_metadata_value"
TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
TRAILING_VALUE = b"\xab\xab\xab"
SPECIAL_MESSAGE = "\t\ntest with whitespace\r\nand Unicode BMP \u263a and non-BMP \U0001f608\t\n"

REQ_SIZES = (27182, 8, 1828, 45904)
RESP_SIZES = (31415, 9, 2653, 58979)
LARGE_REQ = 271828
LARGE_RESP = 314159

SERVICE = "/grpc.testing.TestService/"
PROTO_FILES = ("empty.proto", "messages.proto", "test.proto")
SYSTEM_PROTO_DIR = "/usr/share/grpc-proto/grpc/testing"


# ---- stubs -------------------------------------------------------------------------------

class InteropStubs:
    """empty_pb2, messages_pb2, test_pb2_grpc generated into a private temporary directory.

    The protos import each other as "grpc/testing/x.proto", which would make the generated
    modules a `grpc.testing` package and shadow the installed `grpc`. So they are copied flat
    with those imports rewritten to "x.proto": the proto package (grpc.testing) and therefore
    every method path stay the same; only the Python module names become top-level."""

    def __init__(self, src_dir):
        protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
        plugin = "/usr/bin/grpc_python_plugin"
        if not protoc or not os.access(plugin, os.X_OK):
            raise Skip("protoc or /usr/bin/grpc_python_plugin missing (protobuf-compiler, "
                       "protobuf-compiler-grpc)")
        self._tmp = tempfile.TemporaryDirectory(prefix="urpc-interop-stubs-")
        src = os.path.join(self._tmp.name, "src")
        out = os.path.join(self._tmp.name, "out")
        os.makedirs(src)
        os.makedirs(out)
        for name in PROTO_FILES:
            with open(os.path.join(src_dir, name)) as f:
                text = f.read()
            with open(os.path.join(src, name), "w") as f:
                f.write(text.replace('import "grpc/testing/', 'import "'))
        cmd = [protoc, f"-I{src}", f"--plugin=protoc-gen-grpc_python={plugin}",
               f"--python_out={out}", f"--grpc_python_out={out}", *PROTO_FILES]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise TestFailure(f"protoc failed: {' '.join(cmd)}\n{r.stderr}")
        sys.path.insert(0, out)
        import empty_pb2, messages_pb2, test_pb2_grpc  # noqa: E401
        self.empty = empty_pb2
        self.msgs = messages_pb2
        self.test_grpc = test_pb2_grpc


def find_proto_dir(args):
    candidates = []
    if args.interop_proto_dir:
        candidates.append(args.interop_proto_dir)
    if args.proto_dir:
        candidates.append(os.path.join(args.proto_dir, "grpc", "testing"))
    candidates.append(SYSTEM_PROTO_DIR)
    for d in candidates:
        if all(os.path.isfile(os.path.join(d, f)) for f in PROTO_FILES):
            return d
    raise Skip(f"grpc/testing/{{{','.join(PROTO_FILES)}}} not found in {candidates} "
               "(Debian package grpc-proto)")


# ---- helpers -----------------------------------------------------------------------------

class Ctx:
    """What a case works with: the target, a channel to it, the stubs."""

    def __init__(self, target, st):
        self.target = target
        self.st = st
        self.m = st.msgs
        self.ch = grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])
        self.stub = st.test_grpc.TestServiceStub(self.ch)

    def close(self):
        self.ch.close()

    def zeros(self, n):
        return self.m.Payload(body=b"\0" * n)

    def params(self, *sizes):
        return [self.m.ResponseParameters(size=s) for s in sizes]


class Pipe:
    """A request iterator the case feeds one message at a time; close() half-closes. grpcio
    reads it from its own thread: that read is bounded too, and an idle pipe half-closes after
    twice the RPC timeout instead of holding the thread forever."""
    _END = object()

    def __init__(self):
        self._q = queue.Queue()

    def __iter__(self):
        return self

    def __next__(self):
        try:
            item = self._q.get(timeout=2 * RPC_TIMEOUT)
        except queue.Empty:
            raise StopIteration
        if item is Pipe._END:
            raise StopIteration
        return item

    def add(self, msg):
        self._q.put(msg)

    def close(self):
        self._q.put(Pipe._END)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


def expect_error(fn, code, what, details=None):
    """fn() must fail with `code` (and, if given, exactly `details`); returns the RpcError."""
    try:
        got = fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"{what}: expected {code.name}, got {e.code().name} "
                                f"({e.details()!r})")
        if details is not None:
            check(e.details() == details,
                  f"{what}: status message {e.details()!r}, expected {details!r}")
        return e
    raise TestFailure(f"{what}: expected {code.name}, but the call succeeded "
                      f"({type(got).__name__} of {getattr(got, 'ByteSize', lambda: '?')()} bytes)")


def check_payload(c, payload, size, what):
    """Type COMPRESSABLE, `size` bytes, all zero (the 'golden' payload of the description)."""
    check(payload.type == c.m.COMPRESSABLE, f"{what}: payload type {payload.type}")
    check(len(payload.body) == size,
          f"{what}: payload body is {len(payload.body)} bytes, expected {size}")
    check(payload.body.count(0) == size, f"{what}: payload body is not all zeros")


def check_sizes(c, responses, sizes, what):
    check(len(responses) == len(sizes),
          f"{what}: {len(responses)} responses, expected exactly {len(sizes)} "
          f"(sizes {[len(r.payload.body) for r in responses]})")
    for i, (r, n) in enumerate(zip(responses, sizes)):
        check_payload(c, r.payload, n, f"{what}: response {i}")


def md_values(md, key):
    return [v for k, v in (md or ()) if k == key]


def bool_value(c, v):
    return c.m.BoolValue(value=v)


# ---- the same exchange over raw HTTP/2, for what grpcio cannot send or see ----------------

def raw_client(c):
    try:
        import h2raw  # needs python3-h2
    except ImportError:
        raise Skip("python3-h2 is not installed for /usr/bin/python3; it is needed to see "
                   "the compressed flag on the wire")
    host, _, port = c.target.rpartition(":")
    if host not in ("127.0.0.1", "localhost"):
        raise Skip(f"the raw HTTP/2 check connects to 127.0.0.1 only, target is {c.target}")
    return h2raw.Client(int(port), timeout=RPC_TIMEOUT)


def raw_send(rc, sid, data, end_stream):
    """DATA within HTTP/2 flow control and the peer's frame size, waiting for WINDOW_UPDATEs."""
    conn = rc.conn
    while data:
        if not rc.pump(lambda: conn.local_flow_control_window(sid) > 0, RPC_TIMEOUT):
            raise TestFailure(f"stream {sid}: no flow-control window within {RPC_TIMEOUT} s")
        n = min(len(data), conn.local_flow_control_window(sid), conn.max_outbound_frame_size)
        conn.send_data(sid, data[:n], end_stream=end_stream and n == len(data))
        rc.flush()
        data = data[n:]


def raw_call(rc, method, frames, extra=()):
    """One call: `frames` are (flag, bytes) Length-Prefixed-Messages sent as they are.
    Returns the stream with headers, trailers and raw body."""
    sid = rc.headers(SERVICE + method,
                     [("grpc-accept-encoding", "identity,deflate,gzip"),
                      ("grpc-timeout", f"{max(1, int(RPC_TIMEOUT * 1000))}m"), *extra])
    body = b"".join(bytes([flag]) + len(m).to_bytes(4, "big") + m for flag, m in frames)
    if body:
        raw_send(rc, sid, body, end_stream=True)
    else:
        rc.data(sid, b"", end_stream=True)
    return rc.wait(sid)


def raw_messages(st):
    """[(compressed flag, message bytes)] of the response body."""
    out, d = [], st.data
    while d:
        check(len(d) >= 5, f"stream {st.id}: response body ends inside a message prefix")
        n = int.from_bytes(d[1:5], "big")
        check(len(d) >= 5 + n, f"stream {st.id}: response message truncated")
        out.append((d[0], d[5:5 + n]))
        d = d[5 + n:]
    return out


def raw_check_ok(st, what):
    check(st.http_status == 200 and st.grpc_status == 0,
          f"{what}: expected :status 200 and grpc-status 0; {st.describe()}")


def raw_decompress(st, flag, data, what):
    if flag == 0:
        return data
    check(flag == 1, f"{what}: message flag {flag}, expected 0 or 1")
    enc = st.header("grpc-encoding", "headers")
    check(enc is not None and enc != b"identity",
          f"{what}: compressed message but response grpc-encoding is {enc!r}")
    if enc == b"gzip":
        return gzip.decompress(data)
    if enc == b"deflate":
        return zlib.decompress(data)
    raise TestFailure(f"{what}: server chose grpc-encoding {enc!r}, not one we offered")


# ---- cases -------------------------------------------------------------------------------

def case_empty_unary(c):
    r = c.stub.EmptyCall(c.st.empty.Empty(), timeout=RPC_TIMEOUT)
    check(r is not None and isinstance(r, c.st.empty.Empty),
          f"EmptyCall returned {type(r).__name__}, expected grpc.testing.Empty")
    # The description's "ideally": request and response are zero bytes serialized. A
    # bytes-in/bytes-out call on the same method sends b"" and sees exactly what came back.
    raw = c.ch.unary_unary(SERVICE + "EmptyCall", request_serializer=lambda b: b,
                           response_deserializer=lambda b: b)(b"", timeout=RPC_TIMEOUT)
    check(raw == b"", f"EmptyCall response is {len(raw)} bytes serialized, expected 0")


def large_request(c, **kw):
    return c.m.SimpleRequest(response_type=c.m.COMPRESSABLE, response_size=LARGE_RESP,
                             payload=c.zeros(LARGE_REQ), **kw)


def case_large_unary(c):
    r = c.stub.UnaryCall(large_request(c), timeout=RPC_TIMEOUT)
    check_payload(c, r.payload, LARGE_RESP, "UnaryCall")


def case_client_streaming(c):
    reqs = (c.m.StreamingInputCallRequest(payload=c.zeros(n)) for n in REQ_SIZES)
    r = c.stub.StreamingInputCall(reqs, timeout=RPC_TIMEOUT)  # end of iterator = half-close
    check(r.aggregated_payload_size == 74922,
          f"aggregated_payload_size {r.aggregated_payload_size}, expected 74922")


def case_server_streaming(c):
    req = c.m.StreamingOutputCallRequest(response_type=c.m.COMPRESSABLE,
                                         response_parameters=c.params(*RESP_SIZES))
    call = c.stub.StreamingOutputCall(req, timeout=RPC_TIMEOUT)
    responses = list(call)
    check(call.code() == grpc.StatusCode.OK, f"status {call.code()}")
    check_sizes(c, responses, RESP_SIZES, "StreamingOutputCall")


def case_ping_pong(c):
    responses = []
    with Pipe() as pipe:
        call = c.stub.FullDuplexCall(pipe, timeout=RPC_TIMEOUT)
        for req_size, resp_size in zip(REQ_SIZES, RESP_SIZES):
            pipe.add(c.m.StreamingOutputCallRequest(
                response_type=c.m.COMPRESSABLE, response_parameters=c.params(resp_size),
                payload=c.zeros(req_size)))
            try:
                r = next(call)  # after getting a reply, the next request
            except StopIteration:
                raise TestFailure(f"stream ended after {len(responses)} responses")
            check_payload(c, r.payload, resp_size, f"response {len(responses)}")
            responses.append(r)
        pipe.close()  # half-close after the 4th reply
        rest = list(call)
    check(not rest, f"{len(rest)} responses after the half-close, expected none")
    check(call.code() == grpc.StatusCode.OK, f"status {call.code()} {call.details()!r}")
    check_sizes(c, responses, RESP_SIZES, "FullDuplexCall")


def case_empty_stream(c):
    call = c.stub.FullDuplexCall(iter(()), timeout=RPC_TIMEOUT)  # half-closes at once
    responses = list(call)
    check(call.code() == grpc.StatusCode.OK, f"status {call.code()} {call.details()!r}")
    check(responses == [], f"{len(responses)} responses, expected exactly zero")


def case_timeout_on_sleeping_server(c):
    # The call is never half-closed and asks for no responses, so a correct server just
    # waits; the 1 ms deadline ends it. grpcio reports the status it gets from the server or
    # its own deadline timer, whichever comes first: both must be DEADLINE_EXCEEDED.
    with Pipe() as pipe:
        call = c.stub.FullDuplexCall(pipe, timeout=0.001)
        pipe.add(c.m.StreamingOutputCallRequest(response_type=c.m.COMPRESSABLE,
                                                payload=c.zeros(27182)))
        expect_error(lambda: next(call), grpc.StatusCode.DEADLINE_EXCEEDED,
                     "FullDuplexCall with a 1 ms deadline")
    check(call.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"final status {call.code()}")


def case_cancel_after_begin(c):
    # grpcio cancels locally: CANCELLED is what the client library reports (and RST_STREAM is
    # what the server gets); the server's side is checked by the clean shutdown afterwards.
    with Pipe() as pipe:
        fut = c.stub.StreamingInputCall.future(pipe, timeout=RPC_TIMEOUT)
        fut.cancel()
        check(fut.cancelled(), "the future does not report itself cancelled")
        check(fut.code() == grpc.StatusCode.CANCELLED,
              f"status {fut.code()}, expected CANCELLED")


def case_cancel_after_first_response(c):
    with Pipe() as pipe:
        call = c.stub.FullDuplexCall(pipe, timeout=RPC_TIMEOUT)
        pipe.add(c.m.StreamingOutputCallRequest(response_type=c.m.COMPRESSABLE,
                                                response_parameters=c.params(31415),
                                                payload=c.zeros(27182)))
        try:
            r = next(call)
        except StopIteration:
            raise TestFailure("stream ended before the first response")
        check_payload(c, r.payload, 31415, "first response")
        call.cancel()
        expect_error(lambda: next(call), grpc.StatusCode.CANCELLED,
                     "FullDuplexCall cancelled after the first response")
    check(call.code() == grpc.StatusCode.CANCELLED, f"final status {call.code()}")


def check_echoed_metadata(call, what):
    got = md_values(call.initial_metadata(), INITIAL_KEY)
    check(got == [INITIAL_VALUE], f"{what}: initial metadata {INITIAL_KEY} = {got!r}, "
                                  f"expected [{INITIAL_VALUE!r}]; all: {call.initial_metadata()}")
    got = md_values(call.trailing_metadata(), TRAILING_KEY)
    check(got == [TRAILING_VALUE], f"{what}: trailing metadata {TRAILING_KEY} = {got!r}, "
                                   f"expected [{TRAILING_VALUE!r}]; "
                                   f"all: {call.trailing_metadata()}")


def case_custom_metadata(c):
    md = ((INITIAL_KEY, INITIAL_VALUE), (TRAILING_KEY, TRAILING_VALUE))
    r, call = c.stub.UnaryCall.with_call(large_request(c), metadata=md, timeout=RPC_TIMEOUT)
    check_payload(c, r.payload, LARGE_RESP, "UnaryCall")
    check_echoed_metadata(call, "UnaryCall")

    req = c.m.StreamingOutputCallRequest(response_type=c.m.COMPRESSABLE,
                                         response_parameters=c.params(LARGE_RESP),
                                         payload=c.zeros(LARGE_REQ))
    call = c.stub.FullDuplexCall(iter([req]), metadata=md, timeout=RPC_TIMEOUT)  # + half-close
    responses = list(call)
    check(call.code() == grpc.StatusCode.OK, f"FullDuplexCall status {call.code()}")
    check_sizes(c, responses, (LARGE_RESP,), "FullDuplexCall")
    check_echoed_metadata(call, "FullDuplexCall")


def echo_status_calls(c, message, bidi):
    status = c.m.EchoStatus(code=2, message=message)
    expect_error(lambda: c.stub.UnaryCall(c.m.SimpleRequest(response_status=status),
                                          timeout=RPC_TIMEOUT),
                 grpc.StatusCode.UNKNOWN, "UnaryCall with response_status", details=message)
    if bidi:
        call = c.stub.FullDuplexCall(iter([c.m.StreamingOutputCallRequest(
            response_status=status)]), timeout=RPC_TIMEOUT)  # then half-closes
        expect_error(lambda: list(call), grpc.StatusCode.UNKNOWN,
                     "FullDuplexCall with response_status", details=message)


def case_status_code_and_message(c):
    echo_status_calls(c, "test status message", bidi=True)


def case_special_status_message(c):
    echo_status_calls(c, SPECIAL_MESSAGE, bidi=False)


def case_unimplemented_method(c):
    expect_error(lambda: c.stub.UnimplementedCall(c.st.empty.Empty(), timeout=RPC_TIMEOUT),
                 grpc.StatusCode.UNIMPLEMENTED, "TestService/UnimplementedCall")


def case_unimplemented_service(c):
    stub = c.st.test_grpc.UnimplementedServiceStub(c.ch)
    expect_error(lambda: stub.UnimplementedCall(c.st.empty.Empty(), timeout=RPC_TIMEOUT),
                 grpc.StatusCode.UNIMPLEMENTED, "UnimplementedService/UnimplementedCall")


def case_client_compressed_unary(c):
    # grpcio cannot show whether it compressed a message; the server's verdict on
    # expect_compressed is the evidence (INVALID_ARGUMENT for the plain probe, OK for gzip).
    probe = large_request(c, expect_compressed=bool_value(c, True))
    expect_error(lambda: c.stub.UnaryCall(probe, timeout=RPC_TIMEOUT),
                 grpc.StatusCode.INVALID_ARGUMENT,
                 "uncompressed probe with expect_compressed=true (CompressedRequest)")
    r = c.stub.UnaryCall(probe, timeout=RPC_TIMEOUT, compression=grpc.Compression.Gzip)
    check_payload(c, r.payload, LARGE_RESP, "gzip-compressed UnaryCall, expect_compressed=true")
    r = c.stub.UnaryCall(large_request(c, expect_compressed=bool_value(c, False)),
                         timeout=RPC_TIMEOUT)
    check_payload(c, r.payload, LARGE_RESP, "uncompressed UnaryCall, expect_compressed=false")


def case_server_compressed_unary(c):
    for want in (True, False):
        r = c.stub.UnaryCall(large_request(c, response_compressed=bool_value(c, want)),
                             timeout=RPC_TIMEOUT)
        check_payload(c, r.payload, LARGE_RESP, f"UnaryCall response_compressed={want}")
    # grpcio decompresses transparently and does not expose the compressed flag, so the flag
    # the description requires is checked on the same requests sent over raw HTTP/2.
    with raw_client(c) as rc:
        for want in (True, False):
            what = f"raw UnaryCall response_compressed={want}"
            req = large_request(c, response_compressed=bool_value(c, want))
            st = raw_call(rc, "UnaryCall", [(0, req.SerializeToString())])
            raw_check_ok(st, what)
            msgs = raw_messages(st)
            check(len(msgs) == 1, f"{what}: {len(msgs)} response messages, expected 1")
            flag, data = msgs[0]
            check(flag == (1 if want else 0),
                  f"{what}: compressed flag {flag} on the response message, expected "
                  f"{1 if want else 0} (grpc-encoding {st.header('grpc-encoding', 'headers')})")
            resp = c.m.SimpleResponse.FromString(raw_decompress(st, flag, data, what))
            check_payload(c, resp.payload, LARGE_RESP, what)
            log(f"{what}: flag {flag}, {len(data)} bytes on the wire, grpc-encoding "
                f"{st.header('grpc-encoding', 'headers')}")


def case_client_compressed_streaming(c):
    probe = c.m.StreamingInputCallRequest(expect_compressed=bool_value(c, True),
                                          payload=c.zeros(27182))
    expect_error(lambda: c.stub.StreamingInputCall(iter([probe]), timeout=RPC_TIMEOUT),
                 grpc.StatusCode.INVALID_ARGUMENT,
                 "uncompressed probe with expect_compressed=true (CompressedRequest)")
    plain = c.m.StreamingInputCallRequest(expect_compressed=bool_value(c, False),
                                          payload=c.zeros(45904))
    # grpcio compresses per call, not per message: on a gzip call every message is compressed,
    # so it cannot send the description's second (uncompressed) message on that call. grpcio
    # sends the compressed message on a gzip call of its own...
    r = c.stub.StreamingInputCall(iter([probe]), timeout=RPC_TIMEOUT,
                                  compression=grpc.Compression.Gzip)
    check(r.aggregated_payload_size == 27182,
          f"gzip StreamingInputCall: aggregated_payload_size {r.aggregated_payload_size}, "
          "expected 27182")
    # ...and the description's exact call (a gzip message with expect_compressed=true, then a
    # plain one with expect_compressed=false, then half-close) goes over raw HTTP/2.
    with raw_client(c) as rc:
        st = raw_call(rc, "StreamingInputCall",
                      [(1, gzip.compress(probe.SerializeToString())),
                       (0, plain.SerializeToString())],
                      extra=[("grpc-encoding", "gzip")])
        raw_check_ok(st, "raw StreamingInputCall (gzip message, then plain message)")
        msgs = raw_messages(st)
        check(len(msgs) == 1, f"raw StreamingInputCall: {len(msgs)} response messages")
        resp = c.m.StreamingInputCallResponse.FromString(
            raw_decompress(st, *msgs[0], "raw StreamingInputCall"))
        check(resp.aggregated_payload_size == 73086,
              f"aggregated_payload_size {resp.aggregated_payload_size}, expected 73086")


def case_server_compressed_streaming(c):
    sizes = (31415, 92653)
    req = c.m.StreamingOutputCallRequest(response_type=c.m.COMPRESSABLE, response_parameters=[
        c.m.ResponseParameters(compressed=bool_value(c, True), size=sizes[0]),
        c.m.ResponseParameters(compressed=bool_value(c, False), size=sizes[1])])
    call = c.stub.StreamingOutputCall(req, timeout=RPC_TIMEOUT)
    responses = list(call)
    check(call.code() == grpc.StatusCode.OK, f"status {call.code()}")
    check_sizes(c, responses, sizes, "StreamingOutputCall")
    # The compressed flag of each message, which grpcio hides, seen over raw HTTP/2.
    with raw_client(c) as rc:
        what = "raw StreamingOutputCall"
        st = raw_call(rc, "StreamingOutputCall", [(0, req.SerializeToString())])
        raw_check_ok(st, what)
        msgs = raw_messages(st)
        check([f for f, _ in msgs] == [1, 0],
              f"{what}: compressed flags {[f for f, _ in msgs]}, expected [1, 0] "
              f"(grpc-encoding {st.header('grpc-encoding', 'headers')})")
        got = [c.m.StreamingOutputCallResponse.FromString(raw_decompress(st, f, d, what))
               for f, d in msgs]
        check_sizes(c, got, sizes, what)


CASES = {
    "empty_unary": case_empty_unary,
    "large_unary": case_large_unary,
    "client_streaming": case_client_streaming,
    "server_streaming": case_server_streaming,
    "ping_pong": case_ping_pong,
    "empty_stream": case_empty_stream,
    "timeout_on_sleeping_server": case_timeout_on_sleeping_server,
    "cancel_after_begin": case_cancel_after_begin,
    "cancel_after_first_response": case_cancel_after_first_response,
    "custom_metadata": case_custom_metadata,
    "status_code_and_message": case_status_code_and_message,
    "special_status_message": case_special_status_message,
    "unimplemented_method": case_unimplemented_method,
    "unimplemented_service": case_unimplemented_service,
    "client_compressed_unary": case_client_compressed_unary,
    "server_compressed_unary": case_server_compressed_unary,
    "client_compressed_streaming": case_client_compressed_streaming,
    "server_compressed_streaming": case_server_compressed_streaming,
}


# ---- driver ------------------------------------------------------------------------------

def parse_args():
    p = argparse.ArgumentParser()
    p.add_argument("--server", help="the uringrpc-server binary (started per case)")
    p.add_argument("--target", help="HOST:PORT of an already-running server; starts nothing")
    p.add_argument("--proto-dir", help="the repository's proto/ directory")
    p.add_argument("--interop-proto-dir",
                   help=f"directory with {', '.join(PROTO_FILES)} (default: <proto-dir>/grpc/"
                        f"testing if there, else {SYSTEM_PROTO_DIR})")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra flag for uringrpc-server (repeatable; --server-arg=--x)")
    p.add_argument("--rpc-timeout", type=float, default=RPC_TIMEOUT,
                   help="deadline of every RPC, seconds")
    p.add_argument("--case", required=True)
    a = p.parse_args()
    if not a.server and not a.target:
        p.error("one of --server or --target is required")
    return a


def run_case(args):
    global RPC_TIMEOUT
    RPC_TIMEOUT = args.rpc_timeout
    if grpc is None:
        raise Skip("python3-grpcio is not installed for /usr/bin/python3")
    st = InteropStubs(find_proto_dir(args))
    fn = CASES[args.case]

    def on(target):
        c = Ctx(target, st)
        try:
            try:
                grpc.channel_ready_future(c.ch).result(timeout=RPC_TIMEOUT)
            except grpc.FutureTimeoutError:
                raise TestFailure(f"could not connect to {target} within {RPC_TIMEOUT} s")
            fn(c)
        finally:
            c.close()

    if args.target:
        on(args.target)
        return
    with Server(args.server, *args.server_arg) as srv:
        on(srv.target)
        srv.stop()  # exit 0, one stats line per shard, no sanitizer report


def main():
    args = parse_args()
    harness.run_cases({k: run_case for k in CASES}, args)


if __name__ == "__main__":
    main()
