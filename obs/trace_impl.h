/* Tracing internals shared by trace.c (the interceptor, on shard threads) and trace_export.c
 * (the exporter thread). Private to obs/.
 *
 * Spans go from the shards to the exporter thread through obs/handoff.h's per-shard lanes (a
 * pool of span records, rings both ways); a shard with no free record drops the span. */
#ifndef URPC_OBS_TRACE_IMPL_H
#define URPC_OBS_TRACE_IMPL_H

#include <stdatomic.h>

#include "obs/handoff.h"
#include "obs/tracecontext.h"
#include "obs/urpc_trace.h"

/* A lane's local state: the shard's own (shard thread only). */
typedef struct trace_local {
  uint64_t rng[4];          /* xoshiro256** */
  uint64_t unix_minus_mono; /* CLOCK_REALTIME - CLOCK_MONOTONIC, */
  uint64_t offset_taken_ns; /* taken at this monotonic time */
} trace_local;

typedef struct otlp_exporter otlp_exporter; /* otlp_http.c */

/* A counter family's argument: which tracer, which of trace.c's counters. */
#define TRACE_COUNTERS 3
typedef struct trace_metric {
  urpc_tracer *tracer;
  int i;
} trace_metric;

struct urpc_tracer {
  urpc_server *server;
  urpc_trace_options o; /* strings owned (copied) */
  uint64_t ratio_bound; /* traceidratio: sample when the id's low 63 bits are below this */
  obs_handoff handoff;  /* span records from the shards; lanes' local state: trace_local */

  /* exporter thread */
  _Atomic uint64_t exported, failures;
  /* Records taken from the shards, given back after their export: at most batch_max, which
   * is max_export_batch_size but at most half a shard's pool, so a batch can always fill. */
  urpc_span **batch;
  obs_lane **batch_from;
  size_t n_batch, batch_max;
  uint64_t batch_first_ns;
  otlp_exporter *otlp; /* NULL without an endpoint */
  trace_metric metrics[TRACE_COUNTERS];
};

/* trace_export.c */
int trace_export_start(urpc_tracer *t);

/* otlp_http.c: one batch to the collector, with retries and backoff (none once `*stop`), within
 * the export timeout. Returns 0 when the collector accepted it. otlp_exporter_new reads the TLS
 * files of an https endpoint; it returns 0, or -errno with one line in `why`. */
int otlp_exporter_new(const urpc_trace_options *o, _Atomic bool *stop, otlp_exporter **out,
                      char *why, size_t why_len);
int otlp_exporter_send(otlp_exporter *e, const urpc_span *const *spans, size_t n);
void otlp_exporter_free(otlp_exporter *e);

#endif
