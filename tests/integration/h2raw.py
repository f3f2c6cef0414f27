"""A small HTTP/2 client over a plain socket (python3-h2) that can send what real gRPC clients
never do: split and merged messages, bad pseudo-headers, resets at odd moments. Every read is
bounded by a deadline."""
import socket
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack

from harness import TestFailure, grpc_frame, hello_request, parse_string_field1

DEFAULT_TIMEOUT = 15.0


class Stream:
    def __init__(self, sid):
        self.id = sid
        self.headers = None   # the first response HEADERS, as a list of (bytes, bytes)
        self.trailers = None  # the trailing HEADERS, if any
        self.data = b""
        self.ended = False
        self.reset = None     # error code of a received RST_STREAM

    @property
    def done(self):
        return self.ended or self.reset is not None

    def header(self, name, where="both"):
        name = name.encode() if isinstance(name, str) else name
        blocks = []
        if where in ("both", "headers") and self.headers:
            blocks.append(self.headers)
        if where in ("both", "trailers") and self.trailers:
            blocks.append(self.trailers)
        for block in blocks:
            for k, v in block:
                if k == name:
                    return v
        return None

    def all_names(self):
        names = [k for k, _ in (self.headers or [])] + [k for k, _ in (self.trailers or [])]
        return [n.decode(errors="replace") for n in names]

    @property
    def http_status(self):
        v = self.header(":status", "headers")
        return int(v) if v is not None else None

    @property
    def grpc_status(self):
        v = self.header("grpc-status")
        return int(v) if v is not None else None

    @property
    def grpc_message(self):
        return self.header("grpc-message")

    def messages(self):
        """The Length-Prefixed-Messages of the response body."""
        out, d = [], self.data
        while d:
            if len(d) < 5:
                raise TestFailure(f"stream {self.id}: response body ends inside a prefix: {d!r}")
            n = int.from_bytes(d[1:5], "big")
            if len(d) < 5 + n:
                raise TestFailure(f"stream {self.id}: response message truncated")
            out.append(d[5:5 + n])
            d = d[5 + n:]
        return out

    def describe(self):
        return (f"stream {self.id}: headers={self.headers} trailers={self.trailers} "
                f"data={self.data[:80]!r} ended={self.ended} reset={self.reset}")


class Client:
    def __init__(self, port, settings=None, timeout=DEFAULT_TIMEOUT, preface=True):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        cfg = h2.config.H2Configuration(client_side=True, header_encoding=None,
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.timeout = timeout
        self.streams = {}
        self.goaway = None        # (error_code, last_stream_id)
        self.eof = False
        self.protocol_error = None
        self.pings_acked = 0
        if preface:
            self.conn.initiate_connection()
            if settings:
                self.conn.update_settings(settings)
            self.flush()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def send_raw(self, data):
        self.sock.sendall(data)

    # ---- requests ----

    def headers(self, path="/helloworld.Greeter/SayHello", extra=(), end_stream=False,
                raw=None, sid=None):
        """HEADERS for a new stream: a normal gRPC request unless `raw` gives the whole list."""
        sid = sid or self.conn.get_next_available_stream_id()
        if raw is None:
            hdrs = [(b":method", b"POST"), (b":scheme", b"http"),
                    (b":path", path.encode() if isinstance(path, str) else path),
                    (b":authority", b"127.0.0.1"), (b"content-type", b"application/grpc"),
                    (b"te", b"trailers")]
            hdrs += [(k.encode() if isinstance(k, str) else k,
                      v.encode() if isinstance(v, str) else v) for k, v in extra]
        else:
            hdrs = [(k.encode() if isinstance(k, str) else k,
                     v.encode() if isinstance(v, str) else v) for k, v in raw]
        self.conn.send_headers(sid, hdrs, end_stream=end_stream)
        self.streams[sid] = Stream(sid)
        self.flush()
        return sid

    def data(self, sid, payload, end_stream=False):
        self.conn.send_data(sid, payload, end_stream=end_stream)
        self.flush()

    def rst(self, sid, code=8):  # 8 = CANCEL
        self.conn.reset_stream(sid, error_code=code)
        self.flush()

    def ping(self):
        self.conn.ping(b"urpctest")
        self.flush()

    def unary(self, path, message, extra=(), compressed=False):
        """A whole unary call in one go; returns the stream id."""
        sid = self.headers(path, extra)
        self.data(sid, grpc_frame(message, compressed), end_stream=True)
        return sid

    # ---- reading ----

    def _handle(self, events):
        for ev in events:
            st = self.streams.get(getattr(ev, "stream_id", None))
            if isinstance(ev, h2.events.ResponseReceived):
                st.headers = ev.headers
            elif isinstance(ev, h2.events.TrailersReceived):
                st.trailers = ev.headers
            elif isinstance(ev, h2.events.DataReceived):
                st.data += ev.data
                self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.StreamEnded):
                st.ended = True
            elif isinstance(ev, h2.events.StreamReset):
                if st is not None:
                    st.reset = int(ev.error_code)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.goaway = (int(ev.error_code), ev.last_stream_id)
            elif isinstance(ev, h2.events.PingAckReceived):
                self.pings_acked += 1

    def pump(self, until, timeout=None):
        """Reads until `until()` is true, the connection ends, or the deadline passes.
        Returns until()."""
        deadline = time.monotonic() + (timeout or self.timeout)
        while not until():
            if self.eof or self.protocol_error:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                self.eof = True
                break
            if not chunk:
                self.eof = True
                break
            try:
                self._handle(self.conn.receive_data(chunk))
            except h2.exceptions.ProtocolError as e:
                self.protocol_error = e
                break
            self.flush()
        return until()

    def wait(self, sid, timeout=None):
        st = self.streams[sid]
        if not self.pump(lambda: st.done, timeout):
            raise TestFailure(f"no complete answer within {timeout or self.timeout} s; "
                              f"{st.describe()} goaway={self.goaway} eof={self.eof} "
                              f"h2 error={self.protocol_error!r}")
        return st

    def wait_closed(self, timeout=5.0):
        """True once the server has sent GOAWAY or closed the connection."""
        return self.pump(lambda: self.goaway is not None or self.eof, timeout) or self.eof


def say_hello_ok(port, name="probe", settings=None):
    """A normal SayHello on a fresh connection, with a PING answered; raises on anything else."""
    with Client(port, settings=settings) as c:
        c.ping()
        sid = c.unary("/helloworld.Greeter/SayHello", hello_request(name))
        st = c.wait(sid)
        check_ok_reply(st, f"Hello {name}")
        c.pump(lambda: c.pings_acked > 0, 5)
        if c.pings_acked < 1:
            raise TestFailure("PING not acknowledged")


def check_ok_reply(st, want):
    if st.http_status != 200 or st.grpc_status != 0:
        raise TestFailure(f"expected :status 200 and grpc-status 0; {st.describe()}")
    if st.header("content-type", "headers") is None or not st.header(
            "content-type", "headers").startswith(b"application/grpc"):
        raise TestFailure(f"response content-type: {st.describe()}")
    if st.header("grpc-status", "trailers") is None:
        raise TestFailure(f"grpc-status not in trailers: {st.describe()}")
    msgs = st.messages()
    if len(msgs) != 1 or parse_string_field1(msgs[0]) != want:
        raise TestFailure(f"expected one reply {want!r}, got {msgs!r}")


def settings_small_window(n):
    return {h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: n}


# ---- raw frames, for what even python3-h2 will not send or let through ----

def frame(ftype, flags, sid, payload=b""):
    head = len(payload).to_bytes(3, "big") + bytes([ftype, flags]) + sid.to_bytes(4, "big")
    return head + payload


def read_frames(sock, timeout, stop=None):
    """Reads raw frames until EOF, `timeout`, or stop(frames); returns (frames, eof)."""
    buf, frames, eof = b"", [], False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not (stop and stop(frames)):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = sock.recv(1 << 16)
        except socket.timeout:
            break
        except ConnectionResetError:
            eof = True
            break
        if not chunk:
            eof = True
            break
        buf += chunk
        while len(buf) >= 9:
            n = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + n:
                break
            frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF,
                           buf[9:9 + n]))
            buf = buf[9 + n:]
    return frames, eof


PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + frame(4, 0, 0)
T_DATA, T_HEADERS, T_RST, T_SETTINGS, T_PING, T_GOAWAY, T_CONT = 0, 1, 3, 4, 6, 7, 9


def raw_conn(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(PREFACE)
    return s


def ready_conn(port):
    """raw_conn plus the ACK of the server's SETTINGS, so it has nothing more to wait for."""
    s = raw_conn(port)
    s.sendall(frame(T_SETTINGS, 0x1, 0))
    return s


def goaway_of(frames):
    for t, _, _, p in frames:
        if t == T_GOAWAY:
            return int.from_bytes(p[4:8], "big")
    return None


MAX_STREAM_ID = 2**31 - 1


def request(enc, sid, payload, path="/fgrpc.PingServer/Ping"):
    """HEADERS + one DATA frame ending the stream: a whole unary gRPC request."""
    block = enc.encode([(":method", "POST"), (":scheme", "http"), (":path", path),
                        (":authority", "127.0.0.1"), ("content-type", "application/grpc"),
                        ("te", "trailers")])
    return frame(T_HEADERS, 0x4, sid, block) + frame(T_DATA, 0x1, sid, grpc_frame(payload))


def goaways(frames):
    """(last stream id, error code) of each GOAWAY."""
    return [(int.from_bytes(p[0:4], "big") & MAX_STREAM_ID, int.from_bytes(p[4:8], "big"))
            for t, _, _, p in frames if t == T_GOAWAY]


def grpc_statuses(frames):
    """grpc-status per stream, decoding every HEADERS block in order (one HPACK context)."""
    dec, out = hpack.Decoder(), {}
    for t, flags, sid, p in frames:
        if t != T_HEADERS:
            continue
        if flags & 0x8:  # PADDED
            p = p[1:len(p) - p[0]]
        if flags & 0x20:  # PRIORITY
            p = p[5:]
        for k, v in dec.decode(p):
            if k in ("grpc-status", b"grpc-status"):
                out[sid] = int(v)
    return out


def answer_drain(sock, timeout=10):
    """Plays a client that answers the server's PING; True once the server has closed."""
    frames, eof = read_frames(sock, timeout, stop=lambda fr: any(
        t == T_PING and not fl & 1 for t, fl, _, _ in fr))
    pings = [p for t, fl, _, p in frames if t == T_PING and not fl & 1]
    if eof or not pings:
        return eof
    sock.sendall(frame(T_PING, 0x1, 0, pings[0]))
    _, eof = read_frames(sock, timeout)
    return eof
