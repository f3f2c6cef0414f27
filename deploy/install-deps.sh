#!/usr/bin/env bash
# Installs the Debian packages uringrpc needs. Idempotent: prints nothing and touches nothing
# when all are already present.
#
#   URPC_DEPS=build        only what building the library and uringrpc-server needs (configure
#                          with -DURPC_TESTS=OFF); the container image's build stage uses it
#   URPC_DEPS=all          (default) also the tests' and the benchmarks' tools, and what
#                          tests/interop/build-ref-servers.sh needs to build grpc's own interop
#                          servers: Go, golang-google-grpc-dev, libgrpc++-dev and the Debian
#                          source packages golang-google-grpc and grpc (below)
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
      # grpc's reference interop servers (tests/interop/build-ref-servers.sh): grpc-go 1.33's
      # and grpc C++ 1.51's, ~98 MB to download, ~600 MB installed (Go 1.19 is ~80 / ~450 of
      # them). golang-github-golang-protobuf-1-5-dev (it replaces -1-3-dev, which grpc-dev
      # accepts as well) because upstream's interop/grpc_testing/*.pb.go need APIv2.
      golang-go golang-google-grpc-dev golang-github-golang-protobuf-1-5-dev
      libgrpc++-dev
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

# Debian's source packages of golang-google-grpc and grpc, at the versions of the installed
# golang-google-grpc-dev and libgrpc++-dev: grpc's interop servers are not in the binary packages,
# so tests/interop/build-ref-servers.sh builds them from these sources against the packaged
# libraries. Unpacked (dpkg-source -x) into $URPC_DEBSRC_DIR/SOURCE_VERSION, default
# /var/cache/uringrpc/debsrc (~9 MB to download, ~90 MB unpacked). apt-get source runs with a
# private deb-src list made from the machine's Debian entries and private index lists, so the
# machine's apt configuration is left as it is; apt checks the files against the signed index.
if [ "${URPC_DEPS:-all}" = all ]; then
  debsrc_dir=${URPC_DEBSRC_DIR:-/var/cache/uringrpc/debsrc}
  want=()
  for bin in golang-google-grpc-dev libgrpc++-dev; do
    src=$(dpkg-query -W -f='${source:Package}=${source:Version}' "$bin")
    [ -d "$debsrc_dir/${src/=/_}" ] || want+=("$src")
  done
  if [ ${#want[@]} -gt 0 ]; then
    echo "install-deps: fetching Debian source packages ${want[*]} into $debsrc_dir" >&2
    # the release itself before its -updates and -security: the security archive's index lists
    # some packages of the release at the same version (golang-google-grpc 1.33.3-2) without
    # having their files, and apt-get source takes the first entry that lists the version
    debian_repos() {
      # shellcheck disable=SC2016 # apt's format, not the shell's
      apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' \
        'Created-By: Packages' 'Origin: Debian' | sort -u |
        awk '{ print ($2 ~ /-/) " " $0 }' | sort -s -k1,1n | cut -d' ' -f2-
    }
    repos=$(debian_repos)
    if [ -z "$repos" ]; then
      $sudo apt-get update -qq >/dev/null
      repos=$(debian_repos)
    fi
    if [ -z "$repos" ]; then
      echo "install-deps: no Debian archive in the apt sources, cannot fetch ${want[*]}" >&2
      exit 1
    fi
    $sudo mkdir -p "$debsrc_dir"
    tmp=$($sudo mktemp -d "$debsrc_dir/.fetch.XXXXXX")
    trap '$sudo rm -rf "$tmp"' EXIT
    keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    opt=""
    [ -f "$keyring" ] && opt="[signed-by=$keyring] "
    while read -r uri release component; do
      echo "deb-src $opt$uri $release $component"
    done <<<"$repos" | $sudo tee "$tmp/sources.list" >/dev/null
    $sudo mkdir -p "$tmp/parts" "$tmp/lists/partial" "$tmp/dl"
    apt_src=(apt-get -qq -o "Dir::Etc::SourceList=$tmp/sources.list"
             -o "Dir::Etc::SourceParts=$tmp/parts" -o "Dir::State::Lists=$tmp/lists"
             -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root)
    # their output only when they fail (dpkg-source warns that it cannot check the .dsc's own
    # signature: apt has checked its hash against the signed index)
    quiet() { local log; log=$("$@" 2>&1) || { printf '%s\n' "$log" >&2; return 1; }; }
    quiet $sudo "${apt_src[@]}" update
    quiet $sudo env --chdir="$tmp/dl" "${apt_src[@]}" source --download-only "${want[@]}"
    for src in "${want[@]}"; do
      name=${src%%=*} ver=${src#*=}
      quiet $sudo dpkg-source -x "$tmp/dl/${name}_${ver#*:}.dsc" "$tmp/${name}_$ver"
      $sudo mv "$tmp/${name}_$ver" "$debsrc_dir/${name}_$ver"
    done
    $sudo rm -rf "$tmp"
    trap - EXIT
  fi
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
