/* The text format's rules (prometheus.io/docs/instrumenting/exposition_formats, and OpenMetrics
 * 1.0): label values escape \\, \" and newline; histogram buckets are cumulative and end with
 * le="+Inf", whose count equals _count; floats in Go's shortest round-trip style are not
 * required, any that strtod reads back are. */
#include <string.h>

#include "obs/exposition.h"

static int ok(const obs_out *o, int printed) {
  return printed < 0 || ferror(o->f) ? -1 : 0;
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
  if (!*labels) return ok(o, fprintf(o->f, "%s %llu\n", name, (unsigned long long)value));
  return ok(o, fprintf(o->f, "%s{%s} %llu\n", name, labels, (unsigned long long)value));
}

int obs_sample_f64(obs_out *o, const char *name, const char *labels, double value) {
  if (!*labels) return ok(o, fprintf(o->f, "%s %.17g\n", name, value));
  return ok(o, fprintf(o->f, "%s{%s} %.17g\n", name, labels, value));
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

int obs_histogram(obs_out *o, const char *name, const char *labels, const double *bounds,
                  size_t n_bounds, const uint64_t *counts, double sum) {
  char series[256], le[512];
  uint64_t cumulative = 0;
  snprintf(series, sizeof(series), "%s_bucket", name);
  for (size_t i = 0; i <= n_bounds; i++) {
    cumulative += counts[i];
    char bound[32] = "+Inf";
    if (i < n_bounds) snprintf(bound, sizeof(bound), "%g", bounds[i]);
    snprintf(le, sizeof(le), "%s", labels);
    if (obs_label(le, sizeof(le), "le", bound) < 0 || obs_sample_u64(o, series, le, cumulative) < 0)
      return -1;
  }
  snprintf(series, sizeof(series), "%s_sum", name);
  if (obs_sample_f64(o, series, labels, sum) < 0) return -1;
  snprintf(series, sizeof(series), "%s_count", name);
  return obs_sample_u64(o, series, labels, cumulative);
}

int obs_end(obs_out *o) {
  if (o->openmetrics) return ok(o, fputs("# EOF\n", o->f));
  return fflush(o->f) == 0 ? 0 : -1;
}
