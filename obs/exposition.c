/* The text format's rules (prometheus.io/docs/instrumenting/exposition_formats, and OpenMetrics
 * 1.0): label values escape \\, \" and newline; histogram buckets are cumulative and end with
 * le="+Inf", whose count equals _count. Sample values need only read back through strtod; le
 * values are label text, so they are written as Go's client writes them (OpenMetrics' canonical
 * numbers in that format), and exactly: two bounds never share an le. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "obs/exposition.h"

static int ok(const obs_out *o, int printed) {
  return printed < 0 || ferror(o->f) ? -1 : 0;
}

/* A scrape is thousands of lines, so they are written in pieces without printf's parsing or
 * the stream's lock (the stream is the caller's alone while it writes). Errors are sticky in
 * the stream: checked once per line through ferror. */
static void put(obs_out *o, const char *s) {
  fputs_unlocked(s, o->f);
}

static void put_u64(obs_out *o, uint64_t v) {
  char buf[24], *p = buf + sizeof(buf);
  *--p = 0;
  do *--p = (char)('0' + v % 10);
  while (v /= 10);
  fputs_unlocked(p, o->f);
}

/* The fewest significant digits (up to 17) that read back as `v` through strtod, as Go's
 * strconv.FormatFloat(v, 'g', -1, 64) finds them; `e` gets v in %e form with that many. */
static int shortest_digits(double v, char *e, size_t cap) {
  int digits = 1;
  for (; digits < 17; digits++) {
    snprintf(e, cap, "%.*e", digits - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  if (digits == 17) snprintf(e, cap, "%.16e", v);
  return digits;
}

/* Values need only read back exactly (le labels, below, need Go's exact spelling): 15
 * significant digits do for most, 17 for every double. */
static void put_f64(obs_out *o, double v) {
  char e[40];
  if (isnan(v) || isinf(v)) {
    put(o, isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
    return;
  }
  if (v >= 0 && v < 1e15 && v == (double)(uint64_t)v) { /* whole numbers: most values */
    put_u64(o, (uint64_t)v);
    return;
  }
  snprintf(e, sizeof(e), "%.15g", v);
  if (strtod(e, NULL) != v) snprintf(e, sizeof(e), "%.17g", v);
  put(o, e);
}

static int end_line(obs_out *o) {
  return fputc_unlocked('\n', o->f) == EOF || ferror_unlocked(o->f) ? -1 : 0;
}

/* `name{labels,more} ` (no braces when both are empty). */
static void put_series(obs_out *o, const char *name, const char *labels, const char *more) {
  put(o, name);
  if (*labels || *more) {
    fputc_unlocked('{', o->f);
    put(o, labels);
    if (*labels && *more) fputc_unlocked(',', o->f);
    put(o, more);
    fputc_unlocked('}', o->f);
  }
  fputc_unlocked(' ', o->f);
}

void obs_out_init(obs_out *o, FILE *f, bool openmetrics) {
  o->f = f;
  o->openmetrics = openmetrics;
  o->le_bounds = NULL;
  o->le_n = 0;
}

int obs_family(obs_out *o, const char *name, const char *type, const char *help) {
  size_t n = strlen(name);
  /* OpenMetrics names a counter family without the _total its samples carry. */
  if (o->openmetrics && strcmp(type, "counter") == 0 && n > 6 &&
      strcmp(name + n - 6, "_total") == 0)
    n -= 6;
  return ok(
      o, fprintf(o->f, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int)n, name, help, (int)n, name, type));
}

int obs_sample_u64(obs_out *o, const char *name, const char *labels, uint64_t value) {
  return obs_sample_u64_more(o, name, labels, "", value);
}

int obs_sample_u64_more(obs_out *o, const char *name, const char *labels, const char *more,
                        uint64_t value) {
  put_series(o, name, labels, more);
  put_u64(o, value);
  return end_line(o);
}

int obs_sample_f64(obs_out *o, const char *name, const char *labels, double value) {
  put_series(o, name, labels, "");
  put_f64(o, value);
  return end_line(o);
}

int obs_label(char *buf, size_t cap, const char *key, const char *value) {
  size_t n = strlen(buf);
  size_t need = n + (n ? 1 : 0) + strlen(key) + 3; /* , key = "" */
  for (const char *p = value; *p; p++) need += *p == '\\' || *p == '"' || *p == '\n' ? 2 : 1;
  if (need + 1 > cap) return -1;
  char *w = buf + n;
  if (n) *w++ = ',';
  size_t k = strlen(key);
  memcpy(w, key, k);
  w += k;
  *w++ = '=';
  *w++ = '"';
  for (const char *p = value; *p; p++) {
    if (*p == '\\' || *p == '"') {
      *w++ = '\\';
      *w++ = *p;
    } else if (*p == '\n') {
      *w++ = '\\';
      *w++ = 'n';
    } else {
      *w++ = *p;
    }
  }
  *w++ = '"';
  *w = 0;
  return 0;
}

/* A bucket bound as Go's strconv.FormatFloat(v, 'g', -1, 64) writes it (what client_golang puts
 * in le): the fewest digits that read back as `v`, exponent form below 1e-4 and from 1e+06 on.
 * OpenMetrics' canonical numbers add ".0" when there is neither a point nor an exponent
 * ("1.0", "10.0"). */
static void format_bound(char *out, size_t cap, double v, bool openmetrics) {
  if (isnan(v) || isinf(v)) {
    snprintf(out, cap, "%s", isnan(v) ? "NaN" : v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char e[40];
  int digits = shortest_digits(v, e, sizeof(e));
  int exp = atoi(strchr(e, 'e') + 1);
  if (exp < -4 || exp >= 6)
    snprintf(out, cap, "%.*e", digits - 1, v);
  else
    snprintf(out, cap, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, v);
  if (openmetrics && !strpbrk(out, ".e")) strncat(out, ".0", cap - strlen(out) - 1);
}

/* The le="..." labels of `bounds`, formatted once per scrape (the last histogram's bounds are
 * kept in `o`: every method's histogram has the same ones). */
static const char (*le_labels(obs_out *o, const double *bounds, size_t n))[OBS_LE_LEN] {
  if (o->le_bounds == bounds && o->le_n == n + 1 && bounds) return o->le;
  for (size_t i = 0; i <= n && i <= OBS_MAX_BOUNDS; i++) {
    char b[40] = "+Inf";
    if (i < n) format_bound(b, sizeof(b), bounds[i], o->openmetrics);
    snprintf(o->le[i], sizeof(o->le[i]), "le=\"%s\"", b);
  }
  o->le_bounds = bounds;
  o->le_n = n + 1;
  return o->le;
}

int obs_histogram(obs_out *o, const char *name, const char *labels, const double *bounds,
                  size_t n_bounds, const uint64_t *counts, double sum) {
  if (n_bounds > OBS_MAX_BOUNDS) return -1;
  const char(*le)[OBS_LE_LEN] = le_labels(o, bounds, n_bounds);
  char series[128];
  if (snprintf(series, sizeof(series), "%s_bucket", name) >= (int)sizeof(series)) return -1;
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= n_bounds; i++) {
    cumulative += counts[i];
    if (obs_sample_u64_more(o, series, labels, le[i], cumulative) < 0) return -1;
  }
  snprintf(series, sizeof(series), "%s_sum", name);
  if (obs_sample_f64(o, series, labels, sum) < 0) return -1;
  snprintf(series, sizeof(series), "%s_count", name);
  return obs_sample_u64(o, series, labels, cumulative);
}

int obs_end(obs_out *o) {
  if (o->openmetrics && fputs("# EOF\n", o->f) < 0) return -1;
  /* A buffered stream fails when its buffer goes out: push it out now, in both formats, so
   * that a failure is reported here rather than lost at a close nobody checks. */
  return fflush(o->f) != 0 || ferror(o->f) ? -1 : 0;
}
