"""Shared pieces of bench/hostile.py and bench/soak.py: a raw HTTP/2 attacker connection,
hand-encoded protobuf requests, fixed HPACK header blocks, the server process and what
/proc says about it, and the "good" client whose latency the attacks are measured by.

Nothing here asserts anything: it counts and measures. Every wait is bounded, and only
processes started here are signalled.
"""
import collections
import json
import os
import resource
import select
import signal
import socket
import subprocess
import sys
import time
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

import hpack  # noqa: E402  (python3-h2 brings it)

from harness import STARTUP_RE, STATS_RE, STATS_KEYS, grpc_frame, hello_request, varint  # noqa: E402,F401
from h2raw import (T_DATA, T_HEADERS, T_RST, T_SETTINGS, T_PING, T_GOAWAY, T_CONT,  # noqa: E402
                   frame)

MAGIC = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
T_WINDOW_UPDATE = 8
MAX_WINDOW = 2**31 - 1
S_HEADER_TABLE_SIZE, S_INITIAL_WINDOW_SIZE, S_MAX_FRAME_SIZE = 0x1, 0x4, 0x5

H2_ERRORS = ["NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
             "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM", "CANCEL",
             "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM", "INADEQUATE_SECURITY",
             "HTTP_1_1_REQUIRED"]
GRPC_CODES = ["OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
              "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
              "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL",
              "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"]

SAY_HELLO = "/helloworld.Greeter/SayHello"
PING = "/fgrpc.PingServer/Ping"
COUNT_SLOWLY = "/urpc.example.Demo/CountSlowly"
UNARY_CALL = "/grpc.testing.TestService/UnaryCall"
STREAMING_OUTPUT = "/grpc.testing.TestService/StreamingOutputCall"
FULL_DUPLEX = "/grpc.testing.TestService/FullDuplexCall"


def h2_error(code):
    return H2_ERRORS[code] if 0 <= code < len(H2_ERRORS) else f"0x{code:x}"


def grpc_code(code):
    return GRPC_CODES[code] if 0 <= code < len(GRPC_CODES) else str(code)


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---- protobuf, by hand (field numbers from proto/) ----------------------------------------

def pb_varint_field(num, v):
    return varint(num << 3) + varint(v & (2**64 - 1))


def pb_bytes_field(num, b):
    return varint(num << 3 | 2) + varint(len(b)) + b


def ping_message(seq=1, delay_ns=0, payload=b""):
    """fgrpc.PingMessage{seq, payload, delayNanos}."""
    out = pb_varint_field(1, seq)
    if payload:
        out += pb_bytes_field(3, payload)
    if delay_ns:
        out += pb_varint_field(4, delay_ns)
    return out


def simple_request(response_size):
    """grpc.testing.SimpleRequest{response_size}."""
    return pb_varint_field(2, response_size)


def streaming_output_request(sizes, interval_us=0):
    """grpc.testing.StreamingOutputCallRequest, one ResponseParameters{size, interval_us} each."""
    one = lambda s: pb_varint_field(1, s) + (pb_varint_field(2, interval_us) if interval_us else b"")
    return b"".join(pb_bytes_field(2, one(s)) for s in sizes)


def gzip_bomb_message(inflated=(4 << 20) - 64):
    """A gzip-compressed HelloRequest{name: 'A' * n} that inflates to `inflated` bytes
    (just under the server's 4 MiB message limit, so it is accepted): ~4 KiB on the wire."""
    name = b"A" * (inflated - 6)
    msg = hello_request(name)
    z = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31 = the gzip wrapper
    return z.compress(msg) + z.flush(), len(msg)


# ---- fixed HPACK blocks (no dynamic-table state, so one block serves every stream) ---------

def _hpack_int(n, prefix_bits, first=0):
    lim = (1 << prefix_bits) - 1
    if n < lim:
        return bytes([first | n])
    out = bytearray([first | lim])
    n -= lim
    while n >= 128:
        out.append(n % 128 + 128)
        n //= 128
    out.append(n)
    return bytes(out)


def literal(name, value, indexed=False):
    """A literal header with a new name, not Huffman-coded: 'without indexing' (0x00) or
    'with incremental indexing' (0x40, the entry lands at dynamic index 62)."""
    name = name.encode() if isinstance(name, str) else name
    value = value.encode() if isinstance(value, str) else value
    return (bytes([0x40 if indexed else 0x00]) + _hpack_int(len(name), 7) + name
            + _hpack_int(len(value), 7) + value)


def request_block(path, extra=(), method="POST"):
    """HEADERS block of a gRPC request (or, with method GET, of a plain GET)."""
    hdrs = [(":method", method), (":scheme", "http"), (":path", path),
            (":authority", "127.0.0.1")]
    if method == "POST":
        hdrs += [("content-type", "application/grpc"), ("te", "trailers")]
    return b"".join(literal(k, v) for k, v in hdrs + list(extra))


def hpack_bomb_block(path, method="POST", value_len=4000, target_len=15000):
    """A request block that inserts one `value_len`-byte header into the dynamic table and then
    references it (index 62, one byte each) until the block is `target_len` bytes long."""
    head = request_block(path, method=method) + literal("x-bomb", b"a" * value_len, indexed=True)
    refs = max(0, target_len - len(head))
    return head + bytes([0x80 | 62]) * refs, refs


def settings_payload(pairs):
    return b"".join(k.to_bytes(2, "big") + v.to_bytes(4, "big") for k, v in pairs)


def window_update(sid, inc):
    return frame(T_WINDOW_UPDATE, 0, sid, inc.to_bytes(4, "big"))


def rst_stream(sid, code=8):
    return frame(T_RST, 0, sid, code.to_bytes(4, "big"))


def headers_frame(sid, block, end_stream=False):
    return frame(T_HEADERS, 0x4 | (0x1 if end_stream else 0), sid, block)


def data_frame(sid, payload, end_stream=False):
    return frame(T_DATA, 0x1 if end_stream else 0, sid, payload)


def unary_frames(sid, block, message, compressed=False):
    return headers_frame(sid, block) + data_frame(sid, grpc_frame(message, compressed), True)


# ---- the attacker's connection ------------------------------------------------------------

class Closed(Exception):
    """The server closed the connection (or sent GOAWAY and we stopped using it)."""


class RawConn:
    """One HTTP/2 connection over a plain non-blocking socket that sends whatever it is given,
    answers SETTINGS and PING, and counts in `obs` (a Counter) what the server did: GOAWAY and
    RST_STREAM codes, grpc-status values, HTTP statuses, DATA bytes, connection closes.
    Per-stream outcomes are kept in `status` (grpc-status), `resets` and `ended`."""

    def __init__(self, port, obs, settings=((S_INITIAL_WINDOW_SIZE, MAX_WINDOW),),
                 conn_window=MAX_WINDOW, preface=True, timeout=10.0, rcvbuf=None):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.poller = select.poll()
        self.poller.register(self.sock.fileno(), select.POLLIN)
        self.obs = obs
        self.timeout = timeout
        self.t0 = time.monotonic()
        self.dec = hpack.Decoder()
        self.dec.max_allowed_table_size = 1 << 20
        self.buf = bytearray()
        self.out = bytearray()  # queued output, sent in order
        self.next_sid = 1
        self.goaway = None      # (error code, last stream id)
        self.goaway_at = None   # seconds after connect
        self.eof = False
        self.broken = False     # a send gave up half-way: the byte stream is no longer framed
        self.status, self.resets, self.ended = {}, {}, set()
        self.data_bytes = collections.Counter()  # per stream, for flow control
        self.on_data = None     # optional callback(sid, nbytes)
        self._frag = None       # (sid, flags, block) while CONTINUATIONs are due
        obs["connections"] += 1
        if preface:
            out = MAGIC + frame(T_SETTINGS, 0, 0, settings_payload(settings))
            if conn_window > 65535:
                out += window_update(0, conn_window - 65535)
            self.send(out)

    @property
    def dead(self):
        return self.eof or self.broken or self.goaway is not None

    def new_sid(self):
        sid = self.next_sid
        self.next_sid += 2
        return sid

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        """Queues `data` and sends all that is queued, reading what comes meanwhile (so a
        server that waits for us to read never deadlocks us); raises Closed on EOF and
        TimeoutError after `timeout` (the connection is then `broken`)."""
        self.out += data
        deadline = time.monotonic() + self.timeout
        while self.out:
            if self.eof:
                raise Closed()
            if self._flush():
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                self.obs["send timeouts"] += 1
                self.broken = True
                raise TimeoutError("send blocked")
            self.poller.modify(self.sock.fileno(), select.POLLIN | select.POLLOUT)
            ev = self.poller.poll(min(left, 0.1) * 1000)
            self.poller.modify(self.sock.fileno(), select.POLLIN)
            if any(e & (select.POLLIN | select.POLLHUP | select.POLLERR) for _, e in ev):
                self.pump(0)

    def _flush(self):
        """One non-blocking send from the head of the queue; False if nothing went out. All
        bytes go through this one queue, so an ACK never lands inside a half-sent frame."""
        if not self.out:
            return False
        try:
            n = self.sock.send(self.out)
        except BlockingIOError:
            return False
        except (BrokenPipeError, ConnectionResetError):
            self._eof()
            return False
        del self.out[:n]
        return n > 0

    def pump(self, timeout=0.0, max_bytes=1 << 20):
        """Reads and handles what has arrived, waiting up to `timeout` for the first bytes."""
        got = 0
        wait = timeout
        while got < max_bytes and not self.eof:
            if wait > 0 and not self.poller.poll(wait * 1000):
                break
            wait = 0
            try:
                chunk = self.sock.recv(min(65536, max_bytes - got))
            except BlockingIOError:
                break
            except (ConnectionResetError, OSError):
                self._eof()
                break
            if not chunk:
                self._eof()
                break
            got += len(chunk)
            self.buf += chunk
            self._frames()
        return got

    def pump_until(self, cond, timeout):
        deadline = time.monotonic() + timeout
        while not cond() and not self.eof:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.pump(min(left, 0.05))
        return cond()

    def _eof(self):
        if not self.eof:
            self.eof = True
            self.obs["closed by server"] += 1

    def _frames(self):
        out = bytearray()
        while len(self.buf) >= 9:
            n = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + n:
                break
            t, flags = self.buf[3], self.buf[4]
            sid = int.from_bytes(self.buf[5:9], "big") & MAX_WINDOW
            payload = bytes(self.buf[9:9 + n])
            del self.buf[:9 + n]
            out += self._frame(t, flags, sid, payload)
        if out and not self.eof:
            self.out += out
            self._flush()  # the rest goes with the next send()

    def _frame(self, t, flags, sid, p):
        """Handles one frame; returns bytes to send back (ACKs)."""
        if t == T_SETTINGS and not flags & 1:
            return frame(T_SETTINGS, 1, 0)
        if t == T_PING and not flags & 1:
            return frame(T_PING, 1, 0, p)
        if t == T_GOAWAY:
            code = int.from_bytes(p[4:8], "big")
            self.obs[f"GOAWAY {h2_error(code)}"] += 1
            if self.goaway is None:
                self.goaway_at = time.monotonic() - self.t0
            self.goaway = (code, int.from_bytes(p[0:4], "big") & MAX_WINDOW)
        elif t == T_RST:
            code = int.from_bytes(p[0:4], "big")
            self.obs[f"RST {h2_error(code)}"] += 1
            self.resets[sid] = code
        elif t == T_DATA:
            self.obs["data bytes"] += len(p)
            self.data_bytes[sid] += len(p)
            if self.on_data:
                self.on_data(sid, len(p))
            if flags & 1:
                self.ended.add(sid)
        elif t == T_HEADERS:
            self._frag = (sid, flags, self._strip(flags, p))
            if flags & 0x4:
                self._headers_done()
        elif t == T_CONT and self._frag:
            fsid, fflags, block = self._frag
            self._frag = (fsid, fflags, block + p)
            if flags & 0x4:
                self._headers_done()
        return b""

    @staticmethod
    def _strip(flags, p):
        if flags & 0x8:  # PADDED
            p = p[1:len(p) - p[0]]
        if flags & 0x20:  # PRIORITY
            p = p[5:]
        return p

    def _headers_done(self):
        sid, flags, block = self._frag
        self._frag = None
        try:
            hdrs = self.dec.decode(block, raw=True)
        except Exception:
            self.obs["undecodable HEADERS"] += 1
            return
        for k, v in hdrs:
            if k == b":status" and v != b"200":
                self.obs[f"HTTP {v.decode()}"] += 1
            elif k == b"grpc-status":
                code = int(v)
                self.status[sid] = code
                self.obs[f"grpc {grpc_code(code)}"] += 1
        if flags & 1:
            self.ended.add(sid)


def preface_conn(port, obs, timeout=10.0):
    """A plain socket that has sent the preface, empty SETTINGS and an ACK: the cheapest
    connection the server must hold as a live HTTP/2 session."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    s.sendall(MAGIC + frame(T_SETTINGS, 0, 0) + frame(T_SETTINGS, 1, 0))
    obs["connections"] += 1
    return s


def raise_nofile(want):
    """Raises RLIMIT_NOFILE to `want` (the hard limit too, if we may); returns the soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= want:
        return soft
    for new in ((want, max(want, hard)), (min(want, hard), hard)):
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, new)
            return new[0]
        except (ValueError, OSError):
            continue
    return soft


# ---- the server process and /proc ----------------------------------------------------------

def proc_status(pid):
    """{'VmRSS': KiB, 'VmHWM': KiB} from /proc/PID/status; {} once the process is gone."""
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of the whole process in seconds (fields 14 and 15 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError):
        return None


def nofile_limit(pid):
    """'soft/hard' RLIMIT_NOFILE of a process, from /proc/PID/limits."""
    try:
        with open(f"/proc/{pid}/limits") as f:
            for line in f:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return f"{soft}/{hard}"
    except OSError:
        pass
    return "?"


def fd_count(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def _server_preexec():
    """In the child: die with the driver, and room for 20,000+ connections."""
    try:
        import ctypes
        ctypes.CDLL(None).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass
    raise_nofile(65536)


class ServerProc:
    """A server started by us on 127.0.0.1 port 0 (or a fixed port for servers that cannot
    say theirs), stdout and stderr to files in `out_dir`; stopped by its own PID only."""

    def __init__(self, argv, out_dir, tag, port_from_stdout=True, port=None, tls=False):
        self.argv, self.tag = argv, tag
        self.out_path = os.path.join(out_dir, f"{tag}.stdout")
        self.err_path = os.path.join(out_dir, f"{tag}.stderr")
        self.port, self.tls_port = port, None
        self.rc = None
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._out,
                                     stderr=self._err, preexec_fn=_server_preexec)
        self.pid = self.proc.pid
        if port_from_stdout:
            self._read_port(tls)
        else:
            self._wait_connectable()

    def _read_port(self, tls, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            with open(self.out_path) as f:
                m = STARTUP_RE.search(f.read())
            if m:
                self.port = int(m.group(1))
                self.tls_port = int(m.group(3)) if m.group(3) else None
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.tag}: no startup line within {timeout} s; stderr: "
                           f"{self.stderr_tail()}")

    def _wait_connectable(self, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.tag}: port {self.port} not connectable within {timeout} s")

    def alive(self):
        return self.proc.poll() is None

    def stderr_summary(self, top=2):
        """(lines, the most frequent messages with their counts) of the server's stderr,
        timestamps dropped: a log flood shows up here."""
        counts = collections.Counter()
        with open(self.err_path, "rb") as f:
            for line in f:
                words = line.decode(errors="replace").split()
                counts[" ".join(words[1:] if words and words[0][:1].isdigit() else words)] += 1
        return sum(counts.values()), counts.most_common(top)

    def stderr_tail(self, n=600):
        try:
            with open(self.err_path, "rb") as f:
                f.seek(0, 2)
                f.seek(max(0, f.tell() - n))
                return f.read().decode(errors="replace").strip()
        except OSError:
            return ""

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self, timeout=30.0):
        """SIGTERM and wait; returns (exit code or 'crashed rc=N' / 'hung', shard stats)."""
        how = None
        if self.proc.poll() is not None:
            how = f"crashed rc={self.proc.returncode}"
        else:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                how = f"hung: not stopped {timeout:.0f} s after SIGTERM, killed"
                self.kill()
        self.rc = self.proc.returncode
        self._out.close()
        self._err.close()
        return how, self.shard_stats()

    def shard_stats(self):
        stats = []
        with open(self.out_path, errors="replace") as f:
            for line in f:
                m = STATS_RE.fullmatch(line.strip())
                if m:
                    stats.append({"shard": int(m.group(1)),
                                  **{k: int(v) for k, v in zip(STATS_KEYS, m.groups()[1:])}})
        return stats


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sampler:
    """Samples a process's RSS, fd count and CPU; keeps the peaks."""

    def __init__(self, pid):
        self.pid = pid
        self.samples = []  # (t, rss_kib, fds, cpu_s)
        self.t0 = time.monotonic()

    def sample(self):
        st = proc_status(self.pid)
        s = (time.monotonic() - self.t0, st.get("VmRSS"), fd_count(self.pid),
             cpu_seconds(self.pid))
        self.samples.append(s)
        return s

    def max_rss(self):
        return max((s[1] for s in self.samples if s[1] is not None), default=None)

    def max_fds(self):
        return max((s[2] for s in self.samples if s[2] is not None), default=None)


# ---- the good client ----------------------------------------------------------------------

def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    i = min(len(sorted_vals) - 1, max(0, int(round(q / 100 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[i]


def paced(rate, duration, call, deadline):
    """Calls call() at `rate` per second for `duration` seconds, one at a time. Latency is
    counted from each call's scheduled time, so a stall also delays (and is charged to) the
    calls behind it (the coordinated-omission correction). A client that falls more than one
    call deadline behind stops at `duration` + `deadline`: the calls it never made count as
    errors ("not sent: client stalled"). Returns the result summary."""
    lat, errors = [], collections.Counter()
    t0 = time.monotonic()
    n = int(rate * duration)
    for k in range(n):
        due = t0 + k / rate
        now = time.monotonic()
        if now > t0 + duration + deadline:
            errors["not sent: client stalled"] += n - k
            break
        if due > now:
            time.sleep(due - now)
        err = call()
        if err:
            errors[err] += 1
        else:
            lat.append((time.monotonic() - due) * 1000)
    lat.sort()
    return {"sent": n, "ok": len(lat), "errors": dict(errors),
            "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99),
            "max_ms": lat[-1] if lat else None}


def good_grpc(port, rate, duration, deadline):
    """One grpcio channel, SayHello at a fixed rate."""
    os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
    import grpc
    ch = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(ch).result(timeout=5 * deadline)
    except grpc.FutureTimeoutError:
        pass  # a server too busy to connect: the calls below count the failures
    say = ch.unary_unary(SAY_HELLO)
    req = hello_request("good")

    def call():
        try:
            say(req, timeout=deadline)
            return None
        except grpc.RpcError as e:
            return e.code().name

    for _ in range(5):  # warm-up, not counted (each bounded by the deadline)
        call()
    res = paced(rate, duration, call, deadline)
    ch.close()
    return res


def good_h2get(port, rate, duration, deadline, path="/index.html"):
    """The same for a plain HTTP/2 server (nghttpd): GET `path` on one connection."""
    obs = collections.Counter()
    conn = RawConn(port, obs)
    block = request_block(path, method="GET")

    def call():
        nonlocal conn
        if conn.dead:
            conn.close()
            conn = RawConn(port, obs)
        sid = conn.new_sid()
        try:
            conn.send(headers_frame(sid, block, end_stream=True))
        except (Closed, TimeoutError):
            return "send failed"
        if not conn.pump_until(lambda: sid in conn.ended or sid in conn.resets, deadline):
            return "timeout" if not conn.dead else "connection closed"
        return "reset" if sid in conn.resets else None

    for _ in range(5):
        call()
    res = paced(rate, duration, call, deadline)
    conn.close()
    return res


def good_main(argv):
    """`good MODE PORT RATE DURATION DEADLINE`: prints one JSON line of results."""
    mode, port, rate, duration, deadline = argv[0], int(argv[1]), float(argv[2]), \
        float(argv[3]), float(argv[4])
    fn = good_grpc if mode == "grpc" else good_h2get
    try:
        res = fn(port, rate, duration, deadline)
    except Exception as e:  # report, never hang the driver
        res = {"sent": 0, "ok": 0, "errors": {f"client failed: {e!r}"[:120]: 1},
               "p50_ms": None, "p99_ms": None, "max_ms": None}
    print(json.dumps(res), flush=True)


def fmt_ms(v):
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


def fmt_mib(kib):
    return "-" if kib is None else f"{kib / 1024:.1f}"


if __name__ == "__main__" and len(sys.argv) > 1 and sys.argv[1] == "good":
    good_main(sys.argv[2:])
