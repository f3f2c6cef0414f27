#!/usr/bin/env bash
# Builds the uringrpc-server image (deploy/Containerfile) on a local Debian base
# (deploy/container-base.sh, cached) and runs it five ways with podman:
#
#   a  the runtime's default seccomp profile  -> serves on epoll, says why in one line, SERVING
#   b  --security-opt seccomp=deploy/seccomp.json  -> serves on io_uring, SERVING
#   c  podman stop (SIGTERM) during a 3 s call -> the call finishes OK, exit 0 within the grace
#   d  --read-only --cap-drop=ALL no-new-privileges, uid 65532  -> serves on io_uring, SERVING
#   e  --cpus 1  -> one shard
#
# Every mode stops its container with SIGTERM and expects exit status 0. Ports are published on
# 127.0.0.1 only, on free ports picked at run time. Prints a table, the image's size and what
# it is made of. Removes the containers and the image it made (URPC_KEEP_IMAGE=1 keeps the
# image, tagged localhost/uringrpc-server:latest); the base image stays cached. Every podman
# call has a time limit. Needs root (rootful podman), Debian's podman, runc, mmdebstrap and
# python3-grpcio: URPC_CONTAINER_DEPS=1 deploy/install-deps.sh installs them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

export CONTAINERS_CONF="$root/deploy/containers.conf" # runc and the ulimits, see the file
PY=/usr/bin/python3                                   # the one with Debian's python3-grpcio
BUILD_TIMEOUT=${URPC_BUILD_TIMEOUT:-1200}
GRACE=10       # uringrpc-server's default --shutdown-grace
STOP_TIMEOUT=15 # podman stop -t: SIGKILL only after the grace
SLOW_CALL=3    # seconds the call of mode c waits on the server

start_s=$SECONDS
if [ "$(id -u)" -ne 0 ]; then
  echo "container-test: run as root (rootful podman: --cpus and the bridge network)" >&2
  exit 1
fi
URPC_DEPS=build URPC_CONTAINER_DEPS=1 deploy/install-deps.sh

run=urpc-ctest-$$
image=localhost/uringrpc-server:ctest-$$
tmp=$(mktemp -d)
containers=()
cleanup() {
  local c
  for c in "${containers[@]}"; do
    timeout 60 podman rm -f -t 0 "$c" >/dev/null 2>&1 || true
  done
  if [ "${URPC_KEEP_IMAGE:-0}" = 1 ] && podman image exists "$image" 2>/dev/null; then
    timeout 60 podman tag "$image" localhost/uringrpc-server:latest &&
      echo "container-test: image kept as localhost/uringrpc-server:latest" >&2
  fi
  timeout 60 podman rmi -f "$image" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the image --------------------------------------------------------------------------
base=$(timeout 900 deploy/container-base.sh)
echo "container-test: building $image on $base"
build_t0=$SECONDS
# --layers=false: no intermediate images are left behind (the build takes about a minute).
if ! timeout "$BUILD_TIMEOUT" podman build --layers=false -f deploy/Containerfile \
    --build-arg BUILD_IMAGE="$base" --build-arg RUNTIME_IMAGE="$base" \
    -t "$image" . >"$tmp/build.log" 2>&1; then
  tail -n 40 "$tmp/build.log" >&2
  echo "container-test: podman build failed or took over ${BUILD_TIMEOUT} s (log above)" >&2
  exit 1
fi
build_s=$((SECONDS - build_t0))

# ---- one container ----------------------------------------------------------------------
# start NAME PODMAN_RUN_OPTIONS... : runs the image detached with the gRPC and admin ports
# published on 127.0.0.1, waits for the startup line. Sets gport, aport, startup.
start() {
  local name=$1
  shift
  gport=$(free_port)
  aport=$(free_port)
  while [ "$aport" = "$gport" ]; do aport=$(free_port); done
  containers+=("$name")
  if ! timeout 60 podman run -d --name "$name" -p "127.0.0.1:$gport:50051" \
      -p "127.0.0.1:$aport:9090" "$@" "$image" >/dev/null 2>"$tmp/$name.run"; then
    detail="podman run failed: $(tail -n 3 "$tmp/$name.run" | tr '\n' ' ')"
    return 1
  fi
  local _
  for _ in $(seq 1 100); do
    timeout 20 podman logs "$name" >"$tmp/$name.out" 2>"$tmp/$name.err" || true
    startup=$(grep -m1 '^uringrpc-server listening on ' "$tmp/$name.out" || true)
    [ -n "$startup" ] && return 0
    if [ "$(podman inspect -f '{{.State.Running}}' "$name")" != true ]; then
      detail="exited before serving: $(tail -n 2 "$tmp/$name.err" | tr '\n' ' ')"
      return 1
    fi
    sleep 0.2
  done
  detail="no startup line within 20 s"
  return 1
}

# stop NAME: SIGTERM, expects exit 0 within the grace. Sets stop_s.
stop() {
  local name=$1 t0 code
  t0=$(date +%s.%N)
  timeout $((STOP_TIMEOUT + 30)) podman stop -t "$STOP_TIMEOUT" "$name" >/dev/null
  stop_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
  timeout 20 podman logs "$name" >"$tmp/$name.out" 2>"$tmp/$name.err" || true
  code=$(podman inspect -f '{{.State.ExitCode}}' "$name")
  if [ "$code" != 0 ]; then
    detail="exit status $code after podman stop"
    return 1
  fi
  if over "$stop_s" "$GRACE"; then
    detail="stop took ${stop_s} s, over the ${GRACE} s grace"
    return 1
  fi
}

over() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a > b) }'; }

health() {
  local out
  if ! out=$(timeout 60 "$PY" deploy/container_client.py health "$gport" 2>&1); then
    detail="health: $(echo "$out" | tail -n 2 | tr '\n' ' ')"
    return 1
  fi
}

field() { # field NAME: the value of NAME= in the startup line
  sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$startup"
}

epoll_lines() { grep -c '^uringrpc-server: serving with epoll: ' "$tmp/$1.err" || true; }

expect_io() { # expect_io NAME uring|epoll
  local io lines
  io=$(field io)
  lines=$(epoll_lines "$1")
  if [ "$io" != "$2" ]; then
    detail="io=$io, expected $2; stderr: $(head -n 2 "$tmp/$1.err" | tr '\n' ' ')"
    return 1
  fi
  if [ "$2" = epoll ] && [ "$lines" != 1 ]; then
    detail="$lines 'serving with epoll' lines on stderr, expected 1"
    return 1
  fi
  if [ "$2" = uring ] && [ "$lines" != 0 ]; then
    detail="a 'serving with epoll' line on stderr with io=uring"
    return 1
  fi
}

SECCOMP=(--security-opt "seccomp=$root/deploy/seccomp.json")

mode_a() {
  start "$run-a" || return 1
  expect_io "$run-a" epoll || return 1
  health || return 1
  stop "$run-a" || return 1
  why=$(grep -m1 '^uringrpc-server: serving with epoll: ' "$tmp/$run-a.err" | cut -c1-70)
  detail="io=epoll, SERVING; stderr: \"$why…\""
}

mode_b() {
  start "$run-b" "${SECCOMP[@]}" || return 1
  expect_io "$run-b" uring || return 1
  health || return 1
  stop "$run-b" || return 1
  detail="io=uring shards=$(field shards), SERVING"
}

mode_c() {
  start "$run-c" "${SECCOMP[@]}" || return 1
  health || return 1
  local out
  if ! out=$(timeout $((SLOW_CALL + STOP_TIMEOUT + 60)) "$PY" deploy/container_client.py \
      stop-during-call "$gport" "$aport" "$SLOW_CALL" "$STOP_TIMEOUT" "$run-c" 2>&1); then
    detail="$(echo "$out" | tail -n 2 | tr '\n' ' ')"
    return 1
  fi
  local code
  code=$(podman inspect -f '{{.State.ExitCode}}' "$run-c")
  if [ "$code" != 0 ]; then
    detail="$out, exit status $code"
    return 1
  fi
  local s
  s=$(sed -n 's/.* stop_s=\([0-9.]*\).*/\1/p' <<<"$out")
  if over "$s" "$GRACE"; then
    detail="$out: stop over the ${GRACE} s grace"
    return 1
  fi
  timeout 20 podman logs "$run-c" >"$tmp/$run-c.out" 2>"$tmp/$run-c.err" || true
  if ! grep -q '^uringrpc-server: shutting down' "$tmp/$run-c.err"; then
    detail="$out, but no 'shutting down' line: did SIGTERM reach the server?"
    return 1
  fi
  detail="${SLOW_CALL} s Ping: ${out/call=/call }, exit 0"
}

mode_d() {
  start "$run-d" "${SECCOMP[@]}" --read-only --cap-drop=ALL \
    --security-opt no-new-privileges || return 1
  expect_io "$run-d" uring || return 1
  health || return 1
  local uid
  uid=$(timeout 20 podman top "$run-d" huser | tail -n +2 | sort -u | tr -d ' ')
  if [ "$uid" != 65532 ]; then
    detail="server runs as uid '$uid', expected 65532"
    return 1
  fi
  stop "$run-d" || return 1
  detail="io=uring as uid 65532, SERVING"
}

mode_e() {
  start "$run-e" "${SECCOMP[@]}" --cpus 1 || return 1
  local shards
  shards=$(field shards)
  if [ "$shards" != 1 ]; then
    detail="shards=$shards, expected 1 ($(nproc) CPUs here)"
    return 1
  fi
  health || return 1
  stop "$run-e" || return 1
  detail="shards=1 ($(nproc) CPUs here), SERVING"
}

modes=(
  "a|default seccomp|mode_a"
  "b|seccomp=deploy/seccomp.json|mode_b"
  "c|podman stop mid-call|mode_c"
  "d|read-only, cap-drop=ALL|mode_d"
  "e|--cpus 1|mode_e"
)
results=()
failed=0
for m in "${modes[@]}"; do
  IFS='|' read -r key what fn <<<"$m"
  detail=""
  t0=$SECONDS
  if "$fn"; then
    verdict=PASS
  else
    verdict=FAIL
    failed=$((failed + 1))
    for f in "$tmp/$run-$key.out" "$tmp/$run-$key.err"; do
      [ -s "$f" ] && sed "s/^/  [$key] /" "$f" | tail -n 8 >&2
    done
  fi
  echo "container-test: $key $verdict ($((SECONDS - t0)) s): $detail"
  results+=("$key|$what|$verdict|$detail")
  timeout 60 podman rm -f -t 0 "$run-$key" >/dev/null 2>&1 || true
done

# ---- summary ----------------------------------------------------------------------------
size=$(podman image inspect -f '{{.Size}}' "$image")
base_size=$(podman image inspect -f '{{.Size}}' "$base")
echo
printf '%-4s %-30s %-6s %s\n' mode what result detail
for r in "${results[@]}"; do
  IFS='|' read -r key what verdict detail <<<"$r"
  printf '%-4s %-30s %-6s %s\n' "$key" "$what" "$verdict" "$detail"
done
echo
echo "image $image: $((size / 1000000)) MB (goal < 100 MB); the Debian minbase base: $((base_size / 1000000)) MB"
# What the runtime stage adds to the base, and the base's largest packages.
# shellcheck disable=SC2016 # expanded by the image's shell
timeout 60 podman run --rm --network none --entrypoint sh "$image" -c '
  echo "added to the base: uringrpc-server $(($(stat -c %s /usr/local/bin/uringrpc-server) / 1024)) KiB (stripped), runtime libraries (installed size, KiB):"
  dpkg-query -W -f "  \${Installed-Size}\t\${Package}\n" liburing2 libnghttp2-14 libwolfssl35 libprotobuf-c1 libhttp-parser2.9 libcjson1 | sort -rn
  echo "largest packages of the base (installed size, KiB):"
  dpkg-query -W -f "  \${Installed-Size}\t\${Package}\n" | sort -rn | head -n 6'
echo "build ${build_s} s, whole run $((SECONDS - start_s)) s"
echo "$((${#modes[@]} - failed)) passed, $failed failed"
[ "$failed" = 0 ]
