/* The load generator's report in ghz's two shapes: the text "Summary:" block and the JSON
 * report (`--format json`), whose field names, types and units (durations as integer
 * nanoseconds, histogram marks in seconds) follow ghz's runner.Report so the dashboards and
 * scripts that read ghz's output read this one.
 *
 * As in ghz, fastest, slowest, the histogram and the latency distribution are over the calls
 * that ended OK; unlike ghz, the average is too (the per-shard histograms hold only those), and
 * the percentiles come from the HDR histogram (within its precision) rather than a sort. The
 * JSON keeps ghz's integer percentages (10 25 50 75 90 95 99) in latencyDistribution; p99.9
 * is in the text and in the extra field latencyP999 (ns). */
#ifndef URPC_LOAD_SUMMARY_H
#define URPC_LOAD_SUMMARY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/hdr_hist.h"

#define LOAD_STATUS_CODES 17 /* gRPC status codes 0 (OK) .. 16 (UNAUTHENTICATED) */
#define LOAD_HIST_MARKS   11 /* ghz's histogram: 10 equal steps from fastest to slowest */
#define LOAD_PERCENTILES  8  /* 10 25 50 75 90 95 99 99.9 */

/* An error message and how many calls ended with it. */
typedef struct load_count {
  const char *name;
  uint64_t n;
} load_count;

/* The run's options, echoed as ghz's "options" (empty strings and zeros left out). */
typedef struct load_options {
  const char *host, *call, *proto, *protoset, *cacert, *cert, *key, *cname, *authority;
  const char *data;     /* the -d JSON text, echoed parsed; NULL or invalid: left out */
  const char *metadata; /* a JSON object of strings, echoed parsed */
  bool insecure, skip_tls, binary;
  uint64_t total, concurrency, connections, rps;
  uint64_t duration_ns, timeout_ns, dial_timeout_ns, keepalive_ns;
  int cpus;
} load_options;

/* What a run produced. Nothing here is owned: the writers only read it. */
typedef struct load_result {
  uint64_t count;                     /* calls completed, failed ones included */
  uint64_t total_ns;                  /* wall time from start to the last completion */
  const core_hdr_hist *ok;            /* latencies of the calls that ended OK */
  uint64_t status[LOAD_STATUS_CODES]; /* calls per final status code */
  const load_count *errors;           /* per distinct error message */
  size_t n_errors;
  load_options options;
  time_t date; /* when the run ended */
} load_result;

/* The figures both shapes print, computed once from the result. */
typedef struct load_stats {
  double rps;
  uint64_t average_ns, fastest_ns, slowest_ns;
  struct {
    double mark_s; /* upper bound of the bucket, seconds */
    uint64_t n;
    double frequency; /* n over the OK calls */
  } hist[LOAD_HIST_MARKS];
  struct {
    double percentage;
    uint64_t latency_ns;
  } pct[LOAD_PERCENTILES];
} load_stats;

void load_summary_stats(const load_result *r, load_stats *s);

/* ghz's name of a status code ("OK", "DeadlineExceeded", ...); "Code(n)" style is not needed
 * since codes outside 0..16 are never counted. */
const char *load_status_name(int code);

/* The JSON report; the caller frees it with cJSON_Delete. NULL when out of memory. */
cJSON *load_summary_json(const load_result *r);
/* The text summary; 0, or -EIO when writing to `out` failed. */
int load_summary_text(const load_result *r, FILE *out);

#endif
