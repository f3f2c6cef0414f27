/* W3C Trace Context parsing (tracecontext.h). Every check the spec and its test suite
 * (w3c/trace-context test/test.py) make on a receiver: version, lengths, delimiters, lowercase
 * hex, zero ids, the future-version rule; tracestate's list grammar and limits. */
#include "obs/tracecontext.h"

#include <errno.h>
#include <string.h>

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1; /* uppercase is invalid too */
}

static bool parse_hex(const char *s, uint8_t *out, size_t n) {
  for (size_t i = 0; i < n; i++) {
    int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static bool all_zero(const uint8_t *p, size_t n) {
  uint8_t acc = 0;
  for (size_t i = 0; i < n; i++) acc |= p[i];
  return acc == 0;
}

static bool ows(char c) {
  return c == ' ' || c == '\t';
}

int obs_traceparent_parse(const char *s, size_t len, obs_trace_ctx *out) {
  while (len && ows(*s)) s++, len--;
  while (len && ows(s[len - 1])) len--;
  if (len < OBS_TRACEPARENT_LEN) return -EINVAL;
  uint8_t version;
  if (!parse_hex(s, &version, 1) || version == 0xff) return -EINVAL;
  if (version == 0 && len != OBS_TRACEPARENT_LEN) return -EINVAL;
  if (len > OBS_TRACEPARENT_LEN && s[OBS_TRACEPARENT_LEN] != '-') return -EINVAL;
  if (s[2] != '-' || s[35] != '-' || s[52] != '-') return -EINVAL;
  obs_trace_ctx c;
  if (!parse_hex(s + 3, c.trace_id, 16) || !parse_hex(s + 36, c.span_id, 8) ||
      !parse_hex(s + 53, &c.flags, 1))
    return -EINVAL;
  if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8)) return -EINVAL;
  *out = c;
  return 0;
}

void obs_hex(const uint8_t *in, size_t n, char *out) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[in[i] >> 4];
    out[2 * i + 1] = digits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

void obs_traceparent_format(const uint8_t trace_id[16], const uint8_t span_id[8], uint8_t flags,
                            char out[OBS_TRACEPARENT_LEN + 1]) {
  memcpy(out, "00-", 3);
  obs_hex(trace_id, 16, out + 3);
  out[35] = '-';
  obs_hex(span_id, 8, out + 36);
  out[52] = '-';
  obs_hex(&flags, 1, out + 53);
}

/* ---- tracestate ---- */

static bool lcalpha(char c) {
  return c >= 'a' && c <= 'z';
}
static bool digit(char c) {
  return c >= '0' && c <= '9';
}
static bool keychar(char c) {
  return lcalpha(c) || digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

/* key = simple-key / multi-tenant-key
 * simple-key = lcalpha 0*255(lcalpha / DIGIT / "_" / "-"/ "*" / "/")
 * multi-tenant-key = tenant-id "@" system-id
 * tenant-id = (lcalpha / DIGIT) 0*240(lcalpha / DIGIT / "_" / "-"/ "*" / "/")
 * system-id = lcalpha 0*13(lcalpha / DIGIT / "_" / "-"/ "*" / "/") */
static bool valid_key(const char *k, size_t n) {
  const char *at = memchr(k, '@', n);
  if (!at) {
    if (n < 1 || n > 256 || !lcalpha(k[0])) return false;
    for (size_t i = 1; i < n; i++)
      if (!keychar(k[i])) return false;
    return true;
  }
  size_t tn = (size_t)(at - k), sn = n - tn - 1;
  if (tn < 1 || tn > 241 || !(lcalpha(k[0]) || digit(k[0]))) return false;
  for (size_t i = 1; i < tn; i++)
    if (!keychar(k[i])) return false;
  if (sn < 1 || sn > 14 || !lcalpha(at[1])) return false;
  for (size_t i = 2; i <= sn; i++)
    if (!keychar(at[i])) return false;
  return true;
}

/* value = 0*255(chr) nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E; chr = %x20 / nblk-chr */
static bool valid_value(const char *v, size_t n) {
  if (n < 1 || n > 256 || v[n - 1] == ' ') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)v[i];
    if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
  }
  return true;
}

int obs_tracestate_check(const char *s, size_t len) {
  if (len > OBS_TRACESTATE_MAX) return -EINVAL;
  struct {
    const char *k;
    size_t n;
  } keys[OBS_TRACESTATE_MEMBERS];
  size_t n_keys = 0;
  size_t i = 0;
  while (i <= len) {
    size_t end = i;
    while (end < len && s[end] != ',') end++;
    const char *m = s + i;
    size_t mn = end - i;
    while (mn && ows(*m)) m++, mn--;
    while (mn && ows(m[mn - 1])) mn--;
    if (mn) { /* empty members are allowed and ignored */
      const char *eq = memchr(m, '=', mn);
      if (!eq) return -EINVAL;
      size_t kn = (size_t)(eq - m);
      if (!valid_key(m, kn) || !valid_value(eq + 1, mn - kn - 1)) return -EINVAL;
      if (n_keys == OBS_TRACESTATE_MEMBERS) return -EINVAL;
      for (size_t j = 0; j < n_keys; j++)
        if (keys[j].n == kn && !memcmp(keys[j].k, m, kn)) return -EINVAL;
      keys[n_keys].k = m;
      keys[n_keys].n = kn;
      n_keys++;
    }
    i = end + 1;
  }
  return 0;
}
