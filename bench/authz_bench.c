/* What evaluating an authorization policy costs a call: auth_policy_allows (auth/policy.h, the
 * function the interceptor runs on the shard for every call) in a loop, ns per evaluation, and
 * what auth_policy_parse costs per load.
 *
 * The policy is bench/authz-policy.json by default (20 rules, as bench/authz.sh serves it: 4 deny
 * rules, one of them on a header, then 16 allow rules, the last one allowing
 * /helloworld.Greeter/SayHello). Requests:
 *   say_hello        what h2load sends in bench/authz.sh: SayHello, plaintext (no principal),
 *                    metadata user-agent and x-request-id; every rule is tried, the 20th allows
 *   say_hello_mtls   the same from an mTLS caller (SPIFFE ID, subject)
 *   health           /grpc.health.v1.Health/Check: the 19th rule allows
 *   orders_get       /shop.Orders/GetOrder from the frontend's SPIFFE ID: the 5th rule allows
 *   unknown          a path no rule names: all 20 tried, denied
 * Each is timed over N evaluations (default 10,000,000), best of 3 (other processes only ever
 * add time). The header lookup is a linear scan of the call's metadata with strcmp, as
 * urpc_call_metadata does.
 *
 *   authz_bench [POLICY.json [N]] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/policy.h"

#ifndef AUTHZ_BENCH_POLICY
#define AUTHZ_BENCH_POLICY "bench/authz-policy.json"
#endif

typedef struct md {
  const char *key, *value;
} md;

typedef struct md_list {
  size_t n;
  const md *items;
} md_list;

static const char *header_of(void *ctx, const char *key, size_t *len) {
  const md_list *l = ctx;
  for (size_t i = 0; i < l->n; i++) {
    if (strcmp(l->items[i].key, key) == 0) {
      *len = strlen(l->items[i].value);
      return l->items[i].value;
    }
  }
  return NULL;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static char *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 1 << 20;
  char *buf = malloc(cap);
  *len = buf ? fread(buf, 1, cap, f) : 0;
  fclose(f);
  return buf;
}

static volatile unsigned sink;

/* One evaluation of `r` per iteration, n iterations: ns each, best of 3. The request's path
 * is taken as the interceptor takes it (strlen of urpc_call_path) on every call. */
static double time_allows(const auth_policy *p, auth_request *r, const char *path, unsigned n,
                          bool *allowed, const char **rule) {
  double best = 0;
  for (int run = 0; run < 3; run++) {
    unsigned yes = 0;
    uint64_t t0 = now_ns();
    for (unsigned i = 0; i < n; i++) {
      __asm__ volatile("" : : "g"(path) : "memory"); /* the path is read anew every time */
      r->path = path;
      r->path_len = strlen(path);
      yes += auth_policy_allows(p, r, rule);
    }
    double ns = (double)(now_ns() - t0) / n;
    sink += yes;
    *allowed = yes == n;
    if (!run || ns < best) best = ns;
  }
  return best;
}

int main(int argc, char **argv) {
  const char *file = argc > 1 ? argv[1] : AUTHZ_BENCH_POLICY;
  unsigned n = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 10000000u;
  if (!n) n = 1;
  size_t len;
  char *json = read_file(file, &len);
  if (!json) {
    fprintf(stderr, "authz_bench: cannot read %s\n", file);
    return 1;
  }
  char why[256];
  auth_policy *p;
  if (auth_policy_parse(json, len, &p, why, sizeof(why)) < 0) {
    fprintf(stderr, "authz_bench: %s: %s\n", file, why);
    return 1;
  }

  /* Parsing: as often as fits in about half a second, best of 3. */
  double parse_us = 0;
  for (int run = 0; run < 3; run++) {
    unsigned k = 0;
    uint64_t t0 = now_ns(), t;
    do {
      auth_policy *q;
      if (auth_policy_parse(json, len, &q, why, sizeof(why)) < 0) return 1;
      auth_policy_unref(q);
      k++;
      t = now_ns();
    } while (t - t0 < 150000000u);
    double us = (double)(t - t0) / k / 1000.0;
    if (!run || us < parse_us) parse_us = us;
  }

  static const md h2load_md[] = {{"user-agent", "h2load nghttp2/1.52.0"},
                                 {"x-request-id", "3f2a9c1e-5b7d-4e8a-9c0f-1a2b3c4d5e6f"}};
  md_list plain_md = {2, h2load_md};
  auth_request plain = {.header = header_of, .header_ctx = &plain_md};
  auth_request mtls = plain;
  mtls.authenticated = true;
  mtls.principals[0] = "spiffe://example.org/ns/prod/sa/greeter-client";
  mtls.principals[1] = "/CN=greeter-client";
  mtls.n_principals = 2;
  auth_request frontend = mtls;
  frontend.principals[0] = "spiffe://example.org/ns/prod/sa/frontend";
  frontend.principals[1] = "/CN=frontend";

  struct {
    const char *name;
    auth_request *r;
    const char *path;
  } cases[] = {
      {"say_hello", &plain, "/helloworld.Greeter/SayHello"},
      {"say_hello_mtls", &mtls, "/helloworld.Greeter/SayHello"},
      {"health", &plain, "/grpc.health.v1.Health/Check"},
      {"orders_get", &frontend, "/shop.Orders/GetOrder"},
      {"unknown", &plain, "/shop.Unknown/Method"},
  };
  printf("policy %s: \"%s\", %zu deny + %zu allow rules; %u evaluations per case, best of 3\n",
         file, p->name, p->n_deny, p->n_allow, n);
  printf("parse + free: %.1f us per policy (%zu bytes)\n", parse_us, len);
  printf("%-16s %10s  %-8s %s\n", "request", "ns/call", "decision", "rule");
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    bool allowed;
    const char *rule = NULL;
    double ns = time_allows(p, cases[i].r, cases[i].path, n, &allowed, &rule);
    printf("%-16s %10.1f  %-8s %s\n", cases[i].name, ns, allowed ? "allow" : "deny",
           rule ? rule : "(none)");
  }
  auth_policy_unref(p);
  free(json);
  return 0;
}
