#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Resident memory per idle HTTP/2 connection: uringrpc vs grpc C++.
#
# For each server: start it pinned to CPU 0, warm it with a short h2load burst, read VmRSS,
# open IDLE_CONNS idle h2c connections (bench/idle_conns.py: preface + SETTINGS, then silent),
# let it settle, read VmRSS again; (after - before) / connections = KiB per connection.
#
# With TLS=1 the connections are TLS 1.3 (ALPN h2) to each server's TLS listener, with a fresh
# self-signed ECDSA P-256 certificate.
#
# Environment (defaults in brackets): SERVERS [uringrpc peer]  IDLE_CONNS [1000]  TLS [0]
#   SETTLE [2] seconds before the second reading  HOLD_TIMEOUT [120]  BUILD [1]
#   BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/idle-DATE]  and lib.sh's PEER_*/URPC_*
set -euo pipefail

BENCH_NAME=idle
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

IDLE_CONNS=${IDLE_CONNS:-1000}
SETTLE=${SETTLE:-2}
TLS=${TLS:-0}
HOLD_TIMEOUT=${HOLD_TIMEOUT:-120}

bench_init
if [ "$TLS" = 1 ]; then
  use_test_cert
  export IDLE_TLS=1
fi
resolve_servers

fd_count() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }

RESULTS=$OUT_DIR/results.tsv
printf 'server\tconnections\trss_before_kib\trss_after_kib\tfds_added\tkib_per_conn\n' >"$RESULTS"

for name in "${ACTIVE_SERVERS[@]}"; do
  start_server "$name" idle || continue
  warmup "$SRV_PORT" 4 8
  sleep 1
  rss0=$(rss_kib "$SRV_PID")
  fd0=$(fd_count "$SRV_PID")

  conns_out=$OUT_DIR/$name.idle_conns.out
  conns_err=$OUT_DIR/$name.idle_conns.err
  timeout -k 5 $((HOLD_TIMEOUT + 60)) "$PY" "$BENCH_DIR/idle_conns.py" 127.0.0.1 "$SRV_PORT" \
    "$IDLE_CONNS" "$HOLD_TIMEOUT" >"$conns_out" 2>"$conns_err" &
  client_pid=$!
  STARTED_PIDS+=("$client_pid")
  ready=
  for _ in $(seq 1200); do # up to 60 s to set the connections up
    ready=$(sed -n 's/^READY //p' "$conns_out")
    [ -n "$ready" ] && break
    kill -0 "$client_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$ready" ]; then
    log "ERROR: $name: idle connections were not set up (see $conns_err)"
    kill -TERM "$client_pid" 2>/dev/null || true
    wait "$client_pid" 2>/dev/null || true
    forget_pid "$client_pid"
    stop_server
    continue
  fi
  read -r open failed <<<"$ready"
  sleep "$SETTLE"
  if ! kill -0 "$SRV_PID" 2>/dev/null; then
    log "ERROR: $name died holding $open idle connections (see $OUT_DIR/$name.idle.stderr)"
    kill -TERM "$client_pid" 2>/dev/null || true
    wait "$client_pid" 2>/dev/null || true
    forget_pid "$client_pid"
    continue
  fi
  rss1=$(rss_kib "$SRV_PID")
  fd1=$(fd_count "$SRV_PID")

  kill -TERM "$client_pid" 2>/dev/null || true
  wait "$client_pid" 2>/dev/null || true
  forget_pid "$client_pid"
  stop_server
  [ "$failed" = 0 ] || log "WARNING: $name: $failed of $IDLE_CONNS connections failed (see $conns_err)"
  grep -q 'closed 0 of them' "$conns_err" ||
    log "WARNING: $name closed idle connections during the hold: $(tail -n1 "$conns_err")"
  per=NA
  [ "$open" -gt 0 ] && per=$(awk -v a="$rss0" -v b="$rss1" -v n="$open" 'BEGIN {printf "%.2f", (b - a) / n}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$open" "$rss0" "$rss1" $((fd1 - fd0)) "$per" >>"$RESULTS"
  log "  $name: $open idle connections, RSS $rss0 -> $rss1 KiB, $per KiB/conn"
done

{
  printf '\n== idle memory: %s idle %s connections, after a warm-up ==\n' "$IDLE_CONNS" "$([ "$TLS" = 1 ] && echo 'TLS 1.3 (ALPN h2)' || echo h2c)"
  printf '%-14s %6s %12s %12s %10s %10s\n' server conns 'RSS before' 'RSS after' 'fds added' 'KiB/conn'
  printf '%s\n' "-------------------------------------------------------------------------"
  tail -n +2 "$RESULTS" | while IFS=$'\t' read -r s n a b f p; do
    printf '%-14s %6s %9s KiB %9s KiB %10s %10s\n' "$s" "$n" "$a" "$b" "$f" "$p"
  done
} | tee "$OUT_DIR/summary.txt"
log "raw results: $RESULTS"
