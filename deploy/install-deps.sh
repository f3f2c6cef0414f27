#!/usr/bin/env bash
# Installs the Debian packages uringrpc needs. Idempotent: prints nothing and touches nothing
# when all are already present.
#
#   URPC_DEPS=build        only what building the library and uringrpc-server needs (configure
#                          with -DURPC_TESTS=OFF); the container image's build stage uses it
#   URPC_DEPS=all          (default) also the tests' and the benchmarks' tools
#   URPC_BENCH_DEPS=1      adds the grpc C++ peer's (bench/, -DURPC_BENCH_PEERS=ON)
#   URPC_CONTAINER_DEPS=1  adds podman, runc and mmdebstrap (deploy/container-test.sh)
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liburing-dev libwolfssl-dev libnghttp2-dev zlib1g-dev libhttp-parser-dev
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
  packages+=(podman runc containernetworking-plugins iptables mmdebstrap
             python3-grpcio python3-protobuf protobuf-compiler protobuf-compiler-grpc)
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
