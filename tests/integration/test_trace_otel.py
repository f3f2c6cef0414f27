#!/usr/bin/python3
"""Issue 12's acceptance test: a client instrumented with the real OpenTelemetry SDK calls
uringrpc-server, and the server's spans, exported over OTLP/HTTP to test_trace.py's receiver
(decoded with classes generated from proto/opentelemetry), continue the client's traces.

The client is tests/otel/otel_client.js: @grpc/grpc-js instrumented by
@opentelemetry/instrumentation-grpc, spans from @opentelemetry/sdk-trace-node kept in memory,
W3C traceparent/tracestate from the SDK's propagator (deploy/install-deps.sh installs the
pinned npm packages into tests/otel/node_modules; without them, or without node, it skips).
It prints each scenario's status and client spans; for each, exactly one server span must
have the client span's trace id, the client span as its parent, kind SERVER, the name
package.Service/Method (the SDK's is "grpc." + that), rpc.system/service/method as the SDK
has them, rpc.grpc.status_code and span status as the RPC semantic conventions give a server:

  ok             Greeter/SayHello: 0, UNSET
  not_found      TestService/UnaryCall asking for NOT_FOUND: 5, UNSET (no server error)
  deadline       a Ping the server holds 3 s, 300 ms deadline: 4, ERROR, error.type and the
                 grpc-message as description (1, UNSET when the client's reset wins the race)
  cancelled      the same Ping cancelled by the client after 300 ms: 1, UNSET, ended then
  server_stream  TestService/StreamingOutputCall (3 replies): one span
  bidi           TestService/FullDuplexCall (3 requests, 3 replies): one span
  tracestate     a call continuing a remote parent with a tracestate: the span carries it

and network.peer.address/port (the client's socket), network.type, network.transport,
server.address/port (from :authority, the port the server's; the SDK's own server.* agree over
IPv4 — over IPv6 its target parsing gives it no server.address and a NaN server.port).

  ipv4      the scenarios above against 127.0.0.1, message events off (spans have none)
  ipv6      the server on [::1] with --trace-message-events: ::1 / ipv6 in the attributes,
            rpc.message events (RECEIVED/SENT, ids from 1 each way, sizes) on the streams, and
            a gzip-compressed grpcio request reported with rpc.message.compressed_size

Only processes this test started are signalled, by PID; temporary directories are removed.
"""
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402
from test_trace import Receiver, attrs, setup  # noqa: E402  (the OTLP receiver, shared)

OTEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "otel")
TRACESTATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
SERVER_KIND, UNSET, ERROR = 2, 0, 2  # OTLP's SPAN_KIND_SERVER, STATUS_CODE_UNSET / _ERROR

# scenario: (the server span's name, the status codes it may end with)
EXPECT = {
    "ok": ("helloworld.Greeter/SayHello", {0}),
    "not_found": ("grpc.testing.TestService/UnaryCall", {5}),
    "deadline": ("fgrpc.PingServer/Ping", {4, 1}),
    "cancelled": ("fgrpc.PingServer/Ping", {1}),
    "server_stream": ("grpc.testing.TestService/StreamingOutputCall", {0}),
    "bidi": ("grpc.testing.TestService/FullDuplexCall", {0}),
    "tracestate": ("helloworld.Greeter/SayHello", {0}),
}
CLIENT_CODES = {"ok": 0, "not_found": 5, "deadline": 4, "cancelled": 1, "server_stream": 0,
                "bidi": 0, "tracestate": 0}
SERVER_ERRORS = {2, 4, 12, 13, 14, 15}  # the conventions' server-side ERROR codes


def node_client():
    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        raise Skip("node is not installed (deploy/install-deps.sh installs it)")
    if not os.path.isdir(os.path.join(OTEL_DIR, "node_modules", "@opentelemetry",
                                      "instrumentation-grpc")):
        raise Skip("tests/otel/node_modules is missing: run deploy/install-deps.sh")
    return node


def run_client(node, target, proto_dir):
    cmd = [node, os.path.join(OTEL_DIR, "otel_client.js"), "--target", target,
           "--proto-dir", proto_dir]
    r = harness.run_cmd(cmd, timeout=60)
    check(r.returncode == 0, f"the Node client failed (rc={r.returncode}):\n{r.stderr}")
    out = json.loads(r.stdout)
    log("client: " + ", ".join(f"{s['scenario']}={s['code']}" for s in out))
    return out


def server_spans(recv, trace_ids, timeout=20.0):
    """The server spans of these traces, waiting until each trace has one (and a moment more
    for a second one that should not be there)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = {s.trace_id.hex() for _, s in recv.spans()}
        if trace_ids <= have:
            break
        time.sleep(0.05)
    time.sleep(0.5)
    by_trace = {}
    for _, s in recv.spans():
        by_trace.setdefault(s.trace_id.hex(), []).append(s)
    missing = trace_ids - set(by_trace)
    check(not missing, f"no server span for the client traces {sorted(missing)}")
    return by_trace


def check_scenario(sc, s, srv, peer, net_type):
    """One scenario's server span `s` against its client span."""
    name = sc["scenario"]
    c = sc["spans"][0]
    a = attrs(s.attributes)
    want_name, codes = EXPECT[name]
    what = f"{name}: server span {s.name} {a}"
    check(s.parent_span_id.hex() == c["spanId"], f"{what}: parent {s.parent_span_id.hex()}, "
          f"the client span is {c['spanId']}")
    check(len(s.span_id) == 8 and s.span_id.hex() != c["spanId"], f"{what}: span id")
    check(s.kind == SERVER_KIND, f"{what}: kind {s.kind}")
    check(s.name == want_name, f"{what}: name")
    check(c["name"] == "grpc." + s.name, f"{name}: the SDK names its span {c['name']!r}")
    check(a.get("rpc.system") == "grpc" == c["attributes"].get("rpc.system"), what)
    check(a.get("rpc.service") == c["attributes"].get("rpc.service") == want_name.split("/")[0],
          f"{what}: rpc.service, the SDK's {c['attributes'].get('rpc.service')}")
    check(a.get("rpc.method") == c["attributes"].get("rpc.method") == want_name.split("/")[1],
          f"{what}: rpc.method, the SDK's {c['attributes'].get('rpc.method')}")
    code = a.get("rpc.grpc.status_code")
    check(code in codes, f"{what}: rpc.grpc.status_code {code}, want one of {codes}")
    if name != "deadline":
        check(code == c["attributes"].get("rpc.grpc.status_code"),
              f"{what}: the SDK saw {c['attributes'].get('rpc.grpc.status_code')}")
    if code in SERVER_ERRORS:
        check(s.status.code == ERROR, f"{what}: status {s.status.code}, want ERROR")
        check(a.get("error.type") == "DEADLINE_EXCEEDED", f"{what}: error.type")
        check(s.status.message != "", f"{what}: no status description")
    else:
        check(s.status.code == UNSET, f"{what}: status {s.status.code}, want UNSET")
        check(s.status.message == "" and "error.type" not in a, f"{what}: error on a non-error")
    check(a.get("network.peer.address") == peer, f"{what}: network.peer.address, want {peer}")
    check(0 < a.get("network.peer.port", 0) < 65536 and a["network.peer.port"] != srv.port,
          f"{what}: network.peer.port")
    check(a.get("network.type") == net_type, f"{what}: network.type, want {net_type}")
    check(a.get("network.transport") == "tcp", f"{what}: network.transport")
    check(a.get("server.address") == srv.host.strip("[]"), f"{what}: server.address")
    check(a.get("server.port") == srv.port, f"{what}: server.port, want {srv.port}")
    sdk_port = c["attributes"].get("server.port")
    if net_type == "ipv4":  # the SDK parses no "[::1]:port" target: server.port NaN, no address
        check(sdk_port == srv.port and c["attributes"].get("server.address") == "127.0.0.1",
              f"{name}: the SDK's server.* {c['attributes']}")
    check(s.end_time_unix_nano >= s.start_time_unix_nano, f"{what}: times")
    if name == "cancelled":
        check(s.end_time_unix_nano - s.start_time_unix_nano < 2 * 10**9,
              f"{what}: the span did not end when the client cancelled")
    if name == "tracestate":
        check(s.trace_id.hex() == "4bf92f3577b34da6a3ce929d0e0e4736", f"{what}: trace id")
        check(s.trace_state == TRACESTATE == c["traceState"],
              f"{what}: trace_state {s.trace_state!r}, the SDK's {c['traceState']!r}")


def message_events(s):
    out = []
    for e in s.events:
        check(e.name == "rpc.message", f"event {e.name} on {s.name}")
        a = attrs(e.attributes)
        size = a.get("rpc.message.uncompressed_size", a.get("rpc.message.compressed_size"))
        out.append((a.get("rpc.message.type"), a.get("rpc.message.id"), size,
                    "rpc.message.compressed_size" in a))
        check(s.start_time_unix_nano <= e.time_unix_nano <= s.end_time_unix_nano,
              f"{s.name}: an event outside its span")
    return out


@contextlib.contextmanager
def run(args, host, peer, net_type, extra_flags):
    """The server (with the receiver) and the Node client's scenarios, checked: yields the
    server, the receiver and the server span of each scenario."""
    node = node_client()
    tmp, pb2 = setup(args)
    recv = Receiver(pb2)
    try:
        with Server(args.server, "--otlp-endpoint", recv.endpoint, "--trace-batch-delay", "100",
                    *extra_flags, host=host) as srv:
            out = run_client(node, srv.target, args.proto_dir)
            check([sc["scenario"] for sc in out] == list(EXPECT), f"scenarios {out}")
            for sc in out:
                check(sc["code"] == CLIENT_CODES[sc["scenario"]], f"client saw {sc}")
                check(len(sc["spans"]) == 1, f"{sc['scenario']}: the SDK made "
                      f"{len(sc['spans'])} client spans: {sc['spans']}")
            by_trace = server_spans(recv, {sc["spans"][0]["traceId"] for sc in out})
            for sc in out:
                spans = by_trace[sc["spans"][0]["traceId"]]
                check(len(spans) == 1, f"{sc['scenario']}: {len(spans)} server spans in the "
                      f"trace, want one: {[s.name for s in spans]}")
                check_scenario(sc, spans[0], srv, peer, net_type)
            spans = {sc["scenario"]: by_trace[sc["spans"][0]["traceId"]][0] for sc in out}
            yield srv, recv, spans
            srv.stop()
    finally:
        recv.close()
        tmp.cleanup()


def case_ipv4(args):
    with run(args, "127.0.0.1", "127.0.0.1", "ipv4", []) as (_, _, spans):
        for name, s in spans.items():
            check(not s.events and s.dropped_events_count == 0,
                  f"{name}: events without --trace-message-events: {list(s.events)}")


def case_ipv6(args):
    if not os.path.exists("/proc/net/if_inet6"):
        raise Skip("no IPv6 on this host")
    with run(args, "[::1]", "::1", "ipv6", ["--trace-message-events"]) as (srv, recv, spans):
        ev = message_events(spans["ok"])
        check([(t, i) for t, i, _, _ in ev] == [("RECEIVED", 1), ("SENT", 1)], f"ok: {ev}")
        check(ev[0][2] > 0 and ev[1][2] > 0 and not ev[0][3], f"ok: sizes {ev}")
        ev = message_events(spans["server_stream"])
        check([(t, i) for t, i, _, _ in ev] == [("RECEIVED", 1), ("SENT", 1), ("SENT", 2),
                                                ("SENT", 3)], f"server_stream: {ev}")
        check([n for _, _, n, _ in ev[1:]] == [14, 24, 34],
              f"server_stream: bodies of 10, 20, 30 bytes, 4 of protobuf framing: {ev[1:]}")
        ev = message_events(spans["bidi"])
        check(sorted((t, i) for t, i, _, _ in ev) ==
              [("RECEIVED", 1), ("RECEIVED", 2), ("RECEIVED", 3), ("SENT", 1), ("SENT", 2),
               ("SENT", 3)], f"bidi: {ev}")
        ev = message_events(spans["cancelled"])
        check([(t, i) for t, i, _, _ in ev] == [("RECEIVED", 1)], f"cancelled: {ev}")

        # a compressed request: its size is the compressed one, said so
        import grpc
        st = harness.Stubs(args.proto_dir)
        tid = "5bf92f3577b34da6a3ce929d0e0e4736"
        with grpc.insecure_channel(srv.target) as ch:
            hello = ch.unary_unary("/helloworld.Greeter/SayHello",
                                   request_serializer=st.hw.HelloRequest.SerializeToString,
                                   response_deserializer=st.hw.HelloReply.FromString)
            hello(st.hw.HelloRequest(name="z" * 2000), timeout=10,
                  compression=grpc.Compression.Gzip,
                  metadata=[("traceparent", f"00-{tid}-b7ad6b7169203331-01")])
        s = server_spans(recv, {tid})[tid][0]
        ev = message_events(s)
        check(ev[0][0] == "RECEIVED" and ev[0][3] and 0 < ev[0][2] < 200,
              f"a gzip request of 2000 'z's: {ev[0]}, want a small compressed_size")
        check(ev[1][0] == "SENT" and not ev[1][3] and ev[1][2] > 2000, f"reply: {ev[1]}")


CASES = {"ipv4": case_ipv4, "ipv6": case_ipv6}


def main():
    harness.run_cases(CASES, harness.parse_args())


if __name__ == "__main__":
    main()
