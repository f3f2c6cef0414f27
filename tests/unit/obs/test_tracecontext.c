/* W3C Trace Context parsing: the receiver cases of the W3C test suite (w3c/trace-context
 * test/test.py) for traceparent and tracestate, plus formatting back. Invalid → -EINVAL, which
 * the tracing interceptor turns into a new root trace. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "obs/tracecontext.h"

#define TP_OK "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

static int tp(const char *s, obs_trace_ctx *c) {
  return obs_traceparent_parse(s, strlen(s), c);
}
static int ts(const char *s) {
  return obs_tracestate_check(s, strlen(s));
}

Test(traceparent, valid) {
  obs_trace_ctx c;
  cr_assert_eq(tp(TP_OK, &c), 0);
  static const uint8_t tid[16] = {0x0a, 0xf7, 0x65, 0x19, 0x16, 0xcd, 0x43, 0xdd,
                                  0x84, 0x48, 0xeb, 0x21, 0x1c, 0x80, 0x31, 0x9c};
  static const uint8_t sid[8] = {0xb7, 0xad, 0x6b, 0x71, 0x69, 0x20, 0x33, 0x31};
  cr_assert_arr_eq(c.trace_id, tid, 16);
  cr_assert_arr_eq(c.span_id, sid, 8);
  cr_assert_eq(c.flags, 1);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00", &c), 0);
  cr_assert_eq(c.flags, 0);
  /* unknown flag bits are accepted (and not propagated) */
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-09", &c), 0);
  cr_assert_eq(c.flags, 9);
}

Test(traceparent, optional_whitespace) {
  obs_trace_ctx c;
  cr_assert_eq(tp(" " TP_OK, &c), 0);
  cr_assert_eq(tp(TP_OK "\t ", &c), 0);
  cr_assert_eq(tp("\t " TP_OK " ", &c), 0);
}

Test(traceparent, version) {
  obs_trace_ctx c;
  cr_assert_eq(tp("ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("0-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("000-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("0A-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  /* version 00 must be exactly 55 characters */
  cr_assert_eq(tp(TP_OK "-", &c), -EINVAL);
  cr_assert_eq(tp(TP_OK "-what-the-future-will-be-like", &c), -EINVAL);
  cr_assert_eq(tp(TP_OK "0", &c), -EINVAL);
}

Test(traceparent, future_version) {
  obs_trace_ctx c;
  cr_assert_eq(tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), 0);
  cr_assert_eq(tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be"
                  "-like",
                  &c),
               0);
  cr_assert_eq(c.flags, 1);
  cr_assert_eq(tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01.what-the-future", &c),
               -EINVAL);
  cr_assert_eq(tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0", &c), -EINVAL);
  cr_assert_eq(tp("cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-011", &c), -EINVAL);
  /* a future version still has the 00 fields' rules */
  cr_assert_eq(tp("cc-00000000000000000000000000000000-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("cc-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", &c), -EINVAL);
}

Test(traceparent, ids) {
  obs_trace_ctx c;
  cr_assert_eq(tp("00-00000000000000000000000000000000-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-B7AD6B7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319g-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333.-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c0-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b716920333-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b71692033311-01", &c), -EINVAL);
}

Test(traceparent, flags_and_delimiters) {
  obs_trace_ctx c;
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0g", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0A", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-1", &c), -EINVAL);
  cr_assert_eq(tp("00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331-01", &c), -EINVAL);
  cr_assert_eq(tp("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331_01", &c), -EINVAL);
  cr_assert_eq(tp("", &c), -EINVAL);
  cr_assert_eq(tp("   ", &c), -EINVAL);
  cr_assert_eq(tp("00", &c), -EINVAL);
  /* an embedded NUL is just a bad character */
  char nul[] = TP_OK;
  nul[40] = '\0';
  cr_assert_eq(obs_traceparent_parse(nul, sizeof(nul) - 1, &c), -EINVAL);
}

Test(traceparent, format_round_trip) {
  obs_trace_ctx c;
  cr_assert_eq(tp(TP_OK, &c), 0);
  char out[OBS_TRACEPARENT_LEN + 1];
  obs_traceparent_format(c.trace_id, c.span_id, c.flags, out);
  cr_assert_str_eq(out, TP_OK);
}

Test(tracestate, valid) {
  cr_assert_eq(ts(""), 0);
  cr_assert_eq(ts("foo=1"), 0);
  cr_assert_eq(ts("foo=1,bar=2"), 0);
  cr_assert_eq(ts("foo=1 , bar=2"), 0);
  cr_assert_eq(ts("foo=1,,bar=2"), 0);
  cr_assert_eq(ts("foo=1,\t,bar=2,"), 0);
  cr_assert_eq(ts("congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"), 0);
  cr_assert_eq(ts("tenant@system=1,1tenant@sys_-*/=2"), 0);
  cr_assert_eq(ts("a_-*/0=x y"), 0);
}

Test(tracestate, invalid) {
  cr_assert_eq(ts("foo"), -EINVAL);
  cr_assert_eq(ts("foo=1,foo=2"), -EINVAL);
  cr_assert_eq(ts("FOO=1"), -EINVAL);
  cr_assert_eq(ts("1foo=1"), -EINVAL);
  cr_assert_eq(ts("foo="), -EINVAL);
  cr_assert_eq(ts("=1"), -EINVAL);
  cr_assert_eq(ts("foo=a=b"), -EINVAL);
  cr_assert_eq(ts("foo=\x01"), -EINVAL);
  cr_assert_eq(ts("foo@=1"), -EINVAL);
  cr_assert_eq(ts("@sys=1"), -EINVAL);
  cr_assert_eq(ts("t@system1234567890=1"), -EINVAL); /* system-id over 14 */
  cr_assert_eq(ts("t@1sys=1"), -EINVAL);
}

Test(tracestate, limits) {
  char buf[1024];
  size_t n = 0;
  for (int i = 0; i < 32; i++) n += (size_t)snprintf(buf + n, sizeof(buf) - n, "k%d=v,", i);
  cr_assert_eq(obs_tracestate_check(buf, n), 0);
  n += (size_t)snprintf(buf + n, sizeof(buf) - n, "k32=v");
  cr_assert_eq(obs_tracestate_check(buf, n), -EINVAL, "33 members");
  char key[300];
  memset(key, 'a', 257);
  strcpy(key + 257, "=1");
  cr_assert_eq(ts(key), -EINVAL, "key of 257");
  strcpy(key + 256, "=1");
  cr_assert_eq(ts(key), 0, "key of 256");
  memset(buf, 'v', sizeof(buf));
  memcpy(buf, "k=", 2);
  cr_assert_eq(obs_tracestate_check(buf, 258), 0, "value of 256");
  cr_assert_eq(obs_tracestate_check(buf, 259), -EINVAL, "value of 257");
  cr_assert_eq(obs_tracestate_check(buf, OBS_TRACESTATE_MAX + 1), -EINVAL);
}
