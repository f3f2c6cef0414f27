/* grpc-timeout parsing: every unit, and everything malformed refused. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "rpc/timeout.h"

static int64_t parse_ok(const char *v) {
  int64_t ns = -1;
  cr_assert_eq(rpc_timeout_parse(v, strlen(v), &ns), 0, "%s", v);
  return ns;
}

static void parse_bad(const char *v, size_t n) {
  int64_t ns;
  cr_assert_eq(rpc_timeout_parse(v, n, &ns), -EINVAL, "'%.*s' accepted", (int)n, v);
}

Test(timeout, units) {
  cr_assert_eq(parse_ok("1n"), 1);
  cr_assert_eq(parse_ok("7u"), 7000);
  cr_assert_eq(parse_ok("250m"), 250000000);
  cr_assert_eq(parse_ok("3S"), 3000000000LL);
  cr_assert_eq(parse_ok("2M"), 120000000000LL);
  cr_assert_eq(parse_ok("1H"), 3600000000000LL);
  cr_assert_eq(parse_ok("0m"), 0);
  cr_assert_eq(parse_ok("99999999n"), 99999999);
}

Test(timeout, eight_digit_hours_saturate) {
  cr_assert_eq(parse_ok("99999999H"), INT64_MAX);
}

Test(timeout, malformed) {
  parse_bad("", 0);
  parse_bad("S", 1);
  parse_bad("10", 2);
  parse_bad("10x", 3);
  parse_bad("123456789S", 10); /* nine digits */
  parse_bad("-1S", 3);
  parse_bad(" 1S", 3);
  parse_bad("1 S", 3);
  parse_bad("1s", 2);
  parse_bad("1.5S", 4);
  parse_bad("1S\0", 3);
}

/* Formatting: the finest unit that holds the value in 8 digits, rounded up, and what it
 * formats parses back to no less than was asked and less than one unit more. */
Test(timeout, format) {
  static const struct {
    int64_t ns;
    const char *want;
  } cases[] = {{1, "1n"},
               {99999999, "99999999n"},
               {100000000, "100000u"},
               {100000001, "100001u"},
               {1500000000LL, "1500000u"},
               {250000000000LL, "250000m"},
               {100000000000000LL, "100000S"},
               {INT64_MAX, "2562048H"},
               {0, "1n"},
               {-5, "1n"}};
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char out[RPC_TIMEOUT_MAX_LEN];
    size_t n = rpc_timeout_format(cases[i].ns, out);
    cr_assert_eq(n, strlen(cases[i].want), "%lld", (long long)cases[i].ns);
    cr_assert_eq(memcmp(out, cases[i].want, n), 0, "%lld: %.*s", (long long)cases[i].ns, (int)n,
                 out);
  }
  for (int64_t ns = 1; ns < INT64_MAX / 3; ns = ns * 3 + 7) {
    char out[RPC_TIMEOUT_MAX_LEN];
    size_t n = rpc_timeout_format(ns, out);
    int64_t back;
    cr_assert_eq(rpc_timeout_parse(out, n, &back), 0);
    cr_assert_geq(back, ns, "%lld came back %lld", (long long)ns, (long long)back);
  }
}
