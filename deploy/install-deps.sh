#!/usr/bin/env bash
# Installs the Debian packages uringrpc needs. Idempotent: prints nothing and touches nothing
# when all are already present.
#
#   URPC_DEPS=build        only what building the library and uringrpc-server needs (configure
#                          with -DURPC_TESTS=OFF); the container image's build stage uses it
#   URPC_DEPS=all          (default) also the tests' and the benchmarks' tools
#   URPC_BENCH_DEPS=1      adds the grpc C++ peer's (bench/, -DURPC_BENCH_PEERS=ON)
#   URPC_CONTAINER_DEPS=1  adds podman, runc, mmdebstrap and nginx (deploy/container-test.sh,
#                          deploy/scaleout-test.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liburing-dev libwolfssl-dev libnghttp2-dev zlib1g-dev libhttp-parser-dev libcjson-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
)
case "${URPC_DEPS:-all}" in
  build) ;;
  all)
    packages+=(
      libcriterion-dev
      python3-grpcio python3-h2 python3-protobuf protobuf-compiler-grpc
      nghttp2-client grpc-proto prometheus
      clang-14 libclang-rt-14-dev
    )
    ;;
  *) echo "install-deps: URPC_DEPS must be build or all, not '${URPC_DEPS}'" >&2; exit 2 ;;
esac
if [ "${URPC_BENCH_DEPS:-0}" = 1 ]; then
  packages+=(libgrpc++-dev)
fi
if [ "${URPC_CONTAINER_DEPS:-0}" = 1 ]; then
  # runc: crun fails on some cgroup setups; the CNI plugins give rootful podman its bridge and
  # port mapping; the test's gRPC client is Debian's python3-grpcio.
  packages+=(podman runc containernetworking-plugins iptables mmdebstrap nginx
             python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm packages of the tests, each folder's into its own node_modules, never global, at the
# versions of its package-lock.json; reinstalled only when that lock file is newer than what npm
# last installed there: tests/deploy (the Kubernetes manifest checks: kubernetes-models, yaml)
# and tests/otel (the OpenTelemetry-instrumented gRPC client of test_trace_otel.py). Node
# itself: the machine's node and npm if it has them (Node >= 14), else Debian's.
# Skipped where the script runs without the source tree (a container's build stage copies it
# alone) and for URPC_DEPS=build.
tests_dir="$(cd "$(dirname "$0")/.." && pwd)/tests"
for npm_dir in "$tests_dir/deploy" "$tests_dir/otel"; do
  if [ "${URPC_DEPS:-all}" != build ] && [ -f "$npm_dir/package-lock.json" ] &&
     { [ ! -f "$npm_dir/node_modules/.package-lock.json" ] ||
       [ "$npm_dir/package-lock.json" -nt "$npm_dir/node_modules/.package-lock.json" ]; }; then
    if ! command -v npm >/dev/null 2>&1; then
      echo "install-deps: installing nodejs npm" >&2
      $sudo apt-get update -qq >/dev/null
      $sudo apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
    fi
    echo "install-deps: installing npm packages into tests/$(basename "$npm_dir")/node_modules" >&2
    (cd "$npm_dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
  fi
done
