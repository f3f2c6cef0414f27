#!/usr/bin/python3
"""HTTP/1.1 on the admin endpoint (--admin-listen 127.0.0.1:0), over raw sockets, every read
bounded by a socket timeout:

  keepalive         several requests, one after the other, on one connection (the /metrics
                    bodies whole, by Content-Length), and the connection stays open
  pipelined         three requests in one send: three responses, in order; then a /metrics
                    pipelined between two others, in both formats
  long_request_line a 1 MiB request line: 400 and the connection closed; the admin port and the
                    gRPC port both keep serving
  garbage           bytes that are not HTTP (a TLS ClientHello, binary junk): 400 and close;
                    the server keeps serving
  not_found         unknown paths (also ones that start like a known one) -> 404, and the
                    connection stays usable; a query string does not change the route
  methods           POST/PUT/DELETE on a known path -> 405 with Allow (RFC 9110 15.5.6: the
                    origin server MUST send Allow in a 405); on an unknown path -> 404
  head              HEAD (RFC 9110 9.1: general-purpose servers MUST support GET and HEAD): a
                    response without content, so the next response on the connection is read
                    right; 200 with GET's headers preferred
  connection_close  "Connection: close" and HTTP/1.0 requests (what urllib and Go clients with
                    keep-alives off, e.g. kubelet's HTTP probes, send) are answered, then closed;
                    urllib.request.urlopen gets /healthz

After each case the server must still answer on both ports and exit 0 on SIGTERM.
"""
import os
import socket
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import Server, TestFailure, check, log  # noqa: E402

try:
    import h2raw
except ImportError:  # pragma: no cover - depends on the host
    h2raw = None

TIMEOUT = 5.0  # seconds, per socket operation
OM_ACCEPT = "application/openmetrics-text; version=1.0.0"


class Response:
    def __init__(self, version, status, reason, headers, body):
        self.version, self.status, self.reason = version, status, reason
        self.headers, self.body = headers, body  # headers: {lower-case name: value}

    def __repr__(self):
        return (f"<{self.version} {self.status} {self.reason} {self.headers} "
                f"body={self.body[:80]!r}{'...' if len(self.body) > 80 else ''}>")


class Conn:
    """One TCP connection to the admin port and the bytes read from it so far."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.buf = b""
        self.eof = False
        self.reset = False

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        """sendall; False if the server closed or reset meanwhile (it may answer and close
        before reading everything)."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError):
            return False

    def _fill(self, what):
        if self.eof:
            raise TestFailure(f"connection closed by the server while reading {what}; "
                              f"got {self.buf[:200]!r}")
        try:
            chunk = self.sock.recv(65536)
        except socket.timeout:
            raise TestFailure(f"{what}: nothing came within {TIMEOUT} s; got {self.buf[:200]!r}")
        except ConnectionResetError:
            chunk = b""
            self.reset = True
        if not chunk:
            self.eof = True
        self.buf += chunk

    def response(self, head=False, what="response"):
        """Reads one response; its content by Content-Length (none for a HEAD request)."""
        while b"\r\n\r\n" not in self.buf:
            self._fill(what)
        head_bytes, self.buf = self.buf.split(b"\r\n\r\n", 1)
        lines = head_bytes.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        check(len(parts) == 3 and parts[0] in ("HTTP/1.1", "HTTP/1.0") and parts[1].isdigit(),
              f"bad status line {lines[0]!r} in {what}")
        headers = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            check(sep and name.strip() == name, f"bad header line {line!r} in {what}")
            check(name.lower() not in headers, f"header {name} twice in {what}")
            headers[name.lower()] = value.strip()
        body = b""
        if not head:
            check("content-length" in headers, f"{what} without Content-Length: {lines}")
            n = int(headers["content-length"])
            while len(self.buf) < n:
                self._fill(f"{what} body ({len(self.buf)} of {n} bytes)")
            body, self.buf = self.buf[:n], self.buf[n:]
        return Response(parts[0], int(parts[1]), parts[2], headers, body)

    def closed_after(self, what):
        """True once the server has closed (EOF or reset) with nothing more to read."""
        deadline = time.monotonic() + TIMEOUT
        while not self.eof and time.monotonic() < deadline:
            self._fill(f"the close after {what}")
        check(self.buf == b"", f"bytes after {what}: {self.buf[:200]!r}")
        return self.eof

    def still_open(self):
        """Nothing to read and no EOF right now: the connection is idle, not closed."""
        self.sock.settimeout(0.05)
        try:
            chunk = self.sock.recv(1)
        except socket.timeout:
            return True
        except ConnectionResetError:
            return False
        finally:
            self.sock.settimeout(TIMEOUT)
        if chunk:
            raise TestFailure(f"unexpected byte from an idle connection: {chunk!r}")
        return False


def get(path, extra=""):
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def expect(r, status, body=None, what=""):
    check(r.status == status, f"{what}: expected {status}, got {r}")
    if body is not None:
        check(r.body == body, f"{what}: body {r.body!r}, expected {body!r}")


def check_metrics_body(r, openmetrics, what):
    expect(r, 200, what=what)
    ctype = r.headers.get("content-type", "")
    want = "application/openmetrics-text" if openmetrics else "text/plain; version=0.0.4"
    check(ctype.startswith(want), f"{what}: Content-Type {ctype!r}")
    text = r.body.decode()
    check(text.startswith("# HELP grpc_server_started"), f"{what}: body starts {text[:60]!r}")
    check(text.endswith("# EOF\n") == openmetrics, f"{what}: ends with {text[-30:]!r}")


def still_serving(srv, what):
    """A fresh admin connection answers /healthz and /metrics; the gRPC port a SayHello."""
    with Conn(srv.admin_port) as c:
        c.send(get("/healthz") + get("/metrics"))
        expect(c.response(), 200, b"ok\n", f"/healthz after {what}")
        check_metrics_body(c.response(), False, f"/metrics after {what}")
    if h2raw is not None:
        h2raw.say_hello_ok(srv.port, "after-admin")
    check(srv.alive(), f"the server died after {what}")


def run(args, body):
    with Server(args.server, "--shards", "2", "--admin-listen", "127.0.0.1:0") as srv:
        check(srv.admin_port, "no admin= in the startup line")
        body(srv)
        still_serving(srv, args.case)
        srv.stop()


# ---- cases ---------------------------------------------------------------------------------

def case_keepalive(args):
    def body(srv):
        with Conn(srv.admin_port) as c:
            for i, (path, status, want) in enumerate([("/healthz", 200, b"ok\n"),
                                                      ("/readyz", 200, b"ready\n"),
                                                      ("/nope", 404, None),
                                                      ("/healthz", 200, b"ok\n")]):
                check(c.send(get(path)), f"request {i} not sent: connection closed")
                r = c.response(what=f"response {i} ({path})")
                expect(r, status, want, f"request {i} {path}")
                check(r.version == "HTTP/1.1", f"{r}")
                check(r.headers.get("connection", "").lower() != "close",
                      f"request {i}: the server announced a close: {r}")
            for om in (False, True, False):
                c.send(get("/metrics", f"Accept: {OM_ACCEPT}\r\n" if om else ""))
                check_metrics_body(c.response(what="/metrics"), om, f"keep-alive /metrics om={om}")
            check(c.still_open(), "the connection was closed after keep-alive requests")
        log("7 requests answered on one connection, which stayed open")
    run(args, body)


def case_pipelined(args):
    def body(srv):
        with Conn(srv.admin_port) as c:
            c.send(get("/healthz") + get("/nope") + get("/readyz"))
            expect(c.response(what="1st"), 200, b"ok\n", "1st pipelined (/healthz)")
            expect(c.response(what="2nd"), 404, None, "2nd pipelined (/nope)")
            expect(c.response(what="3rd"), 200, b"ready\n", "3rd pipelined (/readyz)")
            check(c.buf == b"" and c.still_open(), f"after 3 responses: {c.buf[:100]!r}")
            # Large bodies between small ones: whole and in order.
            c.send(get("/metrics") + get("/healthz") +
                   get("/metrics", f"Accept: {OM_ACCEPT}\r\n") + get("/readyz"))
            check_metrics_body(c.response(what="metrics 1"), False, "pipelined /metrics")
            expect(c.response(what="healthz"), 200, b"ok\n", "pipelined /healthz")
            check_metrics_body(c.response(what="metrics 2"), True, "pipelined OpenMetrics")
            expect(c.response(what="readyz"), 200, b"ready\n", "pipelined /readyz")
            check(c.buf == b"" and c.still_open(), f"after 4 responses: {c.buf[:100]!r}")
        log("3 and 4 pipelined requests answered in order")
    run(args, body)


def bad_request(srv, data, what):
    """Sends `data`; expects 400, then the close."""
    with Conn(srv.admin_port) as c:
        sent = c.send(data)
        r = c.response(what=f"the answer to {what}")
        expect(r, 400, what=what)
        check(c.closed_after(f"the 400 for {what}"),
              f"the connection stayed open after the 400 for {what}")
        log(f"{what}: 400, then closed (request {'fully' if sent else 'partly'} sent)")


def case_long_request_line(args):
    def body(srv):
        bad_request(srv, b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
                    "a 1 MiB request line")
        still_serving(srv, "the 1 MiB request line")
        # A long header block too (http-parser's limit is on the whole head).
        bad_request(srv, b"GET /healthz HTTP/1.1\r\n" + b"X-Long: " + b"b" * (200 << 10) +
                    b"\r\n\r\n", "a 200 KiB header")
    run(args, body)


def case_garbage(args):
    def body(srv):
        tls_hello = bytes.fromhex("16030100a5010000a10303") + os.urandom(32) + b"\x00" * 40
        # (Not an HTTP/2 preface: the endpoint is to speak h2c; not "GET /\\r\\n", which
        # http-parser takes as HTTP/0.9.)
        for what, data in [("a TLS ClientHello", tls_hello),
                           ("binary junk", b"\x00\xff\x13\x37\r\n\r\n" * 4),
                           ("a header line without a colon",
                            b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n"),
                           ("a Content-Length that is not a number",
                            b"POST /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n")]:
            bad_request(srv, data, what)
            still_serving(srv, what)
    run(args, body)


def case_not_found(args):
    def body(srv):
        with Conn(srv.admin_port) as c:
            for path in ("/", "/nope", "/metricsx", "/metrics/", "/healthzz", "/ready",
                         "/" + "x" * 1000):
                c.send(get(path))
                expect(c.response(what=path), 404, what=f"GET {path}")
            for path, want in (("/healthz?verbose=1", b"ok\n"), ("/readyz?x", b"ready\n")):
                c.send(get(path))
                expect(c.response(what=path), 200, want, f"GET {path}")
            check(c.still_open(), "the connection closed after 404s")
        log("unknown paths 404 on a connection that stays usable; query strings ignored")
    run(args, body)


def case_methods(args):
    def body(srv):
        problems = []
        with Conn(srv.admin_port) as c:
            for method in ("POST", "PUT", "DELETE"):
                for path in ("/metrics", "/healthz", "/readyz"):
                    c.send(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                           .encode())
                    r = c.response(what=f"{method} {path}")
                    if r.status != 405:
                        problems.append(f"{method} {path}: {r.status}, expected 405")
                    elif "GET" not in r.headers.get("allow", ""):
                        problems.append(f"{method} {path}: 405 without Allow: GET ({r.headers})")
                for path in ("/nope", "/metricsfoo", "/healthz/x", "/readyzz"):
                    c.send(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
                           .encode())
                    r = c.response(what=f"{method} {path}")
                    if r.status != 404:
                        problems.append(f"{method} {path}: {r.status}, expected 404 (no such "
                                        f"resource, whatever the method)")
            # A request with content: the content is consumed, the next request still served.
            c.send(b"POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello" +
                   get("/healthz"))
            r = c.response(what="POST with content")
            if r.status != 405:
                problems.append(f"POST /metrics with content: {r.status}, expected 405")
            expect(c.response(what="GET after a POST with content"), 200, b"ok\n",
                   "GET after a POST with content")
        check(not problems, f"{len(problems)} wrong answers:\n  " + "\n  ".join(problems))
        log("non-GET methods: 405 with Allow on known paths, 404 elsewhere")
    run(args, body)


def case_head(args):
    def body(srv):
        with Conn(srv.admin_port) as c:
            c.send(get("/healthz"))
            g = c.response(what="GET /healthz")
            expect(g, 200, b"ok\n", "GET /healthz")
            c.send(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\n" + get("/readyz"))
            h = c.response(head=True, what="HEAD /healthz")
            log(f"HEAD /healthz -> {h.status} {h.reason}, headers {h.headers}")
            # No content after a HEAD response's header section (RFC 9110 9.3.2): what follows
            # must be the next response.
            try:
                nxt = c.response(what="the GET after the HEAD")
            except TestFailure as e:
                raise TestFailure(f"the response after HEAD's does not parse: content was sent "
                                  f"with the HEAD response ({h.status}, Content-Length "
                                  f"{h.headers.get('content-length')}): {e}")
            check(nxt.status == 200 and nxt.body == b"ready\n",
                  f"the response after HEAD's is not the next request's: content was sent with "
                  f"the HEAD response ({h.status}, Content-Length "
                  f"{h.headers.get('content-length')}), read as {nxt}")
            check(h.status == 200, f"HEAD /healthz: {h.status}, expected 200 (RFC 9110 9.1: "
                                   f"general-purpose servers MUST support HEAD)")
            check(h.headers.get("content-type") == g.headers.get("content-type"),
                  f"HEAD Content-Type {h.headers} differs from GET's {g.headers}")
        log("HEAD answered like GET, without content")
    run(args, body)


def case_connection_close(args):
    def body(srv):
        for what, req in [("Connection: close", get("/healthz", "Connection: close\r\n")),
                          ("HTTP/1.0", b"GET /healthz HTTP/1.0\r\n\r\n"),
                          ("Connection: close on /metrics",
                           get("/metrics", "Connection: close\r\n"))]:
            with Conn(srv.admin_port) as c:
                c.send(req)
                r = c.response(what=f"the answer to a {what} request")
                check(r.status == 200, f"{what}: {r}")
                check(c.closed_after(what), f"{what}: the connection stayed open")
                log(f"{what}: 200, then closed")
        # Two requests, the first with Connection: close: the second is not served.
        with Conn(srv.admin_port) as c:
            c.send(get("/healthz", "Connection: close\r\n") + get("/readyz"))
            expect(c.response(what="first of two"), 200, b"ok\n", "close, then another")
            check(c.closed_after("a Connection: close request followed by another"),
                  "the connection stayed open after Connection: close")
        url = f"http://127.0.0.1:{srv.admin_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=TIMEOUT) as resp:
                status, data = resp.status, resp.read()
        except OSError as e:
            raise TestFailure(f"urllib.request.urlopen({url}): {type(e).__name__}: {e}")
        check((status, data) == (200, b"ok\n"), f"urllib: {status} {data!r}")
        log("urllib (Connection: close): 200")
    run(args, body)


CASES = {
    "keepalive": case_keepalive,
    "pipelined": case_pipelined,
    "long_request_line": case_long_request_line,
    "garbage": case_garbage,
    "not_found": case_not_found,
    "methods": case_methods,
    "head": case_head,
    "connection_close": case_connection_close,
}


def main():
    harness.run_cases(CASES, harness.parse_args())


if __name__ == "__main__":
    main()
