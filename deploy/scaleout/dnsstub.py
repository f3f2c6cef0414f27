"""A tiny authoritative DNS server on 127.0.0.1 (UDP) for the scale-out test.

It answers A queries for the names it holds with their current address lists, and every
other query for those names with an empty NOERROR; unknown names get NXDOMAIN. The record
set can be changed while it runs (set()), which is what a Kubernetes headless Service's DNS
does when a pod becomes ready: grpc's DNS resolver (c-ares, `dns://127.0.0.1:PORT/name:port`)
sees the change the next time the channel re-resolves.
"""
import socket
import struct
import threading


class DnsStub:
    def __init__(self, ttl=1):
        self._records = {}
        self._lock = threading.Lock()
        self._ttl = ttl
        self.queries = 0
        self.a_queries = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="dnsstub", daemon=True)
        self._thread.start()

    def set(self, name, addrs):
        with self._lock:
            self._records[name.lower().rstrip(".")] = list(addrs)

    def close(self):
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                resp = self._answer(data)
            except Exception:  # malformed query: no answer, as a real server might
                continue
            if resp:
                try:
                    self.sock.sendto(resp, peer)
                except OSError:
                    pass

    def _answer(self, q):
        qid, flags, qdcount = struct.unpack("!HHH", q[:6])
        if flags & 0x8000 or qdcount != 1:
            return None
        i, labels = 12, []
        while True:
            n = q[i]
            i += 1
            if n == 0:
                break
            if n & 0xC0:
                return None
            labels.append(q[i:i + n].decode("ascii", "replace"))
            i += n
        qtype, qclass = struct.unpack("!HH", q[i:i + 4])
        question = q[12:i + 4]
        name = ".".join(labels).lower()
        self.queries += 1
        with self._lock:
            addrs = self._records.get(name)
        rflags = 0x8400 | (flags & 0x0100)  # QR, AA, RD copied
        answers = b""
        count = 0
        if addrs is None:
            rflags |= 3  # NXDOMAIN
        elif qtype == 1 and qclass == 1:
            self.a_queries += 1
            for a in addrs:
                answers += struct.pack("!HHHIH", 0xC00C, 1, 1, self._ttl, 4) + socket.inet_aton(a)
                count += 1
        return struct.pack("!HHHHHH", qid, rflags, 1, count, 0, 0) + question + answers
