/* UTF-8 checks and repair (utf8.h). */
#include "obs/utf8.h"

#include <string.h>

size_t obs_utf8_seq(const unsigned char *p, size_t n, bool *valid) {
  unsigned char c = p[0];
  size_t len;
  unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
  *valid = false;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    if (c == 0xe0) lo = 0xa0; /* overlong */
    if (c == 0xed) hi = 0x9f; /* surrogates */
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    if (c == 0xf0) lo = 0x90; /* overlong */
    if (c == 0xf4) hi = 0x8f; /* past U+10FFFF */
  } else {
    return 1; /* a continuation byte, C0/C1 (overlong) or F5..FF */
  }
  if (n < 2 || p[1] < lo || p[1] > hi) return 1;
  for (size_t i = 2; i < len; i++)
    if (i >= n || (p[i] & 0xc0) != 0x80) return i;
  *valid = true;
  return len;
}

static bool is_valid(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    if (p[i] < 0x80) {
      i++;
      continue;
    }
    bool valid;
    i += obs_utf8_seq(p + i, n - i, &valid);
    if (!valid) return false;
  }
  return true;
}

const char *obs_utf8_scrub(const char *s, char *out, size_t cap) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s);
  if (is_valid(p, n)) return s;
  static const char fffd[] = "\xef\xbf\xbd";
  size_t o = 0;
  for (size_t i = 0; i < n;) {
    bool valid = true;
    size_t len = p[i] < 0x80 ? 1 : obs_utf8_seq(p + i, n - i, &valid);
    const char *from = valid ? s + i : fffd;
    size_t w = valid ? len : 3;
    if (o + w >= cap) break;
    memcpy(out + o, from, w);
    o += w;
    i += len;
  }
  out[o] = '\0';
  return out;
}
