/* An ExportTraceServiceRequest for a batch of server spans (otlp.h): one ResourceSpans with the
 * tracer's resource, one ScopeSpans ("uringrpc"), and per span the attributes the OpenTelemetry
 * RPC semantic conventions give a gRPC server span. Built with protobuf-c from
 * proto/opentelemetry (the official field numbers). */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/otlp.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Status Status;

#define MAX_RESOURCE_ATTRS 32

typedef struct span_parts span_parts;

struct otlp_resource {
  span_parts *parts; /* scratch for otlp_encode, `cap` spans */
  Span **list;
  size_t *sizes;
  size_t cap;
  uint8_t *buf; /* the last body */
  size_t buf_cap;
  size_t n;
  KeyValue kv[MAX_RESOURCE_ATTRS];
  AnyValue v[MAX_RESOURCE_ATTRS];
  KeyValue *kvp[MAX_RESOURCE_ATTRS];
  char *strings; /* keys and values, owned */
};

static void set_string(KeyValue *kv, AnyValue *v, const char *key, const char *value) {
  opentelemetry__proto__common__v1__key_value__init(kv);
  opentelemetry__proto__common__v1__any_value__init(v);
  kv->key = (char *)key;
  kv->value = v;
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
  v->string_value = (char *)value;
}

static void set_int(KeyValue *kv, AnyValue *v, const char *key, int64_t value) {
  opentelemetry__proto__common__v1__key_value__init(kv);
  opentelemetry__proto__common__v1__any_value__init(v);
  kv->key = (char *)key;
  kv->value = v;
  v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_INT_VALUE;
  v->int_value = value;
}

static int hexv(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = (char)tolower((unsigned char)c);
  return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s[0..n) in place, trimming spaces; returns the new length. */
static size_t decode(char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) memmove(s, s + 1, --n);
  while (n && isspace((unsigned char)s[n - 1])) n--;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
      s[o++] = (char)(hexv(s[i + 1]) << 4 | hexv(s[i + 2]));
      i += 2;
    } else {
      s[o++] = s[i];
    }
  }
  s[o] = '\0';
  return o;
}

/* Splits "k=v,k2=v2" (a writable copy) into decoded pairs; calls fn for each. Returns -EINVAL
 * for a member without '=' or with an empty key. */
static int each_pair(char *list, int (*fn)(void *arg, const char *k, const char *v), void *arg) {
  char *save = NULL;
  for (char *m = strtok_r(list, ",", &save); m; m = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(m, '=');
    if (!eq) {
      if (strspn(m, " \t") == strlen(m)) continue;
      return -EINVAL;
    }
    *eq = '\0';
    if (!decode(m, strlen(m))) return -EINVAL;
    decode(eq + 1, strlen(eq + 1));
    int rc = fn(arg, m, eq + 1);
    if (rc) return rc;
  }
  return 0;
}

static int add_resource_attr(void *arg, const char *k, const char *v) {
  otlp_resource *r = arg;
  for (size_t i = 0; i < r->n; i++)
    if (!strcmp(r->kv[i].key, k)) return 0; /* service.name from OTEL_SERVICE_NAME wins */
  if (r->n == MAX_RESOURCE_ATTRS) return -EINVAL;
  set_string(&r->kv[r->n], &r->v[r->n], k, v);
  r->kvp[r->n] = &r->kv[r->n];
  r->n++;
  return 0;
}

int otlp_resource_new(const char *service_name, const char *attributes, otlp_resource **out) {
  otlp_resource *r = calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  set_string(&r->kv[0], &r->v[0], "service.name", service_name ? service_name : "uringrpc");
  set_string(&r->kv[1], &r->v[1], "telemetry.sdk.name", "uringrpc");
  r->kvp[0] = &r->kv[0];
  r->kvp[1] = &r->kv[1];
  r->n = 2;
  int rc = 0;
  if (attributes) {
    r->strings = strdup(attributes);
    rc = r->strings ? each_pair(r->strings, add_resource_attr, r) : -ENOMEM;
  }
  if (rc) {
    otlp_resource_free(r);
    return rc;
  }
  *out = r;
  return 0;
}

void otlp_resource_free(otlp_resource *r) {
  if (!r) return;
  free(r->parts);
  free(r->list);
  free(r->sizes);
  free(r->buf);
  free(r->strings);
  free(r);
}

#define SPAN_ATTRS (4 + URPC_SPAN_MAX_ATTRS)

struct span_parts {
  Span span;
  Status status;
  KeyValue kv[SPAN_ATTRS];
  AnyValue v[SPAN_ATTRS];
  KeyValue *kvp[SPAN_ATTRS];
  Opentelemetry__Proto__Trace__V1__Span__Event ev[URPC_SPAN_MAX_EVENTS];
  Opentelemetry__Proto__Trace__V1__Span__Event *evp[URPC_SPAN_MAX_EVENTS];
  char service[URPC_SPAN_NAME_MAX];
};

static size_t varint_len(size_t v) {
  size_t n = 1;
  while (v >= 0x80) v >>= 7, n++;
  return n;
}

/* The tag of length-delimited field `field` (< 16) and its length. */
static uint8_t *put_field(uint8_t *w, unsigned field, size_t len) {
  *w++ = (uint8_t)(field << 3 | 2);
  while (len >= 0x80) {
    *w++ = (uint8_t)(len | 0x80);
    len >>= 7;
  }
  *w++ = (uint8_t)len;
  return w;
}

int otlp_encode(otlp_resource *r, const urpc_span *const *spans, size_t n, const uint8_t **out,
                size_t *len) {
  if (n > r->cap) {
    span_parts *parts = malloc(n * sizeof(*parts)); /* each field used is set below */
    Span **list = malloc(n * sizeof(*list));
    size_t *sizes = malloc(n * sizeof(*sizes));
    if (!parts || !list || !sizes) {
      free(parts);
      free(list);
      free(sizes);
      return -ENOMEM;
    }
    free(r->parts);
    free(r->list);
    free(r->sizes);
    r->parts = parts;
    r->list = list;
    r->sizes = sizes;
    r->cap = n;
  }
  span_parts *parts = r->parts;
  Span **list = r->list;
  for (size_t i = 0; i < n; i++) {
    const urpc_span *s = spans[i];
    span_parts *p = &parts[i];
    Span *sp = &p->span;
    opentelemetry__proto__trace__v1__span__init(sp);
    sp->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->trace_id};
    sp->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->span_id};
    if (s->has_parent) sp->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->parent_span_id};
    sp->trace_state = (char *)s->tracestate;
    /* W3C flags, and HAS_IS_REMOTE | IS_REMOTE: our parent, if any, is in another process */
    sp->flags = s->flags | 0x100u | (s->has_parent ? 0x200u : 0);
    sp->name = (char *)s->name;
    sp->kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
    sp->start_time_unix_nano = s->start_unix_ns;
    sp->end_time_unix_nano = s->end_unix_ns;
    memcpy(p->service, s->name, s->service_len);
    p->service[s->service_len] = '\0';
    const char *method = s->name[s->service_len] == '/' ? s->name + s->service_len + 1 : "";
    set_string(&p->kv[0], &p->v[0], "rpc.system", "grpc");
    set_string(&p->kv[1], &p->v[1], "rpc.service", p->service);
    set_string(&p->kv[2], &p->v[2], "rpc.method", method);
    set_int(&p->kv[3], &p->v[3], "rpc.grpc.status_code", (int64_t)s->status);
    size_t na = 4;
    for (size_t k = 0; k < s->n_attrs && k < URPC_SPAN_MAX_ATTRS; k++, na++) {
      const urpc_span_attr *a = &s->attrs[k];
      if (a->is_int)
        set_int(&p->kv[na], &p->v[na], a->key, a->int_value);
      else
        set_string(&p->kv[na], &p->v[na], a->key, a->string_value);
    }
    for (size_t k = 0; k < na; k++) p->kvp[k] = &p->kv[k];
    sp->n_attributes = na;
    sp->attributes = p->kvp;
    sp->dropped_attributes_count = s->dropped_attrs;
    size_t ne = s->n_events < URPC_SPAN_MAX_EVENTS ? s->n_events : URPC_SPAN_MAX_EVENTS;
    for (size_t k = 0; k < ne; k++) {
      opentelemetry__proto__trace__v1__span__event__init(&p->ev[k]);
      p->ev[k].time_unix_nano = s->events[k].time_unix_ns;
      p->ev[k].name = (char *)s->events[k].name;
      p->evp[k] = &p->ev[k];
    }
    sp->n_events = ne;
    sp->events = p->evp;
    sp->dropped_events_count = s->dropped_events;
    opentelemetry__proto__trace__v1__status__init(&p->status);
    if (s->error)
      p->status.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
    sp->status = &p->status;
    list[i] = sp;
  }
  /* The three wrappers (ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.resource
   * = 1 and .scope_spans = 2, ScopeSpans.scope = 1 and .spans = 2) are framed here and each
   * Span packed by protobuf-c once: packing the request whole would make protobuf-c size every
   * span again at each level of nesting. */
  Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
      OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
  scope.name = "uringrpc";
  Opentelemetry__Proto__Resource__V1__Resource res =
      OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
  res.n_attributes = r->n;
  res.attributes = (KeyValue **)r->kvp;
  size_t scope_len =
      opentelemetry__proto__common__v1__instrumentation_scope__get_packed_size(&scope);
  size_t res_len = opentelemetry__proto__resource__v1__resource__get_packed_size(&res);
  size_t ss_len = 1 + varint_len(scope_len) + scope_len;
  for (size_t i = 0; i < n; i++) {
    r->sizes[i] = opentelemetry__proto__trace__v1__span__get_packed_size(list[i]);
    ss_len += 1 + varint_len(r->sizes[i]) + r->sizes[i];
  }
  size_t rs_len = 1 + varint_len(res_len) + res_len + 1 + varint_len(ss_len) + ss_len;
  size_t size = 1 + varint_len(rs_len) + rs_len;
  if (size > r->buf_cap) {
    uint8_t *buf = malloc(size);
    if (!buf) return -ENOMEM;
    free(r->buf);
    r->buf = buf;
    r->buf_cap = size;
  }
  uint8_t *w = r->buf;
  w = put_field(w, 1, rs_len);  /* ExportTraceServiceRequest.resource_spans */
  w = put_field(w, 1, res_len); /* ResourceSpans.resource */
  w += opentelemetry__proto__resource__v1__resource__pack(&res, w);
  w = put_field(w, 2, ss_len);    /* ResourceSpans.scope_spans */
  w = put_field(w, 1, scope_len); /* ScopeSpans.scope */
  w += opentelemetry__proto__common__v1__instrumentation_scope__pack(&scope, w);
  for (size_t i = 0; i < n; i++) {
    w = put_field(w, 2, r->sizes[i]); /* ScopeSpans.spans */
    w += opentelemetry__proto__trace__v1__span__pack(list[i], w);
  }
  *len = (size_t)(w - r->buf);
  *out = r->buf;
  return *len == size ? 0 : -EPROTO;
}

typedef struct lines {
  char *buf;
  size_t len, cap;
} lines;

static int add_line(void *arg, const char *k, const char *v) {
  lines *l = arg;
  for (const char *c = k; *c; c++)
    if (*c <= ' ' || *c == ':' || *c > '~') return -EINVAL;
  for (const char *c = v; *c; c++)
    if (*c == '\r' || *c == '\n') return -EINVAL;
  size_t need = strlen(k) + strlen(v) + 5;
  if (l->len + need > l->cap) {
    size_t cap = (l->cap + need) * 2;
    char *b = realloc(l->buf, cap);
    if (!b) return -ENOMEM;
    l->buf = b;
    l->cap = cap;
  }
  l->len += (size_t)snprintf(l->buf + l->len, l->cap - l->len, "%s: %s\r\n", k, v);
  return 0;
}

char *otlp_headers_lines(const char *list) {
  lines l = {calloc(1, 1), 0, 1};
  char *copy = strdup(list ? list : "");
  if (!l.buf || !copy || each_pair(copy, add_line, &l)) {
    free(l.buf);
    free(copy);
    return NULL;
  }
  free(copy);
  return l.buf;
}
