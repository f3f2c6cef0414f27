#!/usr/bin/python3
"""The access log of uringrpc-server (--access-log PATH|-, --access-log-sample N) with real
clients: python3-grpcio, and python3-h2 (h2raw.py) for header bytes grpcio refuses to send.
Every line is parsed with json.loads (from strictly decoded UTF-8) and checked against the
calls made.

  fields        OK unary calls with a custom user agent, NOT_FOUND (Health/Check of an unknown
                service), UNIMPLEMENTED (an unknown method, and one with a 1000-byte path),
                DEADLINE_EXCEEDED (a client stream left open past its deadline: from grpcio,
                where the client's own reset may win the race and make it CANCELLED, and over
                raw HTTP/2 with grpc-timeout, which must be DEADLINE_EXCEEDED), a call the
                client cancels, a server stream of 3 messages, and a raw HTTP/2 call whose
                user-agent holds quotes, a backslash, a tab, bytes that are not UTF-8 and 400
                more bytes: one line each with the documented keys in order, the right method,
                status, code, messages and bytes, peer 127.0.0.1:<the client's port>,
                authority, a start time and duration that fit the call, cancelled, trace_id
                null (no tracing), strings cut at 256 bytes; uringrpc_access_log_lines_total
                matches and nothing is dropped
  refused       a call the authorization policy denies (PERMISSION_DENIED) is logged too
  reopen        logrotate's way: calls, rename the file, SIGHUP, more calls, while another
                client calls all along: the renamed file keeps the earlier lines, the new one
                (mode 0640 less the umask) gets the later ones, and no call's line is lost or
                doubled
  trace         with --trace: trace_id is the client's traceparent trace id; a call without
                one, or with a bad one, gets a fresh 32-hex-digit id
  sample        --access-log-sample 10 on one shard: 100 OK calls give 10 lines (each shard
                logs its 1st, 11th, ... OK call), and every failed call is logged
  stdout        --access-log -: the lines go to standard output, after the startup line and
                before the exit stats
  write_errors  --access-log /dev/full: every write fails (ENOSPC), calls are all served, the
                lost lines and failed writes are counted on /metrics, one stderr line says so
  bad_flags     --access-log-sample 0 / without --access-log / --access-log '' and a
                directory that does not exist exit 2, each with one line naming the problem

Only processes this test started are signalled, by PID; temporary directories are removed.
"""
import datetime
import json
import os
import re
import signal
import stat
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import ADMIN, Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None
try:
    import h2raw
except ImportError:  # pragma: no cover - python3-h2 missing
    h2raw = None

KEYS = ["time", "peer", "spiffe_id", "authority", "method", "status", "code", "duration_us",
        "bytes_in", "bytes_out", "msgs_in", "msgs_out", "trace_id", "user_agent", "cancelled"]
CODES = {0: "OK", 1: "CANCELLED", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND", 7: "PERMISSION_DENIED",
         12: "UNIMPLEMENTED"}
HELLO = "/helloworld.Greeter/SayHello"
PEER_RE = re.compile(r"127\.0\.0\.1:(\d+)")
TID = "0af7651916cd43dd8448eb211c80319c"
RPC_TIMEOUT = 10


def parse_lines(data, what):
    """Each line of `data` (bytes) as a dict, checking what every line must be."""
    check(data.endswith(b"\n") or not data, f"{what}: the last line is not complete")
    out = []
    for raw in data.split(b"\n")[:-1]:
        try:
            obj = json.loads(raw.decode("utf-8", errors="strict"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TestFailure(f"{what}: not a JSON line in UTF-8 ({e}): {raw!r}")
        check(list(obj) == KEYS, f"{what}: keys {list(obj)}, expected {KEYS}")
        check(CODES.get(obj["status"], obj["code"]) == obj["code"], f"code of {obj}")
        for k in ("duration_us", "bytes_in", "bytes_out", "msgs_in", "msgs_out"):
            check(isinstance(obj[k], int) and obj[k] >= 0, f"{k} of {obj}")
        check(isinstance(obj["cancelled"], bool), f"cancelled of {obj}")
        out.append(obj)
    return out


def read_log(path):
    with open(path, "rb") as f:
        return parse_lines(f.read(), path)


def wait_lines(path, n, timeout=10.0):
    """The lines of `path` once it holds at least `n` (the writer flushes every 100 ms)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        if data.count(b"\n") >= n or time.monotonic() > deadline:
            return parse_lines(data, path)
        time.sleep(0.05)


def start_time(obj):
    check(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", obj["time"]), f"time {obj}")
    t = datetime.datetime.strptime(obj["time"], "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def channel(target, user_agent=None):
    opts = [("grpc.primary_user_agent", user_agent)] if user_agent else []
    return grpc.insecure_channel(target, options=opts)


def hello(ch, st):
    return ch.unary_unary(HELLO, request_serializer=st.hw.HelloRequest.SerializeToString,
                          response_deserializer=st.hw.HelloReply.FromString)


def expect_code(fn, code, what):
    try:
        fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"{what}: {e.code()}, expected {code}")
        return
    raise TestFailure(f"{what} succeeded, expected {code}")


def setup(args):
    if grpc is None:
        raise Skip("python3-grpcio is not installed")
    return harness.Stubs(args.proto_dir)


def by_method(lines):
    out = {}
    for l in lines:
        out.setdefault(l["method"], []).append(l)
    return out


# ---- cases -------------------------------------------------------------------------------

def case_fields(args):
    st = setup(args)
    if h2raw is None:
        raise Skip("python3-h2 is not installed")
    with tempfile.TemporaryDirectory(prefix="urpc-alog-") as d:
        path = os.path.join(d, "access.log")
        with Server(args.server, "--shards", "2", "--access-log", path, *ADMIN) as srv:
            t0 = time.time()
            ua = "it-client/1.0"
            with channel(srv.target, ua) as ch:
                for i in range(3):
                    r = hello(ch, st)(st.hw.HelloRequest(name=f"n{i}"), timeout=RPC_TIMEOUT)
                    check(r.message == f"Hello n{i}", f"reply {r.message!r}")
                health = st.health_grpc.HealthStub(ch)
                expect_code(lambda: health.Check(st.health.HealthCheckRequest(service="nope"),
                                                 timeout=RPC_TIMEOUT),
                            grpc.StatusCode.NOT_FOUND, "Health/Check of an unknown service")
                expect_code(lambda: ch.unary_unary("/helloworld.Greeter/Nope")(
                    b"", timeout=RPC_TIMEOUT), grpc.StatusCode.UNIMPLEMENTED, "unknown method")
                long_path = "/" + "L" * 999
                expect_code(lambda: ch.unary_unary(long_path)(b"", timeout=RPC_TIMEOUT),
                            grpc.StatusCode.UNIMPLEMENTED, "a 1000-byte path")
                demo = st.demo_grpc.DemoStub(ch)

                # DEADLINE_EXCEEDED: a client stream that never half-closes
                release = threading.Event()

                def one_then_wait():
                    yield st.hw.HelloRequest(name="x")
                    release.wait(RPC_TIMEOUT)

                td = time.monotonic()
                expect_code(lambda: demo.CountSlowly(one_then_wait(), timeout=0.3),
                            grpc.StatusCode.DEADLINE_EXCEEDED, "CountSlowly past its deadline")
                deadline_wall = time.monotonic() - td
                release.set()

                # CANCELLED by the client, once the server has the call
                release2 = threading.Event()

                def one_then_wait2():
                    yield st.hw.HelloRequest(name="y")
                    release2.wait(RPC_TIMEOUT)

                fut = demo.CountSlowly.future(one_then_wait2(), timeout=RPC_TIMEOUT)
                time.sleep(0.3)
                fut.cancel()
                release2.set()
                check(fut.cancelled(), "the client call was not cancelled")

                # a server stream of 3 messages of 16 KiB
                got = list(demo.StreamFromWorker(st.hw.HelloRequest(name="3"),
                                                 timeout=RPC_TIMEOUT))
                check(len(got) == 3, f"{len(got)} stream messages")

            # hostile user-agent bytes over raw HTTP/2 (grpcio only sends printable ASCII)
            hostile = b'q"u\\o\tt{},"status":0,\x80\xc3\x28\xff\xf0\x9f\x98' + b"A" * 400
            with h2raw.Client(srv.port) as c:
                raw_port = c.sock.getsockname()[1]
                sid = c.unary(HELLO, harness.hello_request("raw"), extra=[("user-agent", hostile)])
                s = c.wait(sid)
                check(s.grpc_status == 0, f"raw call: {s.describe()}")
                # the server's deadline, with no client timer to race it
                sid = c.headers("/urpc.example.Demo/CountSlowly", extra=[("grpc-timeout", "300m")])
                c.data(sid, harness.grpc_frame(harness.hello_request("z")))
                s = c.wait(sid)
                check(s.grpc_status == 4, f"raw call past its deadline: {s.describe()}")
            t1 = time.time()

            n_calls = 3 + 3 + 2 + 1 + 2
            lines = wait_lines(path, n_calls)
            m = srv.wait_metrics(
                lambda m: m.get("uringrpc_access_log_lines_total") >= n_calls)
            m.expect("uringrpc_access_log_lines_total", n_calls)
            m.expect("uringrpc_access_log_dropped_total", 0)
            m.expect("uringrpc_access_log_write_errors_total", 0)
            srv.stop()
        lines = read_log(path)
        check(len(lines) == n_calls, f"{len(lines)} lines, expected {n_calls}: {lines}")
        log(f"{len(lines)} lines, e.g. {json.dumps(lines[0])}")
        auth = f"127.0.0.1:{srv.port}"
        ports = set()
        for l in lines:
            check(t0 - 1 <= start_time(l) <= t1 + 1, f"start time outside the test: {l}")
            check(l["duration_us"] < (t1 - t0 + 1) * 1e6, f"duration {l}")
            m_ = PEER_RE.fullmatch(l["peer"] or "")
            check(m_ and int(m_.group(1)) != srv.port, f"peer {l['peer']!r}")
            ports.add(int(m_.group(1)))
            check(l["trace_id"] is None and l["spiffe_id"] is None, f"trace_id/spiffe_id {l}")
            check(l["authority"] in (auth, "127.0.0.1"), f"authority {l}")
        bm = by_method(lines)
        grpcio_lines = [l for l in lines if l["peer"] != f"127.0.0.1:{raw_port}"]
        check(len(grpcio_lines) == n_calls - 2, f"the raw calls' peer port {raw_port}: {lines}")
        check(len({l["peer"] for l in grpcio_lines}) == 1, "grpcio's calls share one connection")
        for l in grpcio_lines:
            check(l["user_agent"].startswith(ua + " grpc-python/"), f"user agent {l}")
            check(l["authority"] == auth, f"authority {l}")

        oks = [l for l in bm[HELLO] if l["peer"] != f"127.0.0.1:{raw_port}"]
        check(len(oks) == 3, f"SayHello lines {bm[HELLO]}")
        for l in oks:
            check((l["status"], l["code"], l["cancelled"]) == (0, "OK", False), f"OK call {l}")
            check(l["msgs_in"] == 1 and l["msgs_out"] == 1, f"messages {l}")
            check(l["bytes_in"] == 5 + 4 and l["bytes_out"] == 5 + 10, f"bytes {l}")

        (hc,) = bm["/grpc.health.v1.Health/Check"]
        check((hc["status"], hc["code"]) == (5, "NOT_FOUND") and hc["bytes_in"] > 0, f"{hc}")
        (un,) = bm["/helloworld.Greeter/Nope"]
        check((un["status"], un["code"]) == (12, "UNIMPLEMENTED"), f"{un}")
        (lp,) = [l for l in lines if l["method"].startswith("/LLL")]
        check(lp["method"] == long_path[:256], f"a 1000-byte path cut at 256: {len(lp['method'])}")
        check(lp["code"] == "UNIMPLEMENTED", f"{lp}")

        slow = sorted(bm["/urpc.example.Demo/CountSlowly"], key=start_time)
        check(len(slow) == 3, f"CountSlowly lines {slow}")
        dl, cancel, raw_dl = slow
        check(dl["code"] in ("DEADLINE_EXCEEDED", "CANCELLED") and dl["cancelled"]
              and dl["msgs_out"] == 0, f"grpcio's call past its deadline {dl}")
        check(250000 <= dl["duration_us"] <= deadline_wall * 1e6 + 500000,
              f"a 300 ms deadline, {deadline_wall:.3f} s on the client: {dl}")
        check(cancel["code"] == "CANCELLED" and cancel["cancelled"] and cancel["msgs_in"] <= 1
              and cancel["msgs_out"] == 0, f"cancelled call {cancel}")
        check(cancel["duration_us"] >= 200000, f"cancelled after 0.3 s: {cancel}")
        check(raw_dl["code"] == "DEADLINE_EXCEEDED" and raw_dl["status"] == 4
              and raw_dl["cancelled"] and raw_dl["msgs_in"] == 1 and raw_dl["bytes_in"] == 8
              and 250000 <= raw_dl["duration_us"] < 5000000, f"raw call past its deadline {raw_dl}")

        (ss,) = bm["/urpc.example.Demo/StreamFromWorker"]
        check((ss["code"], ss["msgs_in"], ss["msgs_out"]) == ("OK", 1, 3), f"stream {ss}")
        check(ss["bytes_out"] >= 3 * 16384, f"stream bytes {ss}")

        (raw,) = [l for l in lines if l["peer"] == f"127.0.0.1:{raw_port}" and l["method"] == HELLO]
        want_ua = (hostile[:256].decode("utf-8", errors="replace"))
        check(raw["user_agent"] == want_ua,
              f"hostile user agent: {raw['user_agent']!r}, expected {want_ua!r}")
        check(raw["status"] == 0 and raw["method"] == HELLO, f"raw call {raw}")
        check(raw["authority"] == "127.0.0.1", f"raw call's authority {raw}")


def case_refused(args):
    st = setup(args)
    with tempfile.TemporaryDirectory(prefix="urpc-alog-") as d:
        path, policy = os.path.join(d, "access.log"), os.path.join(d, "policy.json")
        with open(policy, "w") as f:
            json.dump({"name": "p", "allow_rules": [{"name": "all"}], "deny_rules": [
                {"name": "no_hello", "request": {"paths": [HELLO]}}]}, f)
        with Server(args.server, "--access-log", path, "--authz-policy", policy) as srv:
            with channel(srv.target) as ch:
                expect_code(lambda: hello(ch, st)(st.hw.HelloRequest(name="x"),
                                                  timeout=RPC_TIMEOUT),
                            grpc.StatusCode.PERMISSION_DENIED, "a denied call")
                health = st.health_grpc.HealthStub(ch)
                health.Check(st.health.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
            srv.stop()
        lines = read_log(path)
        codes = sorted((l["method"], l["code"]) for l in lines)
        check(codes == [("/grpc.health.v1.Health/Check", "OK"), (HELLO, "PERMISSION_DENIED")],
              f"lines {lines}")


class Caller(threading.Thread):
    """Calls SayHello on its own channel until stopped; counts the calls that succeeded."""

    def __init__(self, st, target, user_agent):
        super().__init__(daemon=True)
        self.st, self.target, self.ua = st, target, user_agent
        self.ok = 0
        self.errors = []
        self.stop_ = threading.Event()

    def run(self):
        with channel(self.target, self.ua) as ch:
            fn = hello(ch, self.st)
            while not self.stop_.is_set():
                try:
                    fn(self.st.hw.HelloRequest(name="bg"), timeout=RPC_TIMEOUT)
                    self.ok += 1
                except grpc.RpcError as e:
                    self.errors.append(e.code())
                time.sleep(0.002)

    def finish(self):
        self.stop_.set()
        self.join(RPC_TIMEOUT + 5)
        check(not self.is_alive(), "the background caller did not stop")
        check(not self.errors, f"background calls failed: {self.errors[:5]}")


def calls(st, target, ua, n):
    with channel(target, ua) as ch:
        fn = hello(ch, st)
        for i in range(n):
            fn(st.hw.HelloRequest(name=f"{ua}{i}"), timeout=RPC_TIMEOUT)


def phase(l):
    return l["user_agent"].split(" ", 1)[0]


def case_reopen(args):
    st = setup(args)
    with tempfile.TemporaryDirectory(prefix="urpc-alog-") as d:
        path, old = os.path.join(d, "access.log"), os.path.join(d, "access.log.1")
        with Server(args.server, "--shards", "2", "--access-log", path) as srv:
            calls(st, srv.target, "phase-a", 20)
            check(len(wait_lines(path, 20)) == 20, "phase a's lines did not arrive")
            bg = Caller(st, srv.target, "phase-bg")
            bg.start()
            try:
                time.sleep(0.3)
                os.rename(path, old)
                os.kill(srv.proc.pid, signal.SIGHUP)
                deadline = time.monotonic() + 10
                while not os.path.exists(path):
                    check(time.monotonic() < deadline, "no new file 10 s after SIGHUP")
                    time.sleep(0.01)
                calls(st, srv.target, "phase-b", 20)
                time.sleep(0.3)
            finally:
                bg.finish()
            check(srv.alive(), "the server died on SIGHUP")
            srv.stop()
        umask = os.umask(0)
        os.umask(umask)
        mode = stat.S_IMODE(os.stat(path).st_mode)
        check(mode == 0o640 & ~umask, f"new file mode {mode:o}, expected {0o640 & ~umask:o}")
        before, after = read_log(old), read_log(path)
        pb, pa = [phase(l) for l in before], [phase(l) for l in after]
        log(f"renamed file: {len(before)} lines, new file: {len(after)}; background calls "
            f"{bg.ok}")
        check(pb.count("phase-a") == 20 and "phase-b" not in pb, f"renamed file: {pb}")
        check(pa.count("phase-b") == 20 and "phase-a" not in pa, f"new file: {pa}")
        n_bg = pb.count("phase-bg") + pa.count("phase-bg")
        check(n_bg == bg.ok, f"background: {bg.ok} calls, {n_bg} lines")
        check(pb.count("phase-bg") > 0 and pa.count("phase-bg") > 0,
              f"background lines in both files: {pb.count('phase-bg')}, {pa.count('phase-bg')}")
        check(len(before) + len(after) == 40 + bg.ok, "other lines")


def case_trace(args):
    st = setup(args)
    with tempfile.TemporaryDirectory(prefix="urpc-alog-") as d:
        path = os.path.join(d, "access.log")
        with Server(args.server, "--trace", "--access-log", path) as srv:
            with channel(srv.target) as ch:
                fn = hello(ch, st)
                fn(st.hw.HelloRequest(name="p"), timeout=RPC_TIMEOUT,
                   metadata=[("traceparent", f"00-{TID}-b7ad6b7169203331-01")])
                fn(st.hw.HelloRequest(name="none"), timeout=RPC_TIMEOUT)
                fn(st.hw.HelloRequest(name="bad"), timeout=RPC_TIMEOUT,
                   metadata=[("traceparent", f"00-{'0' * 32}-b7ad6b7169203331-01")])
                fn(st.hw.HelloRequest(name="p2"), timeout=RPC_TIMEOUT,
                   metadata=[("traceparent", f"00-{TID}-00f067aa0ba902b7-00")])
            srv.stop()
        ids = [l["trace_id"] for l in read_log(path)]
        check(len(ids) == 4, f"{len(ids)} lines")
        check(ids[0] == TID and ids[3] == TID, f"the client's trace id: {ids}")
        for i in ids[1:3]:
            check(re.fullmatch(r"[0-9a-f]{32}", i) and i != TID and i != "0" * 32,
                  f"a new trace id: {ids}")
        check(ids[1] != ids[2], f"two new traces, one id: {ids}")


def case_sample(args):
    st = setup(args)
    with tempfile.TemporaryDirectory(prefix="urpc-alog-") as d:
        path = os.path.join(d, "access.log")
        with Server(args.server, "--shards", "1", "--access-log", path,
                    "--access-log-sample", "10", *ADMIN) as srv:
            with channel(srv.target) as ch:
                fn = hello(ch, st)
                nope = ch.unary_unary("/helloworld.Greeter/Nope")
                for i in range(100):
                    fn(st.hw.HelloRequest(name=f"s{i}"), timeout=RPC_TIMEOUT)
                    if i % 20 == 0:
                        expect_code(lambda: nope(b"", timeout=RPC_TIMEOUT),
                                    grpc.StatusCode.UNIMPLEMENTED, "unknown method")
            lines = wait_lines(path, 15)
            srv.metrics().expect("uringrpc_access_log_lines_total", 15)
            srv.stop()
        lines = read_log(path)
        codes = [l["code"] for l in lines]
        check(codes.count("OK") == 10, f"{codes.count('OK')} OK lines of 100 calls, expected 10")
        check(codes.count("UNIMPLEMENTED") == 5, f"failed calls logged: {codes}")
        check(len(codes) == 15, f"{codes}")


def case_stdout(args):
    st = setup(args)
    with Server(args.server, "--shards", "2", "--access-log", "-") as srv:
        calls(st, srv.target, "to-stdout", 5)
        res = srv.stop(check_clean=False)
    check(res.rc == 0 and not harness.sanitizer_report(res.stderr), f"exit: {res}")
    check(len(res.stats) == srv.shards, f"stats lines: {res.stdout_lines}")
    n_json = len(res.stdout_lines) - len(res.stats)
    check(n_json == 5, f"{n_json} access log lines on stdout: {res.stdout_lines}")
    check(all(harness.STATS_RE.fullmatch(l) for l in res.stdout_lines[n_json:]),
          f"the stats lines come last: {res.stdout_lines}")
    lines = parse_lines("".join(l + "\n" for l in res.stdout_lines[:n_json]).encode(), "stdout")
    check(all(phase(l) == "to-stdout" and l["code"] == "OK" for l in lines), f"{lines}")


def case_write_errors(args):
    st = setup(args)
    if not os.path.exists("/dev/full"):
        raise Skip("no /dev/full")
    with Server(args.server, "--access-log", "/dev/full", *ADMIN) as srv:
        calls(st, srv.target, "full", 30)
        m = srv.wait_metrics(lambda m: m.get("uringrpc_access_log_dropped_total") >= 30)
        m.expect("uringrpc_access_log_dropped_total", 30)
        m.expect("uringrpc_access_log_lines_total", 0)
        errors = m.get("uringrpc_access_log_write_errors_total")
        check(1 <= errors <= 30, f"write errors {errors}")
        calls(st, srv.target, "full", 5)
        res = srv.stop()
    check(res.total("ok") == 35, f"calls served: {res.stats}")
    said = [l for l in res.stderr.splitlines() if "access log" in l]
    check(len(said) == 1 and "/dev/full" in said[0] and "No space left" in said[0],
          f"one stderr line for the run of failures: {said}")


def case_bad_flags(args):
    for flags, rc, want in (
            (["--access-log-sample", "0", "--access-log", "-"], 2, "--access-log-sample needs"),
            (["--access-log-sample", "x", "--access-log", "-"], 2, "--access-log-sample needs"),
            (["--access-log-sample", "3"], 2, "needs --access-log"),
            (["--access-log", ""], 2, "--access-log needs a file path"),
            (["--access-log", "/nonexistent-dir/a.log"], 2, "No such file or directory")):
        r = harness.run_cmd([args.server, "--listen", "127.0.0.1:0", *flags], timeout=20)
        lines = r.stderr.strip().splitlines()
        check(r.returncode == rc and len(lines) == 1 and want in lines[0]
              and "listening" not in r.stdout,
              f"{flags}: exit {r.returncode} (expected {rc}), stderr {r.stderr!r}")


if __name__ == "__main__":
    harness.run_cases({"fields": case_fields, "refused": case_refused, "reopen": case_reopen,
                       "trace": case_trace, "sample": case_sample, "stdout": case_stdout,
                       "write_errors": case_write_errors, "bad_flags": case_bad_flags},
                      harness.parse_args())
