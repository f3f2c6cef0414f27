"""Shared helpers for the integration tests: arguments, protobuf stubs generated at test time,
and a server process started on port 0 and stopped by its own PID.

Every wait is bounded. Only the PID this module started is ever signalled. A failed check
raises TestFailure; a missing prerequisite raises Skip (exit code SKIP, CTest SKIP_RETURN_CODE).
"""
import argparse
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
import urllib.request

SKIP = 77  # the CTest SKIP_RETURN_CODE of every integration test

# The tests fork (every server is a subprocess, started with a preexec_fn). With grpcio's fork
# support on, its pthread_atfork handler waits for grpc's thread pool to go idle before each
# fork, and a pool still retrying refused TLS channels never does ("Waiting for thread pool to
# idle before forking", forever). The children exec at once and never touch grpc: off. The
# tests import this module before grpc, which reads the variable when it loads.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")

STARTUP_RE = re.compile(r"uringrpc-server listening on (?:127\.0\.0\.1|\[::1\]):(\d+) "
                        r"shards=(\d+) io=(uring|epoll)"
                        r"(?: tls=127\.0\.0\.1:(\d+))?(?: admin=127\.0\.0\.1:(\d+))?")
# URPC_TEST_IO=epoll (or uring): every server the tests start runs that backend (--io), unless
# a test names one itself; tests/run.sh runs the integration tests once more with epoll.
TEST_IO = os.environ.get("URPC_TEST_IO", "")
STATS_RE = re.compile(
    r"shard (\d+) connections=(\d+) calls=(\d+) ok=(\d+) failed=(\d+) cancelled=(\d+) "
    r"live=(\d+) bytes_in=(\d+) bytes_out=(\d+)")
STATS_KEYS = ("connections", "calls", "ok", "failed", "cancelled", "live", "bytes_in",
              "bytes_out")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer")

# Generous because the same tests run under ASan (about 3x slower) on a loaded 2-core box.
START_TIMEOUT = 20.0
STOP_TIMEOUT = 30.0


class TestFailure(Exception):
    pass


class Skip(Exception):
    pass


def check(cond, what):
    """Assert `cond`; `what` says what was expected (and what was seen)."""
    if not cond:
        raise TestFailure(what)


def log(*a):
    print(*a, flush=True)


def require(module, package):
    """Skips the case when `module` (None if its import failed) is missing."""
    if module is None:
        raise Skip(f"{package} is not installed for /usr/bin/python3 (Debian package)")


def rss_kib(pid):
    """VmRSS of a process, in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))


def sanitized(pid):
    """True for a server built with ASan or TSan: their shadow memory and quarantine count in
    RSS, and freed memory does not go back to the kernel, so an RSS bound says nothing about
    the server there."""
    with open(f"/proc/{pid}/maps") as f:
        return any("libasan" in line or "libtsan" in line for line in f)


def parse_args(extra=None):
    p = argparse.ArgumentParser()
    p.add_argument("--server", required=True, help="the uringrpc-server binary")
    p.add_argument("--proto-dir", help="the repository's proto/ directory")
    p.add_argument("--case", required=True)
    if extra:
        extra(p)
    return p.parse_args()


def run_cases(cases, args):
    """Runs cases[args.case](args); exit code 0 pass, 1 fail, SKIP skipped."""
    fn = cases.get(args.case)
    if fn is None:
        log(f"unknown case {args.case!r}; cases: {', '.join(sorted(cases))}")
        sys.exit(2)
    t0 = time.monotonic()
    try:
        fn(args)
    except Skip as e:
        log(f"SKIP {args.case}: {e}")
        sys.exit(SKIP)
    except TestFailure as e:
        log(f"FAIL {args.case}: {e}")
        sys.exit(1)
    except Exception:  # an unexpected exception is a failure too, with its traceback
        traceback.print_exc()
        log(f"FAIL {args.case}: unexpected exception")
        sys.exit(1)
    log(f"PASS {args.case} ({time.monotonic() - t0:.1f} s)")
    sys.exit(0)


# ---- protobuf stubs, generated at test time with Debian's protoc -------------------------

def generate_stubs(proto_dir, out_dir):
    """protoc + grpc_python_plugin into out_dir, which is put first on sys.path.

    health.proto is compiled from its own directory so that its module is the top-level
    `health_pb2`: a `grpc/health/v1/` package would shadow the installed `grpc` package.
    """
    protoc = shutil.which("protoc", path="/usr/bin:/usr/local/bin")
    plugin = "/usr/bin/grpc_python_plugin"
    if not protoc or not os.access(plugin, os.X_OK):
        raise Skip("protoc or /usr/bin/grpc_python_plugin missing (protobuf-compiler, "
                   "protobuf-compiler-grpc)")
    jobs = [
        (proto_dir, ["helloworld.proto", "example.proto", "ping.proto", "relay.proto"]),
        (os.path.join(proto_dir, "grpc", "health", "v1"), ["health.proto"]),
    ]
    for inc, files in jobs:
        cmd = [protoc, f"-I{inc}", f"--plugin=protoc-gen-grpc_python={plugin}",
               f"--python_out={out_dir}", f"--grpc_python_out={out_dir}", *files]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise TestFailure(f"protoc failed: {' '.join(cmd)}\n{r.stderr}")
    if out_dir not in sys.path:
        sys.path.insert(0, out_dir)


class Stubs:
    """Generated modules, imported from a private temporary directory."""

    def __init__(self, proto_dir):
        self._tmp = tempfile.TemporaryDirectory(prefix="urpc-stubs-")
        generate_stubs(proto_dir, self._tmp.name)
        import helloworld_pb2, helloworld_pb2_grpc, example_pb2_grpc  # noqa: E401
        import health_pb2, health_pb2_grpc  # noqa: E401
        import ping_pb2, ping_pb2_grpc  # noqa: E401
        import relay_pb2, relay_pb2_grpc  # noqa: E401
        self.relay = relay_pb2
        self.relay_grpc = relay_pb2_grpc
        self.ping = ping_pb2
        self.ping_grpc = ping_pb2_grpc
        self.hw = helloworld_pb2
        self.hw_grpc = helloworld_pb2_grpc
        self.demo_grpc = example_pb2_grpc
        self.health = health_pb2
        self.health_grpc = health_pb2_grpc


# ---- hand-made protobuf for the raw HTTP/2 tests (no generated code needed) --------------

def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def hello_request(name):
    """helloworld.HelloRequest{name} (field 1, length-delimited)."""
    b = name.encode() if isinstance(name, str) else name
    return b"\x0a" + varint(len(b)) + b if b else b""


def parse_string_field1(msg):
    """Field 1 (string) of a HelloReply-shaped message; None if absent or malformed."""
    i, out = 0, None
    while i < len(msg):
        key = msg[i]
        i += 1
        if key & 7 != 2:
            return None
        n, shift = 0, 0
        while True:
            if i >= len(msg):
                return None
            b = msg[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        if i + n > len(msg):
            return None
        if key >> 3 == 1:
            out = msg[i:i + n].decode()
        i += n
    return out


def grpc_frame(payload, compressed=False):
    """A gRPC Length-Prefixed-Message."""
    return bytes([1 if compressed else 0]) + len(payload).to_bytes(4, "big") + payload


# ---- the server process ------------------------------------------------------------------

class ServerResult:
    def __init__(self, rc, stdout_lines, stderr, stats):
        self.rc = rc
        self.stdout_lines = stdout_lines
        self.stderr = stderr
        self.stats = stats  # list of dicts, one per shard, in shard order

    def total(self, key):
        return sum(s[key] for s in self.stats)

    def __str__(self):
        return (f"rc={self.rc} stdout={self.stdout_lines!r} stats={self.stats!r}\n"
                f"stderr:\n{self.stderr}")


def _die_with_parent():
    """preexec_fn: the server gets SIGKILL if this test process dies first (e.g. CTest kills
    it on TIMEOUT), so no server outlives its test. Affects only the child being started."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_SET_PDEATHSIG = 1
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
    except Exception:
        pass


def sanitizer_report(text):
    return any(m in text for m in SANITIZER_MARKERS)


ADMIN = ("--admin-listen", "127.0.0.1:0")  # the flags that make Server.metrics() work
SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text format -> {(name, ((label, value), ...) sorted): float}."""
    out = {}
    for line in text.split("\n"):
        if not line or line.startswith("#"):
            continue
        m = SAMPLE_RE.fullmatch(line)
        if not m:
            raise TestFailure(f"not a sample line: {line!r}")
        labels = tuple(sorted(LABEL_RE.findall(m.group(2) or "")))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(port, timeout=10):
    """GET /metrics from an admin endpoint, parsed (parse_metrics)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=timeout) as r:
        check(r.status == 200, f"{url}: HTTP {r.status}")
        return parse_metrics(r.read().decode())


class Metrics:
    """One scrape of a server's admin endpoint."""

    def __init__(self, port):
        self.samples = scrape(port)

    def get(self, name, **labels):
        """The value of the series with exactly these labels (TestFailure if there is none)."""
        key = (name, tuple(sorted(labels.items())))
        if key not in self.samples:
            raise TestFailure(f"no series {name}{labels} in the scrape")
        return self.samples[key]

    def expect(self, name, want, **labels):
        got = self.get(name, **labels)
        check(got == want, f"{name}{labels} = {got:g}, expected {want}")

    def sum(self, name, **labels):
        """The sum of the series of `name` whose labels include these (others free), e.g.
        grpc_server_handled_total over its grpc_type and grpc_service. TestFailure if none
        matches: a misspelt name or label must not read as 0."""
        want = set(labels.items())
        vals = [v for (n, ls), v in self.samples.items() if n == name and want <= set(ls)]
        check(vals, f"no series {name}{labels} in the scrape")
        return sum(vals)


class Server:
    """A uringrpc-server on 127.0.0.1 (or `host` "[::1]") port 0. Use as a context manager: it
    is always stopped (SIGTERM, then SIGKILL after STOP_TIMEOUT) and only its own PID is
    signalled."""

    def __init__(self, binary, *flags, wrapper=(), env=None, host="127.0.0.1"):
        self.binary = binary
        self.host = host
        self.flags = list(flags)
        self.wrapper = list(wrapper)
        self.env = env
        self.proc = None
        self.port = None
        self.shards = None
        self.io = None
        self.admin_port = None
        self.result = None
        self._out = b""

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, et, ev, tb):
        if self.proc and self.result is None:
            try:
                self.stop(check_clean=False)
            except Exception as e:  # keep the original failure visible
                log(f"(while cleaning up) {e}")

    def start(self):
        io = ["--io", TEST_IO] if TEST_IO and "--io" not in self.flags else []
        cmd = self.wrapper + [self.binary, "--listen", f"{self.host}:0"] + io + self.flags
        log("starting:", " ".join(cmd))
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=self.env,
                                     preexec_fn=_die_with_parent)
        line = self._read_line(START_TIMEOUT)
        if line is None:
            rc = self.proc.poll()
            if rc is None:
                self._kill()
            err = self._drain_stderr()
            raise TestFailure(f"server printed no startup line within {START_TIMEOUT} s "
                              f"(rc={self.proc.returncode}); stderr:\n{err}")
        m = STARTUP_RE.fullmatch(line)
        if not m:
            self._kill()
            raise TestFailure(f"unexpected startup line {line!r}")
        self.port = int(m.group(1))
        self.shards = int(m.group(2))
        self.io = m.group(3)
        self.tls_port = int(m.group(4)) if m.group(4) else None
        self.admin_port = int(m.group(5)) if m.group(5) else None
        check(self.port > 0, f"port 0 in startup line {line!r}")
        if TEST_IO and "--io" not in self.flags:
            check(self.io == TEST_IO, f"URPC_TEST_IO={TEST_IO} but the server runs {self.io}")
        log(f"server pid {self.proc.pid} on port {self.port}, {self.shards} shard(s), "
            f"io={self.io}")
        return self

    @property
    def target(self):
        return f"{self.host}:{self.port}"

    def metrics(self):
        """A scrape of the admin endpoint (started with --admin-listen 127.0.0.1:0)."""
        check(self.admin_port, "the server was started without --admin-listen")
        return Metrics(self.admin_port)

    def wait_metrics(self, cond, timeout=5.0):
        """Scrapes until cond(Metrics) is true or `timeout` s have passed, and returns the last
        scrape for the caller's checks (which then fail with the values seen): the server counts
        some events (a close, a call's end) a moment after the client has seen them."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.metrics()
            if cond(m) or time.monotonic() > deadline:
                return m
            time.sleep(0.05)

    def alive(self):
        return self.proc.poll() is None

    def _read_line(self, timeout):
        """One line from stdout without blocking past `timeout`; None on EOF or timeout."""
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._out:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            r, _, _ = select.select([fd], [], [], left)
            if not r:
                return None
            chunk = os.read(fd, 4096)
            if not chunk:
                return None
            self._out += chunk
        line, self._out = self._out.split(b"\n", 1)
        return line.decode(errors="replace")

    def _drain_stderr(self):
        try:
            _, err = self.proc.communicate(timeout=5)
            return (err or b"").decode(errors="replace")
        except subprocess.TimeoutExpired:
            return "(stderr not drained)"

    def _kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, sig=signal.SIGTERM, check_clean=True):
        """Signals the server's own PID and collects exit code and per-shard stats.

        With check_clean: exit code 0, one stats line per shard and nothing else on stdout,
        no sanitizer report on stderr."""
        if self.proc.poll() is not None:
            raise TestFailure(f"server exited before it was stopped (rc={self.proc.returncode});"
                              f" stderr:\n{self._drain_stderr()}")
        os.kill(self.proc.pid, sig)
        return self.wait_exit(check_clean, what=signal.Signals(sig).name)

    def wait_exit(self, check_clean=True, timeout=STOP_TIMEOUT, what="its signal"):
        """Waits for a server that was told to stop (see stop) and collects its results."""
        try:
            out, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            out, err = self.proc.communicate(timeout=10)
            self.result = ServerResult(None, [], err.decode(errors="replace"), [])
            raise TestFailure(f"server did not exit within {timeout} s of {what}; killed. "
                              f"stderr:\n{self.result.stderr}")
        text = (self._out + out).decode(errors="replace")
        lines = [l for l in text.split("\n") if l]
        stats = []
        for l in lines:
            m = STATS_RE.fullmatch(l)
            if m:
                stats.append({"shard": int(m.group(1)),
                              **{k: int(v) for k, v in zip(STATS_KEYS, m.groups()[1:])}})
        res = ServerResult(self.proc.returncode, lines, err.decode(errors="replace"), stats)
        self.result = res
        log(f"server exit {res.rc}; stats: {stats}")
        if res.stderr.strip():
            log("server stderr:\n" + res.stderr.rstrip())
        if check_clean:
            check(not sanitizer_report(res.stderr), f"sanitizer report on stderr:\n{res.stderr}")
            check(res.rc == 0, f"exit code {res.rc}, expected 0 after {what}\n{res}")
            check(len(stats) == len(lines),
                  f"stdout after the startup line has lines that are not stats lines: {lines!r}")
            check([s["shard"] for s in stats] == list(range(self.shards)),
                  f"expected one stats line per shard 0..{self.shards - 1}, got {lines!r}")
            # Every call is released once its connection is gone: a call still live is a leak.
            check(all(s["live"] == 0 for s in stats), f"calls still live at exit: {stats}")
        return res


def closed_port():
    """A 127.0.0.1 port nobody listens on: one the kernel just gave out and took back."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cmd(cmd, timeout=30, **kw):
    """Runs a command with a bound; returns CompletedProcess (text)."""
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired as e:
        raise TestFailure(f"{' '.join(map(str, cmd))} did not finish within {timeout} s "
                          f"(stdout={e.stdout!r} stderr={e.stderr!r})")
