#!/usr/bin/env bash
# What tracing and the access log cost unary calls: uringrpc-server with --trace exporting over
# OTLP/HTTP to a local sink (bench/otlp_sink.py, pinned with the client), and with
# --access-log writing to a file under the results directory, each against the same binary
# without them, in the same run, through unary.sh (servers alternate A B A B within every
# round): once per sampling ratio, then once for the access log. Clients send no traceparent:
# every call is a root, sampled at the ratio (traceidratio). The exporter and the log writer
# threads run beside the shard (all on SERVER_CPU), so their CPU is in the server's.
#
# h2load counts a gRPC error as a success; every uringrpc run's exit stats are read and the run
# fails if any call failed.
#
# Environment (defaults in brackets; the rest as unary.sh):
#   RATIOS ["1 0.01"] (tracing runs; "" for none)  ACCESS_LOG [1] (0: no access log run)
#   ACCESS_LOG_SAMPLE [1]  ROUNDS [5]  SCENARIOS [16x32]  N_BIG [200000]  BUILD_DIR [build]
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=served.sh
source "$BENCH_DIR/served.sh"
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
TOP_OUT=${OUT_DIR:-$BUILD_DIR/bench-results/trace-$(date +%Y%m%d-%H%M%S)}
RATIOS=${RATIOS-1 0.01}
ACCESS_LOG=${ACCESS_LOG:-1}
ACCESS_LOG_SAMPLE=${ACCESS_LOG_SAMPLE:-1}
mkdir -p "$TOP_OUT"

cmake --build "$BUILD_DIR" -j2 --target uringrpc-server >>"$TOP_OUT/build.log" 2>&1 || {
  echo "trace.sh: building failed (see $TOP_OUT/build.log)" >&2
  exit 1
}

sink_pid=
cleanup() { [ -z "$sink_pid" ] || kill "$sink_pid" 2>/dev/null || true; }
trap cleanup EXIT
if [ -n "$RATIOS" ]; then
  exec 3< <(exec taskset -c "${CLIENT_CPU:-1}" /usr/bin/python3 -B "$BENCH_DIR/otlp_sink.py" 2>&1)
  sink_pid=$!
  read -r -t 10 sink_port <&3 || {
    echo "trace.sh: the OTLP sink did not start" >&2
    exit 1
  }
  cat <&3 >"$TOP_OUT/sink.log" &
fi

export URPC_BIN=${URPC_BIN:-$BUILD_DIR/examples/uringrpc-server} BUILD_DIR
export SERVERS="uringrpc-base uringrpc" URPC_BASE_BIN=$URPC_BIN URPC_BASE_ARGS=""
export ROUNDS=${ROUNDS:-5} SCENARIOS=${SCENARIOS:-16x32} BUILD=0

# One run: unary.sh with URPC_ARGS against no flags, its calls checked, its summary line.
run() { # <label> <out dir name> <flags...>
  local label=$1 name=$2
  shift 2
  export OUT_DIR=$TOP_OUT/$name URPC_ARGS="$*"
  mkdir -p "$OUT_DIR"
  "$BENCH_DIR/unary.sh"
  check_served trace.sh "$OUT_DIR" || exit 1
  /usr/bin/python3 - "$OUT_DIR/results.tsv" "$label" <<'PY' | tee -a "$TOP_OUT/trace-summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
by = {}
for r in rows:
    try:
        by.setdefault(r["scenario"], {}).setdefault((r["round"], r.get("client")), {})[
            r["server"]] = \
            float(r["server_cpu_us_per_req"])
    except ValueError:
        pass
for scen, rounds in by.items():
    pairs = [(v["uringrpc-base"], v["uringrpc"]) for v in rounds.values()
             if "uringrpc" in v and "uringrpc-base" in v]
    if not pairs:
        continue
    base = statistics.median(b for b, _ in pairs)
    on = statistics.median(t for _, t in pairs)
    rel = statistics.median((t - b) / b * 100 for b, t in pairs)
    print(f"{sys.argv[2]} {scen}: server CPU us/req (medians) off {base:.3f}, "
          f"on {on:.3f}; per-round difference median {rel:+.1f} %")
PY
}

for ratio in $RATIOS; do
  run "trace ratio $ratio" "ratio-$ratio" --otlp-endpoint "http://127.0.0.1:$sink_port/v1/traces" \
    --trace-sampler traceidratio --trace-sampler-arg "$ratio" --trace-batch-delay 200
done
if [ "$ACCESS_LOG" = 1 ]; then
  # the file is appended to by every round's server: its size says the lines were written
  run "access log 1/$ACCESS_LOG_SAMPLE" access-log --access-log "$TOP_OUT/access-log/access.log" \
    --access-log-sample "$ACCESS_LOG_SAMPLE"
  log=$TOP_OUT/access-log/access.log
  echo "access log: $(wc -l <"$log") lines written ($(du -h "$log" | cut -f1)); the first 100 kept in $log" |
    tee -a "$TOP_OUT/trace-summary.txt"
  head -n 100 "$log" >"$log.head" && mv "$log.head" "$log" # a run writes gigabytes
fi
cleanup
sink_pid=
sleep 0.2
cat "$TOP_OUT/sink.log" 2>/dev/null || true
echo "results: $TOP_OUT"
