/* uringrpc-server --print-config: after the flags are parsed and checked, the options the server
 * would run with, one `key=value` per line, keys as the flags without their dashes, in --help's
 * order, then exit 0 (nothing is bound or started). Values are in the flags' units (seconds,
 * bytes; --tls-handshake-timeout in ms); an unset path or address is empty; 0 is what the
 * flag's 0 means (off, no limit). Defaults the server resolves itself are resolved where that
 * does not need the server: shards (the CPUs of the affinity mask, capped by the cgroup quota)
 * and max-calls-per-connection (MAX_CONCURRENT_STREAMS); max-connections follows the file limit
 * at start and prints `auto`. tests/packaging checks the keys against --help. */
#include "print_config.h"

#include <string.h>

#include "core/cpu.h"

bool print_config_take_flag(int *argc, char **argv) {
  bool found = false;
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    if (strcmp(argv[i], "--") == 0) { /* what follows is not a flag */
      while (i < *argc) argv[out++] = argv[i++];
      break;
    }
    if (strcmp(argv[i], "--print-config") == 0)
      found = true;
    else
      argv[out++] = argv[i];
  }
  argv[out] = NULL;
  *argc = out;
  return found;
}

static const char *str(const char *s) {
  return s ? s : "";
}
static unsigned secs(unsigned ms) {
  return ms / 1000u;
}

int print_config(FILE *f, const urpc_server_options *o, long grace_s, const char *admin_listen,
                 const auth_setup *auth) {
  int shards = o->shards ? o->shards : core_cpu_default_count();
  const char *io = o->io == URPC_IO_URING ? "uring" : o->io == URPC_IO_EPOLL ? "epoll" : "auto";
  uint32_t conn_calls =
      o->max_calls_per_connection ? o->max_calls_per_connection : o->max_concurrent_streams;
  fprintf(f, "listen=%s\n", str(o->listen));
  fprintf(f, "shards=%d\n", shards);
  fprintf(f, "workers-per-shard=%d\n", o->workers_per_shard);
  fprintf(f, "io=%s\n", io);
  fprintf(f, "max-recv-message=%zu\n", o->max_recv_message);
  fprintf(f, "tls-listen=%s\n", str(o->tls_listen));
  fprintf(f, "tls-cert=%s\n", str(o->tls_cert));
  fprintf(f, "tls-key=%s\n", str(o->tls_key));
  fprintf(f, "tls12=%s\n", o->tls_allow_12 ? "true" : "false");
  fprintf(f, "tls-client-ca=%s\n", str(o->tls_client_ca));
  fprintf(f, "tls-client-auth=%s\n", o->tls_client_optional ? "optional" : "required");
  fprintf(f, "tls-handshake-timeout=%u\n", o->tls_handshake_timeout_ms);
  fprintf(f, "tls-ticket-lifetime=%u\n", o->tls_ticket_lifetime_s);
  fprintf(f, "compression=%s\n", o->response_compression ? o->response_compression : "identity");
  fprintf(f, "stream-window=%u\n", (unsigned)o->initial_stream_window);
  fprintf(f, "conn-window=%u\n", (unsigned)o->initial_conn_window);
  fprintf(f, "keepalive-time=%u\n", secs(o->keepalive_time_ms));
  fprintf(f, "keepalive-timeout=%u\n", secs(o->keepalive_timeout_ms));
  fprintf(f, "min-ping-interval=%u\n", secs(o->min_ping_interval_ms));
  fprintf(f, "permit-keepalive-without-calls=%s\n",
          o->permit_keepalive_without_calls ? "true" : "false");
  fprintf(f, "max-ping-strikes=%u\n", o->max_ping_strikes);
  fprintf(f, "max-connection-idle=%u\n", secs(o->max_connection_idle_ms));
  fprintf(f, "max-connection-age=%u\n", secs(o->max_connection_age_ms));
  fprintf(f, "max-connection-age-grace=%u\n", secs(o->max_connection_age_grace_ms));
  fprintf(f, "max-calls-per-connection=%u\n", (unsigned)conn_calls);
  fprintf(f, "max-calls=%u\n", (unsigned)o->max_calls);
  fprintf(f, "max-connection-memory=%zu\n", o->max_connection_memory);
  fprintf(f, "max-memory=%zu\n", o->max_memory);
  fprintf(f, "stream-reset-rate=%u\n", (unsigned)o->stream_reset_rate);
  if (o->max_connections)
    fprintf(f, "max-connections=%u\n", (unsigned)o->max_connections);
  else
    fprintf(f, "max-connections=auto\n");
  fprintf(f, "preface-timeout=%u\n", secs(o->preface_timeout_ms));
  fprintf(f, "first-request-timeout=%u\n", secs(o->first_request_timeout_ms));
  fprintf(f, "tcp-user-timeout=%u\n", secs(o->tcp_user_timeout_ms));
  fprintf(f, "authz-policy=%s\n", str(auth->policy_file));
  fprintf(f, "authz-dry-run=%s\n", auth->dry_run ? "true" : "false");
  fprintf(f, "admin-listen=%s\n", str(admin_listen));
  fprintf(f, "jwt-jwks=%s\n", str(auth->jwt_keys_file));
  fprintf(f, "jwt-issuer=%s\n", str(auth->jwt.issuer));
  fprintf(f, "jwt-audience=%s\n", str(auth->jwt.audience));
  fprintf(f, "jwt-leeway=%u\n", auth->jwt.leeway_s);
  fprintf(f, "jwt-optional=%s\n", auth->jwt.optional ? "true" : "false");
  fprintf(f, "shutdown-grace=%ld\n", grace_s);
  return fflush(f) == 0 && !ferror(f) ? 0 : 1;
}
