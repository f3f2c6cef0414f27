/* An ExportTraceServiceRequest for a batch of server spans (otlp.h): one ResourceSpans with the
 * tracer's resource, one ScopeSpans ("uringrpc"), and per span the attributes the OpenTelemetry
 * RPC semantic conventions (the experimental ones of semconv 1.37 and before, which RPC
 * instrumentations emit by default) give a gRPC server span: rpc.*, server.* from :authority,
 * network.* from the client's socket address, error.type and the status message for the
 * server-side error codes, and rpc.message events. Built with protobuf-c from
 * proto/opentelemetry (the official field numbers). Exporter thread only: the address is
 * formatted and the authority parsed here, not on the shards. */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/otlp.h"
#include "obs/utf8.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;
typedef Opentelemetry__Proto__Trace__V1__Status Status;
typedef Opentelemetry__Proto__Trace__V1__Span__Event Event;

#define MAX_RESOURCE_ATTRS 32

typedef struct span_parts span_parts;

#define N_CODES 17 /* URPC_STATUS_OK .. URPC_STATUS_UNAUTHENTICATED */

typedef struct blob {
  uint8_t *p;
  size_t len;
} blob;

/* A connection's part of its spans (see otlp_encode): server.* and network.* attributes. */
#define PEER_CACHE    256                             /* slots */
#define PEER_PROBE    8                               /* slots tried from a connection's hash */
#define PEER_PART_MAX (URPC_SPAN_AUTHORITY_MAX + 160) /* host, peer address, keys, framing */
typedef struct peer_entry {
  uint8_t family;
  uint16_t port;
  uint16_t len; /* of bytes; 0: empty */
  uint8_t addr[16];
  char authority[URPC_SPAN_AUTHORITY_MAX];
  uint64_t batch; /* the last batch a span used it in */
  uint8_t bytes[PEER_PART_MAX];
} peer_entry;

struct otlp_resource {
  span_parts *parts; /* scratch for otlp_encode, `cap` spans */
  size_t *sizes;
  uint8_t *scratch; /* `cap` × SCRATCH: parts packed for one span only */
  peer_entry peers[PEER_CACHE];
  uint64_t batch; /* batches encoded */
  size_t cap;
  blob *methods; /* the method parts kept, by method index */
  size_t n_methods;
  blob outcome[N_CODES][2]; /* [status code][span status ERROR] */
  uint8_t *buf;             /* the last body */
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

static int pack_outcomes(otlp_resource *r);

int otlp_resource_new(const char *service_name, const char *attributes, otlp_resource **out) {
  otlp_resource *r = calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  set_string(&r->kv[0], &r->v[0], "service.name", service_name ? service_name : "uringrpc");
  set_string(&r->kv[1], &r->v[1], "telemetry.sdk.name", "uringrpc");
  r->kvp[0] = &r->kv[0];
  r->kvp[1] = &r->kv[1];
  r->n = 2;
  int rc = pack_outcomes(r);
  if (!rc && attributes) {
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
  free(r->sizes);
  free(r->scratch);
  for (size_t i = 0; i < r->n_methods; i++) free(r->methods[i].p);
  free(r->methods);
  for (int c = 0; c < N_CODES; c++) free(r->outcome[c][0].p), free(r->outcome[c][1].p);
  free(r->buf);
  free(r->strings);
  free(r);
}

/* Each Span goes out as the concatenation of four packed Span messages, which a protobuf
 * parser merges into one (repeated fields append, the others are set in only one part):
 *   - the method's part: name, kind, rpc.system / rpc.service / rpc.method — the same for every
 *     call of a method, so packed once per method and kept;
 *   - the connection's part: server.* (from :authority), network.peer.*, network.type — the
 *     same for the calls of a connection, kept in a small table;
 *   - the outcome's part: rpc.grpc.status_code, network.transport, the span status and, for
 *     ERROR, error.type — one of 2 × 17, packed once;
 *   - the span's own part: ids, times, flags, tracestate, the status description, the
 *     handler's attributes and events, the message events.
 * protobuf-c sizes a nested message again at each level it packs: the attributes, two levels
 * deep, were most of the exporter's CPU when every span packed them. */
#define METHODS_CACHED  4096 /* methods (dense index) whose part is kept */
#define METHOD_PART_MAX (3 * URPC_SPAN_NAME_MAX + 128) /* name, service, method and framing */

#define SCRATCH     (METHOD_PART_MAX + PEER_PART_MAX)
#define OWN_ATTRS   URPC_SPAN_MAX_ATTRS
#define SPAN_EVENTS (URPC_SPAN_MAX_EVENTS + URPC_SPAN_MAX_MESSAGES)
#define MSG_ATTRS   3 /* rpc.message.type, .id, .(un)compressed_size */

struct span_parts {
  Span span;
  Status status; /* the description only: the outcome's part has the code */
  char status_text[URPC_SPAN_STATUS_MAX];                    /* the description, made UTF-8 */
  char value_text[URPC_SPAN_MAX_ATTRS][URPC_SPAN_VALUE_MAX]; /* the handler's strings, too */
  KeyValue kv[OWN_ATTRS];
  AnyValue v[OWN_ATTRS];
  KeyValue *kvp[OWN_ATTRS];
  Event ev[SPAN_EVENTS];
  Event *evp[SPAN_EVENTS];
  KeyValue msg_kv[URPC_SPAN_MAX_MESSAGES][MSG_ATTRS];
  AnyValue msg_v[URPC_SPAN_MAX_MESSAGES][MSG_ATTRS];
  KeyValue *msg_kvp[URPC_SPAN_MAX_MESSAGES][MSG_ATTRS];
  blob method; /* in the cache, or in the batch's scratch (a method without an index) */
  blob peer;   /* in the cache, or in the batch's scratch */
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

/* The method's part of a span named `name` ("pkg.Service/Method") into out[0..METHOD_PART_MAX). */
static size_t pack_method_part(const urpc_span *s, uint8_t *out) {
  /* an unknown method's name is the client's :path, which nghttp2 lets carry any byte above
   * 0x7f: made valid UTF-8 (a collector refuses the whole batch otherwise), cut to the bound */
  char raw[URPC_SPAN_NAME_MAX], name_buf[URPC_SPAN_NAME_MAX], service_buf[URPC_SPAN_NAME_MAX],
      method_buf[URPC_SPAN_NAME_MAX];
  memcpy(raw, s->name, s->service_len);
  raw[s->service_len] = '\0';
  const char *name = obs_utf8_scrub(s->name, name_buf, sizeof(name_buf));
  const char *service = obs_utf8_scrub(raw, service_buf, sizeof(service_buf));
  const char *method =
      obs_utf8_scrub(s->name[s->service_len] == '/' ? s->name + s->service_len + 1 : "", method_buf,
                     sizeof(method_buf));
  KeyValue kv[3];
  AnyValue v[3];
  KeyValue *kvp[3] = {&kv[0], &kv[1], &kv[2]};
  set_string(&kv[0], &v[0], "rpc.system", "grpc");
  set_string(&kv[1], &v[1], "rpc.service", service);
  set_string(&kv[2], &v[2], "rpc.method", method);
  Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
  sp.name = (char *)name;
  sp.kind = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER;
  sp.n_attributes = 3;
  sp.attributes = kvp;
  return opentelemetry__proto__trace__v1__span__pack(&sp, out);
}

static int pack_outcomes(otlp_resource *r) {
  for (int code = 0; code < N_CODES; code++)
    for (int error = 0; error < 2; error++) {
      KeyValue kv[3];
      AnyValue v[3];
      KeyValue *kvp[3] = {&kv[0], &kv[1], &kv[2]};
      set_int(&kv[0], &v[0], "rpc.grpc.status_code", code);
      set_string(&kv[1], &v[1], "network.transport", "tcp");
      set_string(&kv[2], &v[2], "error.type", urpc_status_name((urpc_status_code)code));
      Status st = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__INIT;
      if (error) st.code = OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR;
      Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
      sp.n_attributes = error ? 3 : 2;
      sp.attributes = kvp;
      sp.status = &st;
      blob *b = &r->outcome[code][error];
      b->len = opentelemetry__proto__trace__v1__span__get_packed_size(&sp);
      b->p = malloc(b->len);
      if (!b->p) return -ENOMEM;
      opentelemetry__proto__trace__v1__span__pack(&sp, b->p);
    }
  return 0;
}

/* The method's part of span `s`: kept per method index, else packed into `scratch`. */
static int method_part(otlp_resource *r, const urpc_span *s, uint8_t *scratch, blob *out) {
  uint32_t i = s->method_index;
  if (i && i < METHODS_CACHED) {
    if (i >= r->n_methods) {
      size_t n = r->n_methods ? r->n_methods : 16;
      while (n <= i) n *= 2;
      blob *m = realloc(r->methods, n * sizeof(*m));
      if (!m) return -ENOMEM;
      memset(m + r->n_methods, 0, (n - r->n_methods) * sizeof(*m));
      r->methods = m;
      r->n_methods = n;
    }
    blob *b = &r->methods[i];
    if (!b->p) {
      uint8_t tmp[METHOD_PART_MAX];
      size_t len = pack_method_part(s, tmp);
      if (!(b->p = malloc(len))) return -ENOMEM;
      memcpy(b->p, tmp, len);
      b->len = len;
    }
    *out = *b;
    return 0;
  }
  *out = (blob){scratch, pack_method_part(s, scratch)};
  return 0;
}

int otlp_authority_parse(const char *authority, char *host, size_t cap, int *port) {
  const char *h = authority, *end, *colon;
  if (*h == '[') { /* an IPv6 literal: "[::1]" or "[::1]:port" */
    end = strchr(++h, ']');
    if (!end) return -EINVAL;
    colon = end[1] == ':' ? end + 1 : NULL;
    if (end[1] && !colon) return -EINVAL;
  } else {
    colon = strrchr(h, ':');
    if (colon && memchr(h, ':', (size_t)(colon - h))) return -EINVAL; /* a bare IPv6 address */
    end = colon ? colon : h + strlen(h);
  }
  size_t n = (size_t)(end - h);
  if (!n || n >= cap) return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)h[i] <= ' ' || (unsigned char)h[i] >= 0x7f || h[i] == '/' || h[i] == '@')
      return -EINVAL;
  *port = -1;
  if (colon) {
    const char *d = colon + 1;
    long v = 0;
    if (!*d || strlen(d) > 5) return -EINVAL;
    for (; *d; d++) {
      if (!isdigit((unsigned char)*d)) return -EINVAL;
      v = v * 10 + (*d - '0');
    }
    if (v < 1 || v > 65535) return -EINVAL;
    *port = (int)v;
  }
  memcpy(host, h, n);
  host[n] = '\0';
  return 0;
}

/* network.peer.address as text; an IPv4-mapped IPv6 address (a dual-stack listener's IPv4
 * client) as the IPv4 address it is. Returns the network.type, or NULL. */
static const char *peer_text(const urpc_span *s, char out[INET6_ADDRSTRLEN]) {
  static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (s->peer_family == AF_INET6 && !memcmp(s->peer_addr, v4mapped, 12))
    return inet_ntop(AF_INET, s->peer_addr + 12, out, INET6_ADDRSTRLEN) ? "ipv4" : NULL;
  if (s->peer_family == AF_INET)
    return inet_ntop(AF_INET, s->peer_addr, out, INET6_ADDRSTRLEN) ? "ipv4" : NULL;
  if (s->peer_family == AF_INET6)
    return inet_ntop(AF_INET6, s->peer_addr, out, INET6_ADDRSTRLEN) ? "ipv6" : NULL;
  return NULL;
}

/* The connection's attributes of span `s` (server.*, network.peer.*, network.type) packed as
 * a Span into out[0..PEER_PART_MAX). */
static size_t pack_peer_part(const urpc_span *s, uint8_t *out) {
  KeyValue kv[5];
  AnyValue v[5];
  KeyValue *kvp[5];
  char host[URPC_SPAN_AUTHORITY_MAX], peer[INET6_ADDRSTRLEN];
  size_t n = 0;
  int port;
  if (s->authority[0] && otlp_authority_parse(s->authority, host, sizeof(host), &port) == 0) {
    set_string(&kv[n], &v[n], "server.address", host);
    n++;
    if (port > 0) {
      set_int(&kv[n], &v[n], "server.port", port);
      n++;
    }
  }
  const char *type = peer_text(s, peer);
  if (type) {
    set_string(&kv[n], &v[n], "network.peer.address", peer);
    set_int(&kv[n + 1], &v[n + 1], "network.peer.port", s->peer_port);
    set_string(&kv[n + 2], &v[n + 2], "network.type", type);
    n += 3;
  }
  for (size_t k = 0; k < n; k++) kvp[k] = &kv[k];
  Span sp = OPENTELEMETRY__PROTO__TRACE__V1__SPAN__INIT;
  sp.n_attributes = n;
  sp.attributes = kvp;
  return opentelemetry__proto__trace__v1__span__pack(&sp, out);
}

/* The client's address and port, mixed (two multiplies: this runs for every span). The
 * authority is left to peer_same: a connection's calls nearly always share one. */
static uint32_t peer_hash(const urpc_span *s) {
  uint64_t a, b;
  memcpy(&a, s->peer_addr, 8);
  memcpy(&b, s->peer_addr + 8, 8);
  uint64_t x = a ^ (b * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)s->peer_port << 8 | s->peer_family);
  return (uint32_t)((x * 0xbf58476d1ce4e5b9ull) >> 32);
}

static bool peer_same(const peer_entry *e, const urpc_span *s) {
  return e->len && e->family == s->peer_family && e->port == s->peer_port &&
         !memcmp(e->addr, s->peer_addr, sizeof(e->addr)) && !strcmp(e->authority, s->authority);
}

/* The connection's part of span `s`: kept per (client address, :authority) in a table probed
 * from the connection's hash (the spans of a batch come from a few connections). A miss takes
 * a slot that no span of this batch points at; with none among the probed ones, the part is
 * packed into the span's `scratch`. */
static blob peer_part(otlp_resource *r, const urpc_span *s, uint8_t *scratch) {
  uint32_t h = peer_hash(s);
  peer_entry *victim = NULL;
  for (uint32_t i = 0; i < PEER_PROBE; i++) {
    peer_entry *e = &r->peers[(h + i) % PEER_CACHE];
    if (peer_same(e, s)) {
      e->batch = r->batch;
      return (blob){e->bytes, e->len};
    }
    if (!victim && (!e->len || e->batch != r->batch)) victim = e;
  }
  if (!victim) return (blob){scratch, pack_peer_part(s, scratch)};
  peer_entry *e = victim;
  e->len = (uint16_t)pack_peer_part(s, e->bytes);
  e->family = s->peer_family;
  e->port = s->peer_port;
  memcpy(e->addr, s->peer_addr, sizeof(e->addr));
  memcpy(e->authority, s->authority, sizeof(e->authority));
  e->batch = r->batch;
  return (blob){e->bytes, e->len};
}

/* The handler's attributes. */
static size_t own_attributes(span_parts *p, const urpc_span *s) {
  size_t n = 0;
  for (size_t k = 0; k < s->n_attrs && k < URPC_SPAN_MAX_ATTRS; k++, n++) {
    const urpc_span_attr *a = &s->attrs[k];
    if (a->is_int)
      set_int(&p->kv[n], &p->v[n], a->key, a->int_value);
    else
      set_string(&p->kv[n], &p->v[n], a->key,
                 obs_utf8_scrub(a->string_value, p->value_text[k], sizeof(p->value_text[k])));
  }
  for (size_t k = 0; k < n; k++) p->kvp[k] = &p->kv[k];
  return n;
}

static void message_event(span_parts *p, size_t i, Event *e, const urpc_span_message *m) {
  KeyValue *kv = p->msg_kv[i];
  AnyValue *v = p->msg_v[i];
  set_string(&kv[0], &v[0], "rpc.message.type", m->sent ? "SENT" : "RECEIVED");
  set_int(&kv[1], &v[1], "rpc.message.id", m->id);
  set_int(&kv[2], &v[2],
          m->compressed ? "rpc.message.compressed_size" : "rpc.message.uncompressed_size", m->size);
  for (size_t k = 0; k < MSG_ATTRS; k++) p->msg_kvp[i][k] = &kv[k];
  e->time_unix_nano = m->time_unix_ns;
  e->name = "rpc.message";
  e->n_attributes = MSG_ATTRS;
  e->attributes = p->msg_kvp[i];
}

/* The handler's events and the message events, merged in time order (each list is). */
static size_t own_events(span_parts *p, const urpc_span *s) {
  size_t nh = s->n_events < URPC_SPAN_MAX_EVENTS ? s->n_events : URPC_SPAN_MAX_EVENTS;
  size_t nm = s->n_messages < URPC_SPAN_MAX_MESSAGES ? s->n_messages : URPC_SPAN_MAX_MESSAGES;
  size_t h = 0, m = 0, n = 0;
  for (; h < nh || m < nm; n++) {
    Event *e = &p->ev[n];
    opentelemetry__proto__trace__v1__span__event__init(e);
    if (m == nm || (h < nh && s->events[h].time_unix_ns <= s->messages[m].time_unix_ns)) {
      e->time_unix_nano = s->events[h].time_unix_ns;
      e->name = (char *)s->events[h++].name;
    } else {
      message_event(p, m, e, &s->messages[m]);
      m++;
    }
    p->evp[n] = e;
  }
  return n;
}

/* The span's own part (see above), to be packed by protobuf-c. */
static void own_part(const urpc_span *s, span_parts *p) {
  Span *sp = &p->span;
  opentelemetry__proto__trace__v1__span__init(sp);
  sp->trace_id = (ProtobufCBinaryData){16, (uint8_t *)s->trace_id};
  sp->span_id = (ProtobufCBinaryData){8, (uint8_t *)s->span_id};
  if (s->has_parent) sp->parent_span_id = (ProtobufCBinaryData){8, (uint8_t *)s->parent_span_id};
  sp->trace_state = (char *)s->tracestate;
  /* W3C flags, and HAS_IS_REMOTE | IS_REMOTE: our parent, if any, is in another process */
  sp->flags = s->flags | 0x100u | (s->has_parent ? 0x200u : 0);
  sp->start_time_unix_nano = s->start_unix_ns;
  sp->end_time_unix_nano = s->end_unix_ns;
  sp->n_attributes = own_attributes(p, s);
  sp->attributes = p->kvp;
  sp->dropped_attributes_count = s->dropped_attrs;
  sp->n_events = own_events(p, s);
  sp->events = p->evp;
  uint64_t dropped = (uint64_t)s->dropped_events + s->dropped_messages;
  sp->dropped_events_count = dropped > UINT32_MAX ? UINT32_MAX : (uint32_t)dropped;
  /* A description goes only with ERROR (the trace API's rule); a parser merges this Status
   * with the outcome's part, which has the code. */
  if (s->error && s->status_message[0]) {
    opentelemetry__proto__trace__v1__status__init(&p->status);
    /* it may quote the client (e.g. an unsupported grpc-encoding) */
    p->status.message =
        (char *)obs_utf8_scrub(s->status_message, p->status_text, sizeof(p->status_text));
    sp->status = &p->status;
  }
}

static const blob *outcome_part(const otlp_resource *r, const urpc_span *s) {
  unsigned code = (unsigned)s->status < N_CODES ? (unsigned)s->status : URPC_STATUS_UNKNOWN;
  return &r->outcome[code][s->error];
}

static int reserve(otlp_resource *r, size_t n) {
  if (n <= r->cap) return 0;
  span_parts *parts = malloc(n * sizeof(*parts)); /* each field used is set below */
  size_t *sizes = malloc(n * sizeof(*sizes));
  uint8_t *scratch = malloc(n * SCRATCH);
  if (!parts || !sizes || !scratch) {
    free(parts);
    free(sizes);
    free(scratch);
    return -ENOMEM;
  }
  free(r->parts);
  free(r->sizes);
  free(r->scratch);
  r->parts = parts;
  r->sizes = sizes;
  r->scratch = scratch;
  r->cap = n;
  return 0;
}

int otlp_encode(otlp_resource *r, const urpc_span *const *spans, size_t n, const uint8_t **out,
                size_t *len) {
  int rc = reserve(r, n);
  if (rc) return rc;
  r->batch++;
  /* The three wrappers (ExportTraceServiceRequest.resource_spans = 1, ResourceSpans.resource
   * = 1 and .scope_spans = 2, ScopeSpans.scope = 1 and .spans = 2) are framed here, so that
   * nothing is sized twice. */
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
    span_parts *p = &r->parts[i];
    own_part(spans[i], p);
    uint8_t *scratch = r->scratch + i * SCRATCH;
    rc = method_part(r, spans[i], scratch, &p->method);
    if (rc) return rc;
    p->peer = peer_part(r, spans[i], scratch + METHOD_PART_MAX);
    r->sizes[i] = opentelemetry__proto__trace__v1__span__get_packed_size(&p->span) + p->method.len +
                  p->peer.len + outcome_part(r, spans[i])->len;
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
    const span_parts *p = &r->parts[i];
    const blob *o = outcome_part(r, spans[i]);
    w = put_field(w, 2, r->sizes[i]); /* ScopeSpans.spans */
    w += opentelemetry__proto__trace__v1__span__pack(&p->span, w);
    memcpy(w, p->method.p, p->method.len);
    w += p->method.len;
    memcpy(w, p->peer.p, p->peer.len);
    w += p->peer.len;
    memcpy(w, o->p, o->len);
    w += o->len;
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
