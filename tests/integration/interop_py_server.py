"""grpc.testing.TestService in Python (Debian's python3-grpcio), in this process, for driving
an interop *client*: honest, as doc/interop-test-descriptions.md asks of a server, or lying —
every method answers a little wrong (a payload a byte longer, an aggregate off by one, an
echoed header or status message altered, an extra response, unimplemented methods answered),
so that a client's checks can be seen to fail.

Handlers are registered generically with our own (de)serializers, so a lying answer can be any
bytes (EmptyCall's non-empty "Empty"). What grpcio cannot do as a server: see whether a request
arrived compressed, so expect_compressed is never checked (the client_compressed_* probes
cannot get their INVALID_ARGUMENT here).

`compression` lies about response compression alone, everything else honest, so that the
client's compressed-flag checks are what fails: "never" ignores response_compressed and
ResponseParameters.compressed (as grpc-go 1.33's server does), "always" compresses every
response.
"""
import time
from concurrent import futures

import grpc

INITIAL_KEY = "x-grpc-test-echo-initial"
TRAILING_KEY = "x-grpc-test-echo-trailing-bin"
CODES = {c.value[0]: c for c in grpc.StatusCode}


class PyInteropServer:
    """Serves on 127.0.0.1:<port 0>; use as a context manager. `m` is the messages_pb2 module,
    `empty` the empty_pb2 module (test_interop.InteropStubs)."""

    def __init__(self, stubs, lie=False, creds=None, compression=None):
        assert compression in (None, "never", "always")
        self.m = stubs.msgs
        self.empty = stubs.empty
        self.lie = lie
        self.compression = compression
        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        self.server.add_generic_rpc_handlers((self._test_service(), self._unimplemented()))
        addr = "127.0.0.1:0"
        self.port = (self.server.add_secure_port(addr, creds) if creds
                     else self.server.add_insecure_port(addr))

    def __enter__(self):
        self.server.start()
        return self

    def __exit__(self, *a):
        self.server.stop(grace=None).wait(timeout=10)

    # ---- helpers ----------------------------------------------------------------------

    def _size(self, n, ctx):
        # A call carrying the echo headers (custom_metadata) gets honest sizes, so that it is
        # the metadata check that fails there.
        echo = any(k == INITIAL_KEY for k, _ in ctx.invocation_metadata())
        return n + 1 if self.lie and not echo else n

    def _payload(self, n, ctx):
        return self.m.Payload(type=self.m.COMPRESSABLE, body=b"\0" * self._size(n, ctx))

    def _echo_metadata(self, ctx):
        md = dict(ctx.invocation_metadata())
        if INITIAL_KEY in md:
            v = md[INITIAL_KEY] + ("-altered" if self.lie else "")
            ctx.send_initial_metadata(((INITIAL_KEY, v),))
        if TRAILING_KEY in md:
            v = md[TRAILING_KEY] + (b"\0" if self.lie else b"")
            ctx.set_trailing_metadata(((TRAILING_KEY, v),))

    def _abort_if_asked(self, ctx, st):
        if st is not None and st.code:
            ctx.abort(CODES.get(st.code, grpc.StatusCode.UNKNOWN),
                      st.message + ("!" if self.lie else ""))

    # ---- methods ----------------------------------------------------------------------

    def empty_call(self, req, ctx):
        self._echo_metadata(ctx)
        return b"\x08\x01" if self.lie else b""

    def unary_call(self, req, ctx):
        self._echo_metadata(ctx)
        self._abort_if_asked(ctx, req.response_status if req.HasField("response_status") else None)
        if self.compression == "always":
            ctx.set_compression(grpc.Compression.Gzip)
        elif req.HasField("response_compressed") and self.compression != "never":
            ctx.set_compression(grpc.Compression.Gzip if req.response_compressed.value
                                else grpc.Compression.NoCompression)
        return self.m.SimpleResponse(payload=self._payload(req.response_size, ctx))

    def streaming_input_call(self, it, ctx):
        self._echo_metadata(ctx)
        total = sum(len(r.payload.body) for r in it)
        return self.m.StreamingInputCallResponse(aggregated_payload_size=self._size(total, ctx))

    def _responses(self, req, ctx):
        for p in req.response_parameters:
            if p.interval_us:
                time.sleep(p.interval_us / 1e6)
            if (p.HasField("compressed") and not p.compressed.value
                    and self.compression != "always"):
                ctx.disable_next_message_compression()
            yield self.m.StreamingOutputCallResponse(payload=self._payload(p.size, ctx))

    def streaming_output_call(self, req, ctx):
        self._echo_metadata(ctx)
        if self.compression == "always" or (
                self.compression != "never"
                and any(p.compressed.value for p in req.response_parameters)):
            ctx.set_compression(grpc.Compression.Gzip)
        yield from self._responses(req, ctx)

    def full_duplex_call(self, it, ctx):
        self._echo_metadata(ctx)
        n = 0
        for req in it:
            n += 1
            self._abort_if_asked(ctx, req.response_status if req.HasField("response_status")
                                 else None)
            yield from self._responses(req, ctx)
        if self.lie and n == 0:  # empty_stream expects no response: send one
            yield self.m.StreamingOutputCallResponse()

    # ---- registration -----------------------------------------------------------------

    @staticmethod
    def _out(msg):
        return msg if isinstance(msg, bytes) else msg.SerializeToString()

    def _test_service(self):
        m, out = self.m, self._out
        handlers = {
            "EmptyCall": grpc.unary_unary_rpc_method_handler(
                self.empty_call, self.empty.Empty.FromString, out),
            "UnaryCall": grpc.unary_unary_rpc_method_handler(
                self.unary_call, m.SimpleRequest.FromString, out),
            "StreamingInputCall": grpc.stream_unary_rpc_method_handler(
                self.streaming_input_call, m.StreamingInputCallRequest.FromString, out),
            "StreamingOutputCall": grpc.unary_stream_rpc_method_handler(
                self.streaming_output_call, m.StreamingOutputCallRequest.FromString, out),
            "FullDuplexCall": grpc.stream_stream_rpc_method_handler(
                self.full_duplex_call, m.StreamingOutputCallRequest.FromString, out),
        }
        if self.lie:  # answers what a server must refuse
            handlers["UnimplementedCall"] = grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: b"", None, None)
        return grpc.method_handlers_generic_handler("grpc.testing.TestService", handlers)

    def _unimplemented(self):
        handlers = {}
        if self.lie:
            handlers["UnimplementedCall"] = grpc.unary_unary_rpc_method_handler(
                lambda req, ctx: b"", None, None)
        return grpc.method_handlers_generic_handler("grpc.testing.UnimplementedService", handlers)
