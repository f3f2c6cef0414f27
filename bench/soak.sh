#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Soak: one uringrpc-server (--shards 2, h2c and TLS) under mixed load for SOAK_SECONDS, its
# RSS, descriptors and CPU sampled into samples.csv. bench/soak.py does the work.
#
# Load, all at once: h2load unary SayHello (2 connections x H2LOAD_RPS req/s); grpcio server
# and bidi streams, some cancelled by the client and some cut by short deadlines; a new TLS
# channel (a full handshake) per SayHello, ~5/s; a raw HTTP/2 client reading a server stream
# 1 KiB at a time; and a small dose of one of hostile.py's attacks every HOSTILE_EVERY s.
# Prints the RSS slope after warm-up (KiB/min, least squares over the last 80 % of samples),
# max fds, the per-shard exit counters and every error of the well-behaved clients other than
# the CANCELLED/DEADLINE_EXCEEDED they asked for. Exits 1 if the server crashed or hung, or had
# live calls at exit.
#
# Environment (defaults in brackets): SOAK_SECONDS [600]  SAMPLE_SECONDS [3]  H2LOAD_RPS [100]
#   HOSTILE_EVERY [4]  SHARDS [2]  BUILD [1]  BUILD_DIR [build]  URPC_BIN  URPC_ARGS []
#   OUT_DIR [BUILD_DIR/bench-results/soak-DATE]
set -euo pipefail

BENCH_NAME=soak
BENCH_TOOLS="h2load timeout getconf openssl"
SERVERS=uringrpc
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

SOAK_SECONDS=${SOAK_SECONDS:-600}

bench_init
use_test_cert
build_uringrpc
BUILD=0 resolve_servers
"$PY" -c 'import grpc, h2, hpack' 2>/dev/null ||
  die "$PY lacks grpc or h2 (apt-get install python3-grpcio python3-h2)"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpus: $(nproc)  commit: $(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "server: $URPC_BIN --shards ${SHARDS:-2} --tls-listen 127.0.0.1:0 $URPC_ARGS; soak ${SOAK_SECONDS}s"
} | tee "$OUT_DIR/env.txt" >&2

export URPC_BIN URPC_ARGS OUT_DIR TLS_CERT TLS_KEY SOAK_SECONDS
rc=0
timeout -k 10 $((SOAK_SECONDS + 240)) "$PY" "$BENCH_DIR/soak.py" >"$OUT_DIR/summary.txt" &
pid=$!
STARTED_PIDS+=("$pid")
wait "$pid" || rc=$?
forget_pid "$pid"
cat "$OUT_DIR/summary.txt"
log "logs and samples.csv: $OUT_DIR"
exit "$rc"
