/* One access log record -> one JSON line (the keys and their order: urpc_access_log.h). Runs on
 * the writer thread, never on a shard.
 *
 * Strings from the network are escaped here: `"` and `\` with a backslash, control characters
 * (and DEL) as \b \f \n \r \t or \u00XX, and each maximal ill-formed UTF-8 subpart (stray
 * continuation bytes, overlong forms, surrogates, code points past U+10FFFF, a sequence cut
 * short, e.g. by the field bound) as \ufffd, so a line is always valid JSON in valid UTF-8. Each
 * input byte becomes at most 6 output bytes, which with the bounded fields keeps a line under
 * URPC_ACCESS_LOG_LINE_MAX. */
#include <arpa/inet.h>
#include <string.h>
#include <time.h>

#include "obs/access_log_impl.h"
#include "obs/utf8.h"

_Static_assert(4 * (6 * URPC_ACCESS_LOG_FIELD_MAX + 2) + 1024 <= URPC_ACCESS_LOG_LINE_MAX,
               "four escaped fields and the rest of a line fit the line bound");

const char *access_log_code_name(urpc_status_code code) {
  const char *name = urpc_status_name(code);
  return name ? name : "UNKNOWN";
}

static char *put(char *o, const char *s) {
  size_t n = strlen(s);
  memcpy(o, s, n);
  return o + n;
}

static char *put_u64(char *o, uint64_t v) {
  char tmp[20];
  int n = 0;
  do tmp[n++] = (char)('0' + v % 10);
  while (v /= 10);
  while (n) *o++ = tmp[--n];
  return o;
}

static const char hex[] = "0123456789abcdef";

/* `s` as a JSON string, or null. */
static char *put_str(char *o, const access_str *s) {
  if (!s->present) return put(o, "null");
  const unsigned char *p = (const unsigned char *)s->bytes;
  size_t n = s->len < URPC_ACCESS_LOG_FIELD_MAX ? s->len : URPC_ACCESS_LOG_FIELD_MAX;
  *o++ = '"';
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x80) {
      bool valid;
      size_t len = obs_utf8_seq(p + i, n - i, &valid);
      if (valid) {
        memcpy(o, p + i, len);
        o += len;
      } else {
        o = put(o, "\\ufffd");
      }
      i += len;
      continue;
    }
    i++;
    if (c == '"' || c == '\\') {
      *o++ = '\\';
      *o++ = (char)c;
    } else if (c >= 0x20 && c != 0x7f) {
      *o++ = (char)c;
    } else if (c == '\n') {
      o = put(o, "\\n");
    } else if (c == '\r') {
      o = put(o, "\\r");
    } else if (c == '\t') {
      o = put(o, "\\t");
    } else if (c == '\b') {
      o = put(o, "\\b");
    } else if (c == '\f') {
      o = put(o, "\\f");
    } else {
      o = put(o, "\\u00");
      *o++ = hex[c >> 4];
      *o++ = hex[c & 15];
    }
  }
  *o++ = '"';
  return o;
}

/* RFC 3339, UTC, microseconds. Lines come in time order, so the date and time up to the
 * second are made once a second (per thread) and copied. */
static char *put_time(char *o, uint64_t unix_us) {
  static _Thread_local struct {
    bool valid;
    uint64_t sec;
    char text[20]; /* "YYYY-MM-DDTHH:MM:SS" */
  } cache;
  uint64_t sec = unix_us / 1000000u;
  unsigned us = (unsigned)(unix_us % 1000000u);
  if (!cache.valid || cache.sec != sec) {
    time_t t = (time_t)sec;
    struct tm tm;
    if (!gmtime_r(&t, &tm)) memset(&tm, 0, sizeof(tm));
    unsigned v[6] = {(unsigned)tm.tm_year + 1900, (unsigned)tm.tm_mon + 1, (unsigned)tm.tm_mday,
                     (unsigned)tm.tm_hour,        (unsigned)tm.tm_min,     (unsigned)tm.tm_sec};
    static const char sep[] = "--T::";
    char *c = cache.text;
    for (unsigned d = 1000; d; d /= 10) *c++ = (char)('0' + v[0] / d % 10);
    for (int i = 1; i < 6; i++) {
      *c++ = sep[i - 1];
      *c++ = (char)('0' + v[i] / 10 % 10);
      *c++ = (char)('0' + v[i] % 10);
    }
    cache.sec = sec;
    cache.valid = true;
  }
  *o++ = '"';
  memcpy(o, cache.text, sizeof(cache.text) - 1);
  o += sizeof(cache.text) - 1;
  *o++ = '.';
  for (unsigned d = 100000; d; d /= 10) *o++ = (char)('0' + us / d % 10);
  return put(o, "Z\"");
}

/* inet_ntop's text of an IPv4 (`len` 4) or IPv6 address, or NULL. inet_ntop formats with
 * sprintf, a good part of a line's cost: each thread keeps the texts of the addresses it saw
 * last, in a small table indexed by the address's low bytes (a client's port is not in it). */
static const char *ip_text(const uint8_t *addr, size_t len) {
  static _Thread_local struct {
    uint8_t len; /* 0: empty */
    uint8_t addr[16];
    char text[INET6_ADDRSTRLEN];
  } cache[64];
  unsigned h = (unsigned)(addr[len - 1] * 31u + addr[len - 2]) % 64;
  if (cache[h].len == len && !memcmp(cache[h].addr, addr, len)) return cache[h].text;
  if (!inet_ntop(len == 4 ? AF_INET : AF_INET6, addr, cache[h].text, sizeof(cache[h].text))) {
    cache[h].len = 0;
    return NULL;
  }
  cache[h].len = (uint8_t)len;
  memcpy(cache[h].addr, addr, len);
  return cache[h].text;
}

/* "a.b.c.d:port" or "[v6]:port" (IPv4-mapped shown as IPv4), or null. */
static char *put_peer(char *o, const access_addr *a) {
  const char *ip;
  unsigned port;
  bool v6 = false;
  if (a->sa.sa_family == AF_INET) {
    ip = ip_text((const uint8_t *)&a->in.sin_addr, 4);
    port = ntohs(a->in.sin_port);
  } else if (a->sa.sa_family == AF_INET6) {
    const struct in6_addr *x = &a->in6.sin6_addr;
    v6 = !IN6_IS_ADDR_V4MAPPED(x);
    ip = v6 ? ip_text(x->s6_addr, 16) : ip_text(x->s6_addr + 12, 4);
    port = ntohs(a->in6.sin6_port);
  } else {
    return put(o, "null");
  }
  if (!ip) return put(o, "null");
  *o++ = '"';
  if (v6) *o++ = '[';
  o = put(o, ip);
  if (v6) *o++ = ']';
  *o++ = ':';
  o = put_u64(o, port);
  *o++ = '"';
  return o;
}

size_t access_log_format(const access_record *r, char *out) {
  char *o = out;
  o = put(o, "{\"time\":");
  o = put_time(o, r->start_unix_us);
  o = put(o, ",\"peer\":");
  o = put_peer(o, &r->peer);
  o = put(o, ",\"spiffe_id\":");
  o = put_str(o, &r->spiffe_id);
  o = put(o, ",\"authority\":");
  o = put_str(o, &r->authority);
  o = put(o, ",\"method\":");
  o = put_str(o, &r->method);
  o = put(o, ",\"status\":");
  o = put_u64(o, (uint64_t)r->status);
  o = put(o, ",\"code\":\"");
  o = put(o, access_log_code_name(r->status));
  o = put(o, "\",\"duration_us\":");
  o = put_u64(o, r->duration_us);
  o = put(o, ",\"bytes_in\":");
  o = put_u64(o, r->bytes_in);
  o = put(o, ",\"bytes_out\":");
  o = put_u64(o, r->bytes_out);
  o = put(o, ",\"msgs_in\":");
  o = put_u64(o, r->msgs_in);
  o = put(o, ",\"msgs_out\":");
  o = put_u64(o, r->msgs_out);
  o = put(o, ",\"trace_id\":");
  if (r->has_trace) {
    *o++ = '"';
    for (int i = 0; i < 16; i++) {
      *o++ = hex[r->trace_id[i] >> 4];
      *o++ = hex[r->trace_id[i] & 15];
    }
    *o++ = '"';
  } else {
    o = put(o, "null");
  }
  o = put(o, ",\"user_agent\":");
  o = put_str(o, &r->user_agent);
  o = put(o, r->cancelled ? ",\"cancelled\":true}\n" : ",\"cancelled\":false}\n");
  return (size_t)(o - out);
}
