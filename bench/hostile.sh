#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Hostile clients: what each attack of issue 8 costs uringrpc-server (--shards 2) and the
# well-behaved client beside it. Prints numbers only; nothing is asserted.
#
# bench/hostile.py does the work: an unloaded baseline first, then for each attack a fresh
# server, the attacker processes (raw HTTP/2 over sockets), and the good client (python3-grpcio,
# one channel, SayHello at GOOD_RATE/s) measured while the attack runs. Per attack: the server's
# RSS at start, peak (VmHWM) and SETTLE s after the attackers left, its CPU seconds during the
# attack, the good client's p50/p99 and errors against the baseline, the server's descriptors,
# its per-shard exit counters (live= must be 0) and what the attackers saw (GOAWAY, RST_STREAM,
# grpc-status, closes). hpack_bomb also runs against nghttpd (nghttp2-server) when installed.
#
# Attacks (ATTACKS, default all): reset_defer madeyoureset gzip_bomb hpack_bomb zero_window
#   slowloris conn_flood cancel_rate
# Environment (defaults in brackets):
#   DURATION [10] seconds each attack runs (while the good client measures)
#   SETTLE [5] seconds between the attack's end and the "RSS after" reading
#   GOOD_RATE [50] SayHello/s  GOOD_DEADLINE [2] s per call  RSS_CAP_MB [4096] stop an attack there
#   RESET_CONNS [4]  GZIP_CALLS [100]  GZIP_CONNS [4]  HPACK_CONNS [2]  ZW_STREAMS [200]
#   ZW_SIZE [4194304]  SLOWLORIS_CONNS [4000]  SLOWLORIS_HOLD [30]  FLOOD_CONNS [20000]
#   FLOOD_PROCS [4]  FLOOD_WAVE [200]  FLOOD_TIMEOUT [180]  CANCEL_RATE [1000]  CANCEL_SECONDS [30]
#   NGHTTPD [auto] (0: skip the nghttpd comparison)  BASELINE_END [1] (0: no closing baseline)
#   SHARDS [2]  ATTACKER_NICE [10]  LATE_SETTLE [15]
#   BUILD [1]  BUILD_DIR [build]  URPC_BIN  URPC_ARGS []  OUT_DIR [BUILD_DIR/bench-results/hostile-DATE]
set -euo pipefail

BENCH_NAME=hostile
BENCH_TOOLS="timeout getconf"
SERVERS=uringrpc
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

bench_init
build_uringrpc
BUILD=0 resolve_servers
"$PY" -c 'import grpc, h2, hpack' 2>/dev/null ||
  die "$PY lacks grpc or h2 (apt-get install python3-grpcio python3-h2)"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpus: $(nproc)  commit: $(git -C "$ROOT_DIR" rev-parse --short HEAD 2>/dev/null || echo '?')"
  echo "server: $URPC_BIN --shards ${SHARDS:-2} $URPC_ARGS (not pinned; attackers and the good client share the same cores)"
} | tee "$OUT_DIR/env.txt" >&2

export URPC_BIN URPC_ARGS OUT_DIR
rc=0
# In the background so that a signal reaches this script's trap at once (see lib.sh).
timeout -k 10 "${HOSTILE_TIMEOUT:-3600}" "$PY" "$BENCH_DIR/hostile.py" >"$OUT_DIR/summary.txt" &
pid=$!
STARTED_PIDS+=("$pid")
wait "$pid" || rc=$?
forget_pid "$pid"
cat "$OUT_DIR/summary.txt"
log "logs: $OUT_DIR"
[ "$rc" = 0 ] || log "WARNING: hostile.py exited $rc (a server crashed or hung: see the table)"
exit "$rc"
