/* JSON scalars to protobuf wire values (pb_scalar.h), by the proto3 JSON mapping's rules as
 * protobuf's Python json_format applies them: integers as integral numbers or decimal strings
 * within the kind's range, floats as numbers, numeric strings or "NaN"/"Infinity"/"-Infinity",
 * bytes as base64 of either alphabet with or without padding, enums by name or number. */
#include "bench/load/pb_scalar.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T(x) GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x

int pb_buf_put(pb_buf *b, const void *data, size_t n) {
  if (!n) return 0;
  if (b->cap - b->len < n) {
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->len < n) {
      if (cap > SIZE_MAX / 2) return -ENOMEM;
      cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) return -ENOMEM;
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, data, n);
  b->len += n;
  return 0;
}

int pb_buf_varint(pb_buf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) tmp[n] |= 0x80;
    n++;
  } while (v);
  return pb_buf_put(b, tmp, n);
}

int pb_buf_tag(pb_buf *b, uint32_t number, unsigned wire) {
  return pb_buf_varint(b, (uint64_t)number << 3 | wire);
}

int pb_buf_field_bytes(pb_buf *b, uint32_t number, const uint8_t *data, size_t n) {
  int rc = pb_buf_tag(b, number, PB_WIRE_LEN);
  if (!rc) rc = pb_buf_varint(b, n);
  if (!rc) rc = pb_buf_put(b, data, n);
  return rc;
}

__attribute__((format(printf, 3, 4))) static int refuse(char *why, size_t why_len, const char *fmt,
                                                        ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, why_len, fmt, ap);
  va_end(ap);
  return -EINVAL;
}

/* A decimal integer string with nothing around it (Python's int() refuses spaces too). */
static bool parse_int_text(const char *s, bool is_signed, int64_t *i, uint64_t *u) {
  if (!*s || strchr(s, ' ') || (*s != '-' && *s != '+' && (*s < '0' || *s > '9'))) return false;
  char *end;
  errno = 0;
  if (is_signed)
    *i = strtoll(s, &end, 10);
  else {
    if (*s == '-') return false;
    *u = strtoull(s, &end, 10);
  }
  return errno == 0 && *end == '\0';
}

/* A JSON number or string as an integer in [min, max] (signed) or [0, umax] (unsigned). */
static int get_integer(const cJSON *v, bool is_signed, int64_t min, int64_t max, uint64_t umax,
                       uint64_t *out, char *why, size_t why_len) {
  int64_t i = 0;
  uint64_t u = 0;
  if (cJSON_IsNumber(v)) {
    double d = v->valuedouble;
    if (!isfinite(d) || d != floor(d)) return refuse(why, why_len, "%g is not an integer", d);
    if (fabs(d) > 9007199254740992.0) /* 2^53: a double no longer holds every integer */
      return refuse(why, why_len, "%g is beyond 2^53: write it as a string", d);
    if (is_signed)
      i = (int64_t)d;
    else if (d < 0)
      return refuse(why, why_len, "%g is negative for an unsigned field", d);
    else
      u = (uint64_t)d;
  } else if (cJSON_IsString(v)) {
    if (!parse_int_text(v->valuestring, is_signed, &i, &u))
      return refuse(why, why_len, "\"%s\" is not a%s integer", v->valuestring,
                    is_signed ? "n" : " non-negative");
  } else {
    return refuse(why, why_len, "an integer must be a number or a string");
  }
  if (is_signed) {
    if (i < min || i > max) return refuse(why, why_len, "%lld is out of range", (long long)i);
    *out = (uint64_t)i;
  } else {
    if (u > umax) return refuse(why, why_len, "%llu is out of range", (unsigned long long)u);
    *out = u;
  }
  return 0;
}

static int get_float(const cJSON *v, bool single, double *out, char *why, size_t why_len) {
  if (cJSON_IsNumber(v)) {
    *out = v->valuedouble;
  } else if (cJSON_IsString(v)) {
    const char *s = v->valuestring;
    char *end;
    if (strcmp(s, "NaN") == 0)
      *out = NAN;
    else if (strcmp(s, "Infinity") == 0)
      *out = INFINITY;
    else if (strcmp(s, "-Infinity") == 0)
      *out = -INFINITY;
    else if (!*s || strchr(s, ' ') || (*out = strtod(s, &end), *end) || isnan(*out) || isinf(*out))
      return refuse(why, why_len, "\"%s\" is not a number", s);
  } else {
    return refuse(why, why_len, "a floating-point value must be a number or a string");
  }
  if (single && isfinite(*out) && fabs(*out) > 3.4028234663852886e38)
    return refuse(why, why_len, "%g is out of a float's range", *out);
  return 0;
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+' || c == '-') return 62;
  if (c == '/' || c == '_') return 63;
  return -1;
}

/* Base64, standard or URL-safe, padded or not, into a malloc'd buffer. */
static int get_bytes(const cJSON *v, pb_scalar *out, char *why, size_t why_len) {
  if (!cJSON_IsString(v)) return refuse(why, why_len, "bytes must be a base64 string");
  const char *s = v->valuestring;
  size_t n = strlen(s);
  while (n && s[n - 1] == '=') n--;
  if (n % 4 == 1 || strlen(s) - n > 2) return refuse(why, why_len, "\"%s\" is not base64", s);
  uint8_t *p = malloc(n / 4 * 3 + 3);
  if (!p) return -ENOMEM;
  size_t len = 0;
  uint32_t acc = 0;
  for (size_t i = 0; i < n; i++) {
    int x = b64_value(s[i]);
    if (x < 0) {
      free(p);
      return refuse(why, why_len, "\"%s\" is not base64", s);
    }
    acc = acc << 6 | (uint32_t)x;
    if (i % 4 == 3) {
      p[len++] = (uint8_t)(acc >> 16);
      p[len++] = (uint8_t)(acc >> 8);
      p[len++] = (uint8_t)acc;
      acc = 0;
    }
  }
  if (n % 4 == 2) p[len++] = (uint8_t)(acc >> 4);
  if (n % 4 == 3) {
    p[len++] = (uint8_t)(acc >> 10);
    p[len++] = (uint8_t)(acc >> 2);
  }
  out->wire = PB_WIRE_LEN;
  out->data = out->owned = p;
  out->len = len;
  return 0;
}

static int get_enum(const cJSON *v, const load_type *enm, uint64_t *out, char *why,
                    size_t why_len) {
  if (!enm || !enm->enm) return refuse(why, why_len, "enum type missing from the descriptors");
  if (cJSON_IsString(v)) {
    for (size_t i = 0; i < enm->enm->n_value; i++) {
      const Google__Protobuf__EnumValueDescriptorProto *ev = enm->enm->value[i];
      if (ev->name && strcmp(ev->name, v->valuestring) == 0) {
        *out = (uint64_t)(int64_t)ev->number;
        return 0;
      }
    }
    int64_t i;
    uint64_t unused;
    if (!parse_int_text(v->valuestring, true, &i, &unused))
      return refuse(why, why_len, "\"%s\" is no value of enum %s", v->valuestring, enm->full_name);
  }
  return get_integer(v, true, INT32_MIN, INT32_MAX, 0, out, why, why_len);
}

int pb_scalar_from_json(const Google__Protobuf__FieldDescriptorProto *f, const load_type *enm,
                        const cJSON *v, pb_scalar *out, char *why, size_t why_len) {
  memset(out, 0, sizeof(*out));
  uint64_t u = 0;
  double d;
  int rc = 0;
  out->wire = PB_WIRE_VARINT;
  switch (f->type) {
  case T(INT32):
    rc = get_integer(v, true, INT32_MIN, INT32_MAX, 0, &u, why, why_len);
    break; /* negative: sign-extended to ten bytes, as protobuf writes int32 */
  case T(SFIXED32):
    out->wire = PB_WIRE_I32;
    rc = get_integer(v, true, INT32_MIN, INT32_MAX, 0, &u, why, why_len);
    u &= 0xffffffffu;
    break;
  case T(SINT32):
    rc = get_integer(v, true, INT32_MIN, INT32_MAX, 0, &u, why, why_len);
    u = (uint32_t)((uint32_t)u << 1 ^ (uint32_t)((int32_t)u >> 31));
    break;
  case T(INT64):
  case T(SFIXED64):
    out->wire = f->type == T(INT64) ? PB_WIRE_VARINT : PB_WIRE_I64;
    rc = get_integer(v, true, INT64_MIN, INT64_MAX, 0, &u, why, why_len);
    break;
  case T(SINT64):
    rc = get_integer(v, true, INT64_MIN, INT64_MAX, 0, &u, why, why_len);
    u = u << 1 ^ (uint64_t)((int64_t)u >> 63);
    break;
  case T(UINT32):
  case T(FIXED32):
    out->wire = f->type == T(UINT32) ? PB_WIRE_VARINT : PB_WIRE_I32;
    rc = get_integer(v, false, 0, 0, UINT32_MAX, &u, why, why_len);
    break;
  case T(UINT64):
  case T(FIXED64):
    out->wire = f->type == T(UINT64) ? PB_WIRE_VARINT : PB_WIRE_I64;
    rc = get_integer(v, false, 0, 0, UINT64_MAX, &u, why, why_len);
    break;
  case T(BOOL):
    if (!cJSON_IsBool(v)) return refuse(why, why_len, "a bool must be true or false");
    u = cJSON_IsTrue(v);
    break;
  case T(ENUM):
    rc = get_enum(v, enm, &u, why, why_len);
    break;
  case T(DOUBLE):
    out->wire = PB_WIRE_I64;
    rc = get_float(v, false, &d, why, why_len);
    memcpy(&u, &d, sizeof(u));
    break;
  case T(FLOAT): {
    out->wire = PB_WIRE_I32;
    rc = get_float(v, true, &d, why, why_len);
    float fl = (float)d;
    uint32_t bits;
    memcpy(&bits, &fl, sizeof(bits));
    u = bits;
    break;
  }
  case T(STRING):
    if (!cJSON_IsString(v)) return refuse(why, why_len, "a string must be a JSON string");
    out->wire = PB_WIRE_LEN;
    out->data = (const uint8_t *)v->valuestring;
    out->len = strlen(v->valuestring);
    return 0;
  case T(BYTES):
    return get_bytes(v, out, why, why_len);
  default:
    return refuse(why, why_len, "field type %d is not supported", (int)f->type);
  }
  out->u = u;
  return rc;
}

bool pb_scalar_is_default(const pb_scalar *s) {
  return s->wire == PB_WIRE_LEN ? s->len == 0 : s->u == 0;
}

int pb_scalar_put_value(pb_buf *b, const pb_scalar *s) {
  uint8_t le[8];
  for (int i = 0; i < 8; i++) le[i] = (uint8_t)(s->u >> (8 * i));
  switch (s->wire) {
  case PB_WIRE_VARINT:
    return pb_buf_varint(b, s->u);
  case PB_WIRE_I64:
    return pb_buf_put(b, le, 8);
  case PB_WIRE_I32:
    return pb_buf_put(b, le, 4);
  default: {
    int rc = pb_buf_varint(b, s->len);
    return rc ? rc : pb_buf_put(b, s->data, s->len);
  }
  }
}

int pb_scalar_put_field(pb_buf *b, uint32_t number, const pb_scalar *s) {
  int rc = pb_buf_tag(b, number, s->wire);
  return rc ? rc : pb_scalar_put_value(b, s);
}

void pb_scalar_dispose(pb_scalar *s) {
  free(s->owned);
  s->owned = NULL;
}
