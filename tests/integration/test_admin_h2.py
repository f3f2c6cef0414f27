#!/usr/bin/python3
"""The admin endpoint over h2c, and what a slow or hostile admin client can make it hold
(obs/admin.c's head comment lists the limits). The server runs with --admin-listen 127.0.0.1:0.

  nghttp            nghttp (prior knowledge) GETs /metrics (text 0.0.4, and OpenMetrics when
                    Accept asks), /healthz, /readyz and an unknown path: status, content type
                    and body as over HTTP/1.1; a POST gets 405 with allow: GET, HEAD
  h2load            300 GET /metrics over 4 connections x 4 streams, all 200; the gRPC port
                    serves afterwards and the server exits clean
  upgrade           curl --http2 (HTTP/1.1 Upgrade: h2c): 101, then the answer on stream 1 and
                    a second request on the same HTTP/2 connection; Upgrade: websocket is
                    answered on HTTP/1.1 and the request pipelined after it too
  h2_hostile        python3-h2: 40 streams opened at once on a server that allows 16 — the 24
                    over get RST_STREAM, the 16 are answered; a 20 KB header gets 431; garbage
                    after the preface gets GOAWAY and a close; the endpoint and the gRPC port
                    keep serving
  pipeline_unread   2000 pipelined HTTP/1.1 GETs (a third of them /metrics) never read for 3 s:
                    the server stops parsing at its 1 MiB output cap, so its RSS grows by far less
                    than the answers' total (not checked under sanitizers); another client is
                    served meanwhile; then all 2000 answers arrive, complete and in order
  h2_unread         the same over HTTP/2: 1000 GET /metrics streams with wide windows, unread for
                    3 s: at most 16 answered at a time, the rest REFUSED_STREAM, RSS bounded;
                    once read, every stream was answered whole or refused
  slowloris         one byte a second of an HTTP/1.1 request, and an HTTP/2 request left open
                    with a PING a second: each connection is closed 10 s (ADMIN_REQUEST_MS) after
                    its request began, give or take the loop's 1 s tick
"""
import os
import re
import select
import shutil
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, Skip, TestFailure, check, log  # noqa: E402

try:
    import h2raw
    from h2raw import frame, goaway_of, read_frames
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

PROM_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OM_TYPE = "application/openmetrics-text; version=1.0.0; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
NOT_FOUND_BODY = b"try /metrics, /healthz or /readyz\n"
REQUEST_BOUND_S = 10.0  # ADMIN_REQUEST_MS


def admin_server(args, *flags):
    srv = Server(args.server, "--shards", "1", "--admin-listen", "127.0.0.1:0", *flags)
    return srv


def need(tool, package):
    exe = shutil.which(tool)
    if not exe:
        raise Skip(f"{tool} ({package}) not found")
    return exe


# ---- HTTP/1.1 over a raw socket ---------------------------------------------------------

class Http1Reader:
    """Parses HTTP/1.1 responses (Content-Length bodies) from a socket, incrementally."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0
        self.eof = False

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TestFailure("no complete HTTP/1.1 response before the deadline")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            return
        try:
            chunk = self.sock.recv(1 << 18)
        except ConnectionResetError:
            chunk = b""
        if not chunk:
            self.eof = True
            return
        self.buf += chunk

    def response(self, timeout=15.0):
        """(status, headers dict with lowercase names, body); None at EOF between responses."""
        deadline = time.monotonic() + timeout
        if self.pos > (1 << 20):  # only here: the offsets below stay valid while filling
            del self.buf[:self.pos]
            self.pos = 0
        while True:
            end = self.buf.find(b"\r\n\r\n", self.pos)
            if end >= 0:
                break
            if self.eof:
                if self.pos == len(self.buf):
                    return None
                raise TestFailure(f"EOF inside a response head: {bytes(self.buf[self.pos:])!r}")
            self._fill(deadline)
        lines = bytes(self.buf[self.pos:end]).decode("latin-1").split("\r\n")
        m = re.fullmatch(r"HTTP/1\.1 (\d{3}) .*", lines[0])
        check(m, f"bad status line {lines[0]!r}")
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = int(headers.get("content-length", "-1"))
        check(n >= 0, f"response without Content-Length: {lines}")
        start = end + 4
        while len(self.buf) < start + n:
            if self.eof:
                raise TestFailure(f"EOF inside a body ({len(self.buf) - start} of {n} bytes)")
            self._fill(deadline)
        body = bytes(self.buf[start:start + n])
        self.pos = start + n
        return int(m.group(1)), headers, body


def http1_get(port, path, timeout=10.0):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n".encode())
        r = Http1Reader(s).response(timeout)
        check(r is not None, f"GET {path}: connection closed without an answer")
        return r


def check_serving(srv):
    """The admin endpoint answers over HTTP/1.1 and HTTP/2, and the gRPC port serves."""
    status, _, body = http1_get(srv.admin_port, "/healthz")
    check((status, body) == (200, b"ok\n"), f"HTTP/1.1 /healthz afterwards: {status} {body!r}")
    if h2raw is not None:
        with h2raw.Client(srv.admin_port) as c:
            sid = c.headers(raw=get_headers("/readyz"), end_stream=True)
            st = c.wait(sid)
            check(st.http_status == 200 and st.data == b"ready\n",
                  f"h2 /readyz afterwards: {st.describe()}")
        h2raw.say_hello_ok(srv.port)
    check(srv.alive(), "the server died")


def get_headers(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1")] + list(extra)


# ---- nghttp ------------------------------------------------------------------------------

def nghttp(exe, port, path, *flags):
    """(status, content-type, body) of one request with nghttp over h2c prior knowledge."""
    url = f"http://127.0.0.1:{port}{path}"
    v = harness.run_cmd([exe, "-v", *flags, url], timeout=20)
    check(v.returncode == 0, f"nghttp -v {url}: exit {v.returncode}\n{v.stdout}\n{v.stderr}")
    st = re.search(r"recv \(stream_id=\d+\) :status: (\d+)", v.stdout)
    ct = re.search(r"recv \(stream_id=\d+\) content-type: (.*)", v.stdout)
    check(st and ct, f"no :status or content-type in nghttp -v output:\n{v.stdout}")
    check("recv SETTINGS frame" in v.stdout, "no SETTINGS from the server")
    b = subprocess_bytes([exe, *flags, url])
    return int(st.group(1)), ct.group(1).strip(), b


def subprocess_bytes(cmd):
    import subprocess
    try:
        r = subprocess.run(cmd, capture_output=True, timeout=20)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"{' '.join(cmd)} did not finish within 20 s")
    check(r.returncode == 0, f"{' '.join(cmd)}: exit {r.returncode}\n{r.stderr!r}")
    return r.stdout


def case_nghttp(args):
    exe = need("nghttp", "nghttp2-client")
    with admin_server(args) as srv:
        p = srv.admin_port
        status, ctype, body = nghttp(exe, p, "/metrics")
        check(status == 200 and ctype == PROM_TYPE, f"/metrics: {status} {ctype!r}")
        check(b"# TYPE grpc_server_started_total counter" in body and
              b"uringrpc_build_info" in body, f"/metrics body: {body[:300]!r}")
        check(not body.rstrip().endswith(b"# EOF"), "text 0.0.4 ends with # EOF")
        status, ctype, body = nghttp(exe, p, "/metrics", "-H",
                                     "accept: application/openmetrics-text;version=1.0.0")
        check(status == 200 and ctype == OM_TYPE, f"/metrics (OpenMetrics): {status} {ctype!r}")
        check(body.endswith(b"# EOF\n"), f"OpenMetrics body does not end with # EOF: "
              f"{body[-60:]!r}")
        for path, want in (("/healthz", (200, TEXT_TYPE, b"ok\n")),
                           ("/readyz", (200, TEXT_TYPE, b"ready\n")),
                           ("/readyz?verbose=1", (200, TEXT_TYPE, b"ready\n")),
                           ("/nope", (404, TEXT_TYPE, NOT_FOUND_BODY)),
                           ("/metricsx", (404, TEXT_TYPE, NOT_FOUND_BODY))):
            got = nghttp(exe, p, path)
            check(got == want, f"{path}: got {got!r}, expected {want!r}")
            log(f"h2c GET {path}: {got[0]} {got[1]!r} {got[2]!r}")
        # The same answers as over HTTP/1.1.
        for path in ("/healthz", "/readyz", "/nope"):
            s1, h1, b1 = http1_get(p, path)
            s2, c2, b2 = nghttp(exe, p, path)
            check((s1, h1["content-type"], b1) == (s2, c2, b2),
                  f"{path}: HTTP/1.1 {(s1, h1, b1)} vs h2c {(s2, c2, b2)}")
        if h2raw is not None:  # nghttp sends only GET (or POST with -d and a body)
            with h2raw.Client(p) as c:
                sid = c.headers(raw=get_headers("/metrics", "POST"), end_stream=True)
                st = c.wait(sid)
                check(st.http_status == 405 and st.header("allow") == b"GET, HEAD",
                      f"POST /metrics: {st.describe()}")
        srv.stop()


# ---- h2load ------------------------------------------------------------------------------

def case_h2load(args):
    exe = need("h2load", "nghttp2-client")
    n = 300
    with admin_server(args) as srv:
        cmd = [exe, "-n", str(n), "-c", "4", "-m", "4",
               f"http://127.0.0.1:{srv.admin_port}/metrics"]
        log(" ".join(cmd))
        r = harness.run_cmd(cmd, timeout=90)
        log("\n".join(r.stdout.splitlines()[-12:]))
        check(r.returncode == 0, f"h2load exit {r.returncode}\n{r.stderr}")
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored, (\d+) timeout", r.stdout)
        s = re.search(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", r.stdout)
        check(m and s, f"cannot parse h2load output:\n{r.stdout}")
        check(int(m.group(4)) == n and int(s.group(1)) == n and int(m.group(5)) == 0 and
              int(m.group(6)) == 0, f"h2load: {m.group(0)}; {s.group(0)}")
        check("h2c" in r.stdout, f"h2load did not speak h2c:\n{r.stdout}")
        check_serving(srv)
        srv.stop()


# ---- Upgrade: h2c ------------------------------------------------------------------------

def case_upgrade(args):
    exe = need("curl", "curl")
    with admin_server(args) as srv:
        base = f"http://127.0.0.1:{srv.admin_port}"
        w = "%{http_code} %{http_version} %{num_connects} %{content_type}\\n"
        r = harness.run_cmd([exe, "-sS", "--http2", "-w", w, "-o", "/dev/null",
                             f"{base}/readyz", "-o", "/dev/null", f"{base}/nope"], timeout=20)
        check(r.returncode == 0, f"curl: exit {r.returncode}\n{r.stderr}")
        lines = r.stdout.splitlines()
        log(f"curl --http2: {lines}")
        check(lines == [f"200 2 1 {TEXT_TYPE}", f"404 2 0 {TEXT_TYPE}"],
              f"expected /readyz 200 and /nope 404, both HTTP/2 on one connection: {lines}")
        r = harness.run_cmd([exe, "-sS", "--http2", f"{base}/healthz"], timeout=20)
        check(r.stdout == "ok\n", f"/healthz body after an upgrade: {r.stdout!r}")
        v = harness.run_cmd([exe, "-sSv", "--http2", "-o", "/dev/null", f"{base}/metrics"],
                            timeout=20)
        check("101 Switching Protocols" in v.stderr and "< HTTP/2 200" in v.stderr,
              f"no 101 then HTTP/2 200 in curl -v:\n{v.stderr}")
        # Another upgrade is answered on HTTP/1.1, and what follows it still parsed.
        with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: websocket\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\n\r\n")
            rd = Http1Reader(s)
            got = [rd.response()[::2], rd.response()[::2]]
            check(got == [(200, b"ok\n"), (200, b"ready\n")], f"websocket upgrade: {got}")
        # h2c without HTTP2-Settings (required by RFC 7540) stays on HTTP/1.1.
        with socket.create_connection(("127.0.0.1", srv.admin_port), timeout=10) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                      b"Upgrade: h2c\r\n\r\n")
            got = Http1Reader(s).response()[::2]
            check(got == (200, b"ok\n"), f"h2c upgrade without HTTP2-Settings: {got}")
        srv.stop()


# ---- hostile HTTP/2 ----------------------------------------------------------------------

def case_h2_hostile(args):
    harness.require(h2raw, "python3-h2")
    with admin_server(args) as srv:
        p = srv.admin_port
        # 40 streams at once, before this client has even read the server's SETTINGS.
        with h2raw.Client(p) as c:
            sids = [c.headers(raw=get_headers("/healthz")) for _ in range(40)]
            c.pump(lambda: sum(c.streams[s].reset is not None for s in sids) >= 24, 10)
            reset = [s for s in sids if c.streams[s].reset is not None]
            codes = {c.streams[s].reset for s in reset}
            log(f"40 streams opened: {len(reset)} reset with codes {codes}")
            check(reset == sids[16:], f"expected the 24 streams over 16 reset, got {reset}")
            check(codes <= {1, 7}, f"RST_STREAM codes {codes}: expected REFUSED_STREAM")
            for s in sids[:16]:
                c.conn.end_stream(s)
            c.flush()
            c.pump(lambda: all(c.streams[s].done for s in sids[:16]), 10)
            for s in sids[:16]:
                st = c.streams[s]
                check(st.ended and st.http_status == 200 and st.data == b"ok\n",
                      f"stream {s} within the limit: {st.describe()}")
            # The connection goes on: the slots freed, a new stream is answered.
            sid = c.headers(raw=get_headers("/readyz"), end_stream=True)
            st = c.wait(sid)
            check(st.http_status == 200 and st.data == b"ready\n", st.describe())
            # Request headers over 16 KiB: 431, and the connection still serves.
            sid = c.headers(raw=get_headers("/healthz", extra=[("x-big", "x" * 20000)]),
                            end_stream=True)
            st = c.wait(sid)
            check(st.http_status == 431, f"20 KB header: {st.describe()}")
            sid = c.headers(raw=get_headers("/healthz"), end_stream=True)
            st = c.wait(sid)
            check(st.http_status == 200, f"after the 431: {st.describe()}")
            log("16 streams answered, 24 refused; 20 KB header -> 431; connection kept")
        # Garbage after the preface: GOAWAY, then the server closes.
        with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
            s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"GARBAGE!" * 64)
            frames, eof = read_frames(s, 10)
            code = goaway_of(frames)
            log(f"garbage after the preface: GOAWAY code {code}, closed {eof}")
            check(code is not None and code != 0, f"expected GOAWAY with an error: {frames}")
            check(eof, "the server did not close after its GOAWAY")
        # A frame with a bad length after a good start: GOAWAY FRAME_SIZE_ERROR, close.
        with socket.create_connection(("127.0.0.1", p), timeout=10) as s:
            s.sendall(h2raw.PREFACE + frame(6, 0, 0, b"12345678" * 3))  # PING of 24 bytes
            frames, eof = read_frames(s, 10)
            check(goaway_of(frames) == 6 and eof, f"PING of 24 bytes: {frames} eof={eof}")
        check_serving(srv)
        srv.stop()


# ---- pipelining without reading ----------------------------------------------------------

PIPELINE_PATHS = ("/metrics", "/healthz", "/readyz")


def case_pipeline_unread(args):
    n = 2000
    with admin_server(args) as srv:
        p = srv.admin_port
        pid = srv.proc.pid
        _, _, metrics = http1_get(p, "/metrics")
        for _ in range(5):  # the allocator's steady state for a scrape
            http1_get(p, "/metrics")
        expected = n // 3 * len(metrics)  # answers' total, at least
        base = harness.rss_kib(pid)
        reqs = b"".join(f"GET {PIPELINE_PATHS[i % 3]} HTTP/1.1\r\nHost: a\r\n\r\n".encode()
                        for i in range(n))
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        s.setblocking(False)
        sent, t0 = 0, time.monotonic()
        peak = base
        # Send what the kernel takes without ever reading, for 3 s (well within the 10 s
        # ADMIN_IDLE_MS that cuts a client that never reads).
        while time.monotonic() < t0 + 3.0:
            if sent < len(reqs):
                _, w, _ = select.select([], [s], [], 0.05)
                if w:
                    try:
                        sent += s.send(reqs[sent:sent + 65536])
                    except BlockingIOError:
                        pass
            else:
                time.sleep(0.05)
            peak = max(peak, harness.rss_kib(pid))
        grew = peak - base
        log(f"sent {sent} of {len(reqs)} request bytes without reading; server RSS "
            f"{base} KiB -> peak {peak} KiB (+{grew} KiB); unbounded, the answers would be "
            f"{expected >> 10} KiB")
        # Another client is served meanwhile.
        t1 = time.monotonic()
        status, _, body = http1_get(p, "/healthz", timeout=5)
        check((status, body) == (200, b"ok\n"), f"/healthz during the stall: {status}")
        log(f"another client answered in {1000 * (time.monotonic() - t1):.0f} ms")
        if harness.sanitized(pid):
            log("sanitizer build: the RSS bound is not checked")
        else:
            bound = 8 * 1024  # KiB: the 1 MiB cap + one answer + allocator slack, well
            check(expected > 4 * bound * 1024,  # under what unbounded buffering would take
                  f"the test is too small to show a bound: {expected} bytes of answers")
            check(grew < bound, f"server RSS grew by {grew} KiB with a client that does not "
                  f"read (bound {bound} KiB)")
        # Now read everything: all 2000 answers, complete and in order.
        s.setblocking(True)
        rd = Http1Reader(s)
        got = 0
        deadline = time.monotonic() + 120
        while got < n:
            if sent < len(reqs):
                _, w, _ = select.select([], [s], [], 0)
                if w:
                    s.setblocking(False)
                    try:
                        sent += s.send(reqs[sent:sent + 65536])
                    except BlockingIOError:
                        pass
                    s.setblocking(True)
            r = rd.response(timeout=max(1.0, deadline - time.monotonic()))
            check(r is not None, f"connection closed after {got} of {n} answers")
            status, headers, body = r
            path = PIPELINE_PATHS[got % 3]
            if path == "/metrics":
                ok = (status == 200 and headers.get("content-type") == PROM_TYPE and
                      body.startswith(b"# HELP ") and b"uringrpc_build_info" in body)
            else:
                ok = (status, body) == (200, b"ok\n" if path == "/healthz" else b"ready\n")
            check(ok, f"answer {got} (to {path}): {status} {headers} {body[:80]!r}")
            got += 1
        log(f"all {n} answers complete and in order, {time.monotonic() - t0:.1f} s in all")
        s.close()
        check_serving(srv)
        srv.stop()


def case_h2_unread(args):
    """The HTTP/2 side of pipeline_unread: 1000 GET /metrics streams on one connection with
    flow-control windows opened wide, never read for 3 s. The server answers at most 16 at a
    time (the rest get REFUSED_STREAM) and pulls frames from nghttp2 only while under its 1 MiB
    output cap, so its RSS stays bounded; once read, every stream was answered or refused."""
    harness.require(h2raw, "python3-h2")
    import hpack
    n = 1000
    with admin_server(args) as srv:
        p = srv.admin_port
        pid = srv.proc.pid
        _, _, metrics = http1_get(p, "/metrics")
        for _ in range(5):
            http1_get(p, "/metrics")
        base = harness.rss_kib(pid)
        enc = hpack.Encoder()
        big = 2**31 - 1
        out = [h2raw.PREFACE[:-9],  # the magic, then SETTINGS with a wide stream window
               frame(h2raw.T_SETTINGS, 0, 0, (4).to_bytes(2, "big") + big.to_bytes(4, "big")),
               frame(8, 0, 0, (big - 65535).to_bytes(4, "big"))]  # WINDOW_UPDATE, connection
        for i in range(n):
            block = enc.encode([(":method", "GET"), (":scheme", "http"), (":path", "/metrics"),
                                (":authority", "a")])
            out.append(frame(h2raw.T_HEADERS, 0x5, 2 * i + 1, block))
        reqs = b"".join(out)
        s = socket.create_connection(("127.0.0.1", p), timeout=10)
        s.setblocking(False)
        sent, peak, t0 = 0, base, time.monotonic()
        while time.monotonic() < t0 + 3.0:
            if sent < len(reqs):
                _, w, _ = select.select([], [s], [], 0.05)
                if w:
                    try:
                        sent += s.send(reqs[sent:sent + 65536])
                    except BlockingIOError:
                        pass
            else:
                time.sleep(0.05)
            peak = max(peak, harness.rss_kib(pid))
        log(f"h2: sent {sent} of {len(reqs)} bytes without reading; server RSS {base} KiB -> "
            f"peak {peak} KiB (+{peak - base} KiB); {n} answers would be "
            f"{n * len(metrics) >> 10} KiB")
        if not harness.sanitized(pid):
            check(peak - base < 8 * 1024, f"server RSS grew by {peak - base} KiB with an h2 "
                  "client that does not read (bound 8192 KiB)")
        # Read it all: each stream ends with DATA END_STREAM, or RST_STREAM.
        s.setblocking(True)
        buf, pos, answered, refused, body = bytearray(), 0, set(), {}, {}
        deadline = time.monotonic() + 60
        while len(answered) + len(refused) < n and time.monotonic() < deadline:
            if sent < len(reqs):
                s.setblocking(False)
                try:
                    sent += s.send(reqs[sent:sent + 65536])
                except BlockingIOError:
                    pass
                s.setblocking(True)
            r, _, _ = select.select([s], [], [], 1.0)
            if not r:
                continue
            chunk = s.recv(1 << 18)
            check(chunk, f"connection closed: {len(answered)} answered, {len(refused)} refused")
            del buf[:pos]
            buf += chunk
            pos = 0
            while len(buf) - pos >= 9:
                ln = int.from_bytes(buf[pos:pos + 3], "big")
                if len(buf) - pos < 9 + ln:
                    break
                t, fl = buf[pos + 3], buf[pos + 4]
                sid = int.from_bytes(buf[pos + 5:pos + 9], "big") & 0x7FFFFFFF
                if t == 0:
                    body[sid] = body.get(sid, 0) + ln
                    if fl & 1:
                        answered.add(sid)
                elif t == h2raw.T_RST:
                    refused[sid] = int.from_bytes(buf[pos + 9:pos + 13], "big")
                elif t == h2raw.T_GOAWAY:
                    raise TestFailure(f"GOAWAY {bytes(buf[pos + 9:pos + 9 + ln])!r}")
                pos += 9 + ln
        s.close()
        log(f"h2: {len(answered)} streams answered, {len(refused)} refused "
            f"(codes {set(refused.values())})")
        check(len(answered) + len(refused) == n and not answered & set(refused),
              f"{len(answered)} answered + {len(refused)} refused != {n}")
        check(set(refused.values()) <= {7}, f"RST_STREAM codes {set(refused.values())}")
        check(len(answered) >= 16, f"only {len(answered)} streams answered")
        check(all(abs(body[sid] - len(metrics)) < 4096 for sid in answered),
              "an answered stream's body is not a whole /metrics")
        check_serving(srv)
        srv.stop()


# ---- slowloris ---------------------------------------------------------------------------

def closed(sock):
    """Reads what is there without waiting: True at EOF or reset."""
    try:
        while True:
            r, _, _ = select.select([sock], [], [], 0)
            if not r:
                return False
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True


def case_slowloris(args):
    harness.require(h2raw, "python3-h2")
    with admin_server(args) as srv:
        p = srv.admin_port
        h1 = socket.create_connection(("127.0.0.1", p), timeout=10)
        h2c = h2raw.Client(p)
        h2c.conn.send_headers(1, [(b":method", b"GET"), (b":scheme", b"http"),
                                  (b":path", b"/healthz"), (b":authority", b"x")])
        h2c.flush()  # no END_STREAM: the request stays open
        t0 = time.monotonic()
        trickle = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 64
        ends = {}
        i = 0
        while len(ends) < 2 and time.monotonic() < t0 + REQUEST_BOUND_S + 6:
            now = time.monotonic() - t0
            if "http1" not in ends:
                try:
                    h1.send(trickle[i % len(trickle):i % len(trickle) + 1])
                except (BrokenPipeError, ConnectionResetError):
                    ends["http1"] = now
                if "http1" not in ends and closed(h1):
                    ends["http1"] = now
            if "h2" not in ends:
                try:
                    h2c.conn.ping(b"slowlori")
                    h2c.flush()
                    if closed(h2c.sock):
                        ends["h2"] = now
                except (BrokenPipeError, ConnectionResetError):
                    ends["h2"] = now
            i += 1
            time.sleep(1.0)
        h1.close()
        h2c.close()
        log(f"closed after (s): {ends}")
        for k in ("http1", "h2"):
            check(k in ends, f"{k}: still open {REQUEST_BOUND_S + 6:.0f} s into a request that "
                  "sends a little every second")
            check(REQUEST_BOUND_S - 1.5 <= ends[k] <= REQUEST_BOUND_S + 3,
                  f"{k}: closed {ends[k]:.1f} s into the request, expected about "
                  f"{REQUEST_BOUND_S:.0f} s")
        check_serving(srv)
        srv.stop()


if __name__ == "__main__":
    harness.run_cases({
        "nghttp": case_nghttp,
        "h2load": case_h2load,
        "upgrade": case_upgrade,
        "h2_hostile": case_h2_hostile,
        "pipeline_unread": case_pipeline_unread,
        "h2_unread": case_h2_unread,
        "slowloris": case_slowloris,
    }, harness.parse_args())
