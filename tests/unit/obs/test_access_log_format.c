/* The access log's line formatter (obs/access_log_format.c): every line parses back with cJSON,
 * is valid UTF-8 with no raw control character, has the documented keys in order, and stays
 * under URPC_ACCESS_LOG_LINE_MAX, whatever bytes a client put in the strings (quotes,
 * backslashes, control characters, malformed UTF-8, the longest fields). */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/access_log_impl.h"

static const char *const KEYS[] = {"time",    "peer",     "spiffe_id",   "authority",  "method",
                                   "status",  "code",     "duration_us", "bytes_in",   "bytes_out",
                                   "msgs_in", "msgs_out", "trace_id",    "user_agent", "cancelled"};
#define N_KEYS (sizeof(KEYS) / sizeof(KEYS[0]))

static char line[URPC_ACCESS_LOG_LINE_MAX + 64];

static void set_str(access_str *s, const void *bytes, size_t n) {
  cr_assert(n <= URPC_ACCESS_LOG_FIELD_MAX);
  s->present = true;
  s->len = (uint16_t)n;
  memcpy(s->bytes, bytes, n);
}

static access_record base_record(void) {
  access_record r;
  memset(&r, 0, sizeof(r));
  r.start_unix_us = 1700000000123456ull; /* 2023-11-14T22:13:20.123456Z */
  r.duration_us = 83;
  r.bytes_in = 10;
  r.bytes_out = 16;
  r.msgs_in = 1;
  r.msgs_out = 2;
  r.status = URPC_STATUS_OK;
  r.peer.in.sin_family = AF_INET;
  r.peer.in.sin_port = htons(51234);
  inet_pton(AF_INET, "127.0.0.1", &r.peer.in.sin_addr);
  set_str(&r.method, "/helloworld.Greeter/SayHello", 28);
  set_str(&r.authority, "localhost:50051", 15);
  set_str(&r.user_agent, "grpc-go/1.33.0", 14);
  return r;
}

/* Independent of the formatter's own check: decode each code point, then judge it. */
static bool valid_utf8(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned c = p[i], len = c < 0x80         ? 1
                             : (c >> 5) == 6  ? 2
                             : (c >> 4) == 14 ? 3
                             : (c >> 3) == 30 ? 4
                                              : 0;
    if (!len || i + len > n) return false;
    unsigned cp = len == 1 ? c : c & (0x7f >> len);
    for (unsigned k = 1; k < len; k++) {
      if ((p[i + k] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (p[i + k] & 0x3f);
    }
    static const unsigned min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += len;
  }
  return true;
}

/* Formats `r` and checks what every line must be; returns the parsed object (caller frees). */
static cJSON *format_and_parse(const access_record *r) {
  memset(line, 0x55, sizeof(line));
  size_t n = access_log_format(r, line);
  cr_assert(n > 0 && n <= URPC_ACCESS_LOG_LINE_MAX, "length %zu", n);
  cr_assert_eq(line[n], 0x55, "wrote past the length it returned");
  cr_assert_eq(line[n - 1], '\n', "a line ends with a newline");
  cr_assert_null(memchr(line, '\n', n - 1), "one line only");
  for (size_t i = 0; i < n - 1; i++)
    cr_assert((unsigned char)line[i] >= 0x20 && line[i] != 0x7f, "raw control byte %#x at %zu",
              (unsigned char)line[i], i);
  cr_assert(valid_utf8((const unsigned char *)line, n), "not UTF-8: %.*s", (int)n, line);
  const char *end = NULL;
  cJSON *o = cJSON_ParseWithLengthOpts(line, n - 1, &end, false);
  cr_assert_not_null(o, "not JSON: %.*s", (int)n, line);
  cr_assert_eq(end, line + n - 1, "trailing bytes after the object");
  cr_assert(cJSON_IsObject(o));
  size_t k = 0;
  for (cJSON *it = o->child; it; it = it->next, k++) {
    cr_assert(k < N_KEYS, "extra key %s", it->string);
    cr_assert_str_eq(it->string, KEYS[k], "key %zu", k);
  }
  cr_assert_eq(k, N_KEYS, "%zu keys", k);
  return o;
}

static const char *str_of(cJSON *o, const char *key) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  cr_assert(cJSON_IsString(v), "%s is not a string", key);
  return v->valuestring;
}

static double num_of(cJSON *o, const char *key) {
  cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
  cr_assert(cJSON_IsNumber(v), "%s is not a number", key);
  return v->valuedouble;
}

static bool is_null(cJSON *o, const char *key) {
  return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

Test(access_log_format, fields) {
  access_record r = base_record();
  r.has_trace = true;
  for (int i = 0; i < 16; i++) r.trace_id[i] = (uint8_t)(0x0a + i * 17);
  cJSON *o = format_and_parse(&r);
  cr_assert_str_eq(str_of(o, "time"), "2023-11-14T22:13:20.123456Z");
  cr_assert_str_eq(str_of(o, "peer"), "127.0.0.1:51234");
  cr_assert(is_null(o, "spiffe_id"));
  cr_assert_str_eq(str_of(o, "authority"), "localhost:50051");
  cr_assert_str_eq(str_of(o, "method"), "/helloworld.Greeter/SayHello");
  cr_assert_eq(num_of(o, "status"), 0);
  cr_assert_str_eq(str_of(o, "code"), "OK");
  cr_assert_eq(num_of(o, "duration_us"), 83);
  cr_assert_eq(num_of(o, "bytes_in"), 10);
  cr_assert_eq(num_of(o, "bytes_out"), 16);
  cr_assert_eq(num_of(o, "msgs_in"), 1);
  cr_assert_eq(num_of(o, "msgs_out"), 2);
  cr_assert_str_eq(str_of(o, "trace_id"), "0a1b2c3d4e5f708192a3b4c5d6e7f809");
  cr_assert_str_eq(str_of(o, "user_agent"), "grpc-go/1.33.0");
  cr_assert(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(o, "cancelled")));
  cJSON_Delete(o);
}

Test(access_log_format, absent_values_are_null) {
  access_record r;
  memset(&r, 0, sizeof(r));
  r.peer.sa.sa_family = AF_UNSPEC;
  r.status = URPC_STATUS_DEADLINE_EXCEEDED;
  r.cancelled = true;
  cJSON *o = format_and_parse(&r);
  cr_assert_str_eq(str_of(o, "time"), "1970-01-01T00:00:00.000000Z");
  const char *nulls[] = {"peer", "spiffe_id", "authority", "method", "trace_id", "user_agent"};
  for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
    cr_assert(is_null(o, nulls[i]), "%s", nulls[i]);
  cr_assert_str_eq(str_of(o, "code"), "DEADLINE_EXCEEDED");
  cr_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "cancelled")));
  cJSON_Delete(o);
}

Test(access_log_format, status_names) {
  access_record r = base_record();
  const struct {
    urpc_status_code code;
    const char *name;
  } want[] = {{URPC_STATUS_CANCELLED, "CANCELLED"},
              {URPC_STATUS_NOT_FOUND, "NOT_FOUND"},
              {URPC_STATUS_RESOURCE_EXHAUSTED, "RESOURCE_EXHAUSTED"},
              {URPC_STATUS_UNIMPLEMENTED, "UNIMPLEMENTED"},
              {URPC_STATUS_UNAUTHENTICATED, "UNAUTHENTICATED"},
              {(urpc_status_code)99, "UNKNOWN"}};
  for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
    r.status = want[i].code;
    cJSON *o = format_and_parse(&r);
    cr_assert_eq(num_of(o, "status"), (double)want[i].code);
    cr_assert_str_eq(str_of(o, "code"), want[i].name);
    cJSON_Delete(o);
  }
}

Test(access_log_format, peers) {
  access_record r = base_record();
  r.peer.in6.sin6_family = AF_INET6;
  r.peer.in6.sin6_port = htons(443);
  inet_pton(AF_INET6, "2001:db8::1", &r.peer.in6.sin6_addr);
  cJSON *o = format_and_parse(&r);
  cr_assert_str_eq(str_of(o, "peer"), "[2001:db8::1]:443");
  cJSON_Delete(o);
  inet_pton(AF_INET6, "::ffff:192.0.2.7", &r.peer.in6.sin6_addr);
  o = format_and_parse(&r);
  cr_assert_str_eq(str_of(o, "peer"), "192.0.2.7:443", "IPv4-mapped shown as IPv4");
  cJSON_Delete(o);
  r.peer.sa.sa_family = AF_UNIX;
  o = format_and_parse(&r);
  cr_assert(is_null(o, "peer"));
  cJSON_Delete(o);
}

/* The formatter keeps the text of recent addresses: 2000 lines from 500 IPv4 and IPv6 clients
 * (sharing low bytes, so they take each other's places in that table) each name their own. */
Test(access_log_format, many_peers) {
  access_record r = base_record();
  for (int i = 0; i < 2000; i++) {
    int client = (i * 37) % 500;
    char ip[64], want[80];
    if (client % 2) {
      snprintf(ip, sizeof(ip), "10.%d.%d.7", client / 256, client % 256);
      r.peer.in.sin_family = AF_INET;
      r.peer.in.sin_port = htons((uint16_t)(1000 + client));
      cr_assert_eq(inet_pton(AF_INET, ip, &r.peer.in.sin_addr), 1);
      snprintf(want, sizeof(want), "%s:%d", ip, 1000 + client);
    } else {
      snprintf(ip, sizeof(ip), "2001:db8:%x::7", client + 1);
      r.peer.in6.sin6_family = AF_INET6;
      r.peer.in6.sin6_port = htons((uint16_t)(1000 + client));
      cr_assert_eq(inet_pton(AF_INET6, ip, &r.peer.in6.sin6_addr), 1);
      snprintf(want, sizeof(want), "[%s]:%d", ip, 1000 + client);
    }
    cJSON *o = format_and_parse(&r);
    cr_assert_str_eq(str_of(o, "peer"), want);
    cJSON_Delete(o);
  }
}

/* Hostile bytes in every string field, and what a JSON parser gives back for them. */
Test(access_log_format, hostile_strings) {
  static const struct {
    const char *in;
    size_t len;
    const char *want; /* decoded; NULL: only checked for validity */
  } cases[] = {
      {"a\"b\\c", 5, "a\"b\\c"},
      {"\"}, \"status\": 0, \"x\": \"", 23, "\"}, \"status\": 0, \"x\": \""},
      {"tab\there\r\nnew\b\f", 16, "tab\there\r\nnew\b\f"},
      {"\x01\x1f\x7f", 3, "\x01\x1f\x7f"},
      {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", 14,
       "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
      {"\x80", 1, "\xef\xbf\xbd"},                                 /* stray continuation */
      {"\xc0\xaf", 2, "\xef\xbf\xbd\xef\xbf\xbd"},                 /* overlong '/' */
      {"\xe0\x80\xaf", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* overlong, 3 bytes */
      {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"}, /* a surrogate */
      {"\xf4\x90\x80\x80", 4, NULL},                               /* past U+10FFFF */
      {"\xf5\xff\xfe", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"ok\xe2\x82", 4, "ok\xef\xbf\xbd"},   /* cut short: one U+FFFD */
      {"\xf0\x9f\x98z", 4, "\xef\xbf\xbdz"}, /* cut short mid-string */
      {"\\u0000\\", 7, "\\u0000\\"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    access_record r = base_record();
    set_str(&r.user_agent, cases[i].in, cases[i].len);
    set_str(&r.method, cases[i].in, cases[i].len);
    set_str(&r.authority, cases[i].in, cases[i].len);
    set_str(&r.spiffe_id, cases[i].in, cases[i].len);
    cJSON *o = format_and_parse(&r);
    const char *fields[] = {"user_agent", "method", "authority", "spiffe_id"};
    for (size_t f = 0; f < 4; f++) {
      const char *got = str_of(o, fields[f]);
      if (cases[i].want) cr_assert_str_eq(got, cases[i].want, "case %zu, %s", i, fields[f]);
    }
    cr_assert_eq(num_of(o, "status"), 0, "case %zu: the line's own fields are intact", i);
    cJSON_Delete(o);
  }
  /* NUL: escaped, never cut short (cJSON's strings stop at it, so look at the text) */
  access_record r = base_record();
  set_str(&r.user_agent, "a\0b", 3);
  cJSON_Delete(format_and_parse(&r));
  cr_assert_not_null(strstr(line, "\"user_agent\":\"a\\u0000b\""), "%s", line);
}

/* The worst case: every field at the bound, every byte expanding to six. */
Test(access_log_format, longest_line) {
  access_record r = base_record();
  unsigned char worst[URPC_ACCESS_LOG_FIELD_MAX];
  memset(worst, 0x01, sizeof(worst));
  set_str(&r.user_agent, worst, sizeof(worst));
  set_str(&r.authority, worst, sizeof(worst));
  memset(worst, 0xff, sizeof(worst));
  set_str(&r.method, worst, sizeof(worst));
  set_str(&r.spiffe_id, worst, sizeof(worst));
  r.peer.in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", &r.peer.in6.sin6_addr);
  r.duration_us = r.bytes_in = r.bytes_out = r.msgs_in = r.msgs_out = UINT64_MAX;
  r.start_unix_us = 253402300799999999ull; /* 9999-12-31T23:59:59.999999Z */
  r.has_trace = true;
  cJSON *o = format_and_parse(&r);
  cr_assert_eq(strlen(str_of(o, "user_agent")), URPC_ACCESS_LOG_FIELD_MAX);
  cr_assert_eq(strlen(str_of(o, "method")), 3 * URPC_ACCESS_LOG_FIELD_MAX, "all U+FFFD");
  cr_assert_str_eq(str_of(o, "time"), "9999-12-31T23:59:59.999999Z");
  cJSON_Delete(o);
}

/* Random bytes, random lengths: every line valid (format_and_parse checks). */
Test(access_log_format, random_bytes) {
  srand(12345);
  for (int iter = 0; iter < 3000; iter++) {
    access_record r = base_record();
    access_str *fields[] = {&r.user_agent, &r.method, &r.authority, &r.spiffe_id};
    for (size_t f = 0; f < 4; f++) {
      unsigned char buf[URPC_ACCESS_LOG_FIELD_MAX];
      size_t n = (size_t)rand() % (URPC_ACCESS_LOG_FIELD_MAX + 1);
      for (size_t i = 0; i < n; i++) {
        int kind = rand() % 4; /* bias towards the interesting bytes */
        buf[i] = (unsigned char)(kind == 0   ? rand() % 0x20
                                 : kind == 1 ? 0x80 + rand() % 0x80
                                 : kind == 2 ? "\"\\\x7f"[rand() % 3]
                                             : rand() % 256);
      }
      set_str(fields[f], buf, n);
    }
    cJSON_Delete(format_and_parse(&r));
  }
}
