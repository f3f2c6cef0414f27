/* What a bearer token costs a call: a full verification (what a shard pays the first time it
 * sees a token: base64url, header JSON, key import, signature, payload JSON, claims) against a
 * cache hit (what it pays on every later call with the same token: a hash of the token and a
 * compare of its bytes), for each algorithm, on tokens made by python3-jwt
 * (tests/unit/auth/jwt_vectors.h). Prints the median of ROUNDS rounds, in µs per call.
 *
 *   cmake -DURPC_BENCH_MICRO=ON ... && build/jwt_bench [ROUNDS]
 *
 * Pin it for stable numbers (taskset -c 1). The interceptor adds to a hit the copy of the
 * claims into the call's arena (a few hundred bytes), not measured here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../tests/unit/auth/jwt_vectors.h"
#include "auth/jwt.h"
#include "core/clock.h"

#define NOW 1750000000LL

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, int n) {
  qsort(v, (size_t)n, sizeof(*v), cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* µs per full verification, over `iters` verifications. */
static double verify_round(const jwt_keyset *ks, const char *tok, int iters) {
  static const jwt_rules rules = {VEC_ISS, "svc-a", 0};
  char why[160];
  uint64_t t0 = core_now_ns();
  for (int i = 0; i < iters; i++) {
    jwt_result *res;
    if (jwt_verify(ks, &rules, tok, strlen(tok), NOW, &res, why, sizeof(why)) != 0) {
      fprintf(stderr, "jwt_bench: refused: %s\n", why);
      exit(1);
    }
    free(res);
  }
  return (double)(core_now_ns() - t0) / 1e3 / iters;
}

/* µs per cached check (the interceptor's path for a token it has seen). */
static double cached_round(urpc_jwt *j, const char *tok, int iters) {
  char why[160];
  jwt_slot *s = jwt_slot_of(j, 0);
  size_t len = strlen(tok);
  uint64_t t0 = core_now_ns();
  for (int i = 0; i < iters; i++) {
    const jwt_result *res;
    if (jwt_check(j, s, tok, len, NOW, &res, why, sizeof(why)) != 0) {
      fprintf(stderr, "jwt_bench: refused: %s\n", why);
      exit(1);
    }
  }
  return (double)(core_now_ns() - t0) / 1e3 / iters;
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  if (rounds < 1 || rounds > 101) rounds = 7;
  char why[512];
  jwt_keyset *ks;
  if (jwt_keyset_parse(JWKS, strlen(JWKS), &ks, why, sizeof(why)) != 0) {
    fprintf(stderr, "jwt_bench: %s\n", why);
    return 1;
  }
  urpc_jwt *j;
  urpc_jwt_options o = {.issuer = VEC_ISS, .audience = "svc-a"};
  if (urpc_jwt_new(NULL, &o, &j) != 0 ||
      urpc_jwt_set_keys(j, JWKS, strlen(JWKS), why, sizeof(why))) {
    fprintf(stderr, "jwt_bench: %s\n", why);
    return 1;
  }
  static const struct {
    const char *alg, *tok;
    int iters;
  } cases[] = {{"RS256", TOK_RS256, 2000},
               {"RS512", TOK_RS512, 2000},
               {"ES256", TOK_ES256, 300},
               {"ES384", TOK_ES384, 200},
               {"EdDSA", TOK_EDDSA, 500}};
  printf("%-6s %6s %14s %12s %8s  (median of %d rounds)\n", "alg", "bytes", "uncached_us",
         "cached_us", "ratio", rounds);
  for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
    double v[101], h[101];
    verify_round(ks, cases[c].tok, cases[c].iters / 10); /* warm up */
    for (int r = 0; r < rounds; r++) {
      v[r] = verify_round(ks, cases[c].tok, cases[c].iters);
      h[r] = cached_round(j, cases[c].tok, 200000);
    }
    double mv = median(v, rounds), mh = median(h, rounds);
    printf("%-6s %6zu %14.1f %12.3f %7.0fx\n", cases[c].alg, strlen(cases[c].tok), mv, mh, mv / mh);
  }
  jwt_stats st;
  jwt_get_stats(j, &st);
  printf("checks: %llu verified by signature, %llu cache hits\n", (unsigned long long)st.verified,
         (unsigned long long)st.cache_hits);
  urpc_jwt_free(j);
  jwt_keyset_unref(ks);
  return 0;
}
