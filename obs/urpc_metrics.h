/* uringrpc metrics: the grpc-ecosystem go-grpc-prometheus series (what the common gRPC Grafana
 * dashboards and alerts query) for every call of a server, the process's own, written in the
 * Prometheus text format. Public API, beside uringrpc.h.
 *
 * Counting is an interceptor (urpc_server_add_interceptor): each shard counts its own calls in
 * its own table, with plain stores (no atomic read-modify-write, no lock per call); a scrape
 * reads every shard's table and sums. Methods are known when the server starts, so per-method
 * slots are made then; calls of unknown paths count under grpc_method="unknown". */
#ifndef URINGRPC_METRICS_H
#define URINGRPC_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "uringrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urpc_metrics urpc_metrics;

typedef struct urpc_metrics_options {
  /* Upper bounds of grpc_server_handling_seconds' buckets, ascending, in seconds; NULL for
   * Prometheus' defaults (.005 .01 .025 .05 .1 .25 .5 1 2.5 5 10). At most 32. */
  const double *buckets;
  size_t n_buckets;
} urpc_metrics_options;

/* Counts every call of `s` from now on: adds an interceptor, so before urpc_server_start. `o`
 * may be NULL (defaults). The metrics must outlive the server. Returns 0, -EINVAL, -ENOMEM or
 * -EBUSY (started). */
int urpc_metrics_new(urpc_server *s, const urpc_metrics_options *o, urpc_metrics **out);
/* After urpc_server_free. */
void urpc_metrics_free(urpc_metrics *m);

/* A family of the application's (or another module's) own, written at each scrape after the
 * built-in ones: `collect` fills up to `cap` samples (one per value of `label`, or a single one
 * with label_value NULL when `label` is NULL) and returns how many. `type` is "counter" or
 * "gauge"; counter names end in _total. Before or after start; `collect` runs on the scraping
 * thread, so it reads what shards write the way urpc_metrics does (relaxed loads of counters
 * each with one writer). Returns 0, -EINVAL or -ENOMEM. */
typedef struct urpc_metrics_sample {
  const char *label_value;
  uint64_t value;
} urpc_metrics_sample;
int urpc_metrics_add_family(urpc_metrics *m, const char *name, const char *type, const char *help,
                            const char *label,
                            size_t (*collect)(void *arg, urpc_metrics_sample *out, size_t cap),
                            void *arg);

/* Writes every series in the Prometheus text exposition format 0.0.4 (or OpenMetrics 1.0.0
 * with `openmetrics`, ending with "# EOF"). Any thread, any time after start; what a shard
 * counts while this runs may or may not be in. Returns 0, or -errno if writing failed. */
int urpc_metrics_write(urpc_metrics *m, FILE *out, bool openmetrics);

#ifdef __cplusplus
}
#endif
#endif
