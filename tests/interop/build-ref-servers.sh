#!/usr/bin/env bash
# Builds grpc's own interop servers (grpc.testing.TestService of grpc's
# doc/interop-test-descriptions.md) from Debian's packages, offline, for running interop clients
# against a reference implementation:
#
#   OUTDIR/go-interop-server    grpc-go's interop/server (golang-google-grpc 1.33.3): its
#                               interop/{server,grpc_testing,test_utils.go} from Debian's source
#                               package, the rest of grpc-go and its dependencies from
#                               golang-google-grpc-dev & co. (/usr/share/gocode), GOPATH mode,
#                               Debian's Go 1.19. No compression cases (grpc-go 1.33's server
#                               ignores expect_compressed / response_compressed).
#   OUTDIR/cpp-interop-server   grpc C++'s test/cpp/interop/interop_server (grpc 1.51.1): its
#                               sources and the few test helpers it needs from Debian's source
#                               package, the protos compiled with protoc + grpc_cpp_plugin,
#                               linked against the packaged libgrpc++ 1.51.1 and abseil.
#   OUTDIR/testdata/            grpc's test certificates: ca.pem, server1.pem, server1.key (from
#                               golang-google-grpc-dev's testdata/; the same files as grpc's
#                               src/core/tsi/test_creds/). server1.pem is for *.test.google.fr
#                               (clients use --server_host_override foo.test.google.fr), signed
#                               by ca.pem.
#
# grpc's code is built as it is but for one change each: they listen on 127.0.0.1 instead of
# every address, and the C++ one also takes --port 0 (the kernel picks; the tests find the port
# in /proc). Both take --port N (0: any; the Go one's default is 10000), --use_tls, --tls_cert_file and --tls_key_file (with --use_tls; both default to
# server1.pem/server1.key: the Go one reads them from the GOPATH under OUTDIR/.build, the C++
# one has them compiled in). SIGTERM ends either (status 143); the C++ one exits 0 on SIGINT. A
# Go server started with & by a non-interactive shell inherits SIGINT ignored: use SIGTERM.
#
#   tests/interop/build-ref-servers.sh OUTDIR [go] [cpp]     (default: both)
#
# Each server is rebuilt only when it is missing or older than its inputs (this script, the
# source package, the Debian packages it is built from); prints one line per server built, and
# for a missing package one line naming it, and then exits 1 (after building the others). Needs
# what `deploy/install-deps.sh` installs (URPC_DEPS=all), including the source packages it
# unpacks into URPC_DEBSRC_DIR (default /var/cache/uringrpc/debsrc). URPC_JOBS: parallel
# compiles (default 2). Cold: ~10 s for Go, ~25-30 s for C++ on 2 cores.
set -euo pipefail

if [ $# -lt 1 ] || [ -z "$1" ]; then
  echo "usage: $0 OUTDIR [go] [cpp]" >&2
  exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)
shift
servers=("$@")
[ ${#servers[@]} -gt 0 ] || servers=(go cpp)
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
debsrc=${URPC_DEBSRC_DIR:-/var/cache/uringrpc/debsrc}
jobs=${URPC_JOBS:-2}
gocode=/usr/share/gocode/src
arch=$(dpkg --print-architecture)

say() { echo "build-ref-servers: $*" >&2; }

# need SERVER PKG...: true when every PKG is installed, else one line naming the first missing
need() {
  local server=$1 p
  shift
  for p; do
    if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
      say "$server needs the Debian package $p (deploy/install-deps.sh installs it)"
      return 1
    fi
  done
}

# debsrc SERVER BINPKG: the unpacked Debian source package of the installed BINPKG's version
debsrc() {
  local src dir
  src=$(dpkg-query -W -f='${source:Package}=${source:Version}' "$2")
  dir="$debsrc/${src/=/_}"
  if [ ! -d "$dir" ]; then
    say "$1 needs the Debian source package $src in $debsrc (deploy/install-deps.sh fetches it)"
    return 1
  fi
  echo "$dir"
}

# dpkg's file list of each installed package matching the glob: rewritten whenever it is
# installed or upgraded (the files it ships keep their build-time dates)
pkg_stamps() {
  local g f
  for g; do
    for f in /var/lib/dpkg/info/$g.list /var/lib/dpkg/info/$g:"$arch".list; do
      [ -e "$f" ] && echo "$f"
    done
  done
}

# stale OUT INPUT...: true when OUT is missing or an input is newer
stale() {
  local o=$1 f
  shift
  [ -e "$o" ] || return 0
  for f; do
    [ "$f" -nt "$o" ] && return 0
  done
  return 1
}

# run LOG CMD...: CMD with its output in LOG, shown (the end of it) when it fails
run() {
  local log=$1
  shift
  if ! "$@" >"$log" 2>&1; then
    say "failed: $*"
    tail -n 40 "$log" >&2
    return 1
  fi
}

build_go() {
  local name=go-interop-server src bin w gp g f t0=$SECONDS
  need $name golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev || return 1
  src=$(debsrc $name golang-google-grpc-dev) || return 1
  bin=$out/$name
  mapfile -t stamps < <(pkg_stamps 'golang-*')
  stale "$bin" "$self" "$src" "${stamps[@]}" || return 0
  # A GOPATH whose google.golang.org/grpc is the packaged one (a symlink per entry) plus the
  # interop code of the same version; every other import falls through to /usr/share/gocode.
  w=$out/.build/go
  gp=$w/gopath
  g=$gp/src/google.golang.org/grpc
  rm -rf "$gp"
  mkdir -p "$g/interop"
  for f in "$gocode"/google.golang.org/grpc/*; do
    [ "${f##*/}" = interop ] || ln -s "$f" "$g/"
  done
  cp -r "$src/interop/server" "$src/interop/grpc_testing" "$src/interop/test_utils.go" \
    "$g/interop/"
  # the one change to grpc's code: listen on loopback only (the tests bind nothing else)
  loopback_only "$g/interop/server/server.go" 'net.Listen("tcp", ":"+p)' \
    'net.Listen("tcp", "127.0.0.1:"+p)' || return 1
  run "$w/build.log" env GO111MODULE=off GOPATH="$gp:/usr/share/gocode" GOCACHE="$w/cache" \
    GOENV=off GOFLAGS= GOPROXY=off nice -n 10 /usr/bin/go build -p "$jobs" -o "$bin.tmp" \
    google.golang.org/grpc/interop/server || return 1
  mv "$bin.tmp" "$bin"
  echo "build-ref-servers: built $bin (grpc-go ${src##*_}, $((SECONDS - t0)) s)"
}

# Replaces the line `from` (exactly once) with `to` in `file`, or says what moved.
loopback_only() {
  local file=$1 from=$2 to=$3
  if [ "$(grep -cF -- "$from" "$file")" != 1 ]; then
    say "$file: the line to patch ('$from') is not there once: update build-ref-servers.sh"
    return 1
  fi
  FROM=$from TO=$to /usr/bin/python3 -c 'import os,sys; p=sys.argv[1]; s=open(p).read(); open(p,"w").write(s.replace(os.environ["FROM"], os.environ["TO"], 1))' "$file"
}

build_cpp() {
  local name=cpp-interop-server src bin w f o t0=$SECONDS
  need $name g++ pkg-config libgrpc++-dev libabsl-dev libprotobuf-dev protobuf-compiler \
    protobuf-compiler-grpc || return 1
  src=$(debsrc $name libgrpc++-dev) || return 1
  bin=$out/$name
  mapfile -t stamps < <(pkg_stamps 'libgrpc*' 'libabsl*' 'libprotobuf*' 'protobuf-compiler*' \
    'libre2*' 'libc-ares*' 'libssl*')
  stale "$bin" "$self" "$src" "${stamps[@]}" || return 0
  w=$out/.build/cpp
  rm -rf "$w"
  mkdir -p "$w/gen" "$w/obj"
  # interop_server's Bazel target (test/cpp/interop/BUILD) and what of //test/cpp/util and
  # //test/core/util it uses; the internal headers (src/core/...) from the source tree, the
  # public ones (grpc/, grpcpp/) from libgrpc++-dev
  local protos=(src/proto/grpc/testing/empty.proto src/proto/grpc/testing/messages.proto
                src/proto/grpc/testing/test.proto)
  # the one change to grpc's code: listen on loopback only, on the port asked for or (port 0)
  # one the kernel picks, which the tests read from /proc (no port chosen ahead that another
  # process could take)
  cp "$src/test/cpp/interop/interop_server.cc" "$w/interop_server.cc"
  loopback_only "$w/interop_server.cc" 'server_address << "0.0.0.0:" << port;' \
    'server_address << "127.0.0.1:" << port;' || return 1
  loopback_only "$w/interop_server.cc" '  GPR_ASSERT(port != 0);' '' || return 1
  local srcs=(test/cpp/interop/interop_server_bootstrap.cc "$w/interop_server.cc"
              test/cpp/interop/server_helper.cc test/cpp/util/test_config_cc.cc
              test/cpp/util/test_credentials_provider.cc test/core/util/test_config.cc
              test/core/util/build.cc test/core/util/stack_tracer.cc
              test/core/event_engine/test_init.cc test/core/end2end/data/server1_cert.cc
              test/core/end2end/data/server1_key.cc test/core/end2end/data/test_root_cert.cc
              test/core/end2end/data/client_certs.cc)
  (cd "$src" && run "$w/protoc.log" protoc -I. --cpp_out="$w/gen" --grpc_out="$w/gen" \
    --plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin "${protos[@]}") || return 1
  for f in "${protos[@]}"; do
    f=${f%.proto}
    srcs+=("$w/gen/$f.pb.cc" "$w/gen/$f.grpc.pb.cc")
  done
  # one compile per object, URPC_JOBS at a time, each with its own log
  local cxx=(nice -n 10 g++ -std=c++17 -O1 -pthread -I"$src" -I"$w/gen")
  {
    echo '#!/bin/bash'
    printf '%q ' "${cxx[@]}"
    # shellcheck disable=SC2016 # expanded by cc.sh
    echo '-c "$1" -o "$2" >"$2.log" 2>&1 || { echo "failed: $1"; cat "$2.log"; exit 255; }'
  } >"$w/cc.sh"
  for f in "${srcs[@]}"; do
    o=${f#"$w/gen/"}
    o=$w/obj/${o//\//_}.o
    [ "${f:0:1}" = / ] || f=$src/$f
    printf '%s\0%s\0' "$f" "$o"
  done | xargs -0 -n 2 -P "$jobs" bash "$w/cc.sh" >"$w/compile.log" 2>&1 ||
    { say "compiling $name failed:"; tail -n 40 "$w/compile.log" >&2; return 1; }
  # shellcheck disable=SC2046 # pkg-config's output is meant to be split
  run "$w/link.log" nice -n 10 g++ -pthread -o "$bin.tmp" "$w"/obj/*.o \
    $(pkg-config --libs grpc++ protobuf absl_flags absl_flags_parse \
      absl_failure_signal_handler absl_examine_stack) || return 1
  mv "$bin.tmp" "$bin"
  echo "build-ref-servers: built $bin (grpc C++ ${src##*_}, $((SECONDS - t0)) s)"
}

# the test certificates: golang-google-grpc-dev's, else the grpc source package's (same files)
copy_certs() {
  local from="$gocode/google.golang.org/grpc/testdata" f s
  if [ ! -f "$from/server1.pem" ]; then
    for s in "$debsrc"/grpc_*/src/core/tsi/test_creds; do
      from=$s
    done
    [ -f "$from/server1.pem" ] || return 0
  fi
  mkdir -p "$out/testdata"
  for f in ca.pem server1.pem server1.key; do
    cmp -s "$from/$f" "$out/testdata/$f" || cp "$from/$f" "$out/testdata/$f"
  done
}

status=0
for s in "${servers[@]}"; do
  case $s in
    go) build_go || status=1 ;;
    cpp) build_cpp || status=1 ;;
    *) say "unknown server '$s' (go, cpp)"; exit 2 ;;
  esac
done
copy_certs
exit $status
