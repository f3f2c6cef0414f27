#!/usr/bin/env bash
# examples/out-of-tree built against an installed uringrpc, four ways, each run and checked with
# grpcio and reflection (tests/packaging/check_example.py):
#
#   cmake-shared   find_package(uringrpc) + uringrpc_add_protos, uringrpc::uringrpc
#   cmake-static   the same with -DORDERS_STATIC=ON: uringrpc::uringrpc_static
#   pc-shared      cc ... $(pkg-config --cflags --libs uringrpc)
#   pc-static      cc ... $(pkg-config --static --libs uringrpc) with -l:liburingrpc.a
#
# Without CMake the protos are compiled by hand: protoc-c, protoc --descriptor_set_out, and the
# shipped uringrpcProtos.cmake in script mode to embed the set. `-lm` for -static: Debian's
# wolfssl.pc leaves libm out of its Libs.private, and static links need it after -lwolfssl.
#
#   tests/packaging/out_of_tree.sh BUILD_DIR SOURCE_DIR     (a built tree; installs from it)
#
# Exit 0 pass, 1 fail, 77 skip (a tool missing). Cleans up its temporary directory.
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
example=$src/examples/out-of-tree
PY=/usr/bin/python3
CC=${CC:-cc}
for tool in pkg-config protoc-c protoc "$CC" cmake; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool missing"; exit 77; }
done

tmp=$(mktemp -d /tmp/urpc-oot.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
t0=$SECONDS
step() { echo "== $* ($((SECONDS - t0)) s)"; }
quiet() { # runs a command, shows its output only when it fails
  if ! "$@" >"$tmp/log" 2>&1; then
    cat "$tmp/log"
    echo "FAIL: $*"
    exit 1
  fi
}

step "cmake --install into $prefix"
quiet cmake --install "$build" --prefix "$prefix"
libdir=$(dirname "$(find "$prefix" -name uringrpc.pc)")/..
libdir=$(cd "$libdir" && pwd)
export PKG_CONFIG_PATH=$libdir/pkgconfig
echo "pkg-config: $(pkg-config --modversion uringrpc), $(pkg-config --libs uringrpc)"
echo "  --static: $(pkg-config --static --libs uringrpc)"

binaries=()
for kind in shared static; do
  step "CMake, $kind"
  flag=OFF
  [ "$kind" = static ] && flag=ON
  quiet cmake -S "$example" -B "$tmp/cmake-$kind" -DCMAKE_PREFIX_PATH="$prefix" \
    -DORDERS_STATIC=$flag -DCMAKE_BUILD_TYPE=Release
  quiet cmake --build "$tmp/cmake-$kind"
  binaries+=("$tmp/cmake-$kind/orders-server")
done

step "cc + pkg-config"
gen=$tmp/pc
mkdir -p "$gen"
quiet protoc-c -I"$example" --c_out="$gen" "$example/orders.proto"
quiet protoc -I"$example" --include_imports --descriptor_set_out="$gen/orders.pb" \
  "$example/orders.proto"
quiet cmake -DURPC_EMBED_IN="$gen/orders.pb" -DURPC_EMBED_OUT="$gen/orders_server_descriptors.c" \
  -DURPC_EMBED_HEADER="$gen/orders_server_descriptors.h" \
  -DURPC_EMBED_SYMBOL=orders_server_descriptors -P "$libdir/cmake/uringrpc/uringrpcProtos.cmake"
srcs=("$example/main.c" "$gen/orders.pb-c.c" "$gen/orders_server_descriptors.c")
# shellcheck disable=SC2046 # pkg-config's output is meant to be split
quiet "$CC" -O2 -Wall -Wextra -Werror -I"$gen" -o "$gen/orders-shared" "${srcs[@]}" \
  $(pkg-config --cflags --libs uringrpc) -Wl,-rpath,"$libdir"
# The archive, with what it needs from --static; the system's libraries stay shared (a fully
# -static program needs every dependency's archive, and Debian's libcjson-dev ships none).
static_libs=$(pkg-config --static --libs uringrpc | sed 's/-luringrpc\b/-l:liburingrpc.a/')
# shellcheck disable=SC2086 # pkg-config's output is meant to be split
quiet "$CC" -O2 -Wall -Wextra -Werror -I"$gen" -o "$gen/orders-static" "${srcs[@]}" \
  $(pkg-config --cflags uringrpc) $static_libs
binaries+=("$gen/orders-shared" "$gen/orders-static")

# What each binary links: the shared builds liburingrpc.so.0 from the prefix, the static ones not.
for b in "${binaries[@]}"; do
  lib=$(ldd "$b" 2>/dev/null | awk '/liburingrpc/ {print $3}' || true)
  case $b in
    *shared*) want="$libdir/liburingrpc.so.0" ;;
    *) want="" ;;
  esac
  if [ "$lib" != "$want" ]; then
    echo "FAIL: $b links liburingrpc from '${lib}', expected '${want:-none}'"
    exit 1
  fi
done

rc=0
for b in "${binaries[@]}"; do
  step "run ${b#"$tmp"/}"
  "$PY" -B "$src/tests/packaging/check_example.py" --server "$b" --example-dir "$example" \
    --proto-dir "$src/proto" || rc=$?
  [ "$rc" = 0 ] || break
done
[ "$rc" = 0 ] && echo "PASS: 4 builds of examples/out-of-tree ($((SECONDS - t0)) s)"
exit "$rc"
