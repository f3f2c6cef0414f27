/* Writing the Prometheus text exposition format (0.0.4) and its OpenMetrics 1.0.0 variant:
 * family headers, label values escaped, counters, gauges and cumulative histograms. Private to
 * obs/. Every function returns 0, or -1 once the stream has failed. */
#ifndef URPC_OBS_EXPOSITION_H
#define URPC_OBS_EXPOSITION_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define OBS_MAX_BOUNDS 32 /* histogram bounds */
#define OBS_LE_LEN     48 /* le="..." of one bound */

typedef struct obs_out {
  FILE *f;
  bool openmetrics;
  /* The le labels of the last histogram's bounds, reused while they stay the same. */
  const double *le_bounds;
  size_t le_n;
  char le[OBS_MAX_BOUNDS + 1][OBS_LE_LEN];
} obs_out;

/* Starts an exposition to `f`, Prometheus text 0.0.4 or OpenMetrics. */
void obs_out_init(obs_out *o, FILE *f, bool openmetrics);

/* "# HELP" and "# TYPE" of a family. `name` is the sample name; an OpenMetrics counter family
 * drops its "_total". `type` is "counter", "gauge" or "histogram". */
int obs_family(obs_out *o, const char *name, const char *type, const char *help);
/* `name{labels} value`: `labels` is a preformatted list (obs_label) or "" for none. */
int obs_sample_u64(obs_out *o, const char *name, const char *labels, uint64_t value);
/* The same with `more`, a second preformatted list (e.g. one code's label), after `labels`. */
int obs_sample_u64_more(obs_out *o, const char *name, const char *labels, const char *more,
                        uint64_t value);
/* Floats with the digits they need to read back exactly (whole numbers as integers). */
int obs_sample_f64(obs_out *o, const char *name, const char *labels, double value);
/* Appends `key="value"` (value escaped: backslash, double quote, newline) to buf[0..cap),
 * after a comma if buf is not empty. Returns 0, or -1 if it does not fit. */
int obs_label(char *buf, size_t cap, const char *key, const char *value);
/* A histogram's series: `counts[i]` is the number of observations in bucket i (not
 * cumulative; `n_bounds + 1` of them, the last above every bound; n_bounds <= OBS_MAX_BOUNDS),
 * `sum` their total; `bounds` must hold the same values through one exposition (their le
 * labels are formatted once). Writes
 * cumulative `_bucket{le}` lines through le="+Inf", then `_sum` and `_count`. */
int obs_histogram(obs_out *o, const char *name, const char *labels, const double *bounds,
                  size_t n_bounds, const uint64_t *counts, double sum);
/* Ends the exposition ("# EOF" for OpenMetrics). */
int obs_end(obs_out *o);

#endif
