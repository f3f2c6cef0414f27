#!/usr/bin/python3
"""Runs one build of examples/out-of-tree (orders-server) and checks it the way its users would:

  - starts it on 127.0.0.1:0 and reads the port from "orders-server listening on ADDR:PORT";
  - python3-grpcio with stubs generated from the example's orders.proto: PlaceOrder (the blocking
    method) three times and with a bad request (INVALID_ARGUMENT), ListOrders (server streaming)
    for one customer and for all;
  - grpc.reflection.v1 (what grpcurl list / describe do): list_services names orders.Orders,
    file_containing_symbol("orders.Orders") returns orders.proto with both methods and their
    types, and a PlaceOrder call made only from the reflected descriptors (no .proto: what ghz
    and grpcurl do) works;
  - SIGTERM: it drains and exits 0 within its grace period.

Only the PID this script started is signalled. Exit 0 pass, 1 fail, 77 skip (no grpcio).

  check_example.py --server BIN --example-dir examples/out-of-tree --proto-dir proto
"""
import argparse
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import harness  # noqa: E402  (sets GRPC_ENABLE_FORK_SUPPORT before grpc loads)
from harness import Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
except ImportError:
    grpc = None

STARTUP_RE = re.compile(r"orders-server listening on 127\.0\.0\.1:(\d+)")


class Example:
    """orders-server on 127.0.0.1:0; stopped with SIGTERM (SIGKILL if it hangs) on exit."""

    def __init__(self, binary):
        self.binary = binary
        self.proc = None
        self.port = None

    def __enter__(self):
        log("starting:", self.binary)
        self.proc = subprocess.Popen([self.binary, "127.0.0.1:0"], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     preexec_fn=harness._die_with_parent)
        fd = self.proc.stdout.fileno()
        out = b""
        deadline = time.monotonic() + harness.START_TIMEOUT
        while b"\n" not in out and time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            chunk = os.read(fd, 4096) if r else b""
            if not chunk:
                break
            out += chunk
        line = out.split(b"\n")[0].decode(errors="replace")
        m = STARTUP_RE.fullmatch(line)
        if not m:
            self.kill()
            raise TestFailure(f"no startup line (got {line!r}); stderr:\n{self.stderr()}")
        self.port = int(m.group(1))
        log(f"pid {self.proc.pid} serves on port {self.port}")
        return self

    def __exit__(self, et, ev, tb):
        if self.proc.poll() is None:
            self.kill()

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stderr(self):
        try:
            return self.proc.communicate(timeout=5)[1].decode(errors="replace")
        except subprocess.TimeoutExpired:
            return "(not drained)"

    def terminate(self):
        """SIGTERM; the process must exit 0 well within its 10 s grace."""
        t0 = time.monotonic()
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            _, err = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TestFailure("did not exit within 15 s of SIGTERM")
        err = err.decode(errors="replace")
        log(f"exit {self.proc.returncode} {time.monotonic() - t0:.2f} s after SIGTERM; "
            f"stderr: {err.strip()!r}")
        check(self.proc.returncode == 0, f"exit code {self.proc.returncode} after SIGTERM")
        check("SIGTERM: draining" in err, f"no drain line on stderr: {err!r}")


def gen_stubs(example_dir, out):
    protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
    plugin = "/usr/bin/grpc_python_plugin"
    if not protoc or not os.access(plugin, os.X_OK):
        raise Skip("protoc or /usr/bin/grpc_python_plugin missing (protobuf-compiler, "
                   "protobuf-compiler-grpc)")
    r = subprocess.run([protoc, f"-I{example_dir}", f"--plugin=protoc-gen-grpc_python={plugin}",
                        f"--python_out={out}", f"--grpc_python_out={out}", "orders.proto"],
                       capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"protoc: {r.stderr}")
    sys.path.insert(0, out)
    import orders_pb2
    import orders_pb2_grpc
    return orders_pb2, orders_pb2_grpc


def check_calls(ch, pb, pb_grpc):
    stub = pb_grpc.OrdersStub(ch)
    placed = [stub.PlaceOrder(pb.PlaceOrderRequest(customer=c, item=i, quantity=q), timeout=10)
              for c, i, q in (("alice", "widget", 2), ("bob", "gadget", 1), ("alice", "gizmo", 5))]
    ids = [o.id for o in placed]
    check(ids == sorted(ids) and len(set(ids)) == 3, f"order ids {ids}")
    check((placed[2].customer, placed[2].item, placed[2].quantity) == ("alice", "gizmo", 5),
          f"PlaceOrder returned {placed[2]}")
    try:
        stub.PlaceOrder(pb.PlaceOrderRequest(customer="carol", item="x", quantity=0), timeout=10)
        raise TestFailure("PlaceOrder with quantity 0 succeeded")
    except grpc.RpcError as e:
        check(e.code() == grpc.StatusCode.INVALID_ARGUMENT, f"bad order -> {e.code()}")
    alice = list(stub.ListOrders(pb.ListOrdersRequest(customer="alice"), timeout=10))
    check([(o.id, o.item) for o in alice] == [(ids[0], "widget"), (ids[2], "gizmo")],
          f"ListOrders(alice) -> {[(o.id, o.item) for o in alice]}")
    everyone = list(stub.ListOrders(pb.ListOrdersRequest(), timeout=10))
    check([o.id for o in everyone] == ids, f"ListOrders() -> {[o.id for o in everyone]}")
    log(f"PlaceOrder x3 (ids {ids}), INVALID_ARGUMENT, ListOrders: alice 2, all 3")


def message_class(pool, name):
    desc = pool.FindMessageTypeByName(name)
    if hasattr(message_factory, "GetMessageClass"):  # protobuf >= 4.21
        return message_factory.GetMessageClass(desc)
    return message_factory.MessageFactory(pool).GetPrototype(desc)


def check_reflection(ch, refl_proto_dir):
    from test_reflection import ReflectionStubs  # tests/integration: stubs from grpc's proto
    stubs = ReflectionStubs(refl_proto_dir)
    rpb, rpb_grpc = stubs.mods["v1"]
    stub = rpb_grpc.ServerReflectionStub(ch)
    reqs = [rpb.ServerReflectionRequest(list_services=""),
            rpb.ServerReflectionRequest(file_containing_symbol="orders.Orders"),
            rpb.ServerReflectionRequest(file_containing_symbol="orders.Order")]
    r = list(stub.ServerReflectionInfo(iter(reqs), timeout=10))
    check(len(r) == 3, f"{len(r)} reflection responses to 3 requests")
    services = {s.name for s in r[0].list_services_response.service}
    check({"orders.Orders", "grpc.health.v1.Health",
           "grpc.reflection.v1.ServerReflection"} <= services, f"list_services: {services}")
    files = [descriptor_pb2.FileDescriptorProto.FromString(b)
             for b in r[1].file_descriptor_response.file_descriptor_proto]
    check([f.name for f in files] == ["orders.proto"], f"orders.Orders -> {[f.name for f in files]}")
    fd = files[0]
    (svc,) = [s for s in fd.service if s.name == "Orders"]
    methods = {m.name: (m.input_type, m.output_type, m.server_streaming) for m in svc.method}
    check(methods == {"PlaceOrder": (".orders.PlaceOrderRequest", ".orders.Order", False),
                      "ListOrders": (".orders.ListOrdersRequest", ".orders.Order", True)},
          f"described methods: {methods}")
    check(r[2].file_descriptor_response.file_descriptor_proto,
          f"orders.Order not resolved: {r[2]}")
    # A call from the reflected descriptors alone, as grpcurl and ghz make them.
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    req_cls = message_class(pool, "orders.PlaceOrderRequest")
    resp_cls = message_class(pool, "orders.Order")
    call = ch.unary_unary("/orders.Orders/PlaceOrder",
                          request_serializer=lambda m: m.SerializeToString(),
                          response_deserializer=resp_cls.FromString)
    order = call(req_cls(customer="dave", item="reflected", quantity=7), timeout=10)
    check((order.customer, order.item, order.quantity) == ("dave", "reflected", 7),
          f"call from reflected descriptors -> {order}")
    log(f"reflection: {len(services)} services; orders.Orders described "
        f"({', '.join(sorted(methods))}); a call from the reflected descriptors: order {order.id}")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="an orders-server binary")
    p.add_argument("--example-dir", required=True, help="examples/out-of-tree (orders.proto)")
    p.add_argument("--proto-dir", required=True, help="the repository's proto/ (reflection.proto)")
    a = p.parse_args()
    t0 = time.monotonic()
    try:
        if grpc is None:
            raise Skip("python3-grpcio / python3-protobuf missing for /usr/bin/python3")
        with tempfile.TemporaryDirectory(prefix="urpc-orders-") as tmp:
            pb, pb_grpc = gen_stubs(a.example_dir, tmp)
            with Example(a.server) as ex:
                ch = grpc.insecure_channel(f"127.0.0.1:{ex.port}")
                try:
                    grpc.channel_ready_future(ch).result(timeout=10)
                    check_calls(ch, pb, pb_grpc)
                    check_reflection(ch, a.proto_dir)
                finally:
                    ch.close()
                ex.terminate()
    except Skip as e:
        log(f"SKIP: {e}")
        sys.exit(harness.SKIP)
    except TestFailure as e:
        log(f"FAIL {a.server}: {e}")
        sys.exit(1)
    log(f"PASS {a.server} ({time.monotonic() - t0:.1f} s)")


if __name__ == "__main__":
    main()
