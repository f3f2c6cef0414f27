/* The tracing interceptor (urpc_trace.h): at a call's start, the parent context from its
 * traceparent/tracestate metadata, a new span id from the shard's own PRNG, the sampling
 * decision and the client's socket address (binary: the exporter formats it); per message,
 * when asked for, an rpc.message event; at its end, a span record from the shard's pool onto
 * the shard's ring.
 *
 * Shard threads only touch their own lane (obs/handoff.h: made at the shard's first call, its
 * local state the shard's PRNG and clock offset) and the call's arena: no lock, no malloc per
 * call. */
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "core/clock.h"
#include "obs/trace_impl.h"

/* What the handler added (urpc_call_trace_set_*), made at its first addition. */
typedef struct trace_extra {
  uint8_t n_attrs, n_events;
  uint16_t dropped_attrs, dropped_events;
  urpc_span_attr attrs[URPC_SPAN_MAX_ATTRS];
  urpc_span_event events[URPC_SPAN_MAX_EVENTS];
} trace_extra;

/* The call's message events (urpc_trace_options.message_events), made at its first message. */
typedef struct trace_msgs {
  uint8_t n;
  uint16_t sent, received; /* ids so far, the dropped ones included */
  uint32_t dropped;
  urpc_span_message m[URPC_SPAN_MAX_MESSAGES];
} trace_msgs;

typedef struct trace_call {
  urpc_trace_info info;
  trace_extra *extra;
  trace_msgs *msgs;
  const char *tracestate; /* arena, NUL-terminated, or NULL */
  size_t tracestate_len;
  uint8_t parent_span_id[8];
  bool has_parent;
  uint8_t peer_family; /* as in urpc_span */
  uint16_t peer_port;
  uint8_t peer_addr[16];
  uint64_t start_ns, start_unix_ns;          /* CLOCK_MONOTONIC, CLOCK_REALTIME */
  char traceparent[OBS_TRACEPARENT_LEN + 1]; /* last: not cleared, written when asked for */
} trace_call;

static uint64_t unix_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- per-shard PRNG: xoshiro256** ---- */

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t s[4]) {
  uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return r;
}

/* Big-endian, as ids are written. */
static void put64(uint8_t *p, uint64_t v) {
  v = __builtin_bswap64(v);
  memcpy(p, &v, 8);
}

static uint64_t get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return __builtin_bswap64(v);
}

/* obs_handoff's init_local: a lane's trace_local, its PRNG seeded. */
static void init_local(void *local) {
  uint64_t *s = ((trace_local *)local)->rng;
  if (getrandom(s, 4 * sizeof(uint64_t), 0) != 4 * sizeof(uint64_t)) {
    /* no getrandom (seccomp?): still distinct per shard and per start */
    uint64_t x = core_now_ns() ^ (uint64_t)(uintptr_t)s;
    for (int i = 0; i < 4; i++) {
      x += 0x9e3779b97f4a7c15ull; /* splitmix64 */
      uint64_t z = x;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
      s[i] = z ^ (z >> 31);
    }
  }
  if (!(s[0] | s[1] | s[2] | s[3])) s[0] = 1;
}

/* Span times are the calls' monotonic times (the start is the loop turn's, read for free)
 * moved to the wall clock by an offset each shard takes again every second: one clock read per
 * span, and a wall clock step shows in spans for at most a second. */
static uint64_t unix_minus_mono(trace_local *sh, uint64_t now_ns) {
  if (!sh->offset_taken_ns || now_ns - sh->offset_taken_ns > 1000000000u) {
    uint64_t mono = core_now_ns();
    sh->unix_minus_mono = unix_now_ns() - mono;
    sh->offset_taken_ns = mono;
  }
  return sh->unix_minus_mono;
}

/* ---- the interceptor ---- */

/* The client's address, binary: formatting it is the exporter's work. Taken at the start, the
 * only time the call is sure to still have its connection. */
static void take_peer(urpc_call *call, trace_call *c) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (urpc_call_peer_address(call, &ss, &len)) return;
  if (ss.ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
    memcpy(c->peer_addr, &a->sin_addr, 4);
    c->peer_port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
    memcpy(c->peer_addr, &a->sin6_addr, 16);
    c->peer_port = ntohs(a->sin6_port);
  } else {
    return;
  }
  c->peer_family = (uint8_t)ss.ss_family;
}

static obs_lane *lane_of(urpc_tracer *t, urpc_call *call) {
  return obs_handoff_lane(&t->handoff, urpc_call_shard(call));
}

static bool ratio_sampled(const urpc_tracer *t, const uint8_t trace_id[16]) {
  return (get64(trace_id + 8) >> 1) < t->ratio_bound;
}

static bool sample(const urpc_tracer *t, const trace_call *c, uint8_t parent_flags) {
  bool parent_sampled = parent_flags & OBS_TRACE_FLAG_SAMPLED;
  switch (t->o.sampler) {
  case URPC_SAMPLER_ALWAYS_ON:
    return true;
  case URPC_SAMPLER_ALWAYS_OFF:
    return false;
  case URPC_SAMPLER_TRACEIDRATIO:
    return ratio_sampled(t, c->info.trace_id);
  case URPC_SAMPLER_PARENTBASED_ALWAYS_OFF:
    return c->has_parent && parent_sampled;
  case URPC_SAMPLER_PARENTBASED_TRACEIDRATIO:
    return c->has_parent ? parent_sampled : ratio_sampled(t, c->info.trace_id);
  case URPC_SAMPLER_PARENTBASED_ALWAYS_ON:
  default:
    return c->has_parent ? parent_sampled : true;
  }
}

/* Most calls carry other metadata (user-agent): one byte tells them apart. */
static inline bool key_is(const char *key, const char *want) {
  return key[0] == want[0] && !strcmp(key, want);
}

/* The call's tracestate: every tracestate header joined with ',' (RFC 9110 list rules), kept
 * only when valid and under the bound. */
static void take_tracestate(urpc_call *call, trace_call *c) {
  size_t n = urpc_call_metadata_count(call), total = 0, count = 0;
  for (size_t i = 0; i < n; i++) {
    const char *key;
    const uint8_t *v;
    size_t len;
    if (urpc_call_metadata_at(call, i, &key, &v, &len) || !key_is(key, "tracestate")) continue;
    total += len + (count++ ? 1 : 0);
  }
  if (!count || total > OBS_TRACESTATE_MAX) return;
  char *s = urpc_call_alloc(call, total + 1);
  if (!s) return;
  size_t at = 0;
  for (size_t i = 0; i < n; i++) {
    const char *key;
    const uint8_t *v;
    size_t len;
    if (urpc_call_metadata_at(call, i, &key, &v, &len) || !key_is(key, "tracestate")) continue;
    if (at) s[at++] = ',';
    memcpy(s + at, v, len);
    at += len;
  }
  s[at] = '\0';
  if (obs_tracestate_check(s, at) == 0 && at) {
    c->tracestate = s;
    c->tracestate_len = at;
  }
}

static urpc_status_code on_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)msg;
  urpc_tracer *t = user;
  obs_lane *lane = lane_of(t, call);
  if (!lane) return URPC_STATUS_OK; /* out of memory: the call goes on untraced */
  trace_local *sh = (trace_local *)lane->local;
  trace_call *c = urpc_call_alloc(call, sizeof(*c));
  if (!c) return URPC_STATUS_OK;
  memset(c, 0, offsetof(trace_call, traceparent));

  /* exactly one valid traceparent continues the trace; none, several or a bad one start anew */
  size_t n = urpc_call_metadata_count(call), seen = 0;
  obs_trace_ctx parent;
  bool parsed = false;
  for (size_t i = 0; i < n; i++) {
    const char *key;
    const uint8_t *v;
    size_t len;
    if (urpc_call_metadata_at(call, i, &key, &v, &len) || !key_is(key, "traceparent")) continue;
    if (++seen == 1) parsed = obs_traceparent_parse((const char *)v, len, &parent) == 0;
  }
  uint8_t parent_flags = 0;
  if (seen == 1 && parsed) {
    c->has_parent = true;
    memcpy(c->info.trace_id, parent.trace_id, 16);
    memcpy(c->parent_span_id, parent.span_id, 8);
    parent_flags = parent.flags;
    take_tracestate(call, c);
  } else {
    do {
      put64(c->info.trace_id, rng_next(sh->rng));
      put64(c->info.trace_id + 8, rng_next(sh->rng));
    } while (!(get64(c->info.trace_id) | get64(c->info.trace_id + 8)));
  }
  uint64_t sid;
  do sid = rng_next(sh->rng);
  while (!sid);
  put64(c->info.span_id, sid);
  c->info.sampled = sample(t, c, parent_flags);
  if (c->info.sampled) { /* unsampled calls need neither times nor the peer */
    c->start_ns = urpc_call_start_ns(call);
    c->start_unix_ns = c->start_ns + unix_minus_mono(sh, c->start_ns);
    take_peer(call, c);
  }
  c->info.tracestate = c->tracestate;
  *state = c; /* info.traceparent: formatted when a handler asks (urpc_call_trace) */
  return URPC_STATUS_OK;
}

/* OTel semantic conventions for gRPC, server side: these codes make the span status ERROR. */
static bool server_error(urpc_status_code code) {
  switch (code) {
  case URPC_STATUS_UNKNOWN:
  case URPC_STATUS_DEADLINE_EXCEEDED:
  case URPC_STATUS_UNIMPLEMENTED:
  case URPC_STATUS_INTERNAL:
  case URPC_STATUS_UNAVAILABLE:
  case URPC_STATUS_DATA_LOSS:
    return true;
  default:
    return false;
  }
}

/* Set only when urpc_trace_options.message_events: the first URPC_SPAN_MAX_MESSAGES messages
 * become events, the others are counted. */
static void on_message(urpc_call *call, bool received, size_t bytes, void *user, void *state) {
  (void)user;
  trace_call *c = state;
  if (!c || !c->info.sampled) return;
  if (!c->msgs) {
    c->msgs = urpc_call_alloc(call, sizeof(trace_msgs));
    if (!c->msgs) return;
    memset(c->msgs, 0, offsetof(trace_msgs, m));
  }
  trace_msgs *t = c->msgs;
  uint16_t *count = received ? &t->received : &t->sent;
  if (*count < UINT16_MAX) ++*count;
  if (t->n == URPC_SPAN_MAX_MESSAGES) {
    if (t->dropped < UINT32_MAX) t->dropped++;
    return;
  }
  urpc_span_message *m = &t->m[t->n++];
  m->time_unix_ns = c->start_unix_ns + (core_now_ns() - c->start_ns); /* as the span's times */
  m->size = bytes > UINT32_MAX ? UINT32_MAX : (uint32_t)bytes;
  m->id = *count;
  m->sent = !received;
  m->compressed = urpc_call_message_compressed(call);
}

/* At most `max` - 1 bytes of `src` and a NUL, cut before a UTF-8 sequence rather than inside
 * it (OTLP strings must be UTF-8); nothing (empty) when it does not fit and `whole` is asked
 * for. */
static void copy_text(char *dst, size_t max, const char *src, bool whole) {
  size_t n = src ? strnlen(src, max) : 0;
  if (n == max) {
    n = whole ? 0 : max - 1;
    while (n && ((unsigned char)src[n] & 0xc0) == 0x80) n--;
  }
  if (n) memcpy(dst, src, n);
  dst[n] = '\0';
}

static void on_end(urpc_call *call, const urpc_call_end *end, void *user, void *state) {
  urpc_tracer *t = user;
  trace_call *c = state;
  if (!c || !c->info.sampled) return;
  obs_lane *lane = lane_of(t, call);
  urpc_span *s = lane ? obs_lane_take(lane) : NULL;
  if (!s) return; /* counted */
  memcpy(s->trace_id, c->info.trace_id, 16);
  memcpy(s->span_id, c->info.span_id, 8);
  memcpy(s->parent_span_id, c->parent_span_id, 8);
  s->has_parent = c->has_parent;
  s->flags = OBS_TRACE_FLAG_SAMPLED;
  s->start_unix_ns = c->start_unix_ns;
  /* sampled calls only: one clock read per span (the interceptor has no_duration) */
  s->end_unix_ns = c->start_unix_ns + (core_now_ns() - c->start_ns);
  s->status = end->status;
  s->error = server_error(end->status);
  s->cancelled = end->cancelled;
  copy_text(s->status_message, sizeof(s->status_message), s->error ? end->message : NULL, false);
  s->peer_family = c->peer_family;
  s->peer_port = c->peer_port;
  memcpy(s->peer_addr, c->peer_addr, sizeof(s->peer_addr));
  /* a cut authority would name another host or port: whole or not at all */
  copy_text(s->authority, sizeof(s->authority), urpc_call_authority(call), true);
  s->msgs_in = end->msgs_in;
  s->msgs_out = end->msgs_out;
  s->bytes_in = end->bytes_in;
  s->bytes_out = end->bytes_out;
  const char *path = urpc_call_path(call);
  if (!path) path = "";
  if (*path == '/') path++;
  size_t len = strnlen(path, URPC_SPAN_NAME_MAX - 1);
  memcpy(s->name, path, len);
  s->name[len] = '\0';
  const char *slash = memchr(s->name, '/', len);
  s->service_len = (uint16_t)(slash ? (size_t)(slash - s->name) : len);
  s->method_index = urpc_call_method_index(call);
  if (c->tracestate)
    memcpy(s->tracestate, c->tracestate, c->tracestate_len + 1);
  else
    s->tracestate[0] = '\0';
  const trace_extra *x = c->extra;
  s->n_attrs = x ? x->n_attrs : 0;
  s->n_events = x ? x->n_events : 0;
  s->dropped_attrs = x ? x->dropped_attrs : 0;
  s->dropped_events = x ? x->dropped_events : 0;
  if (x) {
    memcpy(s->attrs, x->attrs, x->n_attrs * sizeof(urpc_span_attr));
    memcpy(s->events, x->events, x->n_events * sizeof(urpc_span_event));
  }
  const trace_msgs *m = c->msgs;
  s->n_messages = m ? m->n : 0;
  s->dropped_messages = m ? m->dropped : 0;
  if (m) memcpy(s->messages, m->m, m->n * sizeof(urpc_span_message));
  obs_lane_publish(lane, s);
}

const urpc_trace_info *urpc_call_trace(const urpc_call *call) {
  trace_call *c = urpc_call_interceptor_state(call, on_start);
  if (!c) return NULL;
  if (!c->info.traceparent) { /* only the thread holding the call gets here */
    obs_traceparent_format(c->info.trace_id, c->info.span_id,
                           c->info.sampled ? OBS_TRACE_FLAG_SAMPLED : 0, c->traceparent);
    c->info.traceparent = c->traceparent;
  }
  return &c->info;
}

/* The call's extra block, made on first use; NULL with *rc set when there is nothing to do. */
static trace_extra *extra_of(urpc_call *call, const char *key, int *rc) {
  *rc = 0;
  trace_call *c = urpc_call_interceptor_state(call, on_start);
  if (!c || !c->info.sampled) return NULL;
  if (!key || !*key || strlen(key) >= URPC_SPAN_KEY_MAX) {
    *rc = -EINVAL;
    return NULL;
  }
  if (!c->extra) {
    c->extra = urpc_call_alloc(call, sizeof(trace_extra));
    if (!c->extra) {
      *rc = -ENOMEM;
      return NULL;
    }
    memset(c->extra, 0, sizeof(trace_extra));
  }
  return c->extra;
}

static urpc_span_attr *attr_slot(trace_extra *x, const char *key, int *rc) {
  for (size_t i = 0; i < x->n_attrs; i++)
    if (!strcmp(x->attrs[i].key, key)) return &x->attrs[i];
  if (x->n_attrs == URPC_SPAN_MAX_ATTRS) {
    x->dropped_attrs++;
    *rc = -ENOSPC;
    return NULL;
  }
  urpc_span_attr *a = &x->attrs[x->n_attrs++];
  strcpy(a->key, key);
  return a;
}

int urpc_call_trace_set_string(urpc_call *call, const char *key, const char *value) {
  int rc;
  trace_extra *x = extra_of(call, key, &rc);
  urpc_span_attr *a = x ? attr_slot(x, key, &rc) : NULL;
  if (!a) return rc;
  a->is_int = false;
  size_t n = strnlen(value ? value : "", URPC_SPAN_VALUE_MAX - 1);
  memcpy(a->string_value, value ? value : "", n);
  a->string_value[n] = '\0';
  return 0;
}

int urpc_call_trace_set_int(urpc_call *call, const char *key, int64_t value) {
  int rc;
  trace_extra *x = extra_of(call, key, &rc);
  urpc_span_attr *a = x ? attr_slot(x, key, &rc) : NULL;
  if (!a) return rc;
  a->is_int = true;
  a->int_value = value;
  return 0;
}

int urpc_call_trace_add_event(urpc_call *call, const char *name) {
  int rc;
  trace_extra *x = extra_of(call, name, &rc);
  if (!x) return rc;
  if (x->n_events == URPC_SPAN_MAX_EVENTS) {
    x->dropped_events++;
    return -ENOSPC;
  }
  urpc_span_event *e = &x->events[x->n_events++];
  e->time_unix_ns = unix_now_ns();
  strcpy(e->name, name);
  return 0;
}

/* ---- options ---- */

void urpc_trace_options_init(urpc_trace_options *o) {
  memset(o, 0, sizeof(*o));
  o->sampler = URPC_SAMPLER_PARENTBASED_ALWAYS_ON;
  o->ratio = 1.0;
  o->export_timeout_ms = 10000;
  o->schedule_delay_ms = 5000;
  o->max_queue_size = 2048;
  o->max_export_batch_size = 512;
}

int urpc_trace_sampler_parse(const char *name, urpc_trace_sampler *out) {
  static const struct {
    const char *name;
    urpc_trace_sampler s;
  } names[] = {
      {"parentbased_always_on", URPC_SAMPLER_PARENTBASED_ALWAYS_ON},
      {"always_on", URPC_SAMPLER_ALWAYS_ON},
      {"always_off", URPC_SAMPLER_ALWAYS_OFF},
      {"traceidratio", URPC_SAMPLER_TRACEIDRATIO},
      {"parentbased_always_off", URPC_SAMPLER_PARENTBASED_ALWAYS_OFF},
      {"parentbased_traceidratio", URPC_SAMPLER_PARENTBASED_TRACEIDRATIO},
  };
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (!strcmp(name, names[i].name)) {
      *out = names[i].s;
      return 0;
    }
  return -EINVAL;
}

static int env_uint(const char *name, unsigned *out) {
  const char *v = getenv(name);
  if (!v || !*v) return 0;
  char *end;
  unsigned long x = strtoul(v, &end, 10);
  if (*end || x > 0x7fffffff) return -EINVAL;
  *out = (unsigned)x;
  return 0;
}

static const char *env(const char *name) {
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

int urpc_trace_options_from_env(urpc_trace_options *o) {
  int rc = 0;
  const char *v;
  if ((v = env("OTEL_TRACES_SAMPLER")) && urpc_trace_sampler_parse(v, &o->sampler)) rc = -EINVAL;
  if ((v = env("OTEL_TRACES_SAMPLER_ARG"))) {
    char *end;
    double r = strtod(v, &end);
    if (*end || !(r >= 0 && r <= 1))
      rc = -EINVAL;
    else
      o->ratio = r;
  }
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))) {
    o->endpoint = v;
  } else if ((v = env("OTEL_EXPORTER_OTLP_ENDPOINT"))) {
    size_t n = strlen(v);
    while (n && v[n - 1] == '/') n--;
    if (n + sizeof("/v1/traces") > sizeof(o->endpoint_storage))
      rc = -EINVAL;
    else {
      memcpy(o->endpoint_storage, v, n);
      memcpy(o->endpoint_storage + n, "/v1/traces", sizeof("/v1/traces"));
      o->endpoint = o->endpoint_storage;
    }
  }
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) || (v = env("OTEL_EXPORTER_OTLP_HEADERS")))
    o->headers = v;
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE")) ||
      (v = env("OTEL_EXPORTER_OTLP_CERTIFICATE")))
    o->ca_file = v;
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE")) ||
      (v = env("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE")))
    o->client_cert_file = v;
  if ((v = env("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY")) ||
      (v = env("OTEL_EXPORTER_OTLP_CLIENT_KEY")))
    o->client_key_file = v;
  if (env("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT")) {
    if (env_uint("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", &o->export_timeout_ms)) rc = -EINVAL;
  } else if (env_uint("OTEL_EXPORTER_OTLP_TIMEOUT", &o->export_timeout_ms)) {
    rc = -EINVAL;
  }
  if ((v = env("OTEL_SERVICE_NAME"))) o->service_name = v;
  if ((v = env("OTEL_RESOURCE_ATTRIBUTES"))) o->resource_attributes = v;
  if (env_uint("OTEL_BSP_SCHEDULE_DELAY", &o->schedule_delay_ms) ||
      env_uint("OTEL_BSP_MAX_QUEUE_SIZE", &o->max_queue_size) ||
      env_uint("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", &o->max_export_batch_size))
    rc = -EINVAL;
  return rc;
}

/* ---- the tracer ---- */

static const struct {
  const char *name, *help;
  size_t field; /* offsetof urpc_tracer_stats */
} counters[TRACE_COUNTERS] = {
    {"uringrpc_spans_dropped_total", "Sampled spans dropped: the shard's span queue was full.",
     offsetof(urpc_tracer_stats, spans_dropped)},
    {"uringrpc_spans_exported_total", "Spans the collector accepted.",
     offsetof(urpc_tracer_stats, spans_exported)},
    {"uringrpc_spans_export_failed_total",
     "Spans given up on: the collector did not take them within the export timeout (network, "
     "TLS or HTTP failures).",
     offsetof(urpc_tracer_stats, export_failures)},
};

static size_t collect_counter(void *arg, urpc_metrics_sample *out, size_t cap) {
  const trace_metric *tm = arg;
  urpc_tracer_stats st;
  urpc_tracer_get_stats(tm->tracer, &st);
  if (!cap) return 0;
  out[0] = (urpc_metrics_sample){.label_value = NULL,
                                 .value = *(uint64_t *)((char *)&st + counters[tm->i].field)};
  return 1;
}

static char *dup_or_null(const char *s, bool *oom) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *oom = true;
  return d;
}

static void free_strings(urpc_trace_options *o) {
  free((char *)o->endpoint);
  free((char *)o->headers);
  free((char *)o->service_name);
  free((char *)o->resource_attributes);
  free((char *)o->ca_file);
  free((char *)o->client_cert_file);
  free((char *)o->client_key_file);
}

int urpc_trace_options_check(const urpc_trace_options *o, char *why, size_t why_len) {
  if (!o->endpoint) return 0;
  _Atomic bool stop = false;
  otlp_exporter *e;
  int rc = otlp_exporter_new(o, &stop, &e, why, why_len);
  if (!rc) otlp_exporter_free(e);
  return rc;
}

int urpc_tracer_new(urpc_server *s, const urpc_trace_options *o, urpc_metrics *m,
                    urpc_tracer **out) {
  if (!(o->ratio >= 0 && o->ratio <= 1) || !o->max_queue_size || !o->max_export_batch_size ||
      o->max_queue_size > (1u << 20) || o->max_export_batch_size > (1u << 16) ||
      (unsigned)o->sampler > URPC_SAMPLER_PARENTBASED_TRACEIDRATIO)
    return -EINVAL;
  urpc_tracer *t = calloc(1, sizeof(*t));
  if (!t) return -ENOMEM;
  t->server = s;
  t->o = *o;
  bool oom = false;
  t->o.endpoint = dup_or_null(o->endpoint, &oom);
  t->o.headers = dup_or_null(o->headers, &oom);
  t->o.service_name = dup_or_null(o->service_name ? o->service_name : "uringrpc", &oom);
  t->o.resource_attributes = dup_or_null(o->resource_attributes, &oom);
  t->o.ca_file = dup_or_null(o->ca_file, &oom);
  t->o.client_cert_file = dup_or_null(o->client_cert_file, &oom);
  t->o.client_key_file = dup_or_null(o->client_key_file, &oom);
  t->ratio_bound = (uint64_t)ldexp(o->ratio, 63);
  if (o->ratio >= 1) t->ratio_bound = UINT64_MAX;
  obs_handoff_init(&t->handoff, sizeof(urpc_span), o->max_queue_size, sizeof(trace_local),
                   init_local); /* the bounds were checked above */
  size_t half = t->handoff.cap / 2;
  t->batch_max = o->max_export_batch_size < half ? o->max_export_batch_size : half;
  t->batch = calloc(t->batch_max, sizeof(*t->batch));
  t->batch_from = calloc(t->batch_max, sizeof(*t->batch_from));
  int rc = oom || !t->batch || !t->batch_from ? -ENOMEM : 0;
  char why[256];
  if (!rc && t->o.endpoint)
    rc = otlp_exporter_new(&t->o, &t->handoff.stop, &t->otlp, why, sizeof(why));
  urpc_interceptor ic = {.on_start = on_start,
                         .on_end = on_end,
                         .user = t,
                         .on_message = o->message_events ? on_message : NULL,
                         .no_duration = true,
                         .reads_authority = true};
  if (!rc) rc = urpc_server_add_interceptor(s, &ic);
  for (int i = 0; !rc && m && i < TRACE_COUNTERS; i++) {
    t->metrics[i] = (trace_metric){t, i};
    rc = urpc_metrics_add_family(m, counters[i].name, "counter", counters[i].help, NULL,
                                 collect_counter, &t->metrics[i]);
  }
  if (!rc) rc = trace_export_start(t);
  if (rc) {
    /* an interceptor already added points at t: only when metrics failed after it, and then
     * the caller frees the server, not starts it */
    if (t->otlp) otlp_exporter_free(t->otlp);
    free_strings(&t->o);
    free(t->batch);
    free(t->batch_from);
    free(t);
    return rc;
  }
  *out = t;
  return 0;
}

void urpc_tracer_free(urpc_tracer *t) {
  if (!t) return;
  obs_handoff_stop(&t->handoff);
  obs_handoff_dispose(&t->handoff);
  if (t->otlp) otlp_exporter_free(t->otlp);
  free_strings(&t->o);
  free(t->batch);
  free(t->batch_from);
  free(t);
}

void urpc_tracer_get_stats(urpc_tracer *t, urpc_tracer_stats *out) {
  memset(out, 0, sizeof(*out));
  obs_handoff_counts(&t->handoff, &out->spans_ended, &out->spans_dropped);
  out->spans_exported = atomic_load_explicit(&t->exported, memory_order_relaxed);
  out->export_failures = atomic_load_explicit(&t->failures, memory_order_relaxed);
}
