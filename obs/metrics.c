/* go-grpc-prometheus's series, counted by an interceptor into per-shard tables.
 *
 * A shard's table is made by the shard itself at its first call (the method count is final
 * once the server has started) and published with a release store; a scrape reads it with an
 * acquire load. Only the shard writes its counters, each with a relaxed load and store (no
 * read-modify-write): a scrape reads relaxed and may see a call's end counted before its start
 * or a bucket before the sum; the next scrape sees both. */
#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "obs/exposition.h"
#include "obs/metrics_impl.h"

#define MAX_SHARDS  1024 /* as the server's */
#define MAX_BUCKETS 32
#define N_CODES     17

static const double default_buckets[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};

/* grpc-go's names for the codes (codes.Code.String()), which go-grpc-prometheus puts in
 * grpc_code and dashboards query. */
static const char *const code_names[N_CODES] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

typedef struct method_stats {
  _Atomic uint64_t started, handled[N_CODES], msgs_in, msgs_out, sum_ns;
  _Atomic uint64_t buckets[MAX_BUCKETS + 1];
} method_stats;

typedef struct shard_table {
  uint32_t n; /* methods + 1: [0] is every unknown path */
  method_stats m[];
} shard_table;

#define MAX_EXTRA_FAMILIES 16
#define MAX_EXTRA_SAMPLES  32

typedef struct extra_family {
  const char *name, *type, *help, *label;
  size_t (*collect)(void *arg, urpc_metrics_sample *out, size_t cap);
  void *arg;
} extra_family;

struct urpc_metrics {
  urpc_server *server;
  extra_family extra[MAX_EXTRA_FAMILIES];
  _Atomic size_t n_extra; /* published after the slot is written: a scrape may run meanwhile */
  double bounds[MAX_BUCKETS];
  uint64_t bounds_ns[MAX_BUCKETS];
  size_t n_bounds;
  _Atomic(shard_table *) shards[MAX_SHARDS];
  _Atomic size_t n_tables; /* shards[n_tables..] are all NULL: a scrape stops there */
};

/* One writer per counter: a plain add, atomic only so that a scrape may read it. */
static inline void bump(_Atomic uint64_t *c, uint64_t n) {
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n, memory_order_relaxed);
}

static shard_table *table_of(urpc_metrics *m, urpc_call *call) {
  int shard = urpc_call_shard(call);
  if (shard < 0 || shard >= MAX_SHARDS) return NULL;
  shard_table *t = atomic_load_explicit(&m->shards[shard], memory_order_relaxed);
  if (t) return t;
  uint32_t n = urpc_server_method_count(m->server) + 1;
  t = calloc(1, sizeof(*t) + n * sizeof(method_stats)); /* once per shard, at its first call */
  if (!t) return NULL;
  t->n = n;
  atomic_store_explicit(&m->shards[shard], t, memory_order_release);
  size_t n_tables = atomic_load_explicit(&m->n_tables, memory_order_relaxed);
  while (n_tables < (size_t)shard + 1 &&
         !atomic_compare_exchange_weak_explicit(&m->n_tables, &n_tables, (size_t)shard + 1,
                                                memory_order_release, memory_order_relaxed)) {
  }
  return t;
}

static method_stats *stats_of(urpc_metrics *m, urpc_call *call) {
  shard_table *t = table_of(m, call);
  uint32_t i = urpc_call_method_index(call);
  return t && i < t->n ? &t->m[i] : NULL;
}

static urpc_status_code on_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)state, (void)msg;
  method_stats *s = stats_of(user, call);
  if (s) bump(&s->started, 1);
  return URPC_STATUS_OK;
}

static void on_end(urpc_call *call, const urpc_call_end *end, void *user, void *state) {
  (void)state;
  urpc_metrics *m = user;
  method_stats *s = stats_of(m, call);
  if (!s) return;
  unsigned code = (unsigned)end->status < N_CODES ? (unsigned)end->status : URPC_STATUS_UNKNOWN;
  bump(&s->handled[code], 1);
  bump(&s->msgs_in, end->msgs_in);
  bump(&s->msgs_out, end->msgs_out);
  bump(&s->sum_ns, end->duration_ns);
  size_t b = 0;
  while (b < m->n_bounds && end->duration_ns > m->bounds_ns[b]) b++;
  bump(&s->buckets[b], 1);
}

int urpc_metrics_new(urpc_server *s, const urpc_metrics_options *o, urpc_metrics **out) {
  const double *bounds = o && o->buckets ? o->buckets : default_buckets;
  size_t n = o && o->buckets ? o->n_buckets : sizeof(default_buckets) / sizeof(double);
  if (n > MAX_BUCKETS) return -EINVAL;
  for (size_t i = 0; i < n; i++)
    if (!(bounds[i] > 0) || (i && bounds[i] <= bounds[i - 1])) return -EINVAL;
  urpc_metrics *m = calloc(1, sizeof(*m));
  if (!m) return -ENOMEM;
  m->server = s;
  m->n_bounds = n;
  for (size_t i = 0; i < n; i++) {
    m->bounds[i] = bounds[i];
    m->bounds_ns[i] = (uint64_t)(bounds[i] * 1e9);
  }
  urpc_interceptor ic = {.on_start = on_start, .on_end = on_end, .user = m};
  int err = urpc_server_add_interceptor(s, &ic);
  if (err < 0) {
    free(m);
    return err;
  }
  *out = m;
  return 0;
}

void urpc_metrics_free(urpc_metrics *m) {
  if (!m) return;
  for (size_t i = 0; i < MAX_SHARDS; i++) free(atomic_load(&m->shards[i]));
  free(m);
}

/* ---- the scrape ---- */

/* What every shard counted for one method, summed. */
typedef struct method_sum {
  uint64_t started, handled[N_CODES], msgs_in, msgs_out, sum_ns, buckets[MAX_BUCKETS + 1];
} method_sum;

static uint64_t get(const _Atomic uint64_t *c) {
  return atomic_load_explicit(c, memory_order_relaxed);
}

static void sum_method(urpc_metrics *m, uint32_t i, method_sum *sum) {
  memset(sum, 0, sizeof(*sum));
  size_t shards = atomic_load_explicit(&m->n_tables, memory_order_acquire);
  for (size_t sh = 0; sh < shards; sh++) {
    shard_table *t = atomic_load_explicit(&m->shards[sh], memory_order_acquire);
    if (!t || i >= t->n) continue;
    const method_stats *s = &t->m[i];
    sum->started += get(&s->started);
    sum->msgs_in += get(&s->msgs_in);
    sum->msgs_out += get(&s->msgs_out);
    sum->sum_ns += get(&s->sum_ns);
    for (size_t c = 0; c < N_CODES; c++) sum->handled[c] += get(&s->handled[c]);
    for (size_t b = 0; b <= m->n_bounds; b++) sum->buckets[b] += get(&s->buckets[b]);
  }
}

static const char *grpc_type(unsigned flags) {
  bool cs = flags & URPC_METHOD_CLIENT_STREAMING, ss = flags & URPC_METHOD_SERVER_STREAMING;
  return cs && ss ? "bidi_stream" : cs ? "client_stream" : ss ? "server_stream" : "unary";
}

/* grpc_type, grpc_service and grpc_method of method `i` (0: the unknown ones). */
static int method_labels(urpc_metrics *m, uint32_t i, char *buf, size_t cap) {
  const char *path = NULL;
  unsigned flags = 0;
  char service[256] = "unknown", method[256] = "unknown";
  if (i && urpc_server_method_info(m->server, i, &path, &flags) == 0 && path[0] == '/') {
    const char *slash = strchr(path + 1, '/');
    if (slash) {
      snprintf(service, sizeof(service), "%.*s", (int)(slash - path - 1), path + 1);
      snprintf(method, sizeof(method), "%s", slash + 1);
    }
  }
  buf[0] = 0;
  return obs_label(buf, cap, "grpc_type", grpc_type(flags)) < 0 ||
                 obs_label(buf, cap, "grpc_service", service) < 0 ||
                 obs_label(buf, cap, "grpc_method", method) < 0
             ? -1
             : 0;
}

int obs_metrics_write_grpc(urpc_metrics *m, obs_out *o) {
  uint32_t n = urpc_server_method_count(m->server) + 1;
  method_sum *sums = malloc(n * sizeof(*sums));
  char(*labels)[640] = malloc(n * sizeof(*labels));
  int rc = sums && labels ? 0 : -1;
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    sum_method(m, i, &sums[i]);
    rc = method_labels(m, i, labels[i], sizeof(labels[i]));
  }
  static const struct {
    const char *name, *help;
    size_t offset; /* of the value in method_sum */
  } counters[] = {
      {"grpc_server_started_total", "Total number of RPCs started on the server.",
       offsetof(method_sum, started)},
      {"grpc_server_msg_received_total",
       "Total number of RPC stream messages received on the server.",
       offsetof(method_sum, msgs_in)},
      {"grpc_server_msg_sent_total", "Total number of gRPC stream messages sent by the server.",
       offsetof(method_sum, msgs_out)},
  };
  for (size_t k = 0; rc == 0 && k < sizeof(counters) / sizeof(counters[0]); k++) {
    rc = obs_family(o, counters[k].name, "counter", counters[k].help);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
      uint64_t v;
      memcpy(&v, (const char *)&sums[i] + counters[k].offset, sizeof(v));
      rc = obs_sample_u64(o, counters[k].name, labels[i], v);
    }
  }
  if (rc == 0)
    rc = obs_family(o, "grpc_server_handled_total", "counter",
                    "Total number of RPCs completed on the server, regardless of success or "
                    "failure.");
  char code_labels[N_CODES][40];
  for (size_t c = 0; c < N_CODES; c++) {
    code_labels[c][0] = 0;
    obs_label(code_labels[c], sizeof(code_labels[c]), "grpc_code", code_names[c]);
  }
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    for (size_t c = 0; rc == 0 && c < N_CODES; c++)
      rc = obs_sample_u64_more(o, "grpc_server_handled_total", labels[i], code_labels[c],
                               sums[i].handled[c]);
  }
  if (rc == 0)
    rc = obs_family(o, "grpc_server_handling_seconds", "histogram",
                    "Histogram of response latency (seconds) of gRPC that had been "
                    "application-level handled by the server.");
  for (uint32_t i = 0; rc == 0 && i < n; i++) {
    rc = obs_histogram(o, "grpc_server_handling_seconds", labels[i], m->bounds, m->n_bounds,
                       sums[i].buckets, (double)sums[i].sum_ns / 1e9);
  }
  free(sums);
  free(labels);
  return rc;
}

int urpc_metrics_add_family(urpc_metrics *m, const char *name, const char *type, const char *help,
                            const char *label,
                            size_t (*collect)(void *arg, urpc_metrics_sample *out, size_t cap),
                            void *arg) {
  if (!name || !help || !collect || !type ||
      (strcmp(type, "counter") != 0 && strcmp(type, "gauge") != 0))
    return -EINVAL;
  size_t n = atomic_load_explicit(&m->n_extra, memory_order_relaxed);
  if (n == MAX_EXTRA_FAMILIES) return -ENOMEM;
  m->extra[n] = (extra_family){name, type, help, label, collect, arg};
  atomic_store_explicit(&m->n_extra, n + 1, memory_order_release);
  return 0;
}

static int write_extra(urpc_metrics *m, obs_out *o) {
  size_t n = atomic_load_explicit(&m->n_extra, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    const extra_family *f = &m->extra[i];
    urpc_metrics_sample s[MAX_EXTRA_SAMPLES];
    size_t k = f->collect(f->arg, s, MAX_EXTRA_SAMPLES);
    if (k > MAX_EXTRA_SAMPLES) k = MAX_EXTRA_SAMPLES;
    if (obs_family(o, f->name, f->type, f->help) < 0) return -1;
    for (size_t j = 0; j < k; j++) {
      char labels[256] = "";
      if (f->label && s[j].label_value &&
          obs_label(labels, sizeof(labels), f->label, s[j].label_value) < 0)
        return -1;
      if (obs_sample_u64(o, f->name, labels, s[j].value) < 0) return -1;
    }
  }
  return 0;
}

int urpc_metrics_write(urpc_metrics *m, FILE *out, bool openmetrics) {
  obs_out o;
  obs_out_init(&o, out, openmetrics);
  if (obs_metrics_write_grpc(m, &o) < 0 || obs_server_write(m->server, &o) < 0 ||
      write_extra(m, &o) < 0 || obs_process_write(&o) < 0 || obs_end(&o) < 0)
    return -EIO;
  return 0;
}
