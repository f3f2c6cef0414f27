#!/usr/bin/python3
"""Tracing of uringrpc-server (--trace, --otlp-endpoint) against a real OTLP/HTTP receiver:
an http.server on loopback that decodes each POST /v1/traces body with Python classes that
Debian's protoc generates here from proto/opentelemetry (the official field numbers), and
python3-grpcio clients sending W3C traceparent/tracestate metadata.

  propagation   a call with a sampled traceparent: the server span has the client's trace id,
                its span id as parent, the tracestate, kind SERVER, name
                "helloworld.Greeter/SayHello", rpc.system/service/method, status code 0 and
                status UNSET; bad traceparents (zero ids, uppercase, version ff, duplicated)
                start new root traces; NOT_FOUND (Health/Check of an unknown service) stays
                UNSET, UNIMPLEMENTED (an unknown method) is ERROR; an unsampled parent gives no
                span; the resource carries --trace-service-name and OTEL_RESOURCE_ATTRIBUTES;
                the export carries OTEL_EXPORTER_OTLP_HEADERS
  deadline_cancel  a call past its deadline (DEADLINE_EXCEEDED, ERROR) and one the client
                cancels (CANCELLED, UNSET), both continuing the client's trace
  collector_down  the endpoint refuses connections: 3000 calls are all answered, fast, and
                uringrpc_spans_dropped_total rises (admin /metrics)
  hostile_strings  non-UTF-8 bytes in an unknown method's :path and a quoted grpc-encoding
                reach the receiver as U+FFFD, in a batch it can decode
  collector_slow  the receiver takes 2 s per answer: every call is answered, fast, the shards
                drop what does not fit; once it answers at once, calls made afterwards arrive
  collector_503 the receiver answers 503 for a while (the exporter retries with backoff and
                the shards drop what does not fit) and then 200: exports resume, calls made
                afterwards arrive
  tls_export    the receiver serves TLS (Python's ssl, certificates from pki.py) and the server
                exports to https://127.0.0.1:PORT with --otlp-ca-file: exactly the spans of the
                calls made arrive, with their trace ids, in two batches over one connection
  tls_wrong_ca  the same with a CA that did not sign the receiver's certificate: calls all
                succeed, nothing is delivered, uringrpc_spans_exported_total stays 0,
                uringrpc_spans_export_failed_total rises, one log line names the unknown CA
  tls_mtls      a receiver requiring client certificates: without --otlp-client-cert nothing
                arrives (one log line); with --otlp-client-cert/--otlp-client-key the spans
                arrive and the receiver saw the exporter's certificate
  tls_bad_files a missing CA file (flag or OTEL_EXPORTER_OTLP_CERTIFICATE), an unreadable key, a
                certificate without its key: exit 2 and one line naming the file and the fix

Only processes this test started are signalled, by PID; temporary directories are removed.
"""
import contextlib
import http.server
import os
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402
from pki import Pki  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None

TID = "0af7651916cd43dd8448eb211c80319c"
PID = "b7ad6b7169203331"


def otlp_modules(proto_dir, out_dir):
    protos = ["opentelemetry/proto/common/v1/common.proto",
              "opentelemetry/proto/resource/v1/resource.proto",
              "opentelemetry/proto/trace/v1/trace.proto",
              "opentelemetry/proto/collector/trace/v1/trace_service.proto"]
    cmd = ["/usr/bin/protoc", f"-I{proto_dir}", f"--python_out={out_dir}", *protos]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise TestFailure(f"protoc failed: {' '.join(cmd)}\n{r.stderr}")
    sys.path.insert(0, out_dir)
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
    return trace_service_pb2


class TLSServer(http.server.ThreadingHTTPServer):
    """HTTPS: each accepted connection goes through the TLS handshake (in the accepting thread)
    before its handler runs; a failed one is counted and dropped."""

    def __init__(self, addr, handler, ctx, recv):
        super().__init__(addr, handler)
        self.ctx = ctx
        self.recv = recv

    def get_request(self):
        sock, addr = self.socket.accept()
        sock.settimeout(10)
        try:
            conn = self.ctx.wrap_socket(sock, server_side=True)
        except OSError as e:  # ssl.SSLError too: the handshake failed
            with self.recv.lock:
                self.recv.tls_errors.append(str(e))
            sock.close()
            raise
        with self.recv.lock:
            self.recv.connections += 1
        return conn, addr


class Receiver:
    """OTLP/HTTP receiver: decodes every export; answers `status` (changeable). With `ssl_ctx`,
    over TLS: counts connections and failed handshakes, and keeps the client certificates."""

    def __init__(self, pb2, ssl_ctx=None):
        self.pb2 = pb2
        self.status = 200
        self.delay = 0.0     # seconds before each answer (a slow collector)
        self.requests = []   # (headers, ExportTraceServiceRequest)
        self.refused = 0
        self.tls = ssl_ctx is not None
        self.connections = 0
        self.tls_errors = []
        self.peer_certs = []
        self.lock = threading.Lock()
        recv = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                time.sleep(recv.delay)
                cert = self.connection.getpeercert() if recv.tls else None
                with recv.lock:
                    if cert:
                        recv.peer_certs.append(cert)
                    status = recv.status
                    if status == 200:
                        req = recv.pb2.ExportTraceServiceRequest()
                        req.ParseFromString(body)
                        recv.requests.append((self.path, dict(self.headers), req))
                    else:
                        recv.refused += 1
                self.send_response(status)
                self.send_header("Content-Type", "application/x-protobuf")
                out = recv.pb2.ExportTraceServiceResponse().SerializeToString() \
                    if status == 200 else b""
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

        if ssl_ctx:
            self.httpd = TLSServer(("127.0.0.1", 0), Handler, ssl_ctx, self)
        else:
            self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def endpoint(self):
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/v1/traces"

    def spans(self):
        with self.lock:
            out = []
            for _, _, req in self.requests:
                for rs in req.resource_spans:
                    for ss in rs.scope_spans:
                        out.extend((rs.resource, s) for s in ss.spans)
            return out

    def wait_spans(self, n, timeout=15.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.spans()
            if len(got) >= n:
                return got
            time.sleep(0.05)
        got = self.spans()
        raise TestFailure(f"{len(got)} spans arrived within {timeout} s, expected {n}")

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def attrs(kvs):
    out = {}
    for kv in kvs:
        v = kv.value
        out[kv.key] = getattr(v, v.WhichOneof("value")) if v.WhichOneof("value") else None
    return out


def setup(args):
    if grpc is None:
        raise Skip("python3-grpcio is not installed")
    if not os.access("/usr/bin/protoc", os.X_OK):
        raise Skip("/usr/bin/protoc missing (protobuf-compiler)")
    tmp = tempfile.TemporaryDirectory(prefix="urpc-otlp-")
    pb2 = otlp_modules(args.proto_dir, tmp.name)
    return tmp, pb2


def case_propagation(args):
    tmp, pb2 = setup(args)
    st = harness.Stubs(args.proto_dir)
    recv = Receiver(pb2)
    env = dict(os.environ, OTEL_RESOURCE_ATTRIBUTES="deployment.environment=it",
               OTEL_EXPORTER_OTLP_HEADERS="x-api-key=s3cret")
    try:
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--trace-service-name",
                    "greeter-it", "--trace-batch-delay", "100", env=env) as srv:
            with grpc.insecure_channel(srv.target) as ch:
                hello = ch.unary_unary("/helloworld.Greeter/SayHello",
                                       request_serializer=st.hw.HelloRequest.SerializeToString,
                                       response_deserializer=st.hw.HelloReply.FromString)
                md = [("traceparent", f"00-{TID}-{PID}-01"), ("tracestate", "congo=t61rcWkgMzE")]
                hello(st.hw.HelloRequest(name="traced"), metadata=md, timeout=10)
                spans = recv.wait_spans(1)
                res, s = spans[0]
                check(s.trace_id.hex() == TID, f"trace id {s.trace_id.hex()}")
                check(s.parent_span_id.hex() == PID, f"parent {s.parent_span_id.hex()}")
                check(len(s.span_id) == 8 and s.span_id.hex() != PID, "span id")
                check(s.trace_state == "congo=t61rcWkgMzE", f"trace_state {s.trace_state!r}")
                check(s.name == "helloworld.Greeter/SayHello", f"name {s.name!r}")
                check(s.kind == 2, f"kind {s.kind}, want SPAN_KIND_SERVER (2)")
                check(s.flags == 0x301, f"flags {s.flags:#x}: sampled, remote parent")
                a = attrs(s.attributes)
                check(a.get("rpc.system") == "grpc", f"attributes {a}")
                check(a.get("rpc.service") == "helloworld.Greeter", f"attributes {a}")
                check(a.get("rpc.method") == "SayHello", f"attributes {a}")
                check(a.get("rpc.grpc.status_code") == 0, f"attributes {a}")
                check(s.status.code == 0, f"status {s.status.code}")
                check(s.end_time_unix_nano >= s.start_time_unix_nano > 1600000000 * 10**9,
                      "times")
                check(abs(s.start_time_unix_nano / 1e9 - time.time()) < 60, "start time now")
                ra = attrs(res.attributes)
                check(ra.get("service.name") == "greeter-it", f"resource {ra}")
                check(ra.get("deployment.environment") == "it", f"resource {ra}")
                with recv.lock:
                    path, headers, _ = recv.requests[0]
                check(path == "/v1/traces", f"path {path}")
                check(headers.get("x-api-key") == "s3cret", f"headers {headers}")
                check(headers.get("Content-Type") == "application/x-protobuf", f"{headers}")

                bad = [f"00-{'0' * 32}-{PID}-01", f"00-{TID}-{'0' * 16}-01",
                       f"00-{TID.upper()}-{PID}-01", f"ff-{TID}-{PID}-01", f"00-{TID}-{PID}-01-x",
                       "garbage"]
                for tp in bad:
                    hello(st.hw.HelloRequest(name="bad"), metadata=[("traceparent", tp)],
                          timeout=10)
                hello(st.hw.HelloRequest(name="dup"), timeout=10,
                      metadata=[("traceparent", f"00-{TID}-{PID}-01"),
                                ("traceparent", f"00-{TID}-{PID}-01")])
                hello(st.hw.HelloRequest(name="unsampled"), timeout=10,
                      metadata=[("traceparent", f"00-{TID}-{PID}-00")])
                health = ch.unary_unary("/grpc.health.v1.Health/Check",
                                        request_serializer=st.health.HealthCheckRequest
                                        .SerializeToString,
                                        response_deserializer=st.health.HealthCheckResponse
                                        .FromString)
                try:
                    health(st.health.HealthCheckRequest(service="nope"), timeout=10)
                    raise TestFailure("Health/Check of an unknown service succeeded")
                except grpc.RpcError as e:
                    check(e.code() == grpc.StatusCode.NOT_FOUND, f"got {e.code()}")
                nope = ch.unary_unary("/helloworld.Greeter/Nope")
                try:
                    nope(b"", timeout=10)
                    raise TestFailure("an unknown method succeeded")
                except grpc.RpcError as e:
                    check(e.code() == grpc.StatusCode.UNIMPLEMENTED, f"got {e.code()}")
                n_bad = len(bad) + 1
                spans = recv.wait_spans(1 + n_bad + 2)
                time.sleep(0.5)  # an unsampled call's span would have come by now
                spans = recv.spans()
                check(len(spans) == 1 + n_bad + 2, f"{len(spans)} spans: the unsampled call "
                      "made one?")
                roots = [s for _, s in spans[1:1 + n_bad]]
                for s in roots:
                    check(s.trace_id.hex() != TID and s.parent_span_id == b"",
                          f"a bad traceparent continued: {s}")
                check(len({s.trace_id for s in roots}) == n_bad, "root trace ids repeat")
                by_name = {s.name: s for _, s in spans}
                hc = by_name["grpc.health.v1.Health/Check"]
                check(attrs(hc.attributes)["rpc.grpc.status_code"] == 5, "NOT_FOUND code")
                check(hc.status.code == 0, "NOT_FOUND is no server error: status UNSET")
                un = by_name["helloworld.Greeter/Nope"]
                check(attrs(un.attributes)["rpc.grpc.status_code"] == 12, "UNIMPLEMENTED code")
                check(un.status.code == 2, "UNIMPLEMENTED: status ERROR")
            srv.stop()
    finally:
        recv.close()
        tmp.cleanup()


def many_calls(st, target, n, max_seconds):
    with grpc.insecure_channel(target) as ch:
        hello = ch.unary_unary("/helloworld.Greeter/SayHello",
                               request_serializer=st.hw.HelloRequest.SerializeToString,
                               response_deserializer=st.hw.HelloReply.FromString)
        t0 = time.monotonic()
        futs = []
        for i in range(n):
            futs.append(hello.future(st.hw.HelloRequest(name=f"n{i}"), timeout=30))
            if len(futs) >= 64:
                futs.pop(0).result()
        for f in futs:
            f.result()
        took = time.monotonic() - t0
        log(f"{n} calls in {took:.2f} s")
        check(took < max_seconds, f"{n} calls took {took:.1f} s with the collector away")


def case_collector_down(args):
    if grpc is None:
        raise Skip("python3-grpcio is not installed")
    st = harness.Stubs(args.proto_dir)
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now: connections are refused
    with Server(args.server, "--otlp-endpoint", f"http://127.0.0.1:{port}/v1/traces",
                "--trace-queue-size", "64", "--trace-batch-size", "16", "--trace-batch-delay",
                "50", "--admin-listen", "127.0.0.1:0") as srv:
        many_calls(st, srv.target, 3000, 60)
        m = srv.wait_metrics(lambda m: m.get("uringrpc_spans_dropped_total") > 0)
        dropped = m.get("uringrpc_spans_dropped_total")
        log(f"dropped {dropped:g}, exported {m.get('uringrpc_spans_exported_total'):g}")
        check(dropped > 0, "no span dropped with the collector down")
        check(m.get("uringrpc_spans_exported_total") == 0, "exported with no collector?")
        srv.stop()


def expect_resumed(st, srv, recv):
    """The collector is back: calls made now are exported."""
    # the batch in flight is retried within its timeout; later calls are exported
    with grpc.insecure_channel(srv.target) as ch:
        hello = ch.unary_unary("/helloworld.Greeter/SayHello",
                               request_serializer=st.hw.HelloRequest.SerializeToString,
                               response_deserializer=st.hw.HelloReply.FromString)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            hello(st.hw.HelloRequest(name="after"), timeout=10,
                  metadata=[("traceparent", f"00-{TID}-{PID}-01")])
            if any(s.trace_id.hex() == TID for _, s in recv.spans()):
                break
            time.sleep(0.2)
        check(any(s.trace_id.hex() == TID for _, s in recv.spans()),
              "exports did not resume once the collector answered at once")
    m = srv.wait_metrics(lambda m: m.get("uringrpc_spans_exported_total") > 0)
    check(m.get("uringrpc_spans_exported_total") > 0, "exported counter")


def collector_away(args, away, while_away, back):
    """The collector misbehaves (`away` sets the receiver up): 2000 calls are all answered,
    fast, and the shards drop what does not fit; `while_away` checks more; `back` puts the
    receiver right, and calls made then are exported."""
    tmp, pb2 = setup(args)
    st = harness.Stubs(args.proto_dir)
    recv = Receiver(pb2)
    away(recv)
    try:
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--trace-queue-size", "64",
                    "--trace-batch-size", "16", "--trace-batch-delay", "50",
                    "--admin-listen", "127.0.0.1:0") as srv:
            many_calls(st, srv.target, 2000, 60)
            m = srv.wait_metrics(lambda m: m.get("uringrpc_spans_dropped_total") > 0)
            check(m.get("uringrpc_spans_dropped_total") > 0, "nothing dropped, collector away")
            while_away(recv)
            back(recv)
            expect_resumed(st, srv, recv)
            srv.stop()
    finally:
        recv.close()
        tmp.cleanup()


def case_collector_slow(args):
    def away(recv):
        recv.delay = 2.0  # each export waits: the shards' pools fill and spans are dropped

    def back(recv):
        recv.delay = 0.0
    collector_away(args, away, lambda recv: None, back)


def case_collector_503(args):
    def away(recv):
        recv.status = 503

    def retried(recv):
        deadline = time.monotonic() + 10  # the first retry comes after a 100 ms backoff
        while recv.refused < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        check(recv.refused > 1, f"{recv.refused} exports tried while 503: no retries?")

    def back(recv):
        recv.status = 200
    collector_away(args, away, retried, back)


def case_hostile_strings(args):
    """Bytes a client can put into a span that are not UTF-8 (an unknown method's :path, which
    nghttp2 lets through, and an unsupported grpc-encoding the status message quotes) go out
    as U+FFFD: the receiver's protobuf parser, which refuses invalid UTF-8 in a string, decodes
    the batch, and a good call's span in the same batch arrives too."""
    try:
        import h2raw
    except ImportError:
        raise Skip("python3-h2 is not installed")
    tmp, pb2 = setup(args)
    recv = Receiver(pb2)
    tid_path, tid_enc, tid_ok = tids(3, 0xbad)
    try:
        with Server(args.server, "--otlp-endpoint", recv.endpoint,
                    "--trace-batch-delay", "100") as srv:
            with h2raw.Client(srv.port) as c:
                def call(path, tid, extra=()):
                    sid = c.unary(path, harness.hello_request("x"),
                                  extra=[("traceparent", f"00-{tid}-{PID}-01"), *extra])
                    return c.wait(sid)
                s = call(b"/x\xff\xfe.S/M\xc3", tid_path)
                check(s.grpc_status == 12, f"unknown method: {s.describe()}")
                s = call("/helloworld.Greeter/SayHello", tid_enc,
                         [("grpc-encoding", b"z\xff\xc3")])
                check(s.grpc_status == 12, f"unsupported encoding: {s.describe()}")
                s = call("/helloworld.Greeter/SayHello", tid_ok)
                check(s.grpc_status == 0, f"good call: {s.describe()}")
            spans = {s.trace_id.hex(): s for _, s in recv.wait_spans(3)}
            check(set(spans) == {tid_path, tid_enc, tid_ok}, f"spans {list(spans)}")
            check(spans[tid_path].name == "x\ufffd\ufffd.S/M\ufffd",
                  f"name {spans[tid_path].name!r}")
            msg = spans[tid_enc].status.message
            check("\ufffd" in msg and "grpc-encoding" in msg, f"status message {msg!r}")
            srv.stop()
    finally:
        recv.close()
        tmp.cleanup()


def case_deadline_cancel(args):
    """A Ping the server holds 3 s: one past the client's 300 ms deadline (the server span ends
    DEADLINE_EXCEEDED, ERROR, or CANCELLED when grpcio's reset wins the race), one cancelled by
    the client after 300 ms (CANCELLED, status UNSET); both keep the client's trace."""
    tmp, pb2 = setup(args)
    st = harness.Stubs(args.proto_dir)
    recv = Receiver(pb2)
    try:
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--trace-batch-delay",
                    "100") as srv:
            with grpc.insecure_channel(srv.target) as ch:
                ping = ch.unary_unary("/fgrpc.PingServer/Ping",
                                      request_serializer=st.ping.PingMessage.SerializeToString,
                                      response_deserializer=st.ping.PingMessage.FromString)
                tid2 = TID[:-1] + "d"
                try:
                    ping(st.ping.PingMessage(delayNanos=3 * 10**9), timeout=0.3,
                         metadata=[("traceparent", f"00-{TID}-{PID}-01")])
                    raise TestFailure("a Ping past its deadline succeeded")
                except grpc.RpcError as e:
                    check(e.code() == grpc.StatusCode.DEADLINE_EXCEEDED, f"got {e.code()}")
                fut = ping.future(st.ping.PingMessage(delayNanos=3 * 10**9), timeout=30,
                                  metadata=[("traceparent", f"00-{tid2}-{PID}-01")])
                time.sleep(0.3)
                fut.cancel()
                spans = {s.trace_id.hex(): s for _, s in recv.wait_spans(2)}
                d, c = spans.get(TID), spans.get(tid2)
                check(d is not None and c is not None, f"spans {list(spans)}")
                dcode = attrs(d.attributes)["rpc.grpc.status_code"]
                check(dcode in (4, 1), f"deadline call ended {dcode}")
                check(d.status.code == (2 if dcode == 4 else 0), f"status {d.status.code}")
                check(attrs(c.attributes)["rpc.grpc.status_code"] == 1, "cancelled call code")
                check(c.status.code == 0, "CANCELLED is no server error: status UNSET")
                check(c.name == "fgrpc.PingServer/Ping", f"name {c.name}")
                check(c.end_time_unix_nano - c.start_time_unix_nano < 2 * 10**9,
                      "the cancelled span ended when the client cancelled")
            srv.stop()
    finally:
        recv.close()
        tmp.cleanup()


# ---- TLS to the collector ---------------------------------------------------------------

def tls_context(pki, client_ca=None):
    """The receiver's TLS: pki.py's localhost/127.0.0.1 certificate; with `client_ca`, client
    certificates verified against it are required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.path("srv.pem"), pki.path("srv.key"))
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(pki.path(client_ca))
    return ctx


def traced_calls(st, target, tids):
    """One SayHello per trace id, each continuing that trace (sampled)."""
    with grpc.insecure_channel(target) as ch:
        hello = ch.unary_unary("/helloworld.Greeter/SayHello",
                               request_serializer=st.hw.HelloRequest.SerializeToString,
                               response_deserializer=st.hw.HelloReply.FromString)
        for tid in tids:
            hello(st.hw.HelloRequest(name="tls"), timeout=10,
                  metadata=[("traceparent", f"00-{tid}-{PID}-01")])


def expect_exactly(recv, tids):
    got = recv.wait_spans(len(tids))
    time.sleep(0.5)  # a span too many would have come by now
    got = recv.spans()
    check(len(got) == len(tids), f"{len(got)} spans arrived for {len(tids)} calls")
    check(sorted(s.trace_id.hex() for _, s in got) == sorted(tids),
          f"trace ids {[s.trace_id.hex() for _, s in got]}, sent {tids}")


def tids(n, salt):
    return [f"{salt:08x}{i:024x}" for i in range(1, n + 1)]


def export_failures(st, srv, recv, kind):
    """Calls keep succeeding while every export fails; returns the one log line about it."""
    many_calls(st, srv.target, 200, 60)
    m = srv.wait_metrics(lambda m: m.get("uringrpc_spans_export_failed_total") > 0, timeout=20)
    check(m.get("uringrpc_spans_export_failed_total") > 0, "export failures not counted")
    check(m.get("uringrpc_spans_exported_total") == 0, "spans counted as exported")
    with recv.lock:
        check(not recv.requests, f"{len(recv.requests)} exports were delivered")
        check(recv.tls_errors, "the receiver saw no failed TLS handshake")
        log(f"receiver: {len(recv.tls_errors)} failed handshakes, e.g. {recv.tls_errors[0]}")
    res = srv.stop()
    lines = [l for l in res.stderr.splitlines() if "OTLP export to" in l]
    check(len(lines) == 1, f"expected one log line about the failed exports: {lines}")
    check(kind in lines[0], f"the log line does not say '{kind}': {lines[0]}")
    check(recv.endpoint in lines[0], f"the log line does not name the endpoint: {lines[0]}")
    return lines[0]


@contextlib.contextmanager
def tls_receiver(args, client_ca=None, client=None):
    """Stubs, a fresh PKI (with the client certificate `client`, (name, san), if given) and a
    TLS receiver (requiring client certificates of `client_ca`, if given); closed after."""
    tmp, pb2 = setup(args)
    pki = Pki()
    if client:
        pki.client(*client)
    recv = Receiver(pb2, tls_context(pki, client_ca))
    try:
        yield harness.Stubs(args.proto_dir), pki, recv
    finally:
        recv.close()
        tmp.cleanup()


QUICK_GIVE_UP = dict(os.environ, OTEL_EXPORTER_OTLP_TIMEOUT="1000")  # a batch failed in 1 s


def case_tls_export(args):
    with tls_receiver(args) as (st, pki, recv):
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--otlp-ca-file",
                    pki.path("ca.pem"), "--trace-batch-delay", "100", *harness.ADMIN) as srv:
            first, second = tids(5, 1), tids(3, 2)
            traced_calls(st, srv.target, first)
            expect_exactly(recv, first)
            traced_calls(st, srv.target, second)  # a later batch, the same connection
            expect_exactly(recv, first + second)
            m = srv.wait_metrics(lambda m: m.get("uringrpc_spans_exported_total") == 8)
            m.expect("uringrpc_spans_exported_total", 8)
            m.expect("uringrpc_spans_export_failed_total", 0)
            with recv.lock:
                check(len(recv.requests) >= 2, f"{len(recv.requests)} exports: one batch?")
                check(recv.connections == 1, f"{recv.connections} TLS connections for "
                      f"{len(recv.requests)} exports: keep-alive lost")
                check(not recv.tls_errors, f"failed handshakes: {recv.tls_errors}")
                check(not recv.peer_certs, "a client certificate was sent unasked")
            res = srv.stop()
            check("OTLP export" not in res.stderr, f"export trouble logged:\n{res.stderr}")


def case_tls_wrong_ca(args):
    with tls_receiver(args) as (st, pki, recv):
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--otlp-ca-file",
                    pki.path("other.pem"), "--trace-batch-delay", "50", *harness.ADMIN,
                    env=QUICK_GIVE_UP) as srv:
            line = export_failures(st, srv, recv, "unknown CA")
            check(pki.path("other.pem") in line, f"the bundle is not named: {line}")
            log(line)


def case_tls_mtls(args):
    spiffe = "spiffe://example.org/ns/obs/sa/exporter"
    with tls_receiver(args, client_ca="ca.pem", client=("exporter", f"URI:{spiffe}")) \
            as (st, pki, recv):
        common = ["--otlp-endpoint", recv.endpoint, "--otlp-ca-file", pki.path("ca.pem"),
                  "--trace-batch-delay", "50", *harness.ADMIN]
        with Server(args.server, *common, env=QUICK_GIVE_UP) as srv:
            log(export_failures(st, srv, recv, "certificate"))
        with recv.lock:
            recv.tls_errors.clear()
        with Server(args.server, *common, "--otlp-client-cert", pki.path("exporter.pem"),
                    "--otlp-client-key", pki.path("exporter.key"), env=QUICK_GIVE_UP) as srv:
            sent = tids(4, 3)
            traced_calls(st, srv.target, sent)
            expect_exactly(recv, sent)
            with recv.lock:
                check(recv.peer_certs, "the receiver saw no client certificate")
                cert = recv.peer_certs[0]
                check(("URI", spiffe) in cert.get("subjectAltName", ()), f"client cert {cert}")
                check(not recv.tls_errors, f"failed handshakes: {recv.tls_errors}")
            srv.wait_metrics(lambda m: m.get("uringrpc_spans_exported_total") == 4) \
                .expect("uringrpc_spans_exported_total", 4)
            srv.stop()


def case_tls_bad_files(args):
    pki = Pki()
    pki.client("exporter", "URI:spiffe://example.org/exporter")
    locked = pki.path("locked.key")
    with open(pki.path("exporter.key"), "rb") as f, open(locked, "wb") as g:
        g.write(f.read())
    os.chmod(locked, 0)
    endpoint = ["--otlp-endpoint", "https://127.0.0.1:9/v1/traces"]
    missing = pki.path("nope.pem")
    cases = [([*endpoint, "--otlp-ca-file", missing], {}, [missing, "--otlp-ca-file"]),
             (endpoint, {"OTEL_EXPORTER_OTLP_CERTIFICATE": missing},
              [missing, "OTEL_EXPORTER_OTLP_(TRACES_)CERTIFICATE"]),
             ([*endpoint, "--otlp-ca-file", pki.path("ext")], {},
              ["expected PEM certificates", "--otlp-ca-file"]),
             ([*endpoint, "--otlp-client-cert", pki.path("exporter.pem")], {},
              ["give both or neither"])]
    if os.geteuid() != 0:  # root reads anything
        cases.append(([*endpoint, "--otlp-client-cert", pki.path("exporter.pem"),
                       "--otlp-client-key", locked], {},
                      [locked, "Permission denied", "--otlp-client-key"]))
    for flags, env, words in cases:
        r = harness.run_cmd([args.server, "--listen", "127.0.0.1:0", *flags], timeout=20,
                            env=dict(os.environ, **env))
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        check(r.returncode == 2 and len(lines) == 1,
              f"{flags} {env}: rc {r.returncode}, stderr {r.stderr!r}")
        check(all(w in lines[0] for w in words), f"{flags} {env}: {lines[0]!r} lacks {words}")
        log(lines[0])


CASES = {"propagation": case_propagation, "deadline_cancel": case_deadline_cancel, "collector_down": case_collector_down,
         "collector_503": case_collector_503, "collector_slow": case_collector_slow,
         "tls_export": case_tls_export, "tls_wrong_ca": case_tls_wrong_ca,
         "tls_mtls": case_tls_mtls, "tls_bad_files": case_tls_bad_files,
         "hostile_strings": case_hostile_strings}


def main():
    harness.run_cases(CASES, harness.parse_args())


if __name__ == "__main__":
    main()
