#!/usr/bin/python3
"""A lean OTLP/HTTP sink for bench/trace.sh: answers every POST 200 with an empty
ExportTraceServiceResponse, counts requests and bytes (printed on SIGTERM), decodes nothing.
Prints its port first.

It shares the load client's CPU, so it must cost little: http.server parsed every request's
headers with the email package and took a third of that core at 250k spans/s, which slowed
the client in the traced runs only and made the server look dearer than it is. This one reads
raw bytes: finds the end of the headers, takes Content-Length, skips the body, answers with
fixed bytes. Enough for the exporter's HTTP/1.1 (Content-Length bodies, keep-alive)."""
import re
import signal
import socket
import sys
import threading

ANSWER = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-protobuf\r\n"
          b"Content-Length: 0\r\n\r\n")
LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.I)
stats = {"requests": 0, "bytes": 0}


def serve(conn):
    buf = bytearray()
    with conn:
        while True:
            end = buf.find(b"\r\n\r\n")
            while end < 0:
                chunk = conn.recv(1 << 20)
                if not chunk:
                    return
                buf += chunk
                end = buf.find(b"\r\n\r\n")
            m = LENGTH.search(buf, 0, end + 2)
            body = int(m.group(1)) if m else 0
            need = end + 4 + body
            while len(buf) < need:
                chunk = conn.recv(max(need - len(buf), 1 << 20))
                if not chunk:
                    return
                buf += chunk
            del buf[:need]
            stats["requests"] += 1
            stats["bytes"] += body
            conn.sendall(ANSWER)


def main():
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)

    def stop(*_):
        print(f"otlp_sink: {stats['requests']} exports, {stats['bytes']} bytes", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(srv.getsockname()[1], flush=True)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    main()
