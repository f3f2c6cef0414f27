/* What the cases check, said once: every message names the call and what was expected. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cases.h"

bool ic_fail(char *why, size_t why_len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
  return false;
}

/* The largest payload a case sends (large_unary's 271828 bytes), rounded up. */
#define ZEROS (512 * 1024)

void ic_zero_payload(Grpc__Testing__Payload *p, size_t n) {
  static const uint8_t zeros[ZEROS];
  grpc__testing__payload__init(p);
  p->type = GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE;
  p->body.data = (uint8_t *)zeros; /* only read: packing copies */
  p->body.len = n <= ZEROS ? n : ZEROS;
}

bool ic_check_payload(const Grpc__Testing__Payload *p, size_t size, const char *what, char *why,
                      size_t why_len) {
  if (!p) return ic_fail(why, why_len, "%s: the response has no payload", what);
  if (p->type != GRPC__TESTING__PAYLOAD_TYPE__COMPRESSABLE)
    return ic_fail(why, why_len, "%s: payload type %d, expected COMPRESSABLE", what, p->type);
  if (p->body.len != size)
    return ic_fail(why, why_len, "%s: payload body is %zu bytes, expected %zu", what, p->body.len,
                   size);
  for (size_t i = 0; i < size; i++)
    if (p->body.data[i])
      return ic_fail(why, why_len, "%s: payload byte %zu is 0x%02x, expected zeros", what, i,
                     p->body.data[i]);
  return true;
}

ProtobufCMessage *ic_unpack(const ProtobufCMessageDescriptor *d, const ic_bytes *b,
                            const char *what, char *why, size_t why_len) {
  ProtobufCMessage *m = protobuf_c_message_unpack(d, NULL, b->len, b->data);
  if (!m) ic_fail(why, why_len, "%s: a response of %zu bytes is not a %s", what, b->len, d->name);
  return m;
}

/* A status message for the one failure line: C escapes for control bytes (special_status_message
 * sends tabs and newlines), UTF-8 left as it is. */
static const char *escaped(const char *s, char *out, size_t n) {
  size_t o = 0;
  for (; *s && o + 5 < n; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '\t' || ch == '\n' || ch == '\r' || ch == '\\' || ch == '"') {
      out[o++] = '\\';
      out[o++] = ch == '\t' ? 't' : ch == '\n' ? 'n' : ch == '\r' ? 'r' : (char)ch;
    } else if (ch < 0x20 || ch == 0x7f)
      o += (size_t)snprintf(out + o, n - o, "\\x%02x", ch);
    else
      out[o++] = (char)ch;
  }
  out[o] = '\0';
  return out;
}

bool ic_expect_status(urpc_status_code got, const char *got_message, urpc_status_code want,
                      const char *want_message, const char *what, char *why, size_t why_len) {
  char a[256], b[256];
  if (got != want)
    return ic_fail(why, why_len, "%s: status %s (\"%s\"), expected %s", what, ic_status_name(got),
                   escaped(got_message, a, sizeof(a)), ic_status_name(want));
  if (want_message && strcmp(got_message, want_message))
    return ic_fail(why, why_len, "%s: status message \"%s\", expected \"%s\"", what,
                   escaped(got_message, a, sizeof(a)), escaped(want_message, b, sizeof(b)));
  return true;
}

bool ic_expect_end(ic_call *c, urpc_status_code want, const char *want_message, const char *what,
                   char *why, size_t why_len) {
  if (!ic_call_wait_closed(c))
    return ic_fail(why, why_len, "%s: no end within the wait (expected %s)", what,
                   ic_status_name(want));
  return ic_expect_status(ic_call_status(c), ic_call_message(c), want, want_message, what, why,
                          why_len);
}

bool ic_expect_ok(ic_call *c, const char *what, char *why, size_t why_len) {
  if (!ic_expect_end(c, URPC_STATUS_OK, NULL, what, why, why_len)) return false;
  int err = ic_call_error(c);
  if (err)
    return ic_fail(why, why_len, "%s: this side failed a send or half-close: %s", what,
                   strerror(-err));
  return true;
}

bool ic_check_output_response(ic_call *c, size_t i, size_t size, const char *what, char *why,
                              size_t why_len) {
  ic_bytes b;
  if (!ic_call_response(c, i, &b))
    return ic_fail(why, why_len, "%s: response %zu missing", what, i + 1);
  char label[96];
  snprintf(label, sizeof(label), "%s response %zu", what, i + 1);
  ProtobufCMessage *m = ic_unpack(&grpc__testing__streaming_output_call_response__descriptor, &b,
                                  label, why, why_len);
  if (!m) return false;
  bool ok = ic_check_payload(((Grpc__Testing__StreamingOutputCallResponse *)m)->payload, size,
                             label, why, why_len);
  protobuf_c_message_free_unpacked(m, NULL);
  return ok;
}
