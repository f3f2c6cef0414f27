/* ghz's text summary and JSON report from a run's result (summary.h). Integers go into the
 * JSON as raw number text: cJSON keeps doubles and would print a large count or duration in
 * exponent form, which Go's encoding/json refuses for an integer field. */
#include "bench/load/summary.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

static const char *const status_names[LOAD_STATUS_CODES] = {
    "OK",       "Canceled",       "Unknown",          "InvalidArgument",   "DeadlineExceeded",
    "NotFound", "AlreadyExists",  "PermissionDenied", "ResourceExhausted", "FailedPrecondition",
    "Aborted",  "OutOfRange",     "Unimplemented",    "Internal",          "Unavailable",
    "DataLoss", "Unauthenticated"};

static const double percentages[LOAD_PERCENTILES] = {10, 25, 50, 75, 90, 95, 99, 99.9};

const char *load_status_name(int code) {
  return code >= 0 && code < LOAD_STATUS_CODES ? status_names[code] : "Unknown";
}

void load_summary_stats(const load_result *r, load_stats *s) {
  memset(s, 0, sizeof(*s));
  if (r->total_ns) s->rps = (double)r->count / ((double)r->total_ns / 1e9);
  const core_hdr_hist *h = r->ok;
  if (!h || !h->count) return;
  s->average_ns = (uint64_t)(core_hdr_hist_mean(h) + 0.5);
  s->fastest_ns = h->min;
  s->slowest_ns = h->max;
  for (int i = 0; i < LOAD_PERCENTILES; i++) {
    s->pct[i].percentage = percentages[i];
    s->pct[i].latency_ns = core_hdr_hist_percentile(h, percentages[i]);
  }
  /* ghz's marks: fastest + i * step, the last exactly slowest; a latency counts in the first
   * mark at or above it. An HDR bucket goes where its midpoint (within min..max) goes. */
  double step = (double)(h->max - h->min) / (LOAD_HIST_MARKS - 1);
  double marks[LOAD_HIST_MARKS];
  for (int i = 0; i < LOAD_HIST_MARKS; i++) marks[i] = (double)h->min + step * i;
  marks[LOAD_HIST_MARKS - 1] = (double)h->max;
  core_hdr_hist_iter it = {0};
  while (core_hdr_hist_next(h, &it)) {
    uint64_t v = it.lo + (it.hi - it.lo) / 2;
    if (v < h->min) v = h->min;
    if (v > h->max) v = h->max;
    int m = 0;
    while (m < LOAD_HIST_MARKS - 1 && (double)v > marks[m]) m++;
    s->hist[m].n += it.n;
  }
  for (int i = 0; i < LOAD_HIST_MARKS; i++) {
    s->hist[i].mark_s = marks[i] / 1e9;
    s->hist[i].frequency = (double)s->hist[i].n / (double)h->count;
  }
}

static bool add_u64(cJSON *obj, const char *name, uint64_t v) {
  char buf[24];
  snprintf(buf, sizeof(buf), "%" PRIu64, v);
  return cJSON_AddRawToObject(obj, name, buf) != NULL;
}

static bool add_str(cJSON *obj, const char *name, const char *v) {
  return !v || !*v || cJSON_AddStringToObject(obj, name, v);
}

/* Like ghz's `omitempty`: zero durations and counts are left out. */
static bool add_u64_nonzero(cJSON *obj, const char *name, uint64_t v) {
  return !v || add_u64(obj, name, v);
}

static bool add_parsed(cJSON *obj, const char *name, const char *json) {
  if (!json) return true;
  cJSON *v = cJSON_Parse(json);
  return !v || cJSON_AddItemToObject(obj, name, v);
}

static cJSON *options_json(const load_options *o) {
  cJSON *j = cJSON_CreateObject();
  bool ok =
      j && add_str(j, "host", o->host) && add_str(j, "proto", o->proto) &&
      add_str(j, "protoset", o->protoset) && add_str(j, "call", o->call) &&
      add_str(j, "cacert", o->cacert) && add_str(j, "cert", o->cert) && add_str(j, "key", o->key) &&
      (!o->skip_tls || cJSON_AddTrueToObject(j, "skipTLS")) && add_str(j, "cname", o->cname) &&
      add_str(j, "authority", o->authority) && cJSON_AddBoolToObject(j, "insecure", o->insecure) &&
      add_u64_nonzero(j, "total", o->total) && add_u64_nonzero(j, "concurrency", o->concurrency) &&
      add_u64_nonzero(j, "qps", o->rps) && add_u64_nonzero(j, "connections", o->connections) &&
      add_u64_nonzero(j, "duration", o->duration_ns) &&
      add_u64_nonzero(j, "timeout", o->timeout_ns) &&
      add_u64_nonzero(j, "dial-timeout", o->dial_timeout_ns) &&
      add_u64_nonzero(j, "keepalive", o->keepalive_ns) && add_parsed(j, "data", o->data) &&
      cJSON_AddBoolToObject(j, "binary", o->binary) && add_parsed(j, "metadata", o->metadata) &&
      cJSON_AddNumberToObject(j, "CPUs", o->cpus);
  if (!ok) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static bool add_distributions(cJSON *j, const load_result *r) {
  cJSON *errs = cJSON_AddObjectToObject(j, "errorDistribution");
  if (!errs) return false;
  for (size_t i = 0; i < r->n_errors; i++)
    if (!add_u64(errs, r->errors[i].name, r->errors[i].n)) return false;
  cJSON *codes = cJSON_AddObjectToObject(j, "statusCodeDistribution");
  if (!codes) return false;
  for (int c = 0; c < LOAD_STATUS_CODES; c++)
    if (r->status[c] && !add_u64(codes, status_names[c], r->status[c])) return false;
  return true;
}

static bool add_latencies(cJSON *j, const load_result *r, const load_stats *s) {
  bool any = r->ok && r->ok->count;
  /* ghz writes null for both when no call succeeded. */
  cJSON *dist = any ? cJSON_AddArrayToObject(j, "latencyDistribution")
                    : cJSON_AddNullToObject(j, "latencyDistribution");
  cJSON *hist =
      any ? cJSON_AddArrayToObject(j, "histogram") : cJSON_AddNullToObject(j, "histogram");
  if (!dist || !hist) return false;
  if (!any) return true;
  for (int i = 0; i < LOAD_PERCENTILES - 1; i++) { /* 99.9 is no integer percentage */
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(dist, e)) {
      cJSON_Delete(e);
      return false;
    }
    if (!add_u64(e, "percentage", (uint64_t)s->pct[i].percentage) ||
        !add_u64(e, "latency", s->pct[i].latency_ns))
      return false;
  }
  if (!add_u64(j, "latencyP999", s->pct[LOAD_PERCENTILES - 1].latency_ns)) return false;
  for (int i = 0; i < LOAD_HIST_MARKS; i++) {
    cJSON *e = cJSON_CreateObject();
    if (!e || !cJSON_AddItemToArray(hist, e)) {
      cJSON_Delete(e);
      return false;
    }
    if (!cJSON_AddNumberToObject(e, "mark", s->hist[i].mark_s) ||
        !add_u64(e, "count", s->hist[i].n) ||
        !cJSON_AddNumberToObject(e, "frequency", s->hist[i].frequency))
      return false;
  }
  return true;
}

cJSON *load_summary_json(const load_result *r) {
  load_stats s;
  load_summary_stats(r, &s);
  char date[32];
  struct tm tm;
  gmtime_r(&r->date, &tm);
  strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", &tm); /* RFC 3339, as ghz */
  cJSON *j = cJSON_CreateObject();
  cJSON *opts = options_json(&r->options);
  if (!j || !opts || !cJSON_AddItemToObject(j, "options", opts)) {
    cJSON_Delete(opts);
    cJSON_Delete(j);
    return NULL;
  }
  bool ok = cJSON_AddStringToObject(j, "date", date) && add_u64(j, "count", r->count) &&
            add_u64(j, "total", r->total_ns) && add_u64(j, "average", s.average_ns) &&
            add_u64(j, "fastest", s.fastest_ns) && add_u64(j, "slowest", s.slowest_ns) &&
            cJSON_AddNumberToObject(j, "rps", s.rps) && add_distributions(j, r) &&
            add_latencies(j, r, &s) && cJSON_AddArrayToObject(j, "details");
  if (!ok) {
    cJSON_Delete(j);
    return NULL;
  }
  return j;
}

static double ms(uint64_t ns) {
  return (double)ns / 1e6;
}

int load_summary_text(const load_result *r, FILE *out) {
  load_stats s;
  load_summary_stats(r, &s);
  fprintf(out,
          "\nSummary:\n  Count:\t%" PRIu64 "\n  Total:\t%.2f ms\n  Slowest:\t%.2f ms\n"
          "  Fastest:\t%.2f ms\n  Average:\t%.2f ms\n  Requests/sec:\t%.2f\n\n"
          "Response time histogram:\n",
          r->count, ms(r->total_ns), ms(s.slowest_ns), ms(s.fastest_ns), ms(s.average_ns), s.rps);
  uint64_t max = 0;
  for (int i = 0; i < LOAD_HIST_MARKS; i++)
    if (s.hist[i].n > max) max = s.hist[i].n;
  if (r->ok && r->ok->count) {
    for (int i = 0; i < LOAD_HIST_MARKS; i++) {
      fprintf(out, "  %.3f [%" PRIu64 "]\t|", s.hist[i].mark_s * 1e3, s.hist[i].n);
      uint64_t bar = max ? (s.hist[i].n * 40 + max / 2) / max : 0;   /* 40 wide at most */
      for (uint64_t b = 0; b < bar; b++) fputs("\xe2\x88\x8e", out); /* U+220E, ghz's bar */
      fputc('\n', out);
    }
    fputs("\nLatency distribution:\n", out);
    for (int i = 0; i < LOAD_PERCENTILES; i++)
      fprintf(out, "  %g %% in %.2f ms \n", s.pct[i].percentage, ms(s.pct[i].latency_ns));
  }
  fputs("\nStatus code distribution:\n", out);
  for (int c = 0; c < LOAD_STATUS_CODES; c++)
    if (r->status[c])
      fprintf(out, "  [%s]\t%" PRIu64 " responses\n", status_names[c], r->status[c]);
  if (r->n_errors) {
    fputs("\nError distribution:\n", out);
    for (size_t i = 0; i < r->n_errors; i++)
      fprintf(out, "  [%" PRIu64 "]\t%s\n", r->errors[i].n, r->errors[i].name);
  }
  return ferror(out) ? -EIO : 0;
}
