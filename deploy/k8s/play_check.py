#!/usr/bin/python3
"""What the kubelet and Prometheus would ask a uringrpc pod, asked from the host
(deploy/k8s/play-test.sh; podman 4.3 runs no gRPC probe itself):

  grpc.health.v1.Health/Check("") on the plaintext port   -> SERVING (the probes' question)
  the same over TLS with the certificate from the Secret    -> SERVING
  GET /readyz and /healthz on the admin port                -> 200
  GET /metrics                                              -> counts the Health/Check calls

Waits up to --wait seconds for the first answer. The health stubs are generated into --stub-dir
from Debian's grpc-proto with protoc and grpc_python_plugin (python3-grpcio ships none).
Run with /usr/bin/python3, whose python3-grpcio this is. Exit 0 when all pass, 1 otherwise.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
import urllib.request

HEALTH_PROTO = "/usr/share/grpc-proto/grpc/health/v1/health.proto"


def stubs(out_dir):
    # Compiled from a copy at the top of out_dir: the module is health_pb2, not
    # grpc.health.v1.health_pb2, which would shadow the installed grpc package.
    os.makedirs(out_dir, exist_ok=True)
    shutil.copy(HEALTH_PROTO, os.path.join(out_dir, "health.proto"))
    subprocess.run(["protoc", f"-I{out_dir}", f"--python_out={out_dir}",
                    f"--grpc_python_out={out_dir}",
                    "--plugin=protoc-gen-grpc_python=/usr/bin/grpc_python_plugin",
                    os.path.join(out_dir, "health.proto")], check=True, timeout=60)
    sys.path.insert(0, out_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grpc", type=int, required=True)
    ap.add_argument("--tls", type=int, required=True)
    ap.add_argument("--admin", type=int, required=True)
    ap.add_argument("--ca", required=True, help="PEM the server's certificate verifies against")
    ap.add_argument("--server-name", default="uringrpc")
    ap.add_argument("--stub-dir", required=True)
    ap.add_argument("--wait", type=float, default=30)
    a = ap.parse_args()

    stubs(a.stub_dir)
    import grpc
    import health_pb2
    import health_pb2_grpc

    failures = []

    def check(label, channel):
        stub = health_pb2_grpc.HealthStub(channel)
        deadline = time.monotonic() + a.wait
        while True:
            try:
                r = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                name = health_pb2.HealthCheckResponse.ServingStatus.Name(r.status)
                if r.status == health_pb2.HealthCheckResponse.SERVING:
                    print(f"ok: {label}: Health/Check(\"\") = {name}")
                else:
                    failures.append(f"{label}: Health/Check(\"\") = {name}")
                return
            except grpc.RpcError as e:
                if time.monotonic() > deadline:
                    failures.append(f"{label}: no answer in {a.wait:.0f} s: {e.code().name} {e.details()}")
                    return
                time.sleep(0.5)

    with grpc.insecure_channel(f"127.0.0.1:{a.grpc}") as ch:
        check(f"plaintext 127.0.0.1:{a.grpc}", ch)
    with open(a.ca, "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    with grpc.secure_channel(f"127.0.0.1:{a.tls}", creds,
                             options=[("grpc.ssl_target_name_override", a.server_name)]) as ch:
        check(f"TLS 127.0.0.1:{a.tls} (certificate from the Secret volume)", ch)

    def get(path):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{a.admin}{path}", timeout=5) as r:
                return r.status, r.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, ""
        except OSError as e:
            return None, str(e)

    for path in ("/healthz", "/readyz"):
        status, _ = get(path)
        if status == 200:
            print(f"ok: admin {path} = 200")
        else:
            failures.append(f"admin {path} = {status}")
    status, body = get("/metrics")
    checks = [l for l in body.splitlines()
              if l.startswith("grpc_server_handled_total{") and 'grpc_method="Check"' in l
              and 'grpc_code="OK"' in l]
    if status == 200 and checks:
        print(f"ok: admin /metrics: {checks[0]}")
    else:
        failures.append(f"admin /metrics = {status}, no grpc_server_handled_total for Health/Check")

    for f in failures:
        print(f"FAIL: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
