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
  int digits = 1;
  for (; digits < 17; digits++) {
    snprintf(e, sizeof(e), "%.*e", digits - 1, v);
    if (strtod(e, NULL) == v) break;
  }
  int exp = atoi(strchr(e, 'e') + 1);
  if (exp < -4 || exp >= 6)
    snprintf(out, cap, "%.*e", digits - 1, v);
  else
    snprintf(out, cap, "%.*f", digits - 1 - exp > 0 ? digits - 1 - exp : 0, v);
  if (openmetrics && !strpbrk(out, ".e")) strncat(out, ".0", cap - strlen(out) - 1);
}

int obs_histogram(obs_out *o, const char *name, const char *labels, const double *bounds,
                  size_t n_bounds, const uint64_t *counts, double sum) {
  uint64_t cumulative = 0;
  const char *comma = *labels ? "," : "";
  for (size_t i = 0; i <= n_bounds; i++) {
    cumulative += counts[i];
    char bound[48] = "+Inf";
    if (i < n_bounds) format_bound(bound, sizeof(bound), bounds[i], o->openmetrics);
    /* Straight to the stream: labels as long as the caller made them, no copy to outgrow. */
    if (ok(o, fprintf(o->f, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, comma, bound,
                      (unsigned long long)cumulative)) < 0)
      return -1;
  }
  if (ok(o, *labels ? fprintf(o->f, "%s_sum{%s} %.17g\n", name, labels, sum)
                    : fprintf(o->f, "%s_sum %.17g\n", name, sum)) < 0)
    return -1;
  return ok(o, *labels ? fprintf(o->f, "%s_count{%s} %llu\n", name, labels,
                                 (unsigned long long)cumulative)
                       : fprintf(o->f, "%s_count %llu\n", name, (unsigned long long)cumulative));
}

int obs_end(obs_out *o) {
  if (o->openmetrics && fputs("# EOF\n", o->f) < 0) return -1;
  /* A buffered stream fails when its buffer goes out: push it out now, in both formats, so
   * that a failure is reported here rather than lost at a close nobody checks. */
  return fflush(o->f) != 0 || ferror(o->f) ? -1 : 0;
}
