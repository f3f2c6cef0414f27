#!/usr/bin/python3
"""Server reflection (grpc.reflection.v1 and v1alpha) with python3-grpcio and stubs generated
from grpc's reflection.proto: what grpcurl and Evans do first.

  list_services     every registered service is listed, on both versions
  resolve           file_containing_symbol for the Greeter, a method and the interop service
                    returns the file and its transitive dependencies, each once, parseable as
                    FileDescriptorProto; file_by_filename likewise
  errors            unknown symbol / file / extension → NOT_FOUND error responses, stream goes on
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
    from google.protobuf import descriptor_pb2
except ImportError:
    grpc = None

VERSIONS = ("v1", "v1alpha")


class ReflectionStubs:
    """reflection_pb2 / _grpc for each version, from the repo's copies of grpc's protos, each
    generated flat into its own directory (a grpc/ package would shadow the installed grpc)."""

    def __init__(self, proto_dir):
        protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
        plugin = "/usr/bin/grpc_python_plugin"
        if not protoc or not os.access(plugin, os.X_OK):
            raise Skip("protoc or grpc_python_plugin missing")
        self._tmp = tempfile.TemporaryDirectory(prefix="urpc-refl-")
        self.mods = {}
        for v in VERSIONS:
            # Both versions are "reflection.proto": copied under distinct names, or python's
            # descriptor pool refuses the second.
            name = f"reflection_{v}"
            out = self._tmp.name
            shutil.copy(os.path.join(proto_dir, "grpc", "reflection", v, "reflection.proto"),
                        os.path.join(out, name + ".proto"))
            r = subprocess.run([protoc, f"-I{out}", f"--plugin=protoc-gen-grpc_python={plugin}",
                                f"--python_out={out}", f"--grpc_python_out={out}",
                                name + ".proto"], capture_output=True, text=True, timeout=60)
            if r.returncode != 0:
                raise TestFailure(f"protoc: {r.stderr}")
            if out not in sys.path:
                sys.path.insert(0, out)
            self.mods[v] = (__import__(name + "_pb2"), __import__(name + "_pb2_grpc"))


def ask(stubs, ch, v, requests):
    pb, pb_grpc = stubs.mods[v]
    stub = pb_grpc.ServerReflectionStub(ch)
    return list(stub.ServerReflectionInfo(iter(requests), timeout=10))


def case_list_services(st, ch):
    want = {"helloworld.Greeter", "urpc.example.Demo", "fgrpc.PingServer",
            "grpc.testing.TestService", "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}
    for v in VERSIONS:
        pb, _ = st.mods[v]
        (resp,) = ask(st, ch, v, [pb.ServerReflectionRequest(host="h", list_services="")])
        got = {s.name for s in resp.list_services_response.service}
        check(want <= got, f"{v}: list_services missing {want - got}")
        check(resp.valid_host == "h", f"{v}: valid_host {resp.valid_host!r}")
        check(resp.original_request.list_services == "", f"{v}: original_request not echoed")
        log(f"{v}: {len(got)} services")


def files_of(resp):
    names = []
    for raw in resp.file_descriptor_response.file_descriptor_proto:
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        names.append(fd.name)
    check(len(names) == len(set(names)), f"a file sent twice: {names}")
    return names


def case_resolve(st, ch):
    for v in VERSIONS:
        pb, _ = st.mods[v]
        reqs = [pb.ServerReflectionRequest(file_containing_symbol="helloworld.Greeter"),
                pb.ServerReflectionRequest(file_containing_symbol="urpc.example.Demo"),
                pb.ServerReflectionRequest(file_containing_symbol="helloworld.Greeter.SayHello"),
                pb.ServerReflectionRequest(file_containing_symbol="grpc.testing.TestService"),
                pb.ServerReflectionRequest(file_by_filename="grpc/testing/messages.proto"),
                pb.ServerReflectionRequest(file_containing_symbol="grpc.health.v1.Health")]
        r = ask(st, ch, v, reqs)
        check(len(r) == len(reqs), f"{v}: {len(r)} responses to {len(reqs)} requests")
        check(files_of(r[0]) == ["helloworld.proto"], f"{v}: Greeter -> {files_of(r[0])}")
        demo = files_of(r[1])
        check(demo[0] == "example.proto" and set(demo) == {"example.proto", "helloworld.proto"},
              f"{v}: Demo -> {demo}")
        check(files_of(r[2]) == ["helloworld.proto"], f"{v}: method -> {files_of(r[2])}")
        ts = files_of(r[3])
        check(ts[0] == "grpc/testing/test.proto" and set(ts) == {
            "grpc/testing/test.proto", "grpc/testing/empty.proto",
            "grpc/testing/messages.proto"}, f"{v}: TestService -> {ts}")
        check(files_of(r[4]) == ["grpc/testing/messages.proto"], f"{v}: by name -> {files_of(r[4])}")
        check(files_of(r[5])[0] == "grpc/health/v1/health.proto", f"{v}: Health -> {files_of(r[5])}")
        log(f"{v}: Greeter, Demo (+helloworld), TestService (+2), messages.proto, Health resolved")


def case_errors(st, ch):
    for v in VERSIONS:
        pb, _ = st.mods[v]
        reqs = [pb.ServerReflectionRequest(file_containing_symbol="no.Such"),
                pb.ServerReflectionRequest(file_by_filename="nope.proto"),
                pb.ServerReflectionRequest(file_containing_extension=pb.ExtensionRequest(
                    containing_type="helloworld.HelloRequest", extension_number=99)),
                pb.ServerReflectionRequest(list_services="")]
        r = ask(st, ch, v, reqs)
        for i in range(3):
            check(r[i].HasField("error_response") and r[i].error_response.error_code == 5,
                  f"{v}: request {i} -> {r[i]}")
        check(len(r[3].list_services_response.service) > 0, f"{v}: stream went on after errors")


CASES = {"list_services": case_list_services, "resolve": case_resolve, "errors": case_errors}


def run_case(args):
    if grpc is None:
        raise Skip("python3-grpcio / python3-protobuf missing for /usr/bin/python3")
    st = ReflectionStubs(args.proto_dir)
    with Server(args.server) as srv:
        ch = grpc.insecure_channel(srv.target)
        try:
            CASES[args.case](st, ch)
        finally:
            ch.close()
        srv.stop()


def main():
    args = harness.parse_args()
    harness.run_cases({k: run_case for k in CASES}, args)


if __name__ == "__main__":
    main()
