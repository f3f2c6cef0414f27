/* JSON objects to protobuf messages through descriptors (pb_json.h): the walk over a message's
 * fields in number order, presence, repeated and packed fields, maps, wrappers and nesting.
 * Scalars are pb_scalar.c's. Errors carry the path of the field that caused them. */
#include "bench/load/pb_json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/load/pb_scalar.h"

#define T(x)      GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_##x
#define MAX_DEPTH 64

typedef Google__Protobuf__FieldDescriptorProto field_desc;

typedef struct enc {
  const load_descset *ds;
  char *err;
  size_t err_len;
  char path[256]; /* "pkg.Msg.field.sub", cut short when deeper */
  int depth;
} enc;

__attribute__((format(printf, 2, 3))) static int fail(enc *e, const char *fmt, ...) {
  char why[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof(why), fmt, ap);
  va_end(ap);
  if (e->err_len) snprintf(e->err, e->err_len, "%s: %s", e->path, why);
  return -EINVAL;
}

/* Appends ".name" to the path; returns the length to restore. */
static size_t path_push(enc *e, const char *name) {
  size_t n = strlen(e->path);
  snprintf(e->path + n, sizeof(e->path) - n, ".%s", name);
  return n;
}

/* protoc's json_name: underscores dropped, the letter after one upper-cased. */
static void json_name_of(const field_desc *f, char *out, size_t cap) {
  if (f->json_name) {
    snprintf(out, cap, "%s", f->json_name);
    return;
  }
  size_t n = 0;
  bool up = false;
  for (const char *p = f->name; *p && n + 1 < cap; p++) {
    if (*p == '_') {
      up = true;
      continue;
    }
    out[n++] = up && *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
    up = false;
  }
  out[n] = '\0';
}

static int field_of(const Google__Protobuf__DescriptorProto *m, const char *key) {
  char json[256];
  for (size_t i = 0; i < m->n_field; i++) {
    const field_desc *f = m->field[i];
    json_name_of(f, json, sizeof(json));
    if ((f->name && strcmp(f->name, key) == 0) || strcmp(json, key) == 0) return (int)i;
  }
  return -1;
}

static bool is_proto3(const load_type *t) {
  return t->file->syntax && strcmp(t->file->syntax, "proto3") == 0;
}

static bool is_packable(const field_desc *f) {
  return f->type != T(STRING) && f->type != T(BYTES) && f->type != T(MESSAGE) &&
         f->type != T(GROUP);
}

static bool is_packed(const load_type *owner, const field_desc *f) {
  if (!is_packable(f)) return false;
  if (f->options && f->options->has_packed) return f->options->packed;
  return is_proto3(owner);
}

/* The wrappers whose JSON form is their bare value. */
static bool is_wrapper(const char *name) {
  static const char *const wrappers[] = {"DoubleValue", "FloatValue",  "Int64Value",
                                         "UInt64Value", "Int32Value",  "UInt32Value",
                                         "BoolValue",   "StringValue", "BytesValue"};
  const char *prefix = "google.protobuf.";
  if (strncmp(name, prefix, strlen(prefix)) != 0) return false;
  for (size_t i = 0; i < sizeof(wrappers) / sizeof(wrappers[0]); i++)
    if (strcmp(name + strlen(prefix), wrappers[i]) == 0) return true;
  return false;
}

static int encode_message(enc *e, const load_type *t, const cJSON *obj, pb_buf *out);
static int encode_field(enc *e, const load_type *owner, const field_desc *f, const cJSON *v,
                        pb_buf *out);

static const load_type *type_of(enc *e, const field_desc *f) {
  return f->type_name ? load_descset_type(e->ds, f->type_name) : NULL;
}

/* A message-typed value: tag, length and the nested message (present even when empty). */
static int encode_nested(enc *e, const field_desc *f, const cJSON *v, pb_buf *out) {
  const load_type *sub = type_of(e, f);
  if (!sub || !sub->msg)
    return fail(e, "type %s is missing from the descriptors", f->type_name ? f->type_name : "?");
  pb_buf inner = {0};
  int rc;
  if (is_wrapper(sub->full_name)) {
    if (cJSON_IsObject(v) || cJSON_IsArray(v))
      return fail(e, "%s takes its bare value, not an object or array", sub->full_name);
    rc = sub->msg->n_field == 1 ? encode_field(e, sub, sub->msg->field[0], v, &inner)
                                : fail(e, "%s has no single value field", sub->full_name);
  } else if (strncmp(sub->full_name, "google.protobuf.", 16) == 0 &&
             strcmp(sub->full_name, "google.protobuf.Empty") != 0) {
    rc = fail(e, "well-known type %s is not supported in JSON requests", sub->full_name);
  } else {
    rc = encode_message(e, sub, v, &inner);
  }
  if (!rc) rc = pb_buf_field_bytes(out, (uint32_t)f->number, inner.p, inner.len);
  free(inner.p);
  return rc;
}

/* A scalar value with its tag; `implicit`: left out when it is the default. */
static int encode_scalar(enc *e, const field_desc *f, const cJSON *v, bool implicit, pb_buf *out) {
  const load_type *enm = f->type == T(ENUM) ? type_of(e, f) : NULL;
  pb_scalar s;
  char why[200];
  int rc = pb_scalar_from_json(f, enm, v, &s, why, sizeof(why));
  if (rc == -EINVAL) return fail(e, "%s", why);
  if (!rc && !(implicit && pb_scalar_is_default(&s)))
    rc = pb_scalar_put_field(out, (uint32_t)f->number, &s);
  pb_scalar_dispose(&s);
  return rc;
}

static int encode_value(enc *e, const field_desc *f, const cJSON *v, bool implicit, pb_buf *out) {
  if (f->type == T(GROUP)) return fail(e, "groups are not supported");
  if (f->type == T(MESSAGE)) return encode_nested(e, f, v, out);
  return encode_scalar(e, f, v, implicit, out);
}

/* One map entry: a message of key (1) and value (2), both always written. */
static int encode_map_entry(enc *e, const field_desc *f, const load_type *entry,
                            const cJSON *member, pb_buf *out) {
  const field_desc *kf = NULL, *vf = NULL;
  for (size_t i = 0; i < entry->msg->n_field; i++) {
    if (entry->msg->field[i]->number == 1) kf = entry->msg->field[i];
    if (entry->msg->field[i]->number == 2) vf = entry->msg->field[i];
  }
  if (!kf || !vf) return fail(e, "map entry %s lacks key or value", entry->full_name);
  /* Map keys are JSON strings; bool keys spell "true" and "false". */
  cJSON *key;
  if (kf->type == T(BOOL)) {
    if (strcmp(member->string, "true") != 0 && strcmp(member->string, "false") != 0)
      return fail(e, "map key \"%s\" is not a bool", member->string);
    key = cJSON_CreateBool(strcmp(member->string, "true") == 0);
  } else {
    key = cJSON_CreateString(member->string);
  }
  if (!key) return -ENOMEM;
  pb_buf inner = {0};
  int rc = encode_value(e, kf, key, false, &inner);
  if (!rc) {
    if (cJSON_IsNull(member))
      rc = fail(e, "map value for key \"%s\" is null", member->string);
    else
      rc = encode_value(e, vf, member, false, &inner);
  }
  if (!rc) rc = pb_buf_field_bytes(out, (uint32_t)f->number, inner.p, inner.len);
  cJSON_Delete(key);
  free(inner.p);
  return rc;
}

static int encode_repeated(enc *e, const load_type *owner, const field_desc *f, const cJSON *v,
                           pb_buf *out) {
  const load_type *sub = f->type == T(MESSAGE) ? type_of(e, f) : NULL;
  if (sub && sub->msg && sub->msg->options && sub->msg->options->map_entry) {
    if (!cJSON_IsObject(v)) return fail(e, "a map must be a JSON object");
    for (const cJSON *m = v->child; m; m = m->next) {
      int rc = encode_map_entry(e, f, sub, m, out);
      if (rc) return rc;
    }
    return 0;
  }
  if (!cJSON_IsArray(v)) return fail(e, "a repeated field must be a JSON array");
  for (const cJSON *x = v->child; x; x = x->next)
    if (cJSON_IsNull(x)) return fail(e, "null in a repeated field");
  if (!is_packed(owner, f)) {
    for (const cJSON *x = v->child; x; x = x->next) {
      int rc = encode_value(e, f, x, false, out);
      if (rc) return rc;
    }
    return 0;
  }
  if (!v->child) return 0; /* an empty packed field is not written */
  const load_type *enm = f->type == T(ENUM) ? type_of(e, f) : NULL;
  pb_buf packed = {0};
  int rc = 0;
  for (const cJSON *x = v->child; x && !rc; x = x->next) {
    pb_scalar s;
    char why[200];
    rc = pb_scalar_from_json(f, enm, x, &s, why, sizeof(why));
    if (rc == -EINVAL) rc = fail(e, "%s", why);
    if (!rc) rc = pb_scalar_put_value(&packed, &s);
    pb_scalar_dispose(&s);
  }
  if (!rc) rc = pb_buf_field_bytes(out, (uint32_t)f->number, packed.p, packed.len);
  free(packed.p);
  return rc;
}

static int encode_field(enc *e, const load_type *owner, const field_desc *f, const cJSON *v,
                        pb_buf *out) {
  size_t mark = path_push(e, f->name ? f->name : "?");
  int rc = 0;
  if (cJSON_IsNull(v)) {
    /* unset */
  } else if (f->label == GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED) {
    rc = encode_repeated(e, owner, f, v, out);
  } else {
    /* proto3 fields without presence (not optional, not in a oneof) skip their default. */
    bool implicit = is_proto3(owner) && !f->proto3_optional && !f->has_oneof_index;
    rc = encode_value(e, f, v, implicit, out);
  }
  e->path[mark] = '\0';
  return rc;
}

static int by_number(const void *a, const void *b) {
  const field_desc *x = *(const field_desc *const *)a, *y = *(const field_desc *const *)b;
  return (x->number > y->number) - (x->number < y->number);
}

static int encode_message(enc *e, const load_type *t, const cJSON *obj, pb_buf *out) {
  const Google__Protobuf__DescriptorProto *m = t->msg;
  if (!cJSON_IsObject(obj)) return fail(e, "message %s must be a JSON object", t->full_name);
  if (e->depth >= MAX_DEPTH) return fail(e, "nested deeper than %d messages", MAX_DEPTH);
  size_t n = m->n_field;
  /* For each field (by index): its JSON member; then the fields sorted by number. */
  const cJSON **val = calloc(n + 1, sizeof(*val));
  const field_desc **order = calloc(n + 1, sizeof(*order));
  const cJSON **oneof = calloc(m->n_oneof_decl + 1, sizeof(*oneof));
  int rc = val && order && oneof ? 0 : -ENOMEM;
  for (const cJSON *x = obj->child; x && !rc; x = x->next) {
    int i = field_of(m, x->string);
    if (i < 0) {
      rc = fail(e, "unknown field \"%s\" in message %s", x->string, t->full_name);
      break;
    }
    const field_desc *f = m->field[i];
    if (val[i]) {
      rc = fail(e, "field \"%s\" given twice (as \"%s\" and \"%s\")", f->name, val[i]->string,
                x->string);
      break;
    }
    val[i] = x;
    if (f->has_oneof_index && !cJSON_IsNull(x) && (size_t)f->oneof_index < m->n_oneof_decl) {
      if (oneof[f->oneof_index])
        rc = fail(e, "\"%s\" and \"%s\" are members of one oneof", oneof[f->oneof_index]->string,
                  x->string);
      oneof[f->oneof_index] = x;
    }
  }
  if (!rc) {
    for (size_t i = 0; i < n; i++) order[i] = m->field[i];
    qsort(order, n, sizeof(*order), by_number);
    e->depth++;
    for (size_t k = 0; k < n && !rc; k++) {
      size_t i = 0;
      while (m->field[i] != order[k]) i++;
      if (val[i]) rc = encode_field(e, t, order[k], val[i], out);
    }
    e->depth--;
  }
  free(val);
  free(order);
  free(oneof);
  return rc;
}

int load_pb_from_json(const load_descset *ds, const load_type *type, const cJSON *json,
                      uint8_t **out, size_t *len, char *err, size_t err_len) {
  enc e = {.ds = ds, .err = err, .err_len = err_len};
  snprintf(e.path, sizeof(e.path), "%s", type->full_name);
  if (err_len) err[0] = '\0';
  *out = NULL;
  *len = 0;
  if (!type->msg) return fail(&e, "not a message type");
  pb_buf b = {0};
  int rc = encode_message(&e, type, json, &b);
  if (rc) {
    free(b.p);
    return rc;
  }
  *out = b.p;
  *len = b.len;
  return 0;
}

int load_pb_from_json_text(const load_descset *ds, const load_type *type, const char *text,
                           uint8_t **out, size_t *len, char *err, size_t err_len) {
  *out = NULL;
  *len = 0;
  cJSON *json = cJSON_Parse(text);
  if (!json) {
    const char *at = cJSON_GetErrorPtr();
    if (err_len)
      snprintf(err, err_len, "%s: not valid JSON near \"%.20s\"", type->full_name, at ? at : "");
    return -EINVAL;
  }
  int rc = load_pb_from_json(ds, type, json, out, len, err, err_len);
  cJSON_Delete(json);
  return rc;
}
