#!/usr/bin/python3
"""uringrpc-load (bench/load) against uringrpc-server: the report, the request paths, errors.

  unary        -n 3000 -c 4 -m 8 SayHello through reflection: count == n, every call OK,
               rps > 0, ghz's report fields with ghz's types, the histogram holds every OK
               call; the server's ok count covers them
  shards       --cpus 2 -c 4 against a 2-shard server: every call counted once
  rps          --rps 200 -z 1s: about 200 calls, ~1 s; --rps 200 -n 100 takes ~0.5 s
  duration     -z 1s closed loop: the run ends ~1 s in, nothing but OK or Canceled; SIGINT
               ends a -z 60s run (closed and open loop) with its report
  protoset     --protoset (protoc --include_imports) and ghz's pkg.Service.Method, -d a JSON
               array; and -B raw bytes
  errors       grpc.testing.TestService/UnaryCall asked to fail NOT_FOUND: every call counted
               under NotFound, ghz's error text
  metadata     -H reaches the server: an authorization policy that wants the header lets
               the calls with it through, refuses the others (PermissionDenied)
  tls          --cacert against the server's TLS port; without --insecure against plaintext:
               one line, exit 2
  setup_errors an unknown method, an unknown service, bad flags, bad JSON, an unreachable
               server, a listener that never answers (--connect-timeout): each one line on
               stderr and exit 2, nothing on stdout
  reflection_v1alpha  a python3-grpcio server with only v1alpha reflection that answers the
               service's file without its imports: uringrpc-load falls back from v1, asks for
               each dependency by name, and its calls reach the server's handler; without
               reflection, -d is refused (exit 2) and raw bytes go out unchecked
"""
import json
import os
import threading
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, check, log  # noqa: E402

HELLO = "helloworld.Greeter/SayHello"


def load(args, target, *flags, timeout=60, expect_rc=0):
    """Runs uringrpc-load with --format json; returns the parsed report (or the process when
    expect_rc is not 0)."""
    cmd = [args.load, target, *flags]
    if expect_rc == 0:
        cmd += ["--format", "json"]
    log(" ".join(cmd))
    t0 = time.monotonic()
    r = harness.run_cmd(cmd, timeout=timeout)
    log(f"exit {r.returncode} after {time.monotonic() - t0:.2f} s; stderr: {r.stderr.strip()}")
    check(not harness.sanitizer_report(r.stderr), f"sanitizer report:\n{r.stderr}")
    if expect_rc != 0:
        check(r.returncode == expect_rc, f"exit {r.returncode}, expected {expect_rc}")
        return r
    check(r.returncode == 0, f"exit {r.returncode}: {r.stderr}")
    rep = json.loads(r.stdout)
    log(f"count {rep['count']} total {rep['total'] / 1e9:.3f} s rps {rep['rps']:.0f} "
        f"codes {rep['statusCodeDistribution']} errors {rep['errorDistribution']}")
    return rep


def want_type(obj, key, types, where):
    check(key in obj, f"{where}: no {key!r}")
    v = obj[key]
    check(isinstance(v, types) and not isinstance(v, bool) or types is bool and
          isinstance(v, bool), f"{where}.{key}: {type(v).__name__} {v!r}")


def check_ghz_fields(rep):
    """ghz's runner.Report fields and types (runner/reporter.go): durations in integer ns."""
    for k in ("count", "total", "average", "fastest", "slowest"):
        want_type(rep, k, int, "report")
    want_type(rep, "rps", (int, float), "report")
    want_type(rep, "date", str, "report")
    for k in ("options", "statusCodeDistribution", "errorDistribution"):
        want_type(rep, k, dict, "report")
    for k in ("latencyDistribution", "histogram", "details"):
        check(k in rep, f"report: no {k!r}")
    opts = rep["options"]
    for k in ("host", "call"):
        want_type(opts, k, str, "options")
    for k in ("insecure", "binary"):
        want_type(opts, k, bool, "options")
    for k in ("CPUs", "concurrency", "connections", "timeout", "dial-timeout"):
        want_type(opts, k, int, "options")
    ok = rep["statusCodeDistribution"].get("OK", 0)
    if ok:
        check([d["percentage"] for d in rep["latencyDistribution"]] == [10, 25, 50, 75, 90, 95, 99],
              f"latencyDistribution {rep['latencyDistribution']}")
        for d in rep["latencyDistribution"]:
            want_type(d, "latency", int, "latencyDistribution[]")
        for b in rep["histogram"]:
            want_type(b, "mark", (int, float), "histogram[]")
            want_type(b, "count", int, "histogram[]")
            want_type(b, "frequency", (int, float), "histogram[]")
        check(sum(b["count"] for b in rep["histogram"]) == ok,
              "the histogram does not hold every OK call")
        check(rep["fastest"] <= rep["average"] <= rep["slowest"], "fastest <= average <= slowest")
    check(sum(rep["statusCodeDistribution"].values()) == rep["count"],
          f"status codes {rep['statusCodeDistribution']} do not add up to {rep['count']}")
    check(sum(rep["errorDistribution"].values()) == rep["count"] - ok,
          f"errors {rep['errorDistribution']} do not add up to the failed calls")


def case_unary(args):
    n = 3000
    with Server(args.server, "--shards", "1") as srv:
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "-d", '{"name":"world"}',
                   "-n", str(n), "-c", "4", "-m", "8")
        check_ghz_fields(rep)
        check(rep["count"] == n, f"count {rep['count']} != {n}")
        check(rep["statusCodeDistribution"] == {"OK": n}, f"{rep['statusCodeDistribution']}")
        check(rep["errorDistribution"] == {}, f"{rep['errorDistribution']}")
        check(rep["rps"] > 0 and rep["total"] > 0, "rps and total above 0")
        check(abs(rep["rps"] - n / (rep["total"] / 1e9)) < 1e-6 * rep["rps"], "rps = count/total")
        opts = rep["options"]
        check(opts["connections"] == 4 and opts["concurrency"] == 32 and opts["total"] == n and
              opts["insecure"] is True and opts["call"] == HELLO and
              opts["data"] == {"name": "world"}, f"options {opts}")
        res = srv.stop()
        check(res.total("connections") == 4, f"4 connections expected: {res.stats}")
        # n SayHello, 4 health checks and one reflection stream.
        check(res.total("ok") >= n, f"server ok {res.total('ok')} < {n}")


def case_shards(args):
    n = 4000
    with Server(args.server, "--shards", "2") as srv:
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "-n", str(n), "-c", "4",
                   "-m", "4", "--cpus", "2")
        check(rep["count"] == n and rep["statusCodeDistribution"] == {"OK": n}, f"{rep}")
        check(rep["options"]["CPUs"] == 2, f"options {rep['options']}")
        res = srv.stop()
        check(res.total("connections") == 4, f"4 connections expected: {res.stats}")


def case_rps(args):
    with Server(args.server, "--shards", "1") as srv:
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "--rps", "200", "-z", "1s",
                   "-c", "2")
        check(170 <= rep["count"] <= 230, f"--rps 200 -z 1s made {rep['count']} calls")
        check(rep["statusCodeDistribution"].get("OK", 0) >= 170, f"{rep}")
        check(0.9e9 <= rep["total"] <= 2e9, f"total {rep['total']} ns")
        check(rep["options"]["qps"] == 200, f"options {rep['options']}")
        # The schedule, not the server, sets the pace: 100 calls at 200/s take ~0.5 s.
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "--rps", "200", "-n", "100",
                   "--cpus", "2", "-c", "2")
        check(rep["count"] == 100 and rep["statusCodeDistribution"] == {"OK": 100}, f"{rep}")
        check(0.4e9 <= rep["total"] <= 1.5e9, f"100 calls at 200/s took {rep['total']} ns")


def case_duration(args):
    with Server(args.server, "--shards", "1") as srv:
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "-z", "1s", "-c", "2",
                   "-m", "4")
        check_ghz_fields(rep)
        check(rep["count"] > 100, f"only {rep['count']} calls in 1 s")
        check(set(rep["statusCodeDistribution"]) <= {"OK", "Canceled"},
              f"{rep['statusCodeDistribution']}")
        check(0.9e9 <= rep["total"] <= 2e9, f"total {rep['total']} ns")
        check(rep["options"]["duration"] == 1000000000, f"options {rep['options']}")
        rep = load(args, srv.target, "--insecure", "--call", HELLO, "-z", "500ms",
                   "--duration-stop", "wait")
        check(rep["statusCodeDistribution"].keys() == {"OK"}, f"{rep['statusCodeDistribution']}")
        # SIGINT ends a long run early, with the report of what was done (as ghz).
        for flags in ([], ["--rps", "500"]):
            cmd = [args.load, srv.target, "--insecure", "--call", HELLO, "-z", "60s", "-c", "2",
                   "--format", "json", *flags]
            log(" ".join(cmd), "(SIGINT after 1 s)")
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                time.sleep(1)
                t0 = time.monotonic()
                p.send_signal(signal.SIGINT)
                out, err = p.communicate(timeout=20)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
            log(f"exit {p.returncode} {time.monotonic() - t0:.2f} s after SIGINT; stderr: {err}")
            check(p.returncode == 0 and not harness.sanitizer_report(err), f"exit {p.returncode}")
            rep = json.loads(out)
            check(rep["count"] > 0 and rep["total"] < 10e9, f"count {rep['count']} total "
                  f"{rep['total']}")
            check(set(rep["statusCodeDistribution"]) <= {"OK", "Canceled"}, f"{rep}")


def protoset(args, d, proto):
    protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
    if not protoc:
        raise Skip("protoc (protobuf-compiler) not found")
    out = os.path.join(d, "set.pb")
    r = harness.run_cmd([protoc, f"-I{args.proto_dir}", "--include_imports",
                         f"--descriptor_set_out={out}", proto])
    check(r.returncode == 0, f"protoc: {r.stderr}")
    return out


def case_protoset(args):
    with tempfile.TemporaryDirectory(prefix="urpc-load-") as d, \
            Server(args.server, "--shards", "1") as srv:
        pb = protoset(args, d, "helloworld.proto")
        rep = load(args, srv.target, "--insecure", "--protoset", pb, "--call",
                   "helloworld.Greeter.SayHello", "-d", '[{"name":"a"},{"name":"bb"}]', "-n",
                   "500", "-c", "2")
        check(rep["count"] == 500 and rep["statusCodeDistribution"] == {"OK": 500}, f"{rep}")
        check(rep["options"]["protoset"] == pb, f"options {rep['options']}")
        raw = os.path.join(d, "req.bin")
        with open(raw, "wb") as f:
            f.write(harness.hello_request("world"))
        rep = load(args, srv.target, "--insecure", "-B", raw, "--call", HELLO, "-n", "300")
        check(rep["count"] == 300 and rep["statusCodeDistribution"] == {"OK": 300}, f"{rep}")
        check(rep["options"]["binary"] is True, f"options {rep['options']}")
        # Not in the set: refused before any call.
        r = load(args, srv.target, "--insecure", "--protoset", pb, "--call",
                 "grpc.testing.TestService/EmptyCall", "-n", "1", expect_rc=2)
        check(r.stderr.count("\n") == 1 and "not in --protoset" in r.stderr, r.stderr)


def case_errors(args):
    with Server(args.server, "--shards", "1") as srv:
        rep = load(args, srv.target, "--insecure", "--call", "grpc.testing.TestService/UnaryCall",
                   "-d", '{"responseStatus":{"code":5,"message":"nope"}}', "-n", "400", "-c",
                   "2")
        check_ghz_fields(rep)
        check(rep["count"] == 400, f"count {rep['count']}")
        check(rep["statusCodeDistribution"] == {"NotFound": 400}, f"{rep}")
        check(rep["errorDistribution"] == {"rpc error: code = NotFound desc = nope": 400}, f"{rep}")
        check(rep["latencyDistribution"] is None and rep["histogram"] is None, "no OK latencies")
        # Half and half: an array of two requests, used in turn.
        rep = load(args, srv.target, "--insecure", "--call", "grpc.testing.TestService/UnaryCall",
                   "-d", '[{}, {"responseStatus":{"code":8,"message":"busy"}}]', "-n", "400",
                   "--concurrency", "1")
        check(rep["statusCodeDistribution"] == {"OK": 200, "ResourceExhausted": 200}, f"{rep}")


def case_metadata(args):
    policy = {"name": "authz",
              "allow_rules": [{"name": "tagged",
                               "request": {"paths": ["*/SayHello"],
                                           "headers": [{"key": "x-load", "values": ["yes"]}]}}]}
    with tempfile.TemporaryDirectory(prefix="urpc-load-") as d:
        path = os.path.join(d, "policy.json")
        with open(path, "w") as f:
            json.dump(policy, f)
        pb = protoset(args, d, "helloworld.proto")  # reflection is refused by the policy too
        with Server(args.server, "--shards", "1", "--authz-policy", path) as srv:
            base = ["--insecure", "--protoset", pb, "--call", HELLO, "-n", "200"]
            rep = load(args, srv.target, *base, "-H", '{"X-Load":"yes"}')
            check(rep["statusCodeDistribution"] == {"OK": 200}, f"{rep}")
            check(rep["options"]["metadata"] == {"X-Load": "yes"}, f"options {rep['options']}")
            rep = load(args, srv.target, *base, "-H", '{"x-load":"no"}')
            check(rep["statusCodeDistribution"] == {"PermissionDenied": 200}, f"{rep}")
            (text, n), = rep["errorDistribution"].items()
            check(text.startswith("rpc error: code = PermissionDenied desc = ") and n == 200,
                  f"{rep['errorDistribution']}")


def case_tls(args):
    from pki import Pki
    pki = Pki()
    with Server(args.server, "--shards", "1", *pki.server_args()) as srv:
        rep = load(args, f"127.0.0.1:{srv.tls_port}", "--cacert", pki.path("ca.pem"), "--cname",
                   "localhost", "--call", HELLO, "-n", "500", "-c", "2", "-m", "4")
        check(rep["count"] == 500 and rep["statusCodeDistribution"] == {"OK": 500}, f"{rep}")
        check(rep["options"]["insecure"] is False and rep["options"]["cacert"], f"{rep['options']}")
        # A CA that did not sign it: refused at the start.
        r = load(args, f"127.0.0.1:{srv.tls_port}", "--cacert", pki.path("other.pem"), "--call",
                 HELLO, "-n", "1", expect_rc=2)
        check(r.stderr.count("\n") == 1 and "cannot connect" in r.stderr and not r.stdout,
              f"{r.stderr!r} {r.stdout!r}")
        # TLS (the default) against the plaintext port.
        r = load(args, srv.target, "--call", HELLO, "-n", "1", expect_rc=2)
        check(r.stderr.count("\n") == 1 and "--insecure" in r.stderr, r.stderr)



def case_setup_errors(args):
    with Server(args.server, "--shards", "1") as srv:
        cases = [
            (["--insecure", "--call", "helloworld.Greeter/SayGoodbye"], "unknown method"),
            (["--insecure", "--call", "nope.Service/X"], "unknown method"),
            (["--insecure", "--call", HELLO, "-d", '{"nom":"x"}'], "nom"),
            (["--insecure", "--call", HELLO, "-d", '{"name":'], "not JSON"),
            (["--insecure", "--call", HELLO, "-c", "0"], "-c '0'"),
            (["--insecure", "--call", HELLO, "--concurrency", "2", "-c", "3"], "below -c 3"),
            (["--insecure", "--call", HELLO, "-H", "[1]"], "-H"),
            (["--insecure", "--call", HELLO, "--protoset", "/nonexistent.pb"], "nonexistent"),
            (["--insecure"], "--call"),
        ]
        for flags, want in cases:
            r = load(args, srv.target, *flags, "-n", "1", expect_rc=2)
            check(r.stdout == "", f"stdout {r.stdout!r}")
            check(r.stderr.count("\n") == 1 and r.stderr.startswith("uringrpc-load: ") and
                  want in r.stderr, f"{flags}: stderr {r.stderr!r}, wanted {want!r}")
    r = load(args, f"127.0.0.1:{harness.closed_port()}", "--insecure", "--call", HELLO, "-n", "1",
             expect_rc=2)
    check(r.stderr.count("\n") == 1 and "cannot connect" in r.stderr, r.stderr)
    r = load(args, f"127.0.0.1:{harness.closed_port()}", "--insecure", "--binary-data", "/dev/null",
             "--call", HELLO, "-n", "1", expect_rc=2)
    check(r.stderr.count("\n") == 1 and "cannot connect" in r.stderr, r.stderr)
    # A listener that never speaks HTTP/2: --connect-timeout bounds the first contact (server
    # reflection gets twice that).
    with socket.socket() as mute, tempfile.TemporaryDirectory(prefix="urpc-load-") as d:
        mute.bind(("127.0.0.1", 0))
        mute.listen(64)
        target = f"127.0.0.1:{mute.getsockname()[1]}"
        pb = protoset(args, d, "helloworld.proto")
        for flags, bound in ((["--protoset", pb], 1), ([], 2)):
            t0 = time.monotonic()
            r = load(args, target, "--insecure", "--connect-timeout", "1s", "--call", HELLO,
                     "-n", "1", *flags, expect_rc=2)
            took = time.monotonic() - t0
            check(r.stderr.count("\n") == 1 and "cannot connect" in r.stderr and
                  ("in time" in r.stderr or "--connect-timeout" in r.stderr), r.stderr)
            check(bound - 0.1 <= took <= bound + 5, f"gave up after {took:.2f} s, not ~{bound} s")


def case_reflection_v1alpha(args):
    try:
        import grpc
        from concurrent import futures
        from google.protobuf import descriptor_pb2
    except ImportError:
        raise Skip("python3-grpcio / python3-protobuf missing")
    protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
    if not protoc:
        raise Skip("protoc (protobuf-compiler) not found")
    with tempfile.TemporaryDirectory(prefix="urpc-load-") as d:
        # v1alpha's reflection.proto under a name of its own (a grpc/ package would shadow grpc).
        shutil.copy(os.path.join(args.proto_dir, "grpc", "reflection", "v1alpha",
                                 "reflection.proto"), os.path.join(d, "refl_v1alpha.proto"))
        r = harness.run_cmd([protoc, f"-I{d}", f"--python_out={d}", "refl_v1alpha.proto"])
        check(r.returncode == 0, f"protoc: {r.stderr}")
        sys.path.insert(0, d)
        import refl_v1alpha_pb2 as pb
        fds = descriptor_pb2.FileDescriptorSet()
        with open(protoset(args, d, "grpc/testing/test.proto"), "rb") as f:
            fds.ParseFromString(f.read())
        files = {fd.name: fd.SerializeToString() for fd in fds.file}
        asked = []
        calls = []
        lock = threading.Lock()

        def reflection(requests, context):
            for req in requests:
                kind = req.WhichOneof("message_request")
                with lock:
                    asked.append((kind, getattr(req, kind)))
                out = pb.ServerReflectionResponse(original_request=req)
                if kind == "file_containing_symbol" and req.file_containing_symbol == \
                        "grpc.testing.TestService":
                    # The service's file alone: its imports must be asked for.
                    out.file_descriptor_response.file_descriptor_proto.append(
                        files["grpc/testing/test.proto"])
                elif kind == "file_by_filename" and req.file_by_filename in files:
                    out.file_descriptor_response.file_descriptor_proto.append(
                        files[req.file_by_filename])
                else:
                    out.error_response.error_code = grpc.StatusCode.NOT_FOUND.value[0]
                    out.error_response.error_message = "not found"
                yield out

        def empty_call(request, context):
            with lock:
                calls.append(request)
            return b""

        handlers = [
            grpc.method_handlers_generic_handler("grpc.reflection.v1alpha.ServerReflection", {
                "ServerReflectionInfo": grpc.stream_stream_rpc_method_handler(
                    reflection, request_deserializer=pb.ServerReflectionRequest.FromString,
                    response_serializer=pb.ServerReflectionResponse.SerializeToString)}),
            grpc.method_handlers_generic_handler("grpc.testing.TestService", {
                "EmptyCall": grpc.unary_unary_rpc_method_handler(empty_call)}),
        ]
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=handlers)
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            rep = load(args, f"127.0.0.1:{port}", "--insecure", "--call",
                       "grpc.testing.TestService/EmptyCall", "-d", "{}", "-n", "50", "-c", "2")
        finally:
            server.stop(grace=None)
        log(f"reflection requests: {asked}")
        check(rep["count"] == 50 and rep["statusCodeDistribution"] == {"OK": 50}, f"{rep}")
        check(len(calls) == 50, f"the handler saw {len(calls)} calls")
        check(asked[0] == ("file_containing_symbol", "grpc.testing.TestService"), f"{asked}")
        deps = sorted(v for k, v in asked if k == "file_by_filename")
        check(deps == ["grpc/testing/empty.proto", "grpc/testing/messages.proto"],
              f"dependencies asked for: {deps}")
        # No reflection at all: JSON needs descriptors (one line, exit 2); raw bytes go out
        # unchecked, with a note.
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), handlers=handlers[1:])
        port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        try:
            r = load(args, f"127.0.0.1:{port}", "--insecure", "--call",
                     "grpc.testing.TestService/EmptyCall", "-d", "{}", "-n", "5", expect_rc=2)
            check(r.stderr.count("\n") == 1 and "no reflection" in r.stderr and
                  "--protoset" in r.stderr, r.stderr)
            rep = load(args, f"127.0.0.1:{port}", "--insecure", "--call",
                       "grpc.testing.TestService/EmptyCall", "--binary-data", "/dev/null", "-n",
                       "20")
            check(rep["statusCodeDistribution"] == {"OK": 20}, f"{rep}")
        finally:
            server.stop(grace=None)


if __name__ == "__main__":
    def extra(p):
        p.add_argument("--load", required=True, help="the uringrpc-load binary")
    harness.run_cases({"unary": case_unary, "shards": case_shards, "rps": case_rps,
                       "duration": case_duration, "protoset": case_protoset,
                       "errors": case_errors, "metadata": case_metadata, "tls": case_tls,
                       "setup_errors": case_setup_errors,
                       "reflection_v1alpha": case_reflection_v1alpha}, harness.parse_args(extra))
