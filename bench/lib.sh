# shellcheck shell=bash
# Shared helpers for bench/*.sh; sourced, not run. Expects `set -euo pipefail` in the caller
# and BENCH_NAME set (it names the default OUT_DIR).
#
# Servers by name (the SERVERS list):
#   uringrpc        build/examples/uringrpc-server --shards 1 (URPC_BIN, URPC_WORKERS, URPC_ARGS)
#   uringrpc-base   the same with URPC_BASE_BIN: an older build, for a before/after in one run
#   uringrpc-epoll  URPC_BIN with --io epoll: its epoll backend beside io_uring in one run
# IO=epoll runs "uringrpc" on its epoll backend (IO=uring insists on io_uring); IO=both makes
# the default SERVERS "uringrpc uringrpc-epoll": io_uring against epoll, same run.
#   peer            grpc C++ peer with PEER_API (default async) and PEER_THREADS (default 1)
#   peer-async      grpc C++ peer, completion-queue API
#   peer-callback   grpc C++ peer, callback API
# Every server is pinned to SERVER_CPU (0) and every load client (h2load, uringrpc-load,
# stream_load) to CLIENT_CPU (1). A script that needs the streaming load client sets NEED_LOAD=1 before
# resolve_servers (which then builds it and sets LOAD_BIN), and BENCH_TOOLS to the commands it
# needs before bench_init.
# TLS (tls.sh): with TLS_CERT and TLS_KEY set, servers serve TLS (uringrpc on --tls-listen, the
# peer on its --port), grpc_check verifies against TLS_CERT, and h2load_run/warmup use
# H2LOAD_SCHEME (https) and the extra h2load flags in H2LOAD_EXTRA (e.g. --tls13-ciphers=...).

export LC_ALL=C # decimal points in awk, $EPOCHREALTIME and h2load output

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
BUILD=${BUILD:-1}
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench-results/$BENCH_NAME-$(date +%Y%m%d-%H%M%S)}
IO=${IO:-}
case $IO in
"" | uring | epoll) ;;
both) SERVERS=${SERVERS:-uringrpc uringrpc-epoll} ;;
*)
  echo "IO takes uring, epoll or both, not '$IO'" >&2
  exit 2
  ;;
esac
SERVERS=${SERVERS:-uringrpc peer}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
URPC_BIN=${URPC_BIN:-$BUILD_DIR/examples/uringrpc-server}
URPC_BASE_BIN=${URPC_BASE_BIN:-} # server "uringrpc-base": another uringrpc build, for before/after
URPC_WORKERS=${URPC_WORKERS:-0}
URPC_ARGS=${URPC_ARGS:-}
if [ "$IO" = uring ] || [ "$IO" = epoll ]; then URPC_ARGS="$URPC_ARGS --io $IO"; fi
# URPC_BASE_ARGS: uringrpc-base's extra flags (default URPC_ARGS); with URPC_BASE_BIN=URPC_BIN,
# one build against itself with other flags (e.g. metrics on vs off: URPC_ARGS="--admin-listen
# 127.0.0.1:0" URPC_BASE_ARGS="").
PEER_BIN=${PEER_BIN:-$BUILD_DIR/bench/grpcpp-helloworld-server}
PEER_API=${PEER_API:-async}
PEER_THREADS=${PEER_THREADS:-1}
LOAD_BIN=${LOAD_BIN:-$BUILD_DIR/bench/stream_load}
NEED_LOAD=${NEED_LOAD:-0}
BENCH_TOOLS=${BENCH_TOOLS:-h2load taskset timeout getconf}
START_TIMEOUT=${START_TIMEOUT:-10}
PY=${PY:-/usr/bin/python3}
GRPC_PATH=/helloworld.Greeter/SayHello
TLS_CERT=${TLS_CERT:-}
TLS_KEY=${TLS_KEY:-}
H2LOAD_SCHEME=${H2LOAD_SCHEME:-http}
H2LOAD_EXTRA=${H2LOAD_EXTRA:-}
H2LOAD_HEADERS=${H2LOAD_HEADERS:-} # request headers for every h2load request, one per line

STARTED_PIDS=()

# Drops PID from the ones the EXIT trap stops.
forget_pid() {
  local keep=() p
  for p in "${STARTED_PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  STARTED_PIDS=(${keep[@]+"${keep[@]}"})
}

log() { printf '%s\n' "$*" >&2; }
die() {
  log "$(basename "$0"): $*"
  exit 1
}

bench_cleanup() {
  local pid
  for pid in "${STARTED_PIDS[@]}"; do
    [ -n "$pid" ] || continue
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED_PIDS[@]}"; do
    [ -n "$pid" ] || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  done
  STARTED_PIDS=()
}

# Percent of all CPUs busy over one second (from /proc/stat), before any load of ours.
cpu_busy_pct() {
  local a b
  a=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
  sleep 1
  b=$(awk '/^cpu / {print $5 + $6, $2 + $3 + $4 + $5 + $6 + $7 + $8}' /proc/stat)
  echo "$a $b" | awk '{ d = $4 - $2; if (d <= 0) print 0; else printf "%d", 100 - 100 * ($3 - $1) / d }'
}

# Makes a fresh self-signed ECDSA P-256 certificate (CN and SAN localhost, SAN 127.0.0.1) in a
# temporary directory removed at exit, and points TLS_CERT/TLS_KEY and h2load (https) at it.
use_test_cert() {
  CERT_DIR=$(mktemp -d /tmp/urpc-benchcert.XXXXXX)
  trap 'bench_cleanup; rm -rf "$CERT_DIR"' EXIT
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$CERT_DIR/key.pem" -out "$CERT_DIR/cert.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost,IP:127.0.0.1 >"$OUT_DIR/openssl.log" 2>&1 ||
    die "openssl req failed (see $OUT_DIR/openssl.log)"
  TLS_CERT=$CERT_DIR/cert.pem
  TLS_KEY=$CERT_DIR/key.pem
  H2LOAD_SCHEME=https
}

bench_init() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  local tool
  for tool in $BENCH_TOOLS; do
    command -v "$tool" >/dev/null || die "$tool not found (apt-get install nghttp2-client coreutils util-linux)"
  done
  [ -x "$PY" ] || die "$PY not found"
  # Enough descriptors for 1,000 idle connections plus the server's own.
  local hard
  hard=$(ulimit -Hn)
  if [ "$hard" = unlimited ] || [ "$hard" -ge 65536 ]; then
    ulimit -n 65536
  else
    ulimit -n "$hard"
  fi
  # shellcheck disable=SC2034 # used by the scripts that source this file
  CLK_TCK=$(getconf CLK_TCK)
  local busy
  busy=$(cpu_busy_pct)
  if [ "$busy" -gt 10 ]; then
    log "WARNING: the CPUs were ${busy}% busy before starting: other work shares these cores, expect noise"
  fi
  mkdir -p "$OUT_DIR"
  BODY_FILE=$OUT_DIR/hello-request.bin
  # gRPC message: uncompressed flag, 4-byte big-endian length 7, HelloRequest{name:"world"}.
  printf '\000\000\000\000\007\012\005world' >"$BODY_FILE"
}

# Drops the servers whose binary is missing (building it first unless BUILD=0).
resolve_servers() {
  local want=() s
  read -r -a want <<<"$SERVERS"
  local need_urpc=0 need_peer=0
  for s in "${want[@]}"; do
    case $s in
    uringrpc | uringrpc-epoll) need_urpc=1 ;;
    uringrpc-base) [ -x "$URPC_BASE_BIN" ] || die "uringrpc-base needs URPC_BASE_BIN (a uringrpc-server)" ;;
    peer | peer-async | peer-callback) need_peer=1 ;;
    *) die "unknown server '$s' (uringrpc, uringrpc-base, uringrpc-epoll, peer, peer-async, peer-callback)" ;;
    esac
  done
  if [ "$BUILD" != 0 ]; then
    local blog=$OUT_DIR/build.log configured=0
    if cmake -S "$ROOT_DIR" -B "$BUILD_DIR" -DURPC_BENCH_PEERS=ON >>"$blog" 2>&1; then
      configured=1
    else
      log "note: configuring $ROOT_DIR failed (see $blog)"
    fi
    if [ $need_urpc = 1 ] && [ $configured = 1 ]; then
      cmake --build "$BUILD_DIR" -j2 --target uringrpc-server >>"$blog" 2>&1 ||
        log "note: building uringrpc-server failed (see $blog)"
    fi
    local bench_targets=()
    if [ $need_peer = 1 ]; then bench_targets+=(grpcpp-helloworld-server); fi
    if [ "$NEED_LOAD" = 1 ]; then bench_targets+=(stream_load); fi
    if [ ${#bench_targets[@]} -gt 0 ]; then
      if ! { [ $configured = 1 ] &&
        cmake --build "$BUILD_DIR" -j2 --target "${bench_targets[@]}" >>"$blog" 2>&1; }; then
        # bench/ also builds on its own, without the C tree.
        log "note: building ${bench_targets[*]} on its own in $BUILD_DIR/bench-peer"
        if cmake -S "$BENCH_DIR" -B "$BUILD_DIR/bench-peer" >>"$blog" 2>&1 &&
          cmake --build "$BUILD_DIR/bench-peer" -j2 --target "${bench_targets[@]}" >>"$blog" 2>&1; then
          if [ $need_peer = 1 ]; then PEER_BIN=$BUILD_DIR/bench-peer/grpcpp-helloworld-server; fi
          if [ "$NEED_LOAD" = 1 ]; then LOAD_BIN=$BUILD_DIR/bench-peer/stream_load; fi
        else
          log "note: building ${bench_targets[*]} failed (see $blog)"
        fi
      fi
    fi
    if [ -f "$BUILD_DIR/CMakeCache.txt" ] &&
      grep -Eq '^URPC_(ASAN|TSAN):BOOL=ON|^CMAKE_BUILD_TYPE:STRING=Debug' "$BUILD_DIR/CMakeCache.txt"; then
      log "WARNING: $BUILD_DIR is a sanitizer or Debug build; its numbers are not comparable"
    fi
  fi
  ACTIVE_SERVERS=()
  for s in "${want[@]}"; do
    case $s in
    uringrpc | uringrpc-epoll)
      if [ -x "$URPC_BIN" ]; then
        ACTIVE_SERVERS+=("$s")
      else
        log "SKIP uringrpc: $URPC_BIN not found (build it, set URPC_BIN, or run SERVERS=peer)"
      fi
      ;;
    uringrpc-base) ACTIVE_SERVERS+=("$s") ;;
    *)
      if [ -x "$PEER_BIN" ]; then
        ACTIVE_SERVERS+=("$s")
      else
        log "SKIP $s: $PEER_BIN not found (cmake -S . -B build -DURPC_BENCH_PEERS=ON; needs libgrpc++-dev libprotobuf-dev protobuf-compiler-grpc)"
      fi
      ;;
    esac
  done
  [ ${#ACTIVE_SERVERS[@]} -gt 0 ] || die "no server to run"
  if [ "$NEED_LOAD" = 1 ] && [ ! -x "$LOAD_BIN" ]; then
    die "$LOAD_BIN not found (cmake -S . -B build -DURPC_BENCH_PEERS=ON; needs libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler)"
  fi
}

# For the scripts that run uringrpc alone (hostile.sh, soak.sh): builds uringrpc-server and
# nothing else unless BUILD=0, configuring BUILD_DIR only if it never was (no bench peers, so
# no libgrpc++ needed). Call resolve_servers with BUILD=0 afterwards.
build_uringrpc() {
  [ "$BUILD" != 0 ] || return 0
  local blog=$OUT_DIR/build.log
  if [ ! -f "$BUILD_DIR/CMakeCache.txt" ]; then
    cmake -S "$ROOT_DIR" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo >>"$blog" 2>&1 ||
      log "note: configuring $ROOT_DIR failed (see $blog)"
  fi
  cmake --build "$BUILD_DIR" -j2 --target uringrpc-server >>"$blog" 2>&1 ||
    log "note: building uringrpc-server failed (see $blog)"
  if grep -Eq '^URPC_(ASAN|TSAN):BOOL=ON|^CMAKE_BUILD_TYPE:STRING=Debug' "$BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
    log "WARNING: $BUILD_DIR is a sanitizer or Debug build; its numbers are not comparable"
  fi
}

# Sets SRV_ARGV to the command line of server $1, listening on 127.0.0.1 port 0.
server_argv() {
  case $1 in
  uringrpc | uringrpc-base | uringrpc-epoll)
    local extra=() bin=$URPC_BIN
    local args=$URPC_ARGS
    [ "$1" != uringrpc-base ] || { bin=$URPC_BASE_BIN; args=${URPC_BASE_ARGS-$URPC_ARGS}; }
    [ "$1" != uringrpc-epoll ] || args="$URPC_ARGS --io epoll"
    read -r -a extra <<<"$args"
    SRV_ARGV=("$bin" --listen 127.0.0.1:0 --shards 1 --workers-per-shard "$URPC_WORKERS"
      ${extra[@]+"${extra[@]}"})
    [ -z "$TLS_CERT" ] ||
      SRV_ARGV+=(--tls-listen 127.0.0.1:0 --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
    return 0
    ;;
  peer) SRV_ARGV=("$PEER_BIN" --port 0 --api "$PEER_API" --threads "$PEER_THREADS") ;;
  peer-async) SRV_ARGV=("$PEER_BIN" --port 0 --api async --threads "$PEER_THREADS") ;;
  peer-callback) SRV_ARGV=("$PEER_BIN" --port 0 --api callback --threads "$PEER_THREADS") ;;
  esac
  [ -z "$TLS_CERT" ] || SRV_ARGV+=(--tls-cert "$TLS_CERT" --tls-key "$TLS_KEY")
}

# start_server NAME TAG: starts it pinned to SERVER_CPU; sets SRV_PID and SRV_PORT from its
# "... listening on 127.0.0.1:PORT" line (uringrpc with TLS_CERT: its "tls=127.0.0.1:PORT"). Returns non-zero (server stopped) if that never comes.
start_server() {
  local name=$1 tag=$2
  local out=$OUT_DIR/$name.$tag.stdout err=$OUT_DIR/$name.$tag.stderr
  server_argv "$name"
  : >"$out" # exists before the first read below (the background job may open it later)
  taskset -c "$SERVER_CPU" "${SRV_ARGV[@]}" >"$out" 2>"$err" &
  SRV_PID=$! # taskset execs the server: same PID
  STARTED_PIDS+=("$SRV_PID")
  SRV_PORT=
  local waited=0
  while [ -z "$SRV_PORT" ]; do
    if [ -n "$TLS_CERT" ] && [[ $name == uringrpc* ]]; then
      SRV_PORT=$(sed -n -E 's/^uringrpc-server listening on .* tls=127\.0\.0\.1:([0-9]+)( .*)?$/\1/p' "$out" | head -n1)
    else
      SRV_PORT=$(sed -n -E 's/^(uringrpc-server )?listening on 127\.0\.0\.1:([0-9]+)( .*)?$/\2/p' "$out" | head -n1)
    fi
    [ -n "$SRV_PORT" ] && break
    if ! kill -0 "$SRV_PID" 2>/dev/null || [ "$waited" -ge $((START_TIMEOUT * 20)) ]; then
      log "ERROR: $name did not report its port within ${START_TIMEOUT}s: ${SRV_ARGV[*]}"
      log "  stdout: $(head -c 500 "$out")"
      log "  stderr: $(head -c 500 "$err")"
      stop_server
      return 1
    fi
    sleep 0.05
    waited=$((waited + 1))
  done
}

stop_server() {
  local pid=$SRV_PID
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  forget_pid "$pid"
  SRV_PID=
}

# utime + stime of the whole process in clock ticks (fields 14 and 15 of /proc/PID/stat;
# the comm field may hold spaces, so count from after its closing parenthesis).
cpu_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# One real gRPC call through grpcio, so a server that answers h2load with a non-OK
# grpc-status (invisible to h2load) is caught before it is measured.
grpc_check() {
  local port=$1
  timeout 20 "$PY" - "$port" "$TLS_CERT" <<'EOF'
import sys
try:
    import grpc
except ImportError:
    print("note: python3-grpcio missing, reply not checked", file=sys.stderr)
    sys.exit(0)
target = "127.0.0.1:" + sys.argv[1]
if sys.argv[2]:
    with open(sys.argv[2], "rb") as f:
        creds = grpc.ssl_channel_credentials(root_certificates=f.read())
    ch = grpc.secure_channel(target, creds)
else:
    ch = grpc.insecure_channel(target)
with ch:
    reply = ch.unary_unary("/helloworld.Greeter/SayHello")(b"\x0a\x05world", timeout=10)
if reply != b"\x0a\x0bHello world":
    sys.exit("unexpected reply %r" % reply)
EOF
}

# Seconds of user + system CPU of reaped children in a file written by the `times` builtin
# (which must run in this shell, not in a $(...) subshell whose counters start from zero).
times_children_s() {
  sed -n 2p "$1" | awk '{
    t = 0
    for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] }
    printf "%.3f", t }'
}

# h2load_run PORT N C M LOGFILE OUTFILE: one bounded h2load run pinned to CLIENT_CPU.
# Writes h2load's output to OUTFILE and "real_s cpu_s" of the client to OUTFILE.time.
h2load_run() {
  local port=$1 n=$2 c=$3 m=$4 logfile=$5 outfile=$6
  local args=(-n "$n" -c "$c" -m "$m" -t 1 -H 'content-type: application/grpc' -H 'te: trailers'
    -d "$BODY_FILE")
  [ -n "$logfile" ] && args+=(--log-file "$logfile")
  local extra=() header
  read -r -a extra <<<"$H2LOAD_EXTRA"
  args+=(${extra[@]+"${extra[@]}"})
  while IFS= read -r header; do
    [ -z "$header" ] || args+=(-H "$header")
  done <<<"$H2LOAD_HEADERS"
  timed_client_run "$outfile" "$outfile" taskset -c "$CLIENT_CPU" \
    h2load "${args[@]}" "$H2LOAD_SCHEME://127.0.0.1:$port$GRPC_PATH"
}

# timed_client_run OUTFILE ERRFILE COMMAND...: runs a load client bounded by RUN_TIMEOUT in the
# background (so that a signal to the script is handled at once: bash defers traps until a
# foreground child exits), its stdout to OUTFILE and its stderr to ERRFILE (the same file:
# both there), and writes "real_s cpu_s" of the client to OUTFILE.time. Returns its status.
timed_client_run() {
  local outfile=$1 errfile=$2
  shift 2
  local rc=0 t0=$EPOCHREALTIME pid
  times >"$outfile.times0"
  if [ "$errfile" = "$outfile" ]; then
    timeout -k 5 "${RUN_TIMEOUT:-120}" "$@" >"$outfile" 2>&1 &
  else
    timeout -k 5 "${RUN_TIMEOUT:-120}" "$@" >"$outfile" 2>"$errfile" &
  fi
  pid=$!
  STARTED_PIDS+=("$pid")
  wait "$pid" || rc=$?
  forget_pid "$pid"
  times >"$outfile.times1"
  awk -v t0="$t0" -v t1="$EPOCHREALTIME" -v c0="$(times_children_s "$outfile.times0")" \
    -v c1="$(times_children_s "$outfile.times1")" \
    'BEGIN {printf "%.3f %.3f\n", t1 - t0, c1 - c0}' >"$outfile.time"
  rm -f "$outfile.times0" "$outfile.times1"
  return $rc
}

# The second load client, bench/load's uringrpc-load (load.sh, unary.sh): the request bytes
# h2load sends (BODY_FILE without its 5-byte gRPC frame: uringrpc-load frames it itself) with
# --binary-data, closed loop, --cpus 1 on CLIENT_CPU.
URINGRPC_LOAD=${URINGRPC_LOAD:-$BUILD_DIR/bench/load/uringrpc-load}

# load_client_init: after bench_init (and resolve_servers, which configures BUILD_DIR): builds
# uringrpc-load unless BUILD=0 and writes REQ_FILE. Returns non-zero if the binary is missing.
load_client_init() {
  if [ "$BUILD" != 0 ]; then
    cmake --build "$BUILD_DIR" -j2 --target uringrpc-load >>"$OUT_DIR/build.log" 2>&1 ||
      log "note: building uringrpc-load failed (see $OUT_DIR/build.log)"
  fi
  REQ_FILE=$OUT_DIR/hello-request.pb
  tail -c +6 "$BODY_FILE" >"$REQ_FILE"
  [ -x "$URINGRPC_LOAD" ]
}

# load_run PORT N C M OUTFILE [wrapper...]: one bounded uringrpc-load run (N calls, C
# connections x M streams) pinned to CLIENT_CPU, under the wrapper command if one is given
# (e.g. env LD_PRELOAD=...). Writes its JSON report to OUTFILE, its stderr to OUTFILE.stderr
# and "real_s cpu_s" of the client to OUTFILE.time, as h2load_run does.
load_run() {
  local port=$1 n=$2 c=$3 m=$4 outfile=$5
  shift 5
  timed_client_run "$outfile" "$outfile.stderr" "$@" taskset -c "$CLIENT_CPU" "$URINGRPC_LOAD" \
    --insecure --call helloworld.Greeter/SayHello --binary-data "$REQ_FILE" -n "$n" -c "$c" \
    -m "$m" --cpus 1 --format json "127.0.0.1:$port"
}

# h2load_report OUTFILE: "req_per_s succeeded" from h2load's output; nothing if it has none.
h2load_report() {
  local rps succ
  rps=$(sed -n -E 's/^finished in .*, ([0-9.]+) req\/s,.*/\1/p' "$1")
  succ=$(sed -n -E 's/^requests: .* ([0-9]+) succeeded,.*/\1/p' "$1")
  [ -z "$rps" ] || [ -z "$succ" ] || echo "$rps $succ"
}

# load_report OUTFILE: "req_per_s succeeded mean_us p50_us p99_us" from uringrpc-load's JSON
# report (succeeded: calls that ended OK; the latencies are theirs, from its HDR histogram, NA
# when none did); nothing if there is no report.
load_report() {
  "$PY" - "$1" 2>/dev/null <<'EOF' || true
import json, sys
r = json.load(open(sys.argv[1]))
pct = {int(p["percentage"]): p["latency"] / 1e3 for p in (r.get("latencyDistribution") or [])}
ok = r["statusCodeDistribution"].get("OK", 0)
mean = "%.1f" % (r["average"] / 1e3) if ok and r.get("average") else "NA"
p = ["%.0f" % pct[k] if k in pct else "NA" for k in (50, 99)]
print("%.2f %d %s %s %s" % (r["rps"], ok, mean, p[0], p[1]))
EOF
}

warmup() {
  local port=$1 c=${2:-4} m=${3:-8} n=${WARMUP_N:-2000}
  [ "$n" -ge "$c" ] || n=$c
  RUN_TIMEOUT=${WARMUP_TIMEOUT:-20} h2load_run "$port" "$n" "$c" "$m" "" "$OUT_DIR/warmup.out" ||
    log "note: warm-up on port $port exited non-zero (see $OUT_DIR/warmup.out)"
}
