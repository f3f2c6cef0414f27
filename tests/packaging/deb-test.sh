#!/usr/bin/env bash
# The Debian packages on a clean Debian: builds them (Release, prefix /usr, cpack -G DEB), then
# in a container of the local minbase bookworm image (deploy/container-base.sh, cached) with
# only the packages mounted read-only:
#
#   1  apt-get install ./uringrpc_*.deb: apt resolves its Depends (dpkg-shlibdeps) from the
#      Debian archive; uringrpc-server --version and --print-config run; ldconfig knows
#      liburingrpc.so.0; nothing of the dev package came along
#   2  apt-get install ./uringrpc-dev_*.deb cmake gcc: the dev package's Depends bring what
#      building against it needs
#   3  examples/out-of-tree built from a copy with find_package(uringrpc) (shared and static)
#      and with cc $(pkg-config ...) (shared, and -static with --static), each run and checked by
#      tests/packaging/check_example.py (grpcio: both methods, reflection, SIGTERM -> exit 0)
#      with python3-grpcio installed in the container
#
# Needs root (rootful podman), podman, runc and mmdebstrap (URPC_CONTAINER_DEPS=1
# deploy/install-deps.sh), and the Debian mirrors the host uses. A few minutes: the build, and
# apt in the container. Every podman call has a time limit; the container is removed at the end.
#
#   tests/packaging/deb-test.sh          (URPC_DEB_BUILD_DIR: where to build; default build-deb)
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
export CONTAINERS_CONF="$root/deploy/containers.conf" # runc and the ulimits
if [ "$(id -u)" -ne 0 ]; then
  echo "deb-test: run as root (rootful podman)" >&2
  exit 1
fi
t0=$SECONDS
step() { echo "== $* ($((SECONDS - t0)) s)"; }

build=${URPC_DEB_BUILD_DIR:-$root/build-deb}
step "building the packages in $build"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DCMAKE_INSTALL_PREFIX=/usr -DURPC_TESTS=OFF \
  -DURPC_WERROR=ON >/dev/null
cmake --build "$build" -j"${URPC_JOBS:-2}" >/dev/null
tmp=$(mktemp -d /tmp/urpc-debtest.XXXXXX)
name=urpc-debtest-$$
cleanup() {
  timeout 60 podman rm -f -t 0 "$name" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT
(cd "$build" && cpack -G DEB -B "$tmp/debs" >/dev/null)
rm -rf "$tmp/debs/_CPack_Packages"
ls "$tmp/debs"
for d in "$tmp"/debs/*.deb; do
  echo "$(dpkg-deb -f "$d" Package): Depends: $(dpkg-deb -f "$d" Depends)"
done

step "the base image"
base=$(timeout 900 deploy/container-base.sh)
echo "$base"

# What runs in the container: /debs (the packages), /src (examples/out-of-tree, tests/, proto/),
# all read-only; the example is built from a copy.
cat >"$tmp/inside.sh" <<'EOF'
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
apt() { apt-get -o Dpkg::Use-Pty=0 -qq "$@" >/tmp/apt.log 2>&1 || { cat /tmp/apt.log; exit 1; }; }
echo "-- 1: apt-get install ./uringrpc_*.deb"
apt update
apt install -y --no-install-recommends /debs/uringrpc_*.deb
uringrpc-server --version
uringrpc-server --print-config | head -n 3
grep -q 'liburingrpc.so.0 ' <<<"$(ldconfig -p)" || { echo "ldconfig does not know liburingrpc.so.0"; exit 1; }
for f in /usr/include/uringrpc.h /usr/bin/protoc-c; do
  [ ! -e "$f" ] || { echo "$f is there with the runtime package alone"; exit 1; }
done
echo "-- 2: apt-get install ./uringrpc-dev_*.deb cmake gcc (+ the test's python3-grpcio)"
apt install -y --no-install-recommends /debs/uringrpc-dev_*.deb cmake gcc libc6-dev make \
  python3-grpcio python3-protobuf protobuf-compiler-grpc
pkg-config --modversion uringrpc
echo "-- 3: examples/out-of-tree"
cp -r /src/examples/out-of-tree /tmp/ex
cd /tmp/ex
bins=()
for kind in shared static; do
  flag=OFF; [ "$kind" = static ] && flag=ON
  cmake -S . -B "build-$kind" -DORDERS_STATIC=$flag >/tmp/cmake.log 2>&1 &&
    cmake --build "build-$kind" >>/tmp/cmake.log 2>&1 || { cat /tmp/cmake.log; exit 1; }
  bins+=("/tmp/ex/build-$kind/orders-server")
done
mkdir gen
protoc-c --c_out=gen orders.proto
protoc --include_imports --descriptor_set_out=gen/orders.pb orders.proto
cmake -DURPC_EMBED_IN=gen/orders.pb -DURPC_EMBED_OUT=gen/orders_server_descriptors.c \
  -DURPC_EMBED_HEADER=gen/orders_server_descriptors.h -DURPC_EMBED_SYMBOL=orders_server_descriptors \
  -P "$(pkg-config --variable=libdir uringrpc)/cmake/uringrpc/uringrpcProtos.cmake"
cc -O2 -Wall -Igen -o orders-pc main.c gen/orders.pb-c.c gen/orders_server_descriptors.c \
  $(pkg-config --cflags --libs uringrpc)
cc -O2 -Wall -Igen -o orders-pc-static main.c gen/orders.pb-c.c \
  gen/orders_server_descriptors.c $(pkg-config --cflags uringrpc) \
  $(pkg-config --static --libs uringrpc | sed 's/-luringrpc\b/-l:liburingrpc.a/') \
  2>/tmp/static.log || { cat /tmp/static.log; exit 1; }
bins+=(/tmp/ex/orders-pc /tmp/ex/orders-pc-static)
grep -q '/liburingrpc.so.0' <<<"$(ldd /tmp/ex/build-shared/orders-server)" || { echo "not linked to the package's .so"; exit 1; }
for b in "${bins[@]}"; do
  python3 -B /src/tests/packaging/check_example.py --server "$b" --example-dir /tmp/ex \
    --proto-dir /src/proto | tail -n 1
done
echo "-- all checks passed in the container"
EOF

step "container: apt install, build, run"
mkdir -p "$tmp/src/examples" "$tmp/src/tests"
cp -r examples/out-of-tree "$tmp/src/examples/"
cp -r tests/packaging tests/integration "$tmp/src/tests/"
cp -r proto "$tmp/src/"
if ! timeout 1200 podman run --name "$name" --network host \
    --security-opt "seccomp=$root/deploy/seccomp.json" \
    -v "$tmp/debs:/debs:ro" -v "$tmp/src:/src:ro" -v "$tmp/inside.sh:/inside.sh:ro" \
    "$base" bash /inside.sh; then
  echo "deb-test: FAILED ($((SECONDS - t0)) s)" >&2
  exit 1
fi
step "deb-test: PASS"
