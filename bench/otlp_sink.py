#!/usr/bin/python3
"""A minimal OTLP/HTTP sink for bench/trace.sh: answers every POST /v1/traces 200 with an
empty ExportTraceServiceResponse, counts requests and bytes (printed on SIGTERM), decodes
nothing (the benchmark measures the server, not the receiver). Prints its port first."""
import http.server
import signal
import sys

stats = {"requests": 0, "bytes": 0}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(n)
        stats["requests"] += 1
        stats["bytes"] += n
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()


def main():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)

    def stop(*_):
        print(f"otlp_sink: {stats['requests']} exports, {stats['bytes']} bytes", flush=True)
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print(httpd.server_address[1], flush=True)
    httpd.serve_forever()


if __name__ == "__main__":
    main()
