/* uringrpc-server: serves the example services, health, on [::]:50051 by default.
 * Prints one line when serving ("uringrpc-server listening on ADDR shards=N io=uring"), stops on
 * SIGINT/SIGTERM and then prints each shard's counters (after the access log's last lines, when
 * it goes to stdout). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "print_config.h"
#include "services.h"
#include "access_log_setup.h"
#include "auth_setup.h"
#include "trace_setup.h"
#include "urpc_admin.h"
#include "urpc_auth.h"

/* Built by urpc_descriptor_set() in examples/CMakeLists.txt. */
extern const unsigned char urpc_example_descriptors[];
extern const size_t urpc_example_descriptors_len;

static void usage(FILE *f) {
  fprintf(f,
          "usage: uringrpc-server [options]\n"
          "  --listen ADDR:PORT        address to serve on (default [::]:50051; port 0 picks "
          "one)\n"
          "  --shards N                shard threads (default: CPUs in the affinity mask, "
          "capped by the cgroup quota)\n"
          "  --workers-per-shard N     threads per shard for blocking methods (default 1)\n"
          "  --io auto|uring|epoll     kernel interface (default auto: io_uring where it can be "
          "had, else epoll, saying why)\n"
          "  --max-recv-message BYTES  largest request message (default 4194304)\n"
          "  --tls-listen ADDR:PORT    also serve TLS 1.3 (ALPN h2) there; needs --tls-cert and "
          "--tls-key\n"
          "  --tls-cert FILE           PEM certificate chain, leaf first\n"
          "  --tls-key FILE            PEM private key (ECDSA or RSA)\n"
          "  --tls12                   accept TLS 1.2 too (ECDHE + AEAD suites only)\n"
          "  --tls-client-ca FILE      verify client certificates against this PEM bundle (mTLS)\n"
          "  --tls-client-auth MODE    with --tls-client-ca: required (default) or optional\n"
          "  --tls-handshake-timeout MS  close connections whose handshake takes longer (10000)\n"
          "  --tls-ticket-lifetime SEC   rotate session-ticket keys this often (3600)\n"
          "  --compression ENC         compress responses: identity (default), gzip, deflate\n"
          "  --stream-window BYTES     HTTP/2 receive window per stream (default 1048576)\n"
          "  --conn-window BYTES       HTTP/2 receive window per connection (default 16777216)\n"
          "  --keepalive-time SEC      PING a client silent this long (default 7200; 0 = never)\n"
          "  --keepalive-timeout SEC   close if that PING is not answered in time (default 20)\n"
          "  --min-ping-interval SEC   client PINGs closer than this are strikes (default 300)\n"
          "  --permit-keepalive-without-calls  that interval also without calls (else 7200)\n"
          "  --max-ping-strikes N      GOAWAY too_many_pings after N+1 (default 2; 0 = no limit)\n"
          "  --max-connection-idle SEC GOAWAY connections without calls this long (default off)\n"
          "  --max-connection-age SEC  GOAWAY connections this old, +-10 %% (default off)\n"
          "  --max-connection-age-grace SEC  then close them after this long (default: no limit)\n"
          "  --max-calls-per-connection N  calls a connection may hold, reset ones whose handler "
          "is busy included; beyond: REFUSED_STREAM (default: the advertised "
          "MAX_CONCURRENT_STREAMS, 1000)\n"
          "  --max-calls N             calls the server may hold; beyond: RESOURCE_EXHAUSTED "
          "(default 100000)\n"
          "  --max-connection-memory BYTES  memory a connection's calls may hold (requests, "
          "decompressed too; unsent responses); beyond: RESOURCE_EXHAUSTED (default 134217728)\n"
          "  --max-memory BYTES        the same for the whole server (default 1073741824)\n"
          "  --stream-reset-rate N     RST_STREAMs per second a connection may send or cause, "
          "after a 10 s burst; beyond: GOAWAY (default 10000; 0 = no limit)\n"
          "  --max-connections N       connections the server holds; beyond: refused (default: "
          "the file limit less the server's own)\n"
          "  --preface-timeout SEC     close a connection without its HTTP/2 preface by then "
          "(default 20; 0 = never)\n"
          "  --first-request-timeout SEC  GOAWAY a connection without a request by then (default "
          "60; 0 = never)\n"
          "  --tcp-user-timeout SEC    end a connection whose sent data stays unacknowledged "
          "this long (default 0 = the kernel's; grpc's servers use 20)\n"
          "  --authz-policy FILE       grpc authorization policy (JSON, gRFC A43); re-read when "
          "it changes and on SIGHUP\n"
          "  --authz-dry-run           log what the policy would deny, deny nothing\n"
          "  --admin-listen ADDR:PORT  serve GET /metrics (Prometheus), /healthz and /readyz "
          "there, over HTTP/1.1 and h2c (default off; keep it off the traffic port)\n"
          "  --jwt-jwks FILE           require `authorization: Bearer <JWT>` verified with these "
          "keys (JWKS or PEM public keys; re-read when the file changes and on SIGHUP); a "
          "missing or bad token gets UNAUTHENTICATED\n"
          "  --jwt-issuer ISS          with --jwt-jwks: the `iss` tokens must have\n"
          "  --jwt-audience AUD        with --jwt-jwks: a value tokens' `aud` must hold\n"
          "  --jwt-leeway SEC          clock skew allowed on exp, nbf and iat (default 0)\n"
          "  --jwt-optional            let calls without a token through, unauthenticated "
          "(a bad token is still refused)\n"
          "  --shutdown-grace SEC      on SIGTERM/SIGINT, let calls in flight finish this long "
          "(default 10; 0 = stop at once; a second signal stops at once)\n"
          "%s%s"
          "  --upstream TARGET         the next hop of urpc.example.Relay/Forward: a gRPC target "
          "(dns:///host:port, host:port, ipv4:a:p,..., unix:/path; default none)\n"
          "  --upstream-ca FILE        call the upstream over TLS, verifying it against this PEM "
          "bundle (default plaintext)\n"
          "  --upstream-lb POLICY      pick_first (default) or round_robin over the upstream's "
          "addresses\n"
          "  --print-config            print the effective options (key=value lines) and exit\n"
          "  --help                    this text\n"
          "  --version                 the version\n",
          trace_setup_usage, access_log_setup_usage);
}

static int parse_int(const char *flag, const char *v, long min, long max, long *out) {
  char *end;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno || end == v || *end || n < min || n > max) {
    fprintf(stderr, "uringrpc-server: %s needs a whole number from %ld to %ld, not '%s'\n", flag,
            min, max, v);
    return -1;
  }
  *out = n;
  return 0;
}

/* Whole seconds from `min` to 30 days, kept in milliseconds. */
static int parse_seconds(const char *flag, const char *v, long min, unsigned *ms) {
  long n;
  if (parse_int(flag, v, min, 30L * 86400, &n) < 0) return -1;
  *ms = (unsigned)n * 1000u;
  return 0;
}

static int parse_args(int argc, char **argv, urpc_server_options *o, long *grace_s,
                      const char **admin_listen, auth_setup *auth, access_log_setup *alog,
                      relay_setup *relay) {
  enum {
    OPT_LISTEN = 1,
    OPT_SHARDS,
    OPT_WORKERS,
    OPT_MAXMSG,
    OPT_COMPRESSION,
    OPT_TLS_LISTEN,
    OPT_TLS_CERT,
    OPT_TLS_KEY,
    OPT_TLS12,
    OPT_TLS_CLIENT_CA,
    OPT_TLS_CLIENT_AUTH,
    OPT_TLS_HS_TIMEOUT,
    OPT_TLS_TICKETS,
    OPT_STREAM_WINDOW,
    OPT_CONN_WINDOW,
    OPT_SHUTDOWN_GRACE,
    OPT_KA_TIME,
    OPT_KA_TIMEOUT,
    OPT_MIN_PING,
    OPT_PERMIT_KA,
    OPT_PING_STRIKES,
    OPT_MAX_IDLE,
    OPT_MAX_AGE,
    OPT_MAX_AGE_GRACE,
    OPT_MAX_CONN_CALLS,
    OPT_MAX_CALLS,
    OPT_MAX_CONN_MEM,
    OPT_MAX_MEM,
    OPT_RESET_RATE,
    OPT_MAX_CONNS,
    OPT_PREFACE_TIMEOUT,
    OPT_FIRST_REQ_TIMEOUT,
    OPT_TCP_USER_TIMEOUT,
    OPT_ADMIN,
    OPT_IO,
    OPT_AUTHZ_POLICY,
    OPT_AUTHZ_DRY_RUN,
    OPT_JWT_JWKS,
    OPT_JWT_ISSUER,
    OPT_JWT_AUDIENCE,
    OPT_JWT_LEEWAY,
    OPT_JWT_OPTIONAL,
    OPT_ACCESS_LOG,
    OPT_ACCESS_LOG_SAMPLE,
    OPT_UPSTREAM,
    OPT_UPSTREAM_CA,
    OPT_UPSTREAM_LB,
    OPT_HELP,
    OPT_VERSION
  };
  static const struct option longopts[] = {
      {"listen", required_argument, NULL, OPT_LISTEN},
      {"shards", required_argument, NULL, OPT_SHARDS},
      {"workers-per-shard", required_argument, NULL, OPT_WORKERS},
      {"max-recv-message", required_argument, NULL, OPT_MAXMSG},
      {"compression", required_argument, NULL, OPT_COMPRESSION},
      {"tls-listen", required_argument, NULL, OPT_TLS_LISTEN},
      {"tls-cert", required_argument, NULL, OPT_TLS_CERT},
      {"tls-key", required_argument, NULL, OPT_TLS_KEY},
      {"tls12", no_argument, NULL, OPT_TLS12},
      {"tls-client-ca", required_argument, NULL, OPT_TLS_CLIENT_CA},
      {"tls-client-auth", required_argument, NULL, OPT_TLS_CLIENT_AUTH},
      {"tls-handshake-timeout", required_argument, NULL, OPT_TLS_HS_TIMEOUT},
      {"tls-ticket-lifetime", required_argument, NULL, OPT_TLS_TICKETS},
      {"stream-window", required_argument, NULL, OPT_STREAM_WINDOW},
      {"conn-window", required_argument, NULL, OPT_CONN_WINDOW},
      {"shutdown-grace", required_argument, NULL, OPT_SHUTDOWN_GRACE},
      {"keepalive-time", required_argument, NULL, OPT_KA_TIME},
      {"keepalive-timeout", required_argument, NULL, OPT_KA_TIMEOUT},
      {"min-ping-interval", required_argument, NULL, OPT_MIN_PING},
      {"permit-keepalive-without-calls", no_argument, NULL, OPT_PERMIT_KA},
      {"max-ping-strikes", required_argument, NULL, OPT_PING_STRIKES},
      {"max-connection-idle", required_argument, NULL, OPT_MAX_IDLE},
      {"max-connection-age", required_argument, NULL, OPT_MAX_AGE},
      {"max-connection-age-grace", required_argument, NULL, OPT_MAX_AGE_GRACE},
      {"max-calls-per-connection", required_argument, NULL, OPT_MAX_CONN_CALLS},
      {"max-calls", required_argument, NULL, OPT_MAX_CALLS},
      {"max-connection-memory", required_argument, NULL, OPT_MAX_CONN_MEM},
      {"max-memory", required_argument, NULL, OPT_MAX_MEM},
      {"stream-reset-rate", required_argument, NULL, OPT_RESET_RATE},
      {"max-connections", required_argument, NULL, OPT_MAX_CONNS},
      {"preface-timeout", required_argument, NULL, OPT_PREFACE_TIMEOUT},
      {"first-request-timeout", required_argument, NULL, OPT_FIRST_REQ_TIMEOUT},
      {"tcp-user-timeout", required_argument, NULL, OPT_TCP_USER_TIMEOUT},
      {"admin-listen", required_argument, NULL, OPT_ADMIN},
      {"io", required_argument, NULL, OPT_IO},
      {"authz-policy", required_argument, NULL, OPT_AUTHZ_POLICY},
      {"authz-dry-run", no_argument, NULL, OPT_AUTHZ_DRY_RUN},
      {"jwt-jwks", required_argument, NULL, OPT_JWT_JWKS},
      {"jwt-issuer", required_argument, NULL, OPT_JWT_ISSUER},
      {"jwt-audience", required_argument, NULL, OPT_JWT_AUDIENCE},
      {"jwt-leeway", required_argument, NULL, OPT_JWT_LEEWAY},
      {"jwt-optional", no_argument, NULL, OPT_JWT_OPTIONAL},
      {"access-log", required_argument, NULL, OPT_ACCESS_LOG},
      {"access-log-sample", required_argument, NULL, OPT_ACCESS_LOG_SAMPLE},
      {"upstream", required_argument, NULL, OPT_UPSTREAM},
      {"upstream-ca", required_argument, NULL, OPT_UPSTREAM_CA},
      {"upstream-lb", required_argument, NULL, OPT_UPSTREAM_LB},
      {"help", no_argument, NULL, OPT_HELP},
      {"version", no_argument, NULL, OPT_VERSION},
      {NULL, 0, NULL, 0},
  };
  opterr = 0;
  long n;
  for (;;) {
    int c = getopt_long(argc, argv, "", longopts, NULL);
    if (c == -1) break;
    switch (c) {
    case OPT_LISTEN:
      o->listen = optarg;
      break;
    case OPT_SHARDS:
      if (parse_int("--shards", optarg, 1, 1024, &n) < 0) return 2;
      o->shards = (int)n;
      break;
    case OPT_WORKERS:
      if (parse_int("--workers-per-shard", optarg, 0, 256, &n) < 0) return 2;
      o->workers_per_shard = (int)n;
      break;
    case OPT_MAXMSG:
      if (parse_int("--max-recv-message", optarg, 1, UINT32_MAX, &n) < 0) return 2;
      o->max_recv_message = (size_t)n;
      break;
    case OPT_COMPRESSION:
      if (strcmp(optarg, "identity") && strcmp(optarg, "gzip") && strcmp(optarg, "deflate")) {
        fprintf(stderr,
                "uringrpc-server: --compression takes identity, gzip or deflate, not '%s'\n",
                optarg);
        return 2;
      }
      o->response_compression = optarg;
      break;
    case OPT_TLS_LISTEN:
      o->tls_listen = optarg;
      break;
    case OPT_TLS_CERT:
      o->tls_cert = optarg;
      break;
    case OPT_TLS_KEY:
      o->tls_key = optarg;
      break;
    case OPT_TLS12:
      o->tls_allow_12 = true;
      break;
    case OPT_TLS_CLIENT_CA:
      o->tls_client_ca = optarg;
      break;
    case OPT_TLS_CLIENT_AUTH:
      if (strcmp(optarg, "required") && strcmp(optarg, "optional")) {
        fprintf(stderr, "uringrpc-server: --tls-client-auth takes required or optional, not '%s'\n",
                optarg);
        return 2;
      }
      o->tls_client_optional = strcmp(optarg, "optional") == 0;
      break;
    case OPT_TLS_HS_TIMEOUT:
      if (parse_int("--tls-handshake-timeout", optarg, 1, 3600000, &n) < 0) return 2;
      o->tls_handshake_timeout_ms = (unsigned)n;
      break;
    case OPT_TLS_TICKETS:
      if (parse_int("--tls-ticket-lifetime", optarg, 1, 7 * 86400, &n) < 0) return 2;
      o->tls_ticket_lifetime_s = (unsigned)n;
      break;
    case OPT_STREAM_WINDOW:
      if (parse_int("--stream-window", optarg, 1, INT32_MAX, &n) < 0) return 2;
      o->initial_stream_window = (uint32_t)n;
      break;
    case OPT_CONN_WINDOW:
      if (parse_int("--conn-window", optarg, 65535, INT32_MAX, &n) < 0) return 2;
      o->initial_conn_window = (uint32_t)n;
      break;
    case OPT_KA_TIME:
      if (parse_seconds("--keepalive-time", optarg, 0, &o->keepalive_time_ms) < 0) return 2;
      break;
    case OPT_KA_TIMEOUT:
      if (parse_seconds("--keepalive-timeout", optarg, 1, &o->keepalive_timeout_ms) < 0) return 2;
      break;
    case OPT_MIN_PING:
      if (parse_seconds("--min-ping-interval", optarg, 0, &o->min_ping_interval_ms) < 0) return 2;
      break;
    case OPT_PERMIT_KA:
      o->permit_keepalive_without_calls = true;
      break;
    case OPT_PING_STRIKES:
      if (parse_int("--max-ping-strikes", optarg, 0, 1000, &n) < 0) return 2;
      o->max_ping_strikes = (unsigned)n;
      break;
    case OPT_MAX_IDLE:
      if (parse_seconds("--max-connection-idle", optarg, 1, &o->max_connection_idle_ms) < 0)
        return 2;
      break;
    case OPT_MAX_AGE:
      if (parse_seconds("--max-connection-age", optarg, 1, &o->max_connection_age_ms) < 0) return 2;
      break;
    case OPT_MAX_AGE_GRACE:
      if (parse_seconds("--max-connection-age-grace", optarg, 1, &o->max_connection_age_grace_ms) <
          0)
        return 2;
      break;
    case OPT_MAX_CONN_CALLS:
      if (parse_int("--max-calls-per-connection", optarg, 1, UINT32_MAX, &n) < 0) return 2;
      o->max_calls_per_connection = (uint32_t)n;
      break;
    case OPT_MAX_CALLS:
      if (parse_int("--max-calls", optarg, 1, UINT32_MAX, &n) < 0) return 2;
      o->max_calls = (uint32_t)n;
      break;
    case OPT_MAX_CONN_MEM:
      if (parse_int("--max-connection-memory", optarg, 1 << 16, LONG_MAX, &n) < 0) return 2;
      o->max_connection_memory = (size_t)n;
      break;
    case OPT_MAX_MEM:
      if (parse_int("--max-memory", optarg, 1 << 16, LONG_MAX, &n) < 0) return 2;
      o->max_memory = (size_t)n;
      break;
    case OPT_RESET_RATE:
      if (parse_int("--stream-reset-rate", optarg, 0, 1000000, &n) < 0) return 2;
      o->stream_reset_rate = (uint32_t)n;
      break;
    case OPT_MAX_CONNS:
      if (parse_int("--max-connections", optarg, 1, UINT32_MAX, &n) < 0) return 2;
      o->max_connections = (uint32_t)n;
      break;
    case OPT_PREFACE_TIMEOUT:
      if (parse_seconds("--preface-timeout", optarg, 0, &o->preface_timeout_ms) < 0) return 2;
      break;
    case OPT_FIRST_REQ_TIMEOUT:
      if (parse_seconds("--first-request-timeout", optarg, 0, &o->first_request_timeout_ms) < 0)
        return 2;
      break;
    case OPT_ADMIN:
      *admin_listen = optarg;
      break;
    case OPT_AUTHZ_POLICY:
      auth->policy_file = optarg;
      break;
    case OPT_AUTHZ_DRY_RUN:
      auth->dry_run = true;
      break;
    case OPT_IO:
      if (!strcmp(optarg, "auto")) {
        o->io = URPC_IO_AUTO;
      } else if (!strcmp(optarg, "uring")) {
        o->io = URPC_IO_URING;
      } else if (!strcmp(optarg, "epoll")) {
        o->io = URPC_IO_EPOLL;
      } else {
        fprintf(stderr, "uringrpc-server: --io takes auto, uring or epoll, not '%s'\n", optarg);
        return 2;
      }
      break;
    case OPT_TCP_USER_TIMEOUT:
      if (parse_seconds("--tcp-user-timeout", optarg, 0, &o->tcp_user_timeout_ms) < 0) return 2;
      break;
    case OPT_SHUTDOWN_GRACE:
      if (parse_int("--shutdown-grace", optarg, 0, 86400, grace_s) < 0) return 2;
      break;
    case OPT_JWT_JWKS:
      auth->jwt_keys_file = optarg;
      break;
    case OPT_JWT_ISSUER:
      auth->jwt.issuer = optarg;
      break;
    case OPT_JWT_AUDIENCE:
      auth->jwt.audience = optarg;
      break;
    case OPT_JWT_LEEWAY:
      if (parse_int("--jwt-leeway", optarg, 0, 86400, &n) < 0) return 2;
      auth->jwt.leeway_s = (unsigned)n;
      break;
    case OPT_JWT_OPTIONAL:
      auth->jwt.optional = true;
      break;
    case OPT_ACCESS_LOG:
      alog->path = optarg;
      break;
    case OPT_ACCESS_LOG_SAMPLE:
      if (parse_int("--access-log-sample", optarg, 1, 1000000, &alog->sample) < 0) return 2;
      break;
    case OPT_UPSTREAM:
      relay->upstream = optarg;
      break;
    case OPT_UPSTREAM_CA:
      relay->ca_file = optarg;
      break;
    case OPT_UPSTREAM_LB:
      if (strcmp(optarg, "pick_first") && strcmp(optarg, "round_robin")) {
        fprintf(stderr,
                "uringrpc-server: --upstream-lb takes pick_first or round_robin, not '%s'\n",
                optarg);
        return 2;
      }
      relay->round_robin = !strcmp(optarg, "round_robin");
      break;
    case OPT_HELP:
      usage(stdout);
      return 0;
    case OPT_VERSION:
      printf("uringrpc-server %s\n", URPC_VERSION_STRING);
      return 0;
    default:
      if (optopt)
        fprintf(stderr, "uringrpc-server: option needs a value or is unknown: see --help\n");
      else
        fprintf(stderr, "uringrpc-server: unknown option '%s': see --help\n", argv[optind - 1]);
      return 2;
    }
  }
  if ((o->tls_cert || o->tls_key || o->tls_client_ca) && !o->tls_listen) {
    fprintf(stderr,
            "uringrpc-server: --tls-cert/--tls-key/--tls-client-ca need --tls-listen ADDR:PORT\n");
    return 2;
  }
  if (o->max_connection_memory < o->max_recv_message || o->max_memory < o->max_recv_message) {
    fprintf(stderr,
            "uringrpc-server: --max-connection-memory and --max-memory must hold at least one "
            "message of --max-recv-message (%zu bytes)\n",
            o->max_recv_message);
    return 2;
  }
  if ((auth->jwt.issuer || auth->jwt.audience || auth->jwt.leeway_s || auth->jwt.optional) &&
      !auth->jwt_keys_file) {
    fprintf(stderr, "uringrpc-server: --jwt-issuer/--jwt-audience/--jwt-leeway/--jwt-optional "
                    "need --jwt-jwks FILE\n");
    return 2;
  }
  if (access_log_setup_check(alog)) return 2;
  if (optind < argc) {
    fprintf(stderr, "uringrpc-server: unexpected argument '%s': see --help\n", argv[optind]);
    return 2;
  }
  return -1; /* go on */
}

/* What identifies a version of the TLS files: size, mtime and inode of each (files replaced
 * by rename get a new inode even within the same second). */
typedef struct file_stamp {
  struct {
    long long size, mtime_ns, ino;
  } f[3];
} file_stamp;

static file_stamp tls_files_stamp(const urpc_server_options *o) {
  file_stamp st;
  memset(&st, 0, sizeof(st));
  const char *files[3] = {o->tls_cert, o->tls_key, o->tls_client_ca};
  for (int i = 0; i < 3; i++) {
    struct stat sb;
    if (!files[i] || stat(files[i], &sb) < 0) continue;
    st.f[i].size = (long long)sb.st_size;
    st.f[i].mtime_ns = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
    st.f[i].ino = (long long)sb.st_ino;
  }
  return st;
}

static void print_stats(urpc_server *s) {
  for (int i = 0; i < urpc_server_shard_count(s); i++) {
    urpc_shard_stats st;
    if (urpc_server_shard_stats(s, i, &st) < 0) continue;
    printf("shard %d connections=%llu calls=%llu ok=%llu failed=%llu cancelled=%llu "
           "live=%llu bytes_in=%llu bytes_out=%llu\n",
           i, (unsigned long long)st.connections, (unsigned long long)st.calls,
           (unsigned long long)st.calls_ok, (unsigned long long)st.calls_failed,
           (unsigned long long)st.calls_cancelled, (unsigned long long)st.live_calls,
           (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out);
  }
  fflush(stdout);
}

/* Until SIGINT/SIGTERM: SIGHUP, or a change to the certificate files (checked every second:
 * how SPIRE's agent and spiffe-helper deliver rotated SVIDs), reloads TLS; the same for the
 * authorization policy and the JWT keys files. SIGHUP also has the access log's writer reopen
 * its file (logrotate). Signals come through a signalfd: no handler runs. */
static int wait_for_stop(urpc_server *server, const urpc_server_options *opts, int sfd,
                         auth_setup *auth, access_log_setup *alog) {
  char why[512];
  file_stamp stamp = tls_files_stamp(opts);
  for (;;) {
    int sig = urpc_signals_wait_timeout(sfd, 1000);
    if (sig < 0 || sig == SIGINT || sig == SIGTERM) return sig;
    if (sig == SIGHUP) access_log_setup_reopen(alog);
    auth_setup_poll(auth, sig == SIGHUP);
    file_stamp now = tls_files_stamp(opts);
    if (sig != SIGHUP && (!opts->tls_listen || memcmp(&now, &stamp, sizeof(now)) == 0)) continue;
    stamp = now;
    if (!opts->tls_listen) continue;
    if (urpc_server_reload_tls(server, why, sizeof(why)) < 0)
      fprintf(stderr, "uringrpc-server: TLS reload failed, keeping the current certificate: %s\n",
              why);
    else
      fprintf(stderr, "uringrpc-server: TLS certificate reloaded\n");
  }
}

/* Graceful shutdown (Kubernetes sends SIGTERM, waits terminationGracePeriodSeconds, then
 * SIGKILL): stop accepting, GOAWAY every connection, let calls in flight finish for up to
 * `grace_s`; a second signal, or the end of the grace period, cuts what is left. */
static void serve(urpc_server *server, const urpc_server_options *opts, int sfd, long grace_s,
                  auth_setup *auth, access_log_setup *alog) {
  if (wait_for_stop(server, opts, sfd, auth, alog) < 0 || grace_s == 0) return;
  fprintf(stderr,
          "uringrpc-server: shutting down: finishing calls in flight for up to %ld s (signal "
          "again to stop now)\n",
          grace_s);
  struct timespec t0, t;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  while (urpc_server_drain(server, 50) != 0) {
    int sig = urpc_signals_wait_timeout(sfd, 0);
    if (sig == SIGINT || sig == SIGTERM) {
      fprintf(stderr, "uringrpc-server: second signal: stopping now\n");
      return;
    }
    clock_gettime(CLOCK_MONOTONIC, &t);
    if (t.tv_sec - t0.tv_sec + (t.tv_nsec - t0.tv_nsec) / 1e9 >= (double)grace_s) {
      fprintf(stderr, "uringrpc-server: grace period over: cancelling the calls left\n");
      return;
    }
  }
}

int main(int argc, char **argv) {
  bool print_only = print_config_take_flag(&argc, argv); /* examples/print_config.c */
  urpc_server_options opts;
  urpc_server_options_init(&opts);
  long grace_s = 10;
  const char *admin_listen = NULL;
  auth_setup auth = {0};
  trace_setup trace = {0};     /* examples/trace_setup.c: --trace, --otlp-*, --trace-* */
  access_log_setup alog = {0}; /* examples/access_log_setup.c: --access-log* */
  if (trace_setup_take_flags(&trace, &argc, argv)) return 2;
  relay_setup relay = {0}; /* examples/relay.c: --upstream* */
  int rc = parse_args(argc, argv, &opts, &grace_s, &admin_listen, &auth, &alog, &relay);
  if (rc >= 0) return rc;
  if (print_only)
    return print_config(stdout, &opts, grace_s, admin_listen, &auth) |
           trace_setup_print(stdout, &trace) | access_log_setup_print(stdout, &alog) |
           relay_print(stdout, &relay);

  /* Each connection is a descriptor, and the default --max-connections follows the soft file
   * limit: take what the hard limit allows, as Go programs do. */
  struct rlimit nofile;
  if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
    nofile.rlim_cur = nofile.rlim_max;
    setrlimit(RLIMIT_NOFILE, &nofile);
  }
  int sfd = urpc_signals_open(); /* before any thread starts, so all inherit the mask */
  if (sfd < 0) {
    fprintf(stderr, "uringrpc-server: cannot set up signal handling: %s\n", strerror(-sfd));
    return 1;
  }
  urpc_server *server;
  if (urpc_server_new(&opts, &server) < 0) {
    fprintf(stderr, "uringrpc-server: invalid options: see --help\n");
    return 2;
  }
  if (urpc_server_add_descriptors(server, urpc_example_descriptors, urpc_example_descriptors_len) <
          0 ||
      greeter_register(server) < 0 || demo_register(server) < 0 || ping_register(server) < 0 ||
      interop_register(server) < 0 || relay_register(server) < 0 || demo_start() < 0) {
    fprintf(stderr, "uringrpc-server: cannot register the example services\n");
    return 1;
  }
  urpc_metrics *metrics = NULL; /* counted only when someone can read them */
  if (admin_listen && urpc_metrics_new(server, NULL, &metrics) < 0) {
    fprintf(stderr, "uringrpc-server: cannot set up the metrics\n");
    return 1;
  }
  /* the access log first: calls the interceptors after it refuse are logged too */
  int setup_rc = access_log_setup_start(&alog, server, metrics);
  if (!setup_rc && auth_setup_start(&auth, server, metrics) < 0) setup_rc = 1;
  if (!setup_rc) setup_rc = trace_setup_start(&trace, server, metrics);
  if (setup_rc) {
    demo_stop();
    urpc_server_free(server);
    urpc_metrics_free(metrics);
    auth_setup_free(&auth);
    trace_setup_free(&trace);
    access_log_setup_free(&alog);
    return setup_rc;
  }
  char why[512];
  if (urpc_server_start(server, why, sizeof(why)) < 0) {
    fprintf(stderr, "uringrpc-server: %s\n", why);
    demo_stop();
    urpc_server_free(server);
    return 1;
  }
  if (relay_start(server, &relay) < 0) {
    urpc_server_stop(server);
    demo_stop();
    urpc_server_wait(server);
    urpc_server_free(server);
    return 2;
  }
  urpc_admin *admin = NULL;
  if (admin_listen &&
      urpc_admin_start(server, metrics, admin_listen, why, sizeof(why), &admin) < 0) {
    fprintf(stderr, "uringrpc-server: %s\n", why);
    relay_stop();
    urpc_server_stop(server);
    demo_stop();
    urpc_server_wait(server);
    urpc_server_free(server);
    urpc_metrics_free(metrics);
    return 1;
  }
  const char *tls = urpc_server_tls_address(server), *no_uring;
  const char *io = urpc_server_io_backend(server, &no_uring);
  if (no_uring) fprintf(stderr, "uringrpc-server: serving with epoll: %s\n", no_uring);
  printf("uringrpc-server listening on %s shards=%d io=%s%s%s%s%s\n", urpc_server_address(server),
         urpc_server_shard_count(server), !strcmp(io, "epoll") ? "epoll" : "uring",
         tls ? " tls=" : "", tls ? tls : "", admin ? " admin=" : "",
         admin ? urpc_admin_address(admin) : "");
  fflush(stdout);

  serve(server, &opts, sfd, grace_s, &auth, &alog);
  relay_stop(); /* after the drain: calls finishing in it may still need the upstream */
  urpc_server_stop(server);
  demo_stop(); /* answers pending async calls; their shards drop them if already closed */
  urpc_server_wait(server);
  urpc_admin_stop(admin); /* /readyz said 503 while the server drained */
  access_log_setup_flush(&alog);
  print_stats(server);
  urpc_server_free(server);
  trace_setup_free(&trace); /* exports what is left */
  access_log_setup_free(&alog);
  urpc_metrics_free(metrics);
  auth_setup_free(&auth);
  close(sfd);
  return 0;
}
