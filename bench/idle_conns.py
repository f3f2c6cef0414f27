#!/usr/bin/python3
"""Opens N idle HTTP/2 cleartext (h2c) connections to HOST:PORT and holds them.

  idle_conns.py HOST PORT N [HOLD_SECONDS]

Each connection sends the client preface and an empty SETTINGS frame, reads frames until the
server's own SETTINGS arrives, acknowledges it, and then stays silent (PINGs are answered).
With IDLE_TLS=1 in the environment each connection is TLS first (ALPN h2, the server's
certificate not checked). Prints "READY <open> <failed>" on stdout once every connection is set up, then holds them
until SIGTERM/SIGINT or HOLD_SECONDS (default 120) and prints on stderr how many the server
closed meanwhile. Plain sockets only, so the client side costs nothing but the sockets.
"""
import os
import resource
import selectors
import signal
import socket
import ssl
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7
ACK = 0x1
BATCH = 64  # connections set up at a time, so the server's accept backlog never overflows


def tls_context():
    if os.environ.get("IDLE_TLS") != "1":
        return None
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    return ctx


TLS = tls_context()


def frame(ftype, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, stream) + payload


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n + 64
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < want:
            print(f"note: RLIMIT_NOFILE hard limit {hard} < {want}", file=sys.stderr)


class Conn:
    def __init__(self, host, port):
        self.sock = socket.create_connection((host, port), timeout=10)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if TLS:
            self.sock = TLS.wrap_socket(self.sock, server_hostname="localhost")
            if self.sock.selected_alpn_protocol() != "h2":
                raise ConnectionError("TLS without ALPN h2")
        self.buf = b""
        self.sock.sendall(PREFACE + frame(SETTINGS, 0, 0))

    def frames(self):
        """Yields complete frames (type, flags, payload) from what has been received."""
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[:3], "big")
            if len(self.buf) < 9 + length:
                return
            ftype, flags = self.buf[3], self.buf[4]
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            yield ftype, flags, payload

    def handle(self, ftype, flags, payload):
        """Answers what an idle client must answer; returns False on GOAWAY."""
        if ftype == SETTINGS and not flags & ACK:
            self.sock.sendall(frame(SETTINGS, ACK, 0))
            self.got_settings = True
        elif ftype == PING and not flags & ACK:
            self.sock.sendall(frame(PING, ACK, 0, payload))
        elif ftype == GOAWAY:
            return False
        return True

    def handshake(self):
        self.got_settings = False
        while not self.got_settings:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed before SETTINGS")
            self.buf += data
            for f in self.frames():
                if not self.handle(*f):
                    raise ConnectionError("GOAWAY before SETTINGS")

    def pump(self):
        """Reads what is there during the hold; returns False once the server closed."""
        try:
            data = self.sock.recv(65536)
        except (BlockingIOError, ssl.SSLWantReadError):
            return True
        except OSError:
            return False
        if not data:
            return False
        self.buf += data
        return all(self.handle(*f) for f in list(self.frames()))


def main():
    if len(sys.argv) not in (4, 5):
        sys.exit(__doc__)
    host, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    hold = float(sys.argv[4]) if len(sys.argv) == 5 else 120.0
    raise_nofile(n)
    conns, failed = [], 0
    for start in range(0, n, BATCH):
        batch = []
        for _ in range(min(BATCH, n - start)):
            try:
                batch.append(Conn(host, port))
            except OSError as e:
                failed += 1
                print(f"connect failed: {e}", file=sys.stderr)
        for c in batch:
            try:
                c.handshake()
                conns.append(c)
            except OSError as e:
                failed += 1
                c.sock.close()
                print(f"handshake failed: {e}", file=sys.stderr)
    print(f"READY {len(conns)} {failed}", flush=True)

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    sel = selectors.DefaultSelector()
    for c in conns:
        c.sock.setblocking(False)
        sel.register(c.sock, selectors.EVENT_READ, c)
    closed = 0
    deadline = time.monotonic() + hold
    while not stop and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            if not key.data.pump():
                sel.unregister(key.fileobj)
                key.fileobj.close()
                closed += 1
    print(f"held {len(conns)} connections; the server closed {closed} of them", file=sys.stderr)
    for c in conns:
        c.sock.close()


if __name__ == "__main__":
    main()
