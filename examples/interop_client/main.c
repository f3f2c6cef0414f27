/* uringrpc-interop-client: grpc's interop test client (doc/interop-test-descriptions.md) on
 * uringrpc's client. Runs --test_case (or all of them) against --server_host:--server_port,
 * prints "<case>: passed" per case that passed and one line "<case>: <what differed>" per case
 * that did not; exits 0 when all passed, 1 when one failed, 2 on a bad command line or setup. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cases.h"
#include "flags.h"

/* grpc's target for host and port: an IPv6 literal goes in brackets. */
static void make_target(const ic_flags *f, char *out, size_t n) {
  bool v6 = strchr(f->server_host, ':') && f->server_host[0] != '[';
  snprintf(out, n, v6 ? "[%s]:%d" : "%s:%d", f->server_host, f->server_port);
}

static int open_channel(const ic_flags *f, urpc_client *rt, urpc_channel **ch) {
  char target[300], why[256];
  make_target(f, target, sizeof(target));
  urpc_channel_options o;
  urpc_channel_options_init(&o);
  o.client = rt;
  /* As grpc's ssl_target_name_override: the name checked in the certificate and sent as
   * :authority. */
  o.authority = f->server_host_override;
  o.tls = f->use_tls;
  o.ca_file = f->ca_file;
  o.server_name = f->server_host_override;
  int rc = urpc_channel_new(target, &o, ch, why, sizeof(why));
  if (rc < 0) fprintf(stderr, "uringrpc-interop-client: channel to %s: %s\n", target, why);
  return rc;
}

static bool run_case(ic_ctx *ctx, const ic_case *c) {
  char why[1024] = "";
  if (c->run(ctx, why, sizeof(why))) {
    printf("%s: passed\n", c->name);
    fflush(stdout);
    return true;
  }
  fprintf(stderr, "%s: %s\n", c->name, why[0] ? why : "failed");
  return false;
}

int main(int argc, char **argv) {
  ic_flags f;
  int rc = ic_flags_parse(argc, argv, &f);
  if (rc) return rc > 0 ? 0 : 2;
  bool all = !strcmp(f.test_case, "all");
  const ic_case *one = all ? NULL : ic_case_find(f.test_case);
  if (!all && !one) {
    fprintf(stderr, "uringrpc-interop-client: unknown --test_case %s; cases:", f.test_case);
    for (size_t i = 0; i < ic_case_count; i++) fprintf(stderr, " %s", ic_cases[i].name);
    fprintf(stderr, ", all\n");
    return 2;
  }

  urpc_client_options co;
  urpc_client_options_init(&co);
  co.shards = 1; /* every call goes to shard 0 anyway (driver.h) */
  co.io = f.io;
  urpc_client *rt;
  char why[256];
  if (urpc_client_new(&co, &rt, why, sizeof(why)) < 0) {
    fprintf(stderr, "uringrpc-interop-client: %s\n", why);
    return 2;
  }
  urpc_channel *ch;
  if (open_channel(&f, rt, &ch) < 0) {
    urpc_client_free(rt);
    return 2;
  }
  ic_ctx ctx;
  if (ic_ctx_init(&ctx, ch, f.rpc_timeout_ms) < 0) {
    fprintf(stderr, "uringrpc-interop-client: out of memory\n");
    return 2;
  }

  bool ok = true;
  if (one)
    ok = run_case(&ctx, one);
  else
    for (size_t i = 0; i < ic_case_count; i++) ok = run_case(&ctx, &ic_cases[i]) && ok;
  fflush(stdout);

  /* Calls still open (a case that timed out) end CANCELLED here; their records go with them. */
  urpc_channel_free(ch);
  urpc_client_free(rt);
  ic_ctx_dispose(&ctx);
  return ok ? 0 : 1;
}
