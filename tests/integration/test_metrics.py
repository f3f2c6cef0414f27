#!/usr/bin/python3
"""The go-grpc-prometheus metrics of uringrpc-server (--admin-listen 127.0.0.1:0), checked by
the real Prometheus tools after a known set of calls:

  promtool    `promtool check metrics` (Debian's prometheus package) passes on the text format;
              on OpenMetrics (which its 0.0.4 linter reads as text) it finds nothing but the
              HELP it expects under *_total names; both scrapes are parsed here and hold
              exactly the counts of the calls made, their histograms cumulative with
              le="+Inf" = _count
  prometheus  a Prometheus 2.42 server (scrape interval 1 s, temp config and data dir, a free
              port) scrapes the admin endpoint; its query API returns up == 1 and exactly
              those counts in grpc_server_handled_total, grpc_server_started_total and
              grpc_server_handling_seconds_count; it scraped OpenMetrics; calls made afterwards
              show up in a later scrape
  healthz     /healthz and /readyz answer 200; after SIGTERM, with a client stream holding the
              drain open, /readyz answers 503 (and /healthz 200) until the stream ends and the
              server exits 0

The calls (the same in the first two cases), each kind on its own method so that every count
is exact:
  OK               5 helloworld.Greeter/SayHello (python3-grpcio)
  NOT_FOUND        3 grpc.health.v1.Health/Check of an unknown service
  UNIMPLEMENTED    4 unknown paths, counted under grpc_service/grpc_method="unknown"
  CANCELLED        2 fgrpc.PingServer/Ping waiting 30 s on the server, cancelled by the client
                   once the metrics show them started; 1 Health/Watch cancelled after its first
                   message
  DEADLINE_EXCEEDED 2 Ping waiting 10 s with grpc-timeout 50m, sent by python3-h2 (h2raw): a
                   grpcio client resets the stream at its own deadline, which races the
                   server's timer (the server would count some as Canceled); a raw client that
                   never resets leaves the server's deadline to end the call
  streaming        2 urpc.example.Demo/StreamFromWorker (server_stream, 3 replies each),
                   1 Demo/CountSlowly (client_stream, 4 messages), 1 grpc.testing.TestService/
                   FullDuplexCall (bidi_stream, 3 requests each answered once)

The admin endpoint is read with http.client (HTTP/1.1 keep-alive): urllib sends
"Connection: close", which the endpoint does not answer (test_admin.py connection_close).
Every wait is bounded in count and time; only processes this test started are signalled, by
PID; temporary directories are removed.
"""
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import json
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import grpc
except ImportError:  # pragma: no cover - depends on the host
    grpc = None
try:
    import h2raw
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

RPC_TIMEOUT = 30  # seconds, per call (ASan on a loaded box)
HTTP_TIMEOUT = 10
PROMTOOL = "/usr/bin/promtool"
PROMETHEUS = "/usr/bin/prometheus"
OM_ACCEPT = "application/openmetrics-text; version=1.0.0"

# (grpc_type, grpc_service, grpc_method) of the methods the calls use.
SAYHELLO = ("unary", "helloworld.Greeter", "SayHello")
CHECK = ("unary", "grpc.health.v1.Health", "Check")
WATCH = ("server_stream", "grpc.health.v1.Health", "Watch")
UNKNOWN = ("unary", "unknown", "unknown")
PING = ("unary", "fgrpc.PingServer", "Ping")
FROM_WORKER = ("server_stream", "urpc.example.Demo", "StreamFromWorker")
COUNT_SLOWLY = ("client_stream", "urpc.example.Demo", "CountSlowly")
DUPLEX = ("bidi_stream", "grpc.testing.TestService", "FullDuplexCall")

N_OK, N_NOT_FOUND, N_UNKNOWN, N_CANCEL, N_DEADLINE = 5, 3, 4, 2, 2
N_WORKER_CALLS, WORKER_REPLIES = 2, 3
COUNT_MESSAGES = 4
DUPLEX_MESSAGES = 3

# What the calls must leave: per method, started, handled per grpc_code, messages each way.
# Methods not listed must show zero everywhere.
EXPECTED = {
    SAYHELLO: dict(started=N_OK, handled={"OK": N_OK}, received=N_OK, sent=N_OK),
    CHECK: dict(started=N_NOT_FOUND, handled={"NotFound": N_NOT_FOUND}, received=N_NOT_FOUND,
                sent=0),
    UNKNOWN: dict(started=N_UNKNOWN, handled={"Unimplemented": N_UNKNOWN}),
    PING: dict(started=N_CANCEL + N_DEADLINE,
               handled={"Canceled": N_CANCEL, "DeadlineExceeded": N_DEADLINE},
               received=N_CANCEL + N_DEADLINE, sent=0),
    WATCH: dict(started=1, handled={"Canceled": 1}, received=1, sent=1),
    FROM_WORKER: dict(started=N_WORKER_CALLS, handled={"OK": N_WORKER_CALLS},
                      received=N_WORKER_CALLS, sent=N_WORKER_CALLS * WORKER_REPLIES),
    COUNT_SLOWLY: dict(started=1, handled={"OK": 1}, received=COUNT_MESSAGES, sent=1),
    DUPLEX: dict(started=1, handled={"OK": 1}, received=DUPLEX_MESSAGES, sent=DUPLEX_MESSAGES),
}

CODES = ("OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound",
         "AlreadyExists", "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
         "Aborted", "OutOfRange", "Unimplemented", "Internal", "Unavailable", "DataLoss",
         "Unauthenticated")


# ---- the admin endpoint over HTTP/1.1 ------------------------------------------------------

def http_get(port, path, headers=None, timeout=HTTP_TIMEOUT):
    """GET on a fresh keep-alive connection; returns (status, headers dict lower-case, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        body = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body
    except (OSError, http.client.HTTPException) as e:
        raise TestFailure(f"GET {path} on admin port {port}: {type(e).__name__}: {e}")
    finally:
        conn.close()


def scrape(port, openmetrics=False):
    status, hdrs, body = http_get(port, "/metrics", {"Accept": OM_ACCEPT} if openmetrics else None)
    check(status == 200, f"/metrics: HTTP {status} {body[:200]!r}")
    ctype = hdrs.get("content-type", "")
    want = "application/openmetrics-text; version=1.0.0" if openmetrics else \
        "text/plain; version=0.0.4"
    check(ctype.startswith(want), f"/metrics Content-Type {ctype!r}, expected {want}")
    return body.decode()


# ---- the text formats, parsed --------------------------------------------------------------

SAMPLE_RE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\.)*)"(,|$)')


def parse_labels(s, line):
    out, pos = {}, 0
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        check(m is not None, f"bad label list at {s[pos:]!r} in {line!r}")
        value = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), m.group(2))
        check(m.group(1) not in out, f"label {m.group(1)} twice in {line!r}")
        out[m.group(1)] = value
        pos = m.end()
    return out


def parse_exposition(text, openmetrics):
    """Checks the structure of a scrape and returns {(sample name, frozenset(labels)): value}.

    Both formats: every sample follows the HELP and TYPE of its family and carries a suffix its
    type allows, no series twice, histogram buckets ascending by le and cumulative, ending with
    le="+Inf" equal to _count. OpenMetrics: counter families are named without _total, and the
    text ends with "# EOF"."""
    check(text.endswith("\n"), "the exposition does not end with a newline")
    lines = text[:-1].split("\n")
    if openmetrics:
        check(lines[-1] == "# EOF", f"OpenMetrics must end with '# EOF', ends with {lines[-1]!r}")
        check(lines.count("# EOF") == 1, "'# EOF' before the end")
        lines = lines[:-1]
    else:
        check("# EOF" not in lines, "'# EOF' in the 0.0.4 text format")
    families, samples = {}, {}
    family = ftype = None
    buckets = {}  # (family, labels without le) -> [(le, value)]
    for line in lines:
        if line.startswith("# "):
            parts = line.split(" ", 3)
            check(len(parts) >= 3 and parts[1] in ("HELP", "TYPE"), f"bad comment {line!r}")
            name = parts[2]
            if parts[1] == "TYPE":
                ftype = parts[3]
                check(ftype in ("counter", "gauge", "histogram"), f"type {ftype!r}")
                if openmetrics and ftype == "counter":
                    check(not name.endswith("_total"),
                          f"OpenMetrics counter family {name} must not end in _total")
                check(families.get(name, ftype) == ftype, f"family {name} typed twice")
                families[name] = ftype
            family = name
            continue
        m = SAMPLE_RE.fullmatch(line)
        check(m is not None and family is not None, f"bad sample line {line!r}")
        name, labels = m.group(1), parse_labels(m.group(2) or "", line)
        value = float(m.group(3))
        suffixes = {"counter": ("_total",) if openmetrics else ("",),
                    "gauge": ("",),
                    "histogram": ("_bucket", "_sum", "_count")}[ftype]
        check(any(name == family + s for s in suffixes),
              f"sample {name} does not belong to {ftype} family {family}")
        key = (name, frozenset(labels.items()))
        check(key not in samples, f"series twice: {line!r}")
        samples[key] = value
        if name.endswith("_bucket"):
            check("le" in labels, f"bucket without le: {line!r}")
            rest = frozenset((k, v) for k, v in labels.items() if k != "le")
            buckets.setdefault((family, rest), []).append((labels["le"], value))
    check(families, "no family in the exposition")
    for (fam, rest), bs in buckets.items():
        les = [float(le) for le, _ in bs]
        check(les == sorted(les) and len(set(les)) == len(les) and bs[-1][0] == "+Inf",
              f"{fam}{dict(rest)}: le not ascending to +Inf: {[le for le, _ in bs]}")
        values = [v for _, v in bs]
        check(values == sorted(values), f"{fam}{dict(rest)}: buckets not cumulative: {values}")
        count = samples.get((fam + "_count", rest))
        check(count == values[-1], f"{fam}{dict(rest)}: +Inf bucket {values[-1]} != _count {count}")
        check((fam + "_sum", rest) in samples, f"{fam}{dict(rest)}: no _sum")
    return samples


def method_key(m):
    return frozenset({"grpc_type": m[0], "grpc_service": m[1], "grpc_method": m[2]}.items())


def grpc_counts(samples):
    """Per (type, service, method): started, handled per code, received, sent, histogram
    count and sum, from parsed samples."""
    out = {}
    for (name, labels), v in samples.items():
        d = dict(labels)
        if not name.startswith("grpc_server_") or "grpc_method" not in d:
            continue
        m = (d["grpc_type"], d["grpc_service"], d["grpc_method"])
        e = out.setdefault(m, {"handled": {}})
        if name == "grpc_server_handled_total":
            e["handled"][d["grpc_code"]] = v
        elif name == "grpc_server_started_total":
            e["started"] = v
        elif name == "grpc_server_msg_received_total":
            e["received"] = v
        elif name == "grpc_server_msg_sent_total":
            e["sent"] = v
        elif name == "grpc_server_handling_seconds_count":
            e["count"] = v
        elif name == "grpc_server_handling_seconds_sum":
            e["sum"] = v
    return out


def check_counts(counts, what):
    """The counts equal EXPECTED exactly; every other method is all zero."""
    for m in EXPECTED:
        check(m in counts, f"{what}: no series for {m}; methods: {sorted(counts)}")
    problems = []
    for m, e in counts.items():
        want = EXPECTED.get(m, dict(started=0, handled={}, received=0, sent=0))
        handled = {c: v for c, v in e["handled"].items() if v}
        want_handled = {c: float(v) for c, v in want["handled"].items()}
        check(set(e["handled"]) == set(CODES),
              f"{what}: {m} has grpc_code values {sorted(e['handled'])}")
        if e.get("started") != want["started"]:
            problems.append(f"{m} started {e.get('started')}, want {want['started']}")
        if handled != want_handled:
            problems.append(f"{m} handled {handled}, want {want_handled}")
        for k in ("received", "sent"):
            if k in want and e.get(k) != want[k]:
                problems.append(f"{m} msg_{k} {e.get(k)}, want {want[k]}")
        n = sum(want["handled"].values())
        if e.get("count") != n:
            problems.append(f"{m} handling_seconds_count {e.get('count')}, want {n}")
        if (e.get("sum", 0) > 0) != (n > 0):
            problems.append(f"{m} handling_seconds_sum {e.get('sum')} for {n} calls")
    check(not problems, f"{what}: counts differ from the calls made:\n  " + "\n  ".join(problems))


def counts_now(port):
    return grpc_counts(parse_exposition(scrape(port), False))


def wait_counts(port, pred, what, timeout=RPC_TIMEOUT):
    """Scrapes until pred(counts) holds (every 20 ms, bounded by `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        c = counts_now(port)
        if pred(c):
            return c
        if time.monotonic() > deadline:
            raise TestFailure(f"{what}: not seen within {timeout} s; counts {c}")
        time.sleep(0.02)


# ---- the calls -----------------------------------------------------------------------------

def channel(target):
    return grpc.insecure_channel(target, options=[("grpc.use_local_subchannel_pool", 1)])


IDENT = dict(request_serializer=lambda b: b, response_deserializer=lambda b: b)


def expect_code(fn, code, what):
    try:
        resp = fn()
    except grpc.RpcError as e:
        check(e.code() == code, f"{what}: expected {code.name}, got {e.code().name} "
                                f"({e.details()!r})")
        return
    raise TestFailure(f"{what}: expected {code.name}, got OK with {resp!r}")


def duplex_request(size):
    """grpc.testing.StreamingOutputCallRequest{response_parameters: [{size}]}."""
    params = b"\x08" + harness.varint(size)
    return b"\x12" + harness.varint(len(params)) + params


def ping_message(delay_ns):
    """fgrpc.PingMessage{seq: 1, delayNanos}."""
    return b"\x08\x01\x20" + harness.varint(delay_ns)


def make_calls(st, srv):
    """The calls of the module docstring; every one checked on the client side too."""
    port = srv.admin_port
    with channel(srv.target) as ch:
        greeter = st.hw_grpc.GreeterStub(ch)
        for i in range(N_OK):
            r = greeter.SayHello(st.hw.HelloRequest(name=f"m{i}"), timeout=RPC_TIMEOUT)
            check(r.message == f"Hello m{i}", f"SayHello -> {r.message!r}")
        health = st.health_grpc.HealthStub(ch)
        for i in range(N_NOT_FOUND):
            expect_code(lambda: health.Check(st.health.HealthCheckRequest(service=f"no.such{i}"),
                                             timeout=RPC_TIMEOUT),
                        grpc.StatusCode.NOT_FOUND, "Check of an unknown service")
        req = harness.hello_request("x")
        for path in ("/nope.Nope/Nope", "/helloworld.Greeter/Nope", "/nope.Nope/SayHello",
                     "/helloworld.Greeter/SayHello/extra")[:N_UNKNOWN]:
            expect_code(lambda: ch.unary_unary(path, **IDENT)(req, timeout=RPC_TIMEOUT),
                        grpc.StatusCode.UNIMPLEMENTED, f"call {path}")

        # Cancelled while the server waits: cancel only once the server has started them.
        ping = ch.unary_unary("/fgrpc.PingServer/Ping", **IDENT)
        futs = [ping.future(ping_message(30_000_000_000), timeout=RPC_TIMEOUT)
                for _ in range(N_CANCEL)]
        wait_counts(port, lambda c: c.get(PING, {}).get("started") == N_CANCEL,
                    f"{N_CANCEL} Ping calls started")
        for f in futs:
            check(f.cancel(), "a Ping call had already ended before its cancel")
        wait_counts(port, lambda c: c[PING]["handled"].get("Canceled") == N_CANCEL,
                    f"{N_CANCEL} Ping calls counted as Canceled")
        # A Watch: its first message read, then cancelled while the server holds it open.
        watch = health.Watch(st.health.HealthCheckRequest(service=""), timeout=RPC_TIMEOUT)
        first = next(watch)
        check(first.status == st.health.HealthCheckResponse.SERVING, f"Watch: {first}")
        watch.cancel()
        wait_counts(port, lambda c: c[WATCH]["handled"].get("Canceled") == 1,
                    "the Watch counted as Canceled")

        # Streams of each kind.
        demo = st.demo_grpc.DemoStub(ch)
        for _ in range(N_WORKER_CALLS):
            got = list(demo.StreamFromWorker(st.hw.HelloRequest(name=str(WORKER_REPLIES)),
                                             timeout=RPC_TIMEOUT))
            check(len(got) == WORKER_REPLIES, f"StreamFromWorker: {len(got)} replies")
        r = demo.CountSlowly(iter([st.hw.HelloRequest(name="ab")] * COUNT_MESSAGES),
                             timeout=RPC_TIMEOUT)
        check(r.message == f"counted {2 * COUNT_MESSAGES} bytes in {COUNT_MESSAGES} messages",
              f"CountSlowly -> {r.message!r}")
        duplex = ch.stream_stream("/grpc.testing.TestService/FullDuplexCall", **IDENT)
        got = list(duplex(iter([duplex_request(8)] * DUPLEX_MESSAGES), timeout=RPC_TIMEOUT))
        check(len(got) == DUPLEX_MESSAGES, f"FullDuplexCall: {len(got)} responses")

    # DEADLINE_EXCEEDED from the server's own deadline (see the module docstring).
    with h2raw.Client(srv.port, timeout=RPC_TIMEOUT) as c:
        sids = [c.unary("/fgrpc.PingServer/Ping", ping_message(10_000_000_000),
                        extra=[("grpc-timeout", "50m")]) for _ in range(N_DEADLINE)]
        for sid in sids:
            s = c.wait(sid)
            check(s.grpc_status == 4 and s.reset is None,
                  f"Ping past its 50 ms deadline: expected grpc-status 4; {s.describe()}")
    wait_counts(port, lambda c: c[PING]["handled"].get("DeadlineExceeded") == N_DEADLINE,
                f"{N_DEADLINE} Ping calls counted as DeadlineExceeded")


def metrics_server(args):
    """Stubs, and a server to start with `with` (2 shards, admin endpoint on a free port)."""
    harness.require(grpc, "python3-grpcio")
    harness.require(h2raw, "python3-h2")
    st = harness.Stubs(args.proto_dir)
    return st, Server(args.server, "--shards", "2", "--admin-listen", "127.0.0.1:0")


# ---- cases ---------------------------------------------------------------------------------

def promtool_check(text, what):
    r = harness.run_cmd([PROMTOOL, "check", "metrics"], input=text, timeout=60)
    log(f"promtool check metrics ({what}): exit {r.returncode}")
    return r


def case_promtool(args):
    if not os.access(PROMTOOL, os.X_OK):
        raise Skip(f"{PROMTOOL} missing (Debian package prometheus)")
    st, srv = metrics_server(args)
    with srv:
        check(srv.admin_port, "no admin= in the startup line")
        make_calls(st, srv)
        text = scrape(srv.admin_port)
        om = scrape(srv.admin_port, openmetrics=True)
        srv.stop()
    r = promtool_check(text, "text format 0.0.4")
    check(r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(),
          f"promtool check metrics failed on the text format: exit {r.returncode}\n"
          f"{r.stdout}{r.stderr}")
    samples = parse_exposition(text, False)
    check_counts(grpc_counts(samples), "text format")
    # The process and build families are there too.
    names = {n for n, _ in samples}
    for n in ("process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
              "process_max_fds", "process_start_time_seconds", "uringrpc_build_info"):
        check(n in names, f"{n} missing from the scrape")
    backend = {"uring": "io_uring", "epoll": "epoll"}[srv.io]
    info = [dict(l) for n, l in samples if n == "uringrpc_io_backend_info"]
    check(info == [{"backend": backend}], f"uringrpc_io_backend_info {info}, server runs {backend}")

    # promtool 2.42 reads only the 0.0.4 format: to it, OpenMetrics' counter family "x" (samples
    # x_total) leaves x_total without HELP. It must parse (exit 1 is a parse error) and find
    # nothing else.
    r = promtool_check(om, "OpenMetrics")
    om_samples = parse_exposition(om, True)
    counters = sorted({n for n, _ in om_samples if n.endswith("_total")})
    want = sorted(f"{n} no help text" for n in counters)
    got = sorted(l.strip() for l in (r.stdout + r.stderr).splitlines() if l.strip())
    check(r.returncode == 3 and got == want,
          f"promtool on OpenMetrics: exit {r.returncode}, expected 3 (lint) with only "
          f"{want}; got {got}")
    check_counts(grpc_counts(om_samples), "OpenMetrics")
    log(f"text: {len(samples)} samples, promtool clean; OpenMetrics: {len(om_samples)} samples, "
        f"structure checked; counts exact in both")



class Prometheus:
    """/usr/bin/prometheus on a free 127.0.0.1 port with a temporary config and data dir,
    scraping one target every second. Stopped by its own PID; the directory is removed."""

    def __init__(self, target):
        self.target = target
        self.dir = tempfile.mkdtemp(prefix="urpc-prom-")
        self.proc = None
        self.port = None
        self.log_path = os.path.join(self.dir, "prometheus.log")

    def __enter__(self):
        cfg = os.path.join(self.dir, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: uringrpc\n    static_configs:\n"
                    f"      - targets: ['{self.target}']\n")
        for attempt in range(3):  # the free port may be taken between the check and the bind
            self.port = harness.closed_port()
            self.log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(
                [PROMETHEUS, f"--config.file={cfg}", f"--storage.tsdb.path={self.dir}/data",
                 f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=info"],
                stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT,
                preexec_fn=harness._die_with_parent)
            log(f"prometheus pid {self.proc.pid} on port {self.port}")
            if self._wait_ready():
                return self
            rc = self.proc.poll()
            self.stop()
            if rc is not None and b"address already in use" in self._log_text():
                log(f"port {self.port} taken, another try")
                continue
            raise TestFailure(f"prometheus did not become ready (rc={rc}); log:\n"
                              f"{self._log_text().decode(errors='replace')[-3000:]}")
        raise TestFailure("prometheus: no free port in 3 tries")

    def _log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read()
        except OSError:
            return b""

    def _wait_ready(self, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/-/ready")
                ready = conn.getresponse().status == 200
                conn.close()
                if ready:
                    return True
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.1)
        return False

    def query(self, expr):
        """An instant query; returns {frozenset(labels without __name__): value}."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request("GET", "/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
            r = conn.getresponse()
            body = json.loads(r.read())
        except (OSError, http.client.HTTPException, ValueError) as e:
            raise TestFailure(f"query {expr!r}: {type(e).__name__}: {e}")
        finally:
            conn.close()
        check(body.get("status") == "success", f"query {expr!r}: {body}")
        out = {}
        for item in body["data"]["result"]:
            labels = {k: v for k, v in item["metric"].items() if k != "__name__"}
            out[frozenset(labels.items())] = float(item["value"][1])
        return out

    def stop(self):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        if getattr(self, "log", None):
            self.log.close()
            self.log = None

    def __exit__(self, *a):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def by_method(result, extra=None):
    """{(type, service, method[, extra label]): value} of a query result."""
    out = {}
    for labels, v in result.items():
        d = dict(labels)
        k = (d.get("grpc_type"), d.get("grpc_service"), d.get("grpc_method"))
        out[k + ((d.get(extra),) if extra else ())] = v
    return out


def prometheus_view(prom):
    """What Prometheus holds now, in grpc_counts' shape."""
    counts = {}
    for (t, s, m, code), v in by_method(prom.query("grpc_server_handled_total"),
                                        "grpc_code").items():
        counts.setdefault((t, s, m), {"handled": {}})["handled"][code] = v
    for name, key in (("grpc_server_started_total", "started"),
                      ("grpc_server_msg_received_total", "received"),
                      ("grpc_server_msg_sent_total", "sent"),
                      ("grpc_server_handling_seconds_count", "count"),
                      ("grpc_server_handling_seconds_sum", "sum")):
        for k, v in by_method(prom.query(name)).items():
            counts.setdefault(k, {"handled": {}})[key] = v
    return counts


def case_prometheus(args):
    if not os.access(PROMETHEUS, os.X_OK):
        raise Skip(f"{PROMETHEUS} missing (Debian package prometheus)")
    st, srv = metrics_server(args)
    t0 = time.monotonic()
    with srv, Prometheus(f"127.0.0.1:{srv.admin_port}") as prom:
        log(f"prometheus ready after {time.monotonic() - t0:.1f} s")
        make_calls(st, srv)
        final = grpc_counts(parse_exposition(scrape(srv.admin_port), False))
        check_counts(final, "the server's own scrape")

        # Until a scrape after the calls has been stored: up == 1 and the counts exact. Each
        # try is one round of queries; a scrape comes every second.
        deadline = time.monotonic() + 30
        tries, last_err = 0, None
        while True:
            tries += 1
            up = prom.query('up{job="uringrpc"}')
            try:
                check(list(up.values()) == [1.0], f"up = {up}")
                check_counts(prometheus_view(prom), "Prometheus")
                break
            except TestFailure as e:
                last_err = e
            if time.monotonic() > deadline:
                raise TestFailure(f"Prometheus never held the expected values in {tries} tries "
                                  f"over 30 s; last: {last_err}\nlog tail:\n"
                                  f"{prom._log_text().decode(errors='replace')[-2000:]}")
            time.sleep(0.25)
        log(f"Prometheus holds the exact counts after {tries} tries "
            f"({time.monotonic() - t0:.1f} s since start)")
        # It scraped OpenMetrics (what it asks for first): le as that format writes it.
        les = {dict(k)["le"]: v for k, v in prom.query(
            'grpc_server_handling_seconds_bucket{grpc_method="SayHello"}').items()}
        check(les.get("10.0") == N_OK and les.get("+Inf") == N_OK,
              f"SayHello buckets as Prometheus stored them (OpenMetrics: le=\"10.0\"): {les}")
        # Live: calls made now appear in a later scrape.
        with channel(srv.target) as ch:
            greeter = st.hw_grpc.GreeterStub(ch)
            for i in range(3):
                greeter.SayHello(st.hw.HelloRequest(name="later"), timeout=RPC_TIMEOUT)
        key = frozenset({"grpc_type": "unary", "grpc_service": "helloworld.Greeter",
                         "grpc_method": "SayHello", "grpc_code": "OK", "instance":
                         f"127.0.0.1:{srv.admin_port}", "job": "uringrpc"}.items())
        deadline = time.monotonic() + 30
        while True:
            v = prom.query("grpc_server_handled_total").get(key)
            if v == N_OK + 3:
                break
            check(time.monotonic() < deadline,
                  f"3 more SayHello not seen by Prometheus within 30 s: {v}")
            time.sleep(0.25)
        srv.stop()
    log(f"prometheus case done in {time.monotonic() - t0:.1f} s")


def case_healthz(args):
    harness.require(grpc, "python3-grpcio")
    st = harness.Stubs(args.proto_dir)
    with Server(args.server, "--shards", "2", "--admin-listen", "127.0.0.1:0",
                "--shutdown-grace", "25") as srv:
        port = srv.admin_port
        status, _, body = http_get(port, "/healthz")
        check((status, body) == (200, b"ok\n"), f"/healthz: {status} {body!r}")
        status, _, body = http_get(port, "/readyz")
        check((status, body) == (200, b"ready\n"), f"/readyz while serving: {status} {body!r}")

        # A client stream that stays open until the test lets it end: it holds the drain.
        release = threading.Event()

        def requests():
            yield st.hw.HelloRequest(name="abc")
            if not release.wait(RPC_TIMEOUT):
                return
            yield st.hw.HelloRequest(name="de")

        ch = channel(srv.target)
        fut = st.demo_grpc.DemoStub(ch).CountSlowly.future(requests(), timeout=RPC_TIMEOUT)
        wait_counts(port, lambda c: c.get(COUNT_SLOWLY, {}).get("started") == 1,
                    "the client stream started")
        os.kill(srv.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        polls = 0
        while True:
            polls += 1
            status, _, body = http_get(port, "/readyz")
            if status != 200:
                break
            check(time.monotonic() < deadline, "/readyz still 200 10 s after SIGTERM")
            time.sleep(0.02)
        check((status, body) == (503, b"draining\n"), f"/readyz while draining: {status} {body!r}")
        check(srv.alive(), "the server exited with a call in flight")
        status, _, body = http_get(port, "/healthz")
        check((status, body) == (200, b"ok\n"), f"/healthz while draining: {status} {body!r}")
        check(not fut.done(), "the client stream ended before the test released it")
        status, _, body = http_get(port, "/readyz")
        check(status == 503, f"/readyz again while draining: {status} {body!r}")
        log(f"/readyz 503 after {polls} poll(s), /healthz 200, while the stream holds the drain")
        release.set()
        r = fut.result(timeout=RPC_TIMEOUT)
        check(r.message == "counted 5 bytes in 2 messages", f"CountSlowly -> {r.message!r}")
        ch.close()
        srv.wait_exit(what="SIGTERM")


CASES = {
    "promtool": case_promtool,
    "prometheus": case_prometheus,
    "healthz": case_healthz,
}


def main():
    harness.run_cases(CASES, harness.parse_args())


if __name__ == "__main__":
    main()
