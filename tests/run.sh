#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds with warnings as errors and runs every
# test (the server on io_uring), grpc's own interop servers (tests/interop/build-ref-servers.sh,
# into build/interop-ref) included; runs the integration tests again against a ThreadSanitizer
# server; then builds with AddressSanitizer + UndefinedBehaviorSanitizer and runs everything
# again, and the integration tests once more with the server on its epoll backend; last, builds
# the libFuzzer targets and runs each for a few seconds on its seed corpus. Exits non-zero if
# anything fails.
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/install-deps.sh
jobs=$(nproc)

echo "== release build (-Werror) =="
cmake -S . -B build -DURPC_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$jobs"

# grpc-go's and grpc C++'s interop servers for the interop_client ref_* cases of every pass
# below, built once into the release tree (the script rebuilds only what changed: ~40 s cold,
# under a second warm). Those cases must run here, not skip (URPC_INTEROP_REF_REQUIRED): a
# server that does not build is removed, so its cases fail rather than skip or run an old one.
echo "== grpc's reference interop servers =="
export URPC_INTEROP_REF_DIR=$PWD/build/interop-ref URPC_INTEROP_REF_REQUIRED=1
for ref in go cpp; do
  URPC_JOBS=$jobs tests/interop/build-ref-servers.sh "$URPC_INTEROP_REF_DIR" "$ref" ||
    rm -f "$URPC_INTEROP_REF_DIR/$ref-interop-server"
done

ctest --test-dir build --output-on-failure -j"$jobs"

if [ "${URPC_SKIP_TSAN:-0}" != 1 ]; then
  # Criterion itself crashes under TSan, so this build runs the integration tests (real clients
  # against a TSan server, which covers the shard/worker/replier threads, and the TSan interop
  # client against every server; uringrpc-load is TSan-built too: its shards, pacer and main
  # thread), and the ring and resolver stress runs as plain executables (label tsan).
  echo "== TSan server, integration tests, ring and resolver stress =="
  cmake -S . -B build-tsan -DURPC_WERROR=ON -DURPC_TSAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-tsan -j"$jobs" --target uringrpc-server uringrpc-interop-client \
    uringrpc-load deny_io_uring stress_core stress_client_resolver
  ctest --test-dir build-tsan -L tsan --output-on-failure
  TSAN_OPTIONS=halt_on_error=0 ctest --test-dir build-tsan -L integration --output-on-failure \
    -j"$jobs"
fi

if [ "${URPC_SKIP_ASAN:-0}" != 1 ]; then
  echo "== ASan+UBSan build =="
  cmake -S . -B build-asan -DURPC_WERROR=ON -DURPC_ASAN=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
  cmake --build build-asan -j"$jobs"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan --output-on-failure -j"$jobs"
  echo "== ASan+UBSan server on epoll, integration tests =="
  URPC_TEST_IO=epoll ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --test-dir build-asan -L integration --output-on-failure -j"$jobs"
fi

if [ "${URPC_SKIP_FUZZ:-0}" != 1 ]; then
  # A smoke run: every seed, then a few seconds of mutations per target, two targets at once.
  # Long runs: tests/fuzz/run.sh 300.
  echo "== fuzz targets (libFuzzer, ${URPC_FUZZ_SECONDS:-8} s each) =="
  URPC_FUZZ_JOBS=$jobs tests/fuzz/run.sh "${URPC_FUZZ_SECONDS:-8}"
fi
