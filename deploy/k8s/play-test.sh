#!/usr/bin/env bash
# Runs deploy/k8s's Deployment on this machine with `podman kube play` (podman 4.3) and asks it
# what Kubernetes would, then tears it down. Twice by default, once per seccomp profile:
#
#   localhost        deploy/seccomp.json (the Deployment's Localhost profile)  -> io=uring
#   runtime-default  the runtime's default profile (RuntimeDefault)            -> io=epoll, and
#                    the one line saying why; also with the CPU limit at 1 instead of 2, so
#                    the shard count is seen to follow the limit (this machine has 2 CPUs)
#
# Each run: validates deploy/k8s (tests/deploy/k8s_check.mjs), writes the podman variant
# (tests/deploy/podman_variant.mjs: the Deployment alone, 1 replica, ports on 127.0.0.1 at free
# host ports, a podman secret for the TLS Secret, the seccomp annotation podman reads), a
# self-signed certificate in that secret, plays it, then checks
#   - the startup line: io backend, shards = the CPU limit (the cgroup quota), TLS and admin
#   - podman applied the securityContext: uid 65532, read-only root, no capabilities,
#     no_new_privs, a seccomp filter, the memory and CPU limits
#   - the kubelet's gRPC probe question, Health/Check(""), on the plaintext port: SERVING; the
#     same over TLS with the Secret's certificate; /healthz, /readyz, /metrics (play_check.py)
#   - `podman pod stop` (SIGTERM, 30 s like terminationGracePeriodSeconds): the server drains
#     and exits 0
# and `podman kube down`, then removes the secret and the volume podman made for it.
#
#   deploy/k8s/play-test.sh [localhost|runtime-default|both]     (default both)
#
# Image: $URPC_IMAGE, else localhost/uringrpc:latest, else localhost/uringrpc-server:latest;
# if none exists it is built with the container test (URPC_KEEP_IMAGE=1
# deploy/container-test.sh) when that script is there, and kept. Needs root (rootful podman),
# podman, runc, openssl, node with tests/deploy/node_modules (deploy/install-deps.sh), and
# /usr/bin/python3 with python3-grpcio, protoc and grpc_python_plugin. Every podman call has a
# time limit; it removes only the pods, secrets, volumes and files it made (names urpc-play-PID).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
modes=${1:-both}
case "$modes" in
  both) modes="localhost runtime-default" ;;
  localhost | runtime-default) ;;
  *) echo "usage: deploy/k8s/play-test.sh [localhost|runtime-default|both]" >&2; exit 2 ;;
esac

PY=/usr/bin/python3 # the one with Debian's python3-grpcio
STOP_TIMEOUT=30     # terminationGracePeriodSeconds in deploy/k8s/deployment.yaml
run=urpc-play-$$
tmp=$(mktemp -d)
say() { echo "play-test: $*"; }
die() { echo "play-test: $*" >&2; exit 1; }

# ---- prerequisites --------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "run as root (rootful podman: CPU limits and the bridge network)"
missing=()
for t in podman runc openssl node protoc /usr/bin/grpc_python_plugin; do
  command -v "$t" >/dev/null 2>&1 || missing+=("$t")
done
"$PY" -c 'import grpc' 2>/dev/null || missing+=("python3-grpcio")
[ -f tests/deploy/node_modules/yaml/package.json ] || missing+=("tests/deploy/node_modules")
if [ ${#missing[@]} -gt 0 ]; then
  die "missing ${missing[*]}: apt-get install podman runc containernetworking-plugins openssl \
python3-grpcio protobuf-compiler protobuf-compiler-grpc, and deploy/install-deps.sh for node_modules"
fi
# podman 4.3 runs here with runc (crun fails on this cgroup setup) and a file limit the server
# can use: a containers.conf saying so, unless the caller has one.
if [ -z "${CONTAINERS_CONF:-}" ]; then
  if [ -f deploy/containers.conf ]; then
    export CONTAINERS_CONF=$root/deploy/containers.conf
  else
    printf '[containers]\ndefault_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n[engine]\nruntime = "runc"\n' \
      >"$tmp/containers.conf"
    export CONTAINERS_CONF=$tmp/containers.conf
  fi
fi

# ---- cleanup: only what this run made -------------------------------------------------------
variant=""
cleanup() {
  set +e
  if [ -n "$variant" ] && [ -f "$variant" ]; then
    timeout 90 podman kube down "$variant" >/dev/null 2>&1
  fi
  # podman 4.3 copies a secret volume's items into a named volume called after the secret.
  timeout 60 podman volume rm -f "$run-tls" >/dev/null 2>&1
  timeout 60 podman secret rm "$run-tls" >/dev/null 2>&1
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- the image ------------------------------------------------------------------------------
image=""
for i in ${URPC_IMAGE:-localhost/uringrpc:latest localhost/uringrpc-server:latest}; do
  if timeout 60 podman image exists "$i"; then image=$i; break; fi
done
if [ -z "$image" ]; then
  [ -z "${URPC_IMAGE:-}" ] || die "no image $URPC_IMAGE"
  [ -x deploy/container-test.sh ] ||
    die "no image localhost/uringrpc:latest: build one from deploy/Containerfile (podman build -f deploy/Containerfile -t localhost/uringrpc:latest .) or set URPC_IMAGE"
  say "no uringrpc image: building it with URPC_KEEP_IMAGE=1 deploy/container-test.sh (kept afterwards)"
  URPC_KEEP_IMAGE=1 timeout 1800 deploy/container-test.sh >"$tmp/container-test.log" 2>&1 ||
    { tail -n 30 "$tmp/container-test.log" >&2; die "deploy/container-test.sh failed"; }
  for i in localhost/uringrpc:latest localhost/uringrpc-server:latest; do
    if timeout 60 podman image exists "$i"; then image=$i; break; fi
  done
  [ -n "$image" ] || die "deploy/container-test.sh left no localhost/uringrpc(-server):latest image"
fi
say "image $image"

# ---- the manifests, a certificate, the client's stubs --------------------------------------
node tests/deploy/k8s_check.mjs deploy/k8s | sed 's/^/play-test: k8s_check: /'
mkdir -p "$tmp/seccomp" "$tmp/stubs"
cp deploy/seccomp.json "$tmp/seccomp/seccomp.json"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=uringrpc \
  -addext subjectAltName=DNS:uringrpc -keyout "$tmp/tls.key" -out "$tmp/tls.crt" 2>/dev/null
# podman 4.3 writes a secret's `data` values into the volume as they are (no base64 decoding)
# and ignores `stringData`: the PEM goes under `data` verbatim. This is a podman secret, not
# a Kubernetes object.
{
  printf 'apiVersion: v1\nkind: Secret\nmetadata: {name: %s-tls}\ntype: kubernetes.io/tls\ndata:\n' "$run"
  printf '  tls.crt: |\n'; sed 's/^/    /' "$tmp/tls.crt"
  printf '  tls.key: |\n'; sed 's/^/    /' "$tmp/tls.key"
} >"$tmp/secret.yaml"
timeout 60 podman secret create "$run-tls" "$tmp/secret.yaml" >/dev/null

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
field() { timeout 60 podman inspect "$1" --format "$2"; }

failures=0
results=()
play_one() { # MODE: plays, checks, always tears down what it played
  local rc=0
  check_one "$1" || rc=1
  if [ -n "$variant" ]; then
    timeout 90 podman kube down "$variant" >/dev/null 2>&1 || true
    timeout 60 podman volume rm -f "$run-tls" >/dev/null 2>&1 || true
    variant=""
  fi
  return $rc
}

check_one() {
  local mode=$1 gport tport aport pod ctr line status t0 expect_io cpus=2
  [ "$mode" = runtime-default ] && cpus=1
  gport=$(free_port); tport=$(free_port); aport=$(free_port)
  while [ "$tport" = "$gport" ]; do tport=$(free_port); done
  while [ "$aport" = "$gport" ] || [ "$aport" = "$tport" ]; do aport=$(free_port); done
  variant=$tmp/$mode.yaml
  node tests/deploy/podman_variant.mjs --name "$run" --image "$image" --secret "$run-tls" \
    --seccomp "$mode" --ports "grpc=$gport,grpc-tls=$tport,admin=$aport" --cpu "$cpus" \
    >"$variant" || return 1
  pod=$run-pod-0 # podman names a Deployment's pods NAME-pod-INDEX
  ctr=$pod-server
  say "[$mode] podman kube play ($(basename "$variant"); gRPC 127.0.0.1:$gport, TLS :$tport, admin :$aport)"
  timeout 120 podman kube play --seccomp-profile-root "$tmp/seccomp" "$variant" >"$tmp/play.log" 2>&1 ||
    { cat "$tmp/play.log" >&2; return 1; }

  # The startup line, or the container's end (podman restarts it at once: no back-off).
  t0=$SECONDS
  line=""
  while [ $((SECONDS - t0)) -lt 30 ]; do
    line=$(timeout 30 podman logs "$ctr" 2>/dev/null | grep -m1 'listening on' || true)
    [ -n "$line" ] && break
    if [ "$(field "$ctr" '{{.RestartCount}}' 2>/dev/null || echo 0)" != 0 ]; then break; fi
    sleep 0.5
  done
  if [ -z "$line" ]; then
    timeout 30 podman logs "$ctr" 2>&1 | tail -n 20 >&2
    say "[$mode] FAIL: the server did not start (log above)"
    return 1
  fi
  say "[$mode] $line"
  local errs=()
  expect_io=uring
  [ "$mode" = runtime-default ] && expect_io=epoll
  [[ "$line" == *" io=$expect_io"* ]] || errs+=("expected io=$expect_io")
  if [ "$mode" = runtime-default ]; then
    local why
    why=$(timeout 30 podman logs "$ctr" 2>&1 | grep -m1 'serving with epoll' || true)
    if [ -n "$why" ]; then say "[$mode] $why"; else errs+=("no 'serving with epoll' line"); fi
  fi
  # Shards: the CPU limit (a CFS quota), unless the machine has fewer CPUs.
  local want_shards=$cpus
  [ "$(nproc)" -lt "$cpus" ] && want_shards=$(nproc)
  [[ "$line" == *" shards=$want_shards "* ]] || errs+=("expected shards=$want_shards")
  [[ "$line" == *" tls=[::]:50443"* && "$line" == *" admin=[::]:9090"* ]] || errs+=("TLS or admin listener missing")

  # The securityContext as podman applied it.
  local user ro mem quota period st
  user=$(field "$ctr" '{{.Config.User}}'); ro=$(field "$ctr" '{{.HostConfig.ReadonlyRootfs}}')
  mem=$(field "$ctr" '{{.HostConfig.Memory}}')
  quota=$(field "$ctr" '{{.HostConfig.CpuQuota}}'); period=$(field "$ctr" '{{.HostConfig.CpuPeriod}}')
  st=$(timeout 30 podman exec "$ctr" cat /proc/1/status 2>/dev/null || true)
  say "[$mode] user=$user read-only-root=$ro memory=$mem cpu-quota=$quota/$period $(awk -F'\t' \
    '/^(CapEff|NoNewPrivs|Seccomp):/ {sub(":", "", $1); printf "%s=%s ", $1, $2}' <<<"$st")"
  [[ "$user" == 65532* ]] || errs+=("user $user, not 65532")
  [ "$ro" = true ] || errs+=("root filesystem not read-only")
  [ "$mem" = $((512 * 1024 * 1024)) ] || errs+=("memory limit $mem")
  [ "$quota" = $((cpus * period)) ] || errs+=("CPU quota $quota/$period, not $cpus CPUs")
  if [ -n "$st" ]; then
    grep -qE '^CapEff:\s+0+$' <<<"$st" || errs+=("capabilities left")
    grep -qE '^NoNewPrivs:\s+1$' <<<"$st" || errs+=("no_new_privs off")
    grep -qE '^Seccomp:\s+2$' <<<"$st" || errs+=("no seccomp filter")
  else
    errs+=("podman exec cat /proc/1/status failed")
  fi

  # What the kubelet's probes and Prometheus ask.
  if ! timeout 120 "$PY" deploy/k8s/play_check.py --grpc "$gport" --tls "$tport" --admin "$aport" \
      --ca "$tmp/tls.crt" --server-name uringrpc --stub-dir "$tmp/stubs" | sed "s/^/play-test: [$mode] /"; then
    errs+=("health, TLS or admin checks failed")
  fi

  # SIGTERM as the kubelet sends it (after the preStop sleep, which podman does not run): the
  # drain ends well inside the grace period and the server exits 0.
  t0=$SECONDS
  timeout $((STOP_TIMEOUT + 30)) podman pod stop -t "$STOP_TIMEOUT" "$pod" >/dev/null
  status=$(field "$ctr" '{{.State.ExitCode}}')
  say "[$mode] podman pod stop: exit status $status after $((SECONDS - t0)) s; $(timeout 30 podman logs "$ctr" 2>&1 |
    grep -m1 'shutting down' || echo 'no drain line')"
  [ "$status" = 0 ] || errs+=("exit status $status after SIGTERM")
  if [ ${#errs[@]} -gt 0 ]; then
    say "[$mode] FAIL: ${errs[*]}"
    return 1
  fi
  say "[$mode] ok"
}

t_start=$SECONDS
for m in $modes; do
  if play_one "$m"; then results+=("$m ok"); else results+=("$m FAILED"); failures=$((failures + 1)); fi
done
say "$(IFS=,; echo "${results[*]}") ($((SECONDS - t_start)) s)"
[ "$failures" -eq 0 ]
