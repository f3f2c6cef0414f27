#!/usr/bin/python3
"""gRPC checks for deploy/container-test.sh, run with Debian's /usr/bin/python3 + python3-grpcio.

  container_client.py health GRPC_PORT
      grpc.health.v1.Health/Check("") on 127.0.0.1, retried for up to 20 s while the server
      starts; prints the status, exit 0 for SERVING.
  container_client.py stop-during-call GRPC_PORT ADMIN_PORT DELAY_S STOP_TIMEOUT CONTAINER
      starts fgrpc.PingServer/Ping with delayNanos = DELAY_S, waits until the admin endpoint
      counts it live, runs `podman stop -t STOP_TIMEOUT CONTAINER` (SIGTERM) and prints
      "call=<code> call_s=<s> stop_s=<s>"; exit 0 when the call finished OK.

The stubs are generated at run time by tests/integration/harness.py (Debian's protoc and
grpc_python_plugin). Every wait is bounded.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
import harness  # noqa: E402  (sets GRPC_ENABLE_FORK_SUPPORT before grpc loads)
import grpc  # noqa: E402

PROTO_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto")


def health(port):
    stubs = harness.Stubs(PROTO_DIR)
    deadline = time.monotonic() + 20
    last = None
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = stubs.health_grpc.HealthStub(ch)
        while time.monotonic() < deadline:
            try:
                r = stub.Check(stubs.health.HealthCheckRequest(service=""), timeout=2)
                name = stubs.health.HealthCheckResponse.ServingStatus.Name(r.status)
                print(name)
                return 0 if name == "SERVING" else 1
            except grpc.RpcError as e:
                last = f"{e.code().name}: {e.details()}"
                time.sleep(0.3)
    print(f"no answer in 20 s: {last}")
    return 1


def calls_live(admin_port):
    try:
        return harness.Metrics(admin_port).sum("uringrpc_calls_live")
    except Exception:  # not up yet, or a scrape cut by the stop: not live as far as we know
        return 0


def stop_during_call(port, admin_port, delay_s, stop_timeout, container):
    stubs = harness.Stubs(PROTO_DIR)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as ch:
        stub = stubs.ping_grpc.PingServerStub(ch)
        t0 = time.monotonic()
        fut = stub.Ping.future(stubs.ping.PingMessage(seq=1, delayNanos=int(delay_s * 1e9)),
                               timeout=delay_s + stop_timeout + 10)
        deadline = time.monotonic() + 10
        while calls_live(admin_port) < 1:
            if time.monotonic() > deadline or fut.done():
                print(f"call=NOT_LIVE (done={fut.done()}) call_s=- stop_s=-")
                return 1
            time.sleep(0.1)
        s0 = time.monotonic()
        stop = subprocess.run(["podman", "stop", "-t", str(stop_timeout), container],
                              capture_output=True, text=True, timeout=stop_timeout + 30)
        stop_s = time.monotonic() - s0
        try:
            r = fut.result(timeout=stop_timeout + 10)
            code, ok = "OK", r.seq == 1
        except grpc.RpcError as e:
            code, ok = f"{e.code().name}({e.details()})", False
        call_s = time.monotonic() - t0
    print(f"call={code} call_s={call_s:.2f} stop_s={stop_s:.2f}"
          + ("" if stop.returncode == 0 else f" podman_stop_rc={stop.returncode}"))
    return 0 if ok and stop.returncode == 0 else 1


def main(argv):
    if len(argv) == 3 and argv[1] == "health":
        return health(int(argv[2]))
    if len(argv) == 7 and argv[1] == "stop-during-call":
        return stop_during_call(int(argv[2]), int(argv[3]), float(argv[4]), int(argv[5]),
                                argv[6])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
