#!/usr/bin/env bash
# Installs every Debian package the build, the tests and the benchmarks need.
# Idempotent: prints nothing and touches nothing when all are already present.
set -euo pipefail

packages=(
  build-essential cmake pkg-config
  liburing-dev libwolfssl-dev libnghttp2-dev zlib1g-dev
  libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev
  libcriterion-dev
  python3-grpcio python3-h2 python3-protobuf protobuf-compiler-grpc
  nghttp2-client grpc-proto libhttp-parser-dev prometheus
  clang-14 libclang-rt-14-dev
)
if [ "${URPC_BENCH_DEPS:-0}" = 1 ]; then
  packages+=(libgrpc++-dev)
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
