#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# TLS: full handshakes/s and TLS unary SayHello req/s with server CPU, uringrpc vs grpc C++.
#
# A fresh ECDSA P-256 certificate (CN/SAN localhost, IP 127.0.0.1) is made in a temp dir. Each
# run starts a fresh server pinned to CPU 0 (uringrpc --shards 1 on --tls-listen; the grpc C++
# peer with one thread and SslServerCredentials on its port), checks one SayHello through a
# grpcio secure channel the first time, warms it up over TLS, then drives it with h2load over
# https (ALPN h2) pinned to CPU 1. Servers alternate (A B A B ...) for ROUNDS rounds.
#
# Scenarios (SCENARIOS):
#   handshake  HS_N connections in batches of HS_C (h2load -n HS_C -c HS_C -m 1: each connection
#              does one full TLS handshake and one request), HS_PAR h2load processes at a time;
#              handshakes/s = connections that completed their request / elapsed time; server
#              CPU µs per handshake
#   aes        TLS unary at CONNS x STREAMS (16x32), N_TLS requests, TLS_AES_128_GCM_SHA256
#   chacha     the same with TLS_CHACHA20_POLY1305_SHA256
#
# Environment (defaults in brackets):
#   SERVERS [uringrpc peer]  ROUNDS [3]  SCENARIOS [handshake aes chacha]
#   HS_N [4000]  HS_C [50]  HS_PAR [4]  N_TLS [200000]  CONNS [16]  STREAMS [32]
#   HS_CIPHER [TLS_AES_128_GCM_SHA256]  RUN_TIMEOUT [120] per h2load run
#   TLS_GROUPS [P-256]          h2load --groups: key exchange offered (grpc's own clients and
#                               servers use P-256 only); empty = h2load's default (X25519 first)
#   BUILD [1]  BUILD_DIR [build]  OUT_DIR [BUILD_DIR/bench-results/tls-DATE]  KEEP_LOGS [0]
#   PEER_API [async]  PEER_THREADS [1]  URPC_WORKERS [0]  URPC_ARGS []
set -euo pipefail

BENCH_NAME=tls
BENCH_TOOLS="h2load taskset timeout getconf openssl"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SCENARIOS=${SCENARIOS:-handshake aes chacha}
HS_N=${HS_N:-4000}
HS_C=${HS_C:-50}
HS_PAR=${HS_PAR:-4}
N_TLS=${N_TLS:-200000}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-32}
HS_CIPHER=${HS_CIPHER:-TLS_AES_128_GCM_SHA256}
GROUPS_=${TLS_GROUPS-P-256}
KEEP_LOGS=${KEEP_LOGS:-0}
CHECK=${CHECK:-1}
[ "$HS_C" -le "$HS_N" ] || HS_C=$HS_N

bench_init
use_test_cert
resolve_servers

RESULTS=$OUT_DIR/results.tsv
printf 'round\tscenario\tserver\tconns\tstreams\tn\tsucceeded\tfailed\twall_s\trate_per_s\tserver_cpu_us_per_op\tclient_cpu_pct\tcipher\ttemp_key\n' >"$RESULTS"

{
  echo "date: $(date -Is)  kernel: $(uname -r)  cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n1)"
  echo "h2load: $(h2load --version | head -n1)  $(openssl version)  clk_tck: $CLK_TCK  rounds: $ROUNDS  servers: ${ACTIVE_SERVERS[*]}"
  echo "server cpu $SERVER_CPU, client cpu $CLIENT_CPU; peer: $PEER_BIN --api $PEER_API --threads $PEER_THREADS --tls-cert/--tls-key"
  echo "uringrpc: $URPC_BIN --shards 1 --workers-per-shard $URPC_WORKERS $URPC_ARGS --tls-listen 127.0.0.1:0"
  echo "cert: ECDSA P-256 self-signed; h2load --groups=${GROUPS_:-default}; handshake: HS_N=$HS_N in batches of HS_C=$HS_C, HS_PAR=$HS_PAR at a time, with $HS_CIPHER; unary: ${CONNS}x$STREAMS N_TLS=$N_TLS"
} | tee "$OUT_DIR/env.txt" >&2

declare -A CHECKED=()

# h2load's "finished in 1.23s" / "523.45ms" / "900us" in seconds.
finished_s() {
  sed -n -E 's/^finished in ([0-9.]+)(s|ms|us),.*/\1 \2/p' "$1" |
    awk '{ f = ($2 == "ms") ? 1e-3 : ($2 == "us") ? 1e-6 : 1; printf "%.6f", $1 * f }'
}

# run_one ROUND SCENARIO SERVER: appends one row to RESULTS.
run_one() {
  local round=$1 scen=$2 name=$3
  local c m n cipher
  case $scen in
  handshake) c=$HS_C m=1 n=$HS_N cipher=$HS_CIPHER ;;
  aes) c=$CONNS m=$STREAMS n=$N_TLS cipher=TLS_AES_128_GCM_SHA256 ;;
  chacha) c=$CONNS m=$STREAMS n=$N_TLS cipher=TLS_CHACHA20_POLY1305_SHA256 ;;
  *) die "unknown scenario '$scen' (handshake aes chacha)" ;;
  esac
  local tag=r$round-$scen
  local row_na
  row_na=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t0\t%s\tNA\tNA\tNA\tNA\t%s\tNA' "$round" "$scen" "$name" \
    "$c" "$m" "$n" "$n" "$cipher")
  if ! start_server "$name" "$tag"; then
    echo "$row_na" >>"$RESULTS"
    return 0
  fi
  if [ "$CHECK" = 1 ] && [ -z "${CHECKED[$name]:-}" ]; then
    if ! grpc_check "$SRV_PORT"; then
      log "ERROR: $name gave a wrong SayHello reply over TLS; dropping it from this run"
      stop_server
      CHECKED[$name]=bad
      return 0
    fi
    CHECKED[$name]=ok
  fi
  H2LOAD_EXTRA="--tls13-ciphers=$cipher"
  [ -z "$GROUPS_" ] || H2LOAD_EXTRA+=" --groups=$GROUPS_"
  if [ "$scen" = handshake ]; then
    WARMUP_N=200 warmup "$SRV_PORT" 50 1
  else
    warmup "$SRV_PORT" "$c" "$m"
  fi

  # unary: one h2load run; wall = its "finished in", client CPU over its whole run.
  # handshake: HS_PAR workers, each running its share of the ceil(n / c) batches of c connections
  # x 1 request one after the other, all h2load processes on CLIENT_CPU. Parallel workers keep
  # handshakes flowing (one batch alone goes in lockstep: every ClientHello, then every server
  # flight, ...); wall = elapsed time of the whole set, h2load start-up included.
  local t0 t1 b rc wall=0 succ=0 client_s=0 client_wall=0 out bn bc batches w
  t0=$(cpu_ticks "$SRV_PID")
  if [ "$scen" = handshake ]; then
    batches=$(((n + c - 1) / c))
    local hs0=$EPOCHREALTIME wpids=()
    times >"$OUT_DIR/times0"
    for w in $(seq "$HS_PAR"); do
      (
        for b in $(seq "$w" "$HS_PAR" "$batches"); do
          bc=$((n - (b - 1) * c))
          [ "$bc" -le "$c" ] || bc=$c
          rc=0
          h2load_run "$SRV_PORT" "$bc" "$bc" 1 "" "$OUT_DIR/$name.$tag.b$b.h2load" || rc=$?
          [ $rc = 0 ] || log "WARNING: h2load exited $rc for $name round $round $scen batch $b"
        done
      ) &
      wpids+=($!)
      STARTED_PIDS+=($!)
    done
    for w in "${wpids[@]}"; do
      wait "$w" || true
      forget_pid "$w"
    done
    times >"$OUT_DIR/times1"
    wall=$(awk -v a="$hs0" -v b="$EPOCHREALTIME" 'BEGIN {printf "%.6f", b - a}')
    client_wall=$wall
    client_s=$(awk -v a="$(times_children_s "$OUT_DIR/times0")" -v b="$(times_children_s "$OUT_DIR/times1")" \
      'BEGIN {printf "%.3f", b - a}')
    rm -f "$OUT_DIR/times0" "$OUT_DIR/times1"
    for b in $(seq "$batches"); do
      out=$OUT_DIR/$name.$tag.b$b.h2load
      bn=$(sed -n -E 's/^requests: .* ([0-9]+) succeeded,.*/\1/p' "$out" 2>/dev/null || true)
      if [ -z "$bn" ]; then
        log "WARNING: no h2load summary for $name round $round $scen batch $b (see $out)"
        continue
      fi
      succ=$((succ + bn))
    done
  else
    batches=1
    out=$OUT_DIR/$name.$tag.b1.h2load
    rc=0
    h2load_run "$SRV_PORT" "$n" "$c" "$m" "" "$out" || rc=$?
    [ $rc = 0 ] || log "WARNING: h2load exited $rc for $name round $round $scen (see $out)"
    succ=$(sed -n -E 's/^requests: .* ([0-9]+) succeeded,.*/\1/p' "$out")
    wall=$(finished_s "$out")
    if [ -z "$succ" ] || [ -z "$wall" ]; then
      log "WARNING: no h2load summary for $name round $round $scen (see $out)"
      succ=0 wall=0
    else
      read -r client_wall client_s <"$out.time"
    fi
  fi
  if kill -0 "$SRV_PID" 2>/dev/null; then
    t1=$(cpu_ticks "$SRV_PID")
  else
    log "ERROR: $name died during round $round $scen (see $OUT_DIR/$name.$tag.stderr)"
    t1=
  fi
  stop_server
  local first=$OUT_DIR/$name.$tag.b1.h2load negotiated tkey
  negotiated=$(sed -n -E 's/^Cipher: (.*)$/\1/p' "$first" | head -n1)
  tkey=$(sed -n -E 's/^Server Temp Key: (.*)$/\1/p' "$first" | head -n1 | tr ' ' '_')
  [ -n "$negotiated" ] || negotiated=NA
  [ -n "$tkey" ] || tkey=NA
  if [ "$negotiated" != NA ] && [ "$negotiated" != "$cipher" ]; then
    log "WARNING: $name negotiated $negotiated, not $cipher"
  fi
  if [ "$succ" = 0 ] || [ "$wall" = 0 ]; then
    echo "$row_na" >>"$RESULTS"
    log "  round $round $scen $name: no successful requests (see $OUT_DIR/$name.$tag.*)"
    return 0
  fi
  local rate cpu_us=NA client_pct
  rate=$(awk -v s="$succ" -v w="$wall" 'BEGIN {printf "%.1f", s / w}')
  if [ -n "$t1" ]; then
    cpu_us=$(awk -v d=$((t1 - t0)) -v hz="$CLK_TCK" -v s="$succ" 'BEGIN {printf "%.3f", d * 1e6 / hz / s}')
  fi
  # h2load's CPU over its whole runs (process start included, as its CPU time is).
  client_pct=$(awk -v c="$client_s" -v w="$client_wall" 'BEGIN {printf "%.0f", (w > 0) ? c * 100 / w : 0}')
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$scen" "$name" "$c" \
    "$m" "$n" "$succ" $((n - succ)) "$wall" "$rate" "$cpu_us" "$client_pct" "$negotiated" "$tkey" \
    >>"$RESULTS"
  local unit=req/s
  [ "$scen" = handshake ] && unit=handshakes/s
  log "  round $round $scen $name: $rate $unit, $((n - succ)) failed, $cpu_us us server CPU/op," \
    "client ${client_pct}% CPU ($negotiated, $tkey)"
  [ "$KEEP_LOGS" = 1 ] || [ "$batches" -le 1 ] || rm -f "$OUT_DIR/$name.$tag".b[2-9]*.h2load* \
    "$OUT_DIR/$name.$tag".b[1-9][0-9]*.h2load*
}

for scen in $SCENARIOS; do
  for round in $(seq "$ROUNDS"); do
    for name in "${ACTIVE_SERVERS[@]}"; do
      [ "${CHECKED[$name]:-}" = bad ] && continue
      run_one "$round" "$scen" "$name"
    done
  done
done

"$PY" "$BENCH_DIR/summarize_tls.py" "$RESULTS" | tee "$OUT_DIR/summary.txt"
log "raw results: $RESULTS"
