#!/usr/bin/python3
"""uringrpc-interop-client (grpc's interop test client on uringrpc's client) against servers:
every case of grpc's doc/interop-test-descriptions.md it runs, each as its own client process,
which must exit 0 and print "<case>: passed".

  plaintext       uringrpc-server over h2c: the 18 cases one by one, then --test_case=all
  tls             uringrpc-server over TLS 1.3 (pki.py's CA; --use_tls --ca_file
                  --server_host_override localhost, the last two in the "--flag value" form)
  tls_wrong_ca    the same server verified against an unrelated CA: the client must refuse it
                  (exit 1, one line naming the case) — it never skips certificate checks
  flags           --help, an unknown flag or case, --use_test_ca without a CA: exit codes and
                  one line each
  python_server   a grpc.testing.TestService in Python (python3-grpcio, interop_py_server.py);
                  the client_compressed_* cases are left out: grpcio cannot tell a server
                  whether a request came compressed, so its probe cannot fail
  broken          the same Python server lying (a byte too many, an aggregate off by one,
                  altered echoes and status messages, an extra response, unimplemented methods
                  answered): every case a server can break must fail, exit 1 with one line
                  naming it. timeout_on_sleeping_server and cancel_after_begin are decided on
                  the client (its deadline, its cancel) and no server answer reliably breaks them
  broken_compression
                  the same Python server honest but for response compression, which it ignores
                  (never compresses) and then overdoes (compresses every response):
                  server_compressed_unary and server_compressed_streaming must fail on the
                  response's compressed flag, exit 1 with one line naming it
  ref_go_plaintext, ref_go_tls, ref_cpp_plaintext, ref_cpp_tls
                  grpc's own interop servers as tests/interop/build-ref-servers.sh OUTDIR builds
                  them (grpc-go 1.33, grpc C++ 1.51), from --ref-dir OUTDIR or
                  $URPC_INTEROP_REF_DIR; TLS with OUTDIR/testdata's server1.pem, verified with
                  its ca.pem (--use_test_ca --ca_file) as foo.test.google.fr. grpc-go 1.33's
                  server ignores expect_compressed and response_compressed: the four
                  compression cases are left out for it, as grpc's interop matrix does.
                  Skipped (77) without the servers, unless --ref-required /
                  $URPC_INTEROP_REF_REQUIRED=1 (tests/run.sh, which builds them into
                  build/interop-ref): then a missing server fails the case.
  ref_plaintext   any other reference server: --ref-server CMD or $URPC_INTEROP_REF_SERVER, a
  ref_tls         command with {port} and {tls} in it ("/x/interop_server --port={port}
                  --use_tls={tls}"); {port} is 0: the server must take it and listen on one
                  port, which is read from /proc; with TLS the client verifies with --ref-ca /
                  $URPC_INTEROP_REF_CA and the name --ref-host-override (default
                  foo.test.google.fr, server1.pem's). Cases it does not implement: --ref-skip
                  a,b / $URPC_INTEROP_REF_SKIP. Skipped (77) without one.

Every wait is bounded: each call has a deadline (--rpc-timeout-ms), each client process a
timeout, and the servers are stopped by their own PID.
"""
import os
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None

CASES = ("empty_unary", "large_unary", "client_streaming", "server_streaming", "ping_pong",
         "empty_stream", "timeout_on_sleeping_server", "cancel_after_begin",
         "cancel_after_first_response", "custom_metadata", "status_code_and_message",
         "special_status_message", "unimplemented_method", "unimplemented_service",
         "client_compressed_unary", "server_compressed_unary", "client_compressed_streaming",
         "server_compressed_streaming")
REQUEST_COMPRESSION_PROBES = ("client_compressed_unary", "client_compressed_streaming")
CLIENT_DECIDED = ("timeout_on_sleeping_server", "cancel_after_begin")
COMPRESSION = ("client_compressed_unary", "server_compressed_unary",
               "client_compressed_streaming", "server_compressed_streaming")
# build-ref-servers.sh's servers: binary name, and the cases each cannot take part in.
REF_SERVERS = {"go": ("go-interop-server", COMPRESSION), "cpp": ("cpp-interop-server", ())}
TEST_SERVER_NAME = "foo.test.google.fr"  # grpc's server1.pem is for *.test.google.fr


# ---- the client --------------------------------------------------------------------------

def client(args, port, case, extra=(), host="127.0.0.1"):
    """Runs the client once; returns the CompletedProcess."""
    cmd = [args.client, f"--server_host={host}", f"--server_port={port}",
           f"--test_case={case}", f"--rpc_timeout_ms={args.rpc_timeout_ms}", *extra]
    if harness.TEST_IO:
        cmd.append(f"--io={harness.TEST_IO}")
    # "all" runs 18 cases, each bounded by the deadline plus the wait's margin.
    n = len(CASES) if case == "all" else 1
    return harness.run_cmd(cmd, timeout=n * (args.rpc_timeout_ms / 1000 + 10) + 10)


def expect_pass(args, port, cases, extra=(), host="127.0.0.1"):
    """Every case passes: exit 0, "<case>: passed", nothing on stderr."""
    failed = []
    for case in cases:
        r = client(args, port, case, extra, host)
        ok = r.returncode == 0 and f"{case}: passed" in r.stdout.splitlines()
        log(f"{case}: rc={r.returncode} {(r.stdout + r.stderr).strip()}")
        if not ok:
            failed.append(f"{case} (rc={r.returncode}: {r.stderr.strip() or r.stdout.strip()})")
        elif r.stderr.strip():
            failed.append(f"{case} passed but wrote to stderr: {r.stderr.strip()!r}")
    check(not failed, f"{len(failed)} of {len(cases)} case(s) failed:\n  " + "\n  ".join(failed))


def expect_fail(args, port, case, extra=(), host="127.0.0.1"):
    """The case fails: exit 1 with exactly one line on stderr, naming it."""
    r = client(args, port, case, extra, host)
    lines = r.stderr.strip().splitlines()
    log(f"{case}: rc={r.returncode} {r.stderr.strip()}")
    check(r.returncode == 1, f"{case}: exit {r.returncode}, expected 1 (a failed case); "
                             f"stdout={r.stdout!r} stderr={r.stderr!r}")
    check(len(lines) == 1 and lines[0].startswith(f"{case}: "),
          f"{case}: expected one line '{case}: ...' on stderr, got {r.stderr!r}")
    return lines[0]


# ---- uringrpc-server ---------------------------------------------------------------------

def case_plaintext(args):
    with Server(args.server) as srv:
        expect_pass(args, srv.port, CASES)
        r = client(args, srv.port, "all")
        passed = [l for l in r.stdout.splitlines() if l.endswith(": passed")]
        check(r.returncode == 0 and len(passed) == len(CASES),
              f"--test_case=all: rc={r.returncode}, {len(passed)} passed of {len(CASES)}; "
              f"stderr={r.stderr!r}")
        srv.stop()  # exit 0, no call left live, no sanitizer report


def tls_flags(ca_file, name):
    # grpc's clients take both spellings; these use the separate-value one on purpose.
    return ["--use_tls", "true", "--ca_file", ca_file, "--server_host_override", name]


def case_tls(args):
    import pki
    p = pki.Pki()
    with Server(args.server, *p.server_args()) as srv:
        check(srv.tls_port, "no tls= in the startup line")
        expect_pass(args, srv.tls_port, CASES, tls_flags(p.path("ca.pem"), "localhost"))
        srv.stop()


def case_tls_wrong_ca(args):
    import pki
    p = pki.Pki()
    with Server(args.server, *p.server_args()) as srv:
        line = expect_fail(args, srv.tls_port, "empty_unary",
                           tls_flags(p.path("other.pem"), "localhost"))
        check("UNAVAILABLE" in line, f"expected an UNAVAILABLE call, got {line!r}")
        # And a name the certificate does not carry, with the right CA.
        line = expect_fail(args, srv.tls_port, "empty_unary",
                           tls_flags(p.path("ca.pem"), "not-this-server.example"))
        check("UNAVAILABLE" in line, f"expected an UNAVAILABLE call, got {line!r}")
        srv.stop()


def case_flags(args):
    def run(*flags):
        return harness.run_cmd([args.client, *flags], timeout=30)
    r = run("--help")
    check(r.returncode == 0 and "--server_port" in r.stdout, f"--help: {r}")
    for flags, what in ((("--server_port=1", "--test_case=empty_unary", "--bogus=1"), "unknown flag"),
                        (("--server_port=1", "--test_case=no_such_case"), "unknown --test_case"),
                        (("--test_case=empty_unary",), "required"),
                        (("--server_port=1", "--test_case=empty_unary", "--use_tls=maybe"),
                         "expected true or false"),
                        (("--server_port=1", "--test_case=empty_unary", "--use_test_ca"),
                         "--use_test_ca needs")):
        r = subprocess.run([args.client, *flags], capture_output=True, text=True, timeout=30,
                           env={k: v for k, v in os.environ.items() if k != "GRPC_TEST_CA_FILE"})
        check(r.returncode == 2 and what in r.stderr and len(r.stderr.strip().splitlines()) == 1,
              f"{' '.join(flags)}: rc={r.returncode}, expected 2 and one line with {what!r}; "
              f"stderr={r.stderr!r}")
    # Credentials flags are accepted and ignored (with a note), the case still runs.
    with Server(args.server) as srv:
        r = client(args, srv.port, "empty_unary", ["--default_service_account", "x@example.org",
                                                   "--oauth_scope=https://example.org/scope"])
        check(r.returncode == 0 and "ignored" in r.stderr, f"ignored flags: {r}")
        srv.stop()


# ---- the Python server -------------------------------------------------------------------

def python_server(args, lie, compression=None):
    if grpc is None:
        raise Skip("python3-grpcio is not installed for /usr/bin/python3")
    import test_interop
    from interop_py_server import PyInteropServer
    stubs = test_interop.InteropStubs(test_interop.find_proto_dir(args))
    return PyInteropServer(stubs, lie=lie, compression=compression)


def case_python_server(args):
    with python_server(args, lie=False) as srv:
        expect_pass(args, srv.port, [c for c in CASES if c not in REQUEST_COMPRESSION_PROBES])
        # What the left-out cases do against a server that cannot check: the probe fails.
        line = expect_fail(args, srv.port, "client_compressed_unary")
        check("expected INVALID_ARGUMENT" in line, f"unexpected failure: {line!r}")


def case_broken(args):
    with python_server(args, lie=True) as srv:
        for case in CASES:
            if case in CLIENT_DECIDED:
                continue
            expect_fail(args, srv.port, case)


def case_broken_compression(args):
    # "never": the first response asked compressed comes plain; "always": the first asked
    # plain comes compressed (server_compressed_unary's second call, _streaming's second message).
    for mode, got in (("never", "came uncompressed"), ("always", "came compressed")):
        with python_server(args, lie=False, compression=mode) as srv:
            for case in ("server_compressed_unary", "server_compressed_streaming"):
                line = expect_fail(args, srv.port, case)
                check(got in line and "compressed flag" in line,
                      f"{case} against a server that compresses {mode}: expected the compressed "
                      f"flag check to fail ({got!r}), got {line!r}")


# ---- reference servers -------------------------------------------------------------------

def listening_ports(pid):
    """The TCP ports process `pid` listens on (its sockets' inodes matched in /proc/net/tcp*)."""
    inodes = set()
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            next(f)
            for line in f:
                cols = line.split()
                if cols[3] == "0A" and cols[9] in inodes:  # LISTEN
                    ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class RefServer:
    """A reference interop server started from a command template with --port 0 (build-ref-
    servers.sh makes both listen on 127.0.0.1 and take 0); its port is the one /proc shows the
    process listening on. Stopped by its own PID."""

    def __init__(self, template, tls):
        self.port = None
        self.cmd = shlex.split(template.format(port=0, tls="true" if tls else "false"))
        self.proc = None

    def __enter__(self):
        log("starting:", " ".join(self.cmd))
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, preexec_fn=harness._die_with_parent)
        deadline = time.monotonic() + harness.START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace")
                raise TestFailure(f"{self.cmd[0]} exited with {self.proc.returncode}: {err}")
            ports = listening_ports(self.proc.pid)
            if ports:
                check(len(ports) == 1, f"{self.cmd[0]} listens on several ports: {ports}")
                self.port = ports.pop()
                log(f"{self.cmd[0]} (pid {self.proc.pid}) listens on port {self.port}")
                return self
            time.sleep(0.1)
        raise TestFailure(f"{self.cmd[0]} did not listen within {harness.START_TIMEOUT} s")

    def __exit__(self, *a):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)  # grpc C++'s stops on SIGINT, Go's on either
            # Go's exits at once; grpc C++'s looks at its SIGINT flag every 5 s. Its exit is not
            # what is under test, so after a second it is killed rather than waited for.
            try:
                self.proc.wait(timeout=1)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def ref_cases(args, skip_list):
    skip = {c for c in skip_list.split(",") if c}
    unknown = skip - set(CASES)
    check(not unknown, f"--ref-skip names unknown cases: {sorted(unknown)}")
    if skip:
        log(f"left out for this server: {', '.join(sorted(skip))}")
    return [c for c in CASES if c not in skip]


def missing(why, required):
    """A reference server or its CA is not there: a skip, or where it is required a failure."""
    if required:
        raise TestFailure(f"{why}; required here (--ref-required, $URPC_INTEROP_REF_REQUIRED): "
                          "did tests/interop/build-ref-servers.sh fail? (its output says why)")
    raise Skip(why)


def run_ref(args, template, tls, ca, host_override, skip_list, required=False):
    cases = ref_cases(args, skip_list)
    flags = []
    if tls:
        if not ca or not os.path.isfile(ca):
            missing(f"no CA for the reference server's certificate ({ca or 'none given'}): "
                    "grpc's src/core/tsi/test_creds/ca.pem", required)
        flags = ["--use_tls=true", "--use_test_ca=true", f"--ca_file={ca}",
                 f"--server_host_override={host_override}"]
    with RefServer(template, tls=tls) as srv:
        expect_pass(args, srv.port, cases, flags)


def generic_ref(args, tls):
    if not args.ref_server:
        raise Skip("no reference interop server: give --ref-server CMD or "
                   "$URPC_INTEROP_REF_SERVER")
    run_ref(args, args.ref_server, tls, args.ref_ca, args.ref_host_override, args.ref_skip)


def built_ref(args, which, tls):
    name, skip = REF_SERVERS[which]
    d = args.ref_dir
    binary = os.path.join(d, name) if d else None
    if not binary or not os.access(binary, os.X_OK):
        missing(f"no {name}{' in ' + d if d else ''}: give --ref-dir OUTDIR or "
                "$URPC_INTEROP_REF_DIR (tests/interop/build-ref-servers.sh OUTDIR builds it)",
                args.ref_required)
    td = os.path.join(d, "testdata")
    template = (f"{shlex.quote(binary)} --port={{port}} --use_tls={{tls}} "
                f"--tls_cert_file={shlex.quote(os.path.join(td, 'server1.pem'))} "
                f"--tls_key_file={shlex.quote(os.path.join(td, 'server1.key'))}")
    if skip:
        log(f"{name} does not implement: {', '.join(skip)} (left out)")
    run_ref(args, template, tls, os.path.join(td, "ca.pem"), TEST_SERVER_NAME, ",".join(skip),
            args.ref_required)


CASE_FNS = {
    "plaintext": case_plaintext,
    "tls": case_tls,
    "tls_wrong_ca": case_tls_wrong_ca,
    "flags": case_flags,
    "python_server": case_python_server,
    "broken": case_broken,
    "broken_compression": case_broken_compression,
    "ref_go_plaintext": lambda a: built_ref(a, "go", False),
    "ref_go_tls": lambda a: built_ref(a, "go", True),
    "ref_cpp_plaintext": lambda a: built_ref(a, "cpp", False),
    "ref_cpp_tls": lambda a: built_ref(a, "cpp", True),
    "ref_plaintext": lambda a: generic_ref(a, False),
    "ref_tls": lambda a: generic_ref(a, True),
}


def extra_args(p):
    p.add_argument("--client", required=True, help="the uringrpc-interop-client binary")
    p.add_argument("--rpc-timeout-ms", type=int, default=10000, help="each call's deadline")
    p.add_argument("--interop-proto-dir", help="directory with the grpc.testing protos "
                                               "(default: <proto-dir>/grpc/testing)")
    p.add_argument("--ref-dir", default=os.environ.get("URPC_INTEROP_REF_DIR", ""),
                   help="OUTDIR of tests/interop/build-ref-servers.sh")
    p.add_argument("--ref-required", action="store_true",
                   default=os.environ.get("URPC_INTEROP_REF_REQUIRED") == "1",
                   help="the ref_go_*/ref_cpp_* cases fail without their server, not skip")
    p.add_argument("--ref-server", default=os.environ.get("URPC_INTEROP_REF_SERVER", ""),
                   help="reference server command with {port} and {tls}")
    p.add_argument("--ref-ca", default=os.environ.get("URPC_INTEROP_REF_CA", ""),
                   help="CA of the reference server's certificate (grpc's test ca.pem)")
    p.add_argument("--ref-host-override", default=TEST_SERVER_NAME,
                   help="the name in the reference server's certificate")
    p.add_argument("--ref-skip", default=os.environ.get("URPC_INTEROP_REF_SKIP", ""),
                   help="comma-separated cases the reference server does not implement")


def main():
    args = harness.parse_args(extra_args)
    harness.run_cases({k: fn for k, fn in CASE_FNS.items()}, args)


if __name__ == "__main__":
    main()
