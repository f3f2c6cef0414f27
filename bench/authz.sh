#!/usr/bin/env bash
# What an authorization policy costs unary calls: uringrpc-server with --authz-policy (a 20-rule
# policy, bench/authz-policy.json by default) against the same binary without one, in the same
# run, through unary.sh (servers alternate A B A B within every round), then the policy's
# evaluation alone (build/authz_bench, if built with -DURPC_BENCH_MICRO=ON).
#
# h2load counts a gRPC error as a success (HTTP 200): so that a policy that denied SayHello is
# not measured as if it served it, unary.sh checks one real SayHello through grpcio first, and
# this script then reads every uringrpc run's exit stats and fails if any call failed.
#
# Environment (defaults in brackets; the rest as unary.sh):
#   POLICY [bench/authz-policy.json]  the policy served by "uringrpc"
#   ROUNDS [5]  SCENARIOS [16x32]  N_BIG [200000]  BUILD [1]  BUILD_DIR [build]
#   EVALS [10000000]                  evaluations per case in authz_bench
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=served.sh
source "$BENCH_DIR/served.sh"
ROOT_DIR=$(cd "$BENCH_DIR/.." && pwd)
BUILD_DIR=${BUILD_DIR:-$ROOT_DIR/build}
POLICY=${POLICY:-$BENCH_DIR/authz-policy.json}
POLICY=$(cd "$(dirname "$POLICY")" && pwd)/$(basename "$POLICY")
OUT_DIR=${OUT_DIR:-$BUILD_DIR/bench-results/authz-$(date +%Y%m%d-%H%M%S)}
EVALS=${EVALS:-10000000}
[ -r "$POLICY" ] || {
  echo "authz.sh: cannot read $POLICY" >&2
  exit 1
}

if [ "${BUILD:-1}" != 0 ]; then
  mkdir -p "$OUT_DIR"
  cmake -S "$ROOT_DIR" -B "$BUILD_DIR" -DURPC_BENCH_MICRO=ON >>"$OUT_DIR/build.log" 2>&1 &&
    cmake --build "$BUILD_DIR" -j2 --target uringrpc-server authz_bench >>"$OUT_DIR/build.log" 2>&1 ||
    echo "authz.sh: note: building failed (see $OUT_DIR/build.log)" >&2
fi

URPC_BIN=${URPC_BIN:-$BUILD_DIR/examples/uringrpc-server}
export URPC_BIN OUT_DIR BUILD_DIR
export SERVERS=${SERVERS:-uringrpc-base uringrpc}
export URPC_BASE_BIN=${URPC_BASE_BIN:-$URPC_BIN}
export URPC_BASE_ARGS=${URPC_BASE_ARGS-}
export URPC_ARGS="${URPC_ARGS:-} --authz-policy $POLICY"
export ROUNDS=${ROUNDS:-5}
export SCENARIOS=${SCENARIOS:-16x32}
export BUILD=0 # built above (unary.sh would configure with the bench peers)

"$BENCH_DIR/unary.sh"

# Every run's exit stats: a failed call means the numbers measured something else.
check_served authz.sh "$OUT_DIR" || exit 1

# Paired per round and client (the two servers ran back to back, driven by the same client): CPU
# us/req with the policy minus without (by default uringrpc-base has no policy).
/usr/bin/python3 - "$OUT_DIR/results.tsv" <<'EOF' | tee "$OUT_DIR/authz-summary.txt"
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
    d = [v["uringrpc"] - v["uringrpc-base"] for v in rounds.values()
         if "uringrpc" in v and "uringrpc-base" in v]
    if not d:
        continue
    base = statistics.median(v["uringrpc-base"] for v in rounds.values() if "uringrpc-base" in v)
    pol = statistics.median(v["uringrpc"] for v in rounds.values() if "uringrpc" in v)
    print(f"{scen}: server CPU us/req (medians) uringrpc-base {base:.3f}, uringrpc {pol:.3f}; "
          f"uringrpc - uringrpc-base per round {' '.join(f'{x:+.3f}' for x in d)}, "
          f"median {statistics.median(d):+.3f} us")
EOF

if [ -x "$BUILD_DIR/authz_bench" ]; then
  echo
  taskset -c "${SERVER_CPU:-0}" "$BUILD_DIR/authz_bench" "$POLICY" "$EVALS" | tee "$OUT_DIR/authz_bench.txt"
else
  echo "(authz_bench not built: cmake -S . -B build -DURPC_BENCH_MICRO=ON)"
fi
