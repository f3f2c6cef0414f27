/* The exposition writer (obs/exposition.c): label escaping and its bound, family headers in the
 * Prometheus text format 0.0.4 and in OpenMetrics, samples, cumulative histograms (le bounds,
 * +Inf, _sum, _count), the end of an exposition, and streams that fail. Output is captured with
 * open_memstream; failures come from /dev/full (every write: ENOSPC). */
#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/exposition.h"

/* ---- capture ---- */

typedef struct capture {
  char *text;
  size_t len;
  obs_out o;
} capture;

static void cap_open(capture *c, bool openmetrics) {
  c->text = NULL;
  c->len = 0;
  obs_out_init(&c->o, open_memstream(&c->text, &c->len), openmetrics);
  cr_assert_not_null(c->o.f);
}

/* Closes the stream; c->text stays valid until cap_free. */
static const char *cap_close(capture *c) {
  cr_assert_eq(fclose(c->o.f), 0);
  c->o.f = NULL;
  return c->text;
}

static void cap_free(capture *c) {
  free(c->text);
  c->text = NULL;
}

/* ---- labels ---- */

Test(exposition, label_values_escape_backslash_quote_and_newline) {
  char buf[128] = "";
  cr_assert_eq(obs_label(buf, sizeof(buf), "k", "a\\b\"c\nd"), 0);
  cr_assert_str_eq(buf, "k=\"a\\\\b\\\"c\\nd\"");
  /* Only those three: a tab, a single quote and UTF-8 pass as they are. */
  buf[0] = 0;
  cr_assert_eq(obs_label(buf, sizeof(buf), "k", "t\tq'\xe2\x82\xac"), 0);
  cr_assert_str_eq(buf, "k=\"t\tq'\xe2\x82\xac\"");
}

Test(exposition, labels_are_joined_by_commas_and_may_be_empty) {
  char buf[128] = "";
  cr_assert_eq(obs_label(buf, sizeof(buf), "grpc_type", "unary"), 0);
  cr_assert_eq(obs_label(buf, sizeof(buf), "empty", ""), 0);
  cr_assert_eq(obs_label(buf, sizeof(buf), "grpc_code", "OK"), 0);
  cr_assert_str_eq(buf, "grpc_type=\"unary\",empty=\"\",grpc_code=\"OK\"");
}

Test(exposition, label_that_does_not_fit_returns_minus_one_and_leaves_the_buffer) {
  /* k="x" is 5 characters, plus the NUL: 6 fit in 6 and not in 5. */
  char buf[64] = "";
  cr_assert_eq(obs_label(buf, 6, "k", "x"), 0);
  cr_assert_str_eq(buf, "k=\"x\"");
  buf[0] = 0;
  cr_assert_eq(obs_label(buf, 5, "k", "x"), -1);
  cr_assert_str_eq(buf, "");
  /* An escaped character takes two: k="\"" is 6 characters, so 7 fit and 6 do not. */
  cr_assert_eq(obs_label(buf, 6, "k", "\""), -1);
  cr_assert_str_eq(buf, "");
  cr_assert_eq(obs_label(buf, 7, "k", "\""), 0);
  cr_assert_str_eq(buf, "k=\"\\\"\"");
  /* After a first label: the comma counts. k="\"",j="y" is 12 characters. */
  cr_assert_eq(obs_label(buf, 12, "j", "y"), -1);
  cr_assert_str_eq(buf, "k=\"\\\"\"", "a label that did not fit changed the buffer");
  cr_assert_eq(obs_label(buf, 13, "j", "y"), 0);
  cr_assert_str_eq(buf, "k=\"\\\"\",j=\"y\"");
}

Test(exposition, long_label_value_overflows_a_small_buffer) {
  char value[300];
  memset(value, 'v', sizeof(value) - 1);
  value[sizeof(value) - 1] = 0;
  char buf[256] = "";
  cr_assert_eq(obs_label(buf, sizeof(buf), "grpc_method", value), -1);
  cr_assert_str_eq(buf, "");
  char big[512] = "";
  cr_assert_eq(obs_label(big, sizeof(big), "grpc_method", value), 0);
  cr_assert_eq(strlen(big), strlen("grpc_method=\"\"") + 299);
}

/* ---- families and samples ---- */

Test(exposition, counter_family_in_text_format_keeps_total) {
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_family(&c.o, "grpc_server_started_total", "counter", "Started."), 0);
  cr_assert_str_eq(cap_close(&c), "# HELP grpc_server_started_total Started.\n"
                                  "# TYPE grpc_server_started_total counter\n");
  cap_free(&c);
}

Test(exposition, counter_family_in_openmetrics_drops_total) {
  capture c;
  cap_open(&c, true);
  cr_assert_eq(obs_family(&c.o, "grpc_server_started_total", "counter", "Started."), 0);
  /* A counter without the suffix keeps its name; so does a counter named just "_total". */
  cr_assert_eq(obs_family(&c.o, "odd_counter", "counter", "Odd."), 0);
  cr_assert_eq(obs_family(&c.o, "_total", "counter", "T."), 0);
  cr_assert_str_eq(cap_close(&c), "# HELP grpc_server_started Started.\n"
                                  "# TYPE grpc_server_started counter\n"
                                  "# HELP odd_counter Odd.\n"
                                  "# TYPE odd_counter counter\n"
                                  "# HELP _total T.\n"
                                  "# TYPE _total counter\n");
  cap_free(&c);
}

Test(exposition, gauge_and_histogram_families_keep_their_names_in_both_formats) {
  for (int om = 0; om <= 1; om++) {
    capture c;
    cap_open(&c, om);
    cr_assert_eq(obs_family(&c.o, "process_open_fds", "gauge", "Fds."), 0);
    cr_assert_eq(obs_family(&c.o, "weird_total", "gauge", "A gauge."), 0);
    cr_assert_eq(obs_family(&c.o, "grpc_server_handling_seconds", "histogram", "Latency."), 0);
    cr_assert_str_eq(cap_close(&c),
                     "# HELP process_open_fds Fds.\n"
                     "# TYPE process_open_fds gauge\n"
                     "# HELP weird_total A gauge.\n"
                     "# TYPE weird_total gauge\n"
                     "# HELP grpc_server_handling_seconds Latency.\n"
                     "# TYPE grpc_server_handling_seconds histogram\n",
                     "openmetrics=%d", om);
    cap_free(&c);
  }
}

Test(exposition, samples_with_and_without_labels) {
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_sample_u64(&c.o, "a_total", "", 0), 0);
  cr_assert_eq(obs_sample_u64(&c.o, "a_total", "k=\"v\"", UINT64_MAX), 0);
  cr_assert_eq(obs_sample_f64(&c.o, "b", "", 2.5), 0);
  cr_assert_eq(obs_sample_f64(&c.o, "b", "k=\"v\"", 0.1), 0);
  const char *t = cap_close(&c);
  char want[256];
  snprintf(want, sizeof(want), "a_total 0\na_total{k=\"v\"} 18446744073709551615\nb 2.5\n");
  cr_assert_eq(strncmp(t, want, strlen(want)), 0, "got:\n%s", t);
  /* A float value must read back exactly (any spelling strtod takes is fine). */
  const char *last = t + strlen(want);
  cr_assert_eq(strncmp(last, "b{k=\"v\"} ", 9), 0, "got:\n%s", t);
  char *end;
  double v = strtod(last + 9, &end);
  cr_assert_eq(v, 0.1);
  cr_assert_str_eq(end, "\n");
  cap_free(&c);
}

/* ---- histograms ---- */

/* The lines of a capture, split in place (at most `max`). */
static size_t lines_of(char *text, char **out, size_t max) {
  size_t n = 0;
  for (char *p = text; *p && n < max;) {
    char *nl = strchr(p, '\n');
    cr_assert_not_null(nl, "unterminated line: %s", p);
    *nl = 0;
    out[n++] = p;
    p = nl + 1;
  }
  return n;
}

Test(exposition, histogram_buckets_are_cumulative_and_inf_equals_count) {
  static const double bounds[] = {.005, .01, .025, 1, 10};
  /* Per bucket, not cumulative: 2 at or under 5 ms, 0 more under 10 ms, 3 more under 25 ms,
   * 1 more under 1 s, 0 more under 10 s, 4 above every bound. */
  static const uint64_t counts[] = {2, 0, 3, 1, 0, 4};
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_histogram(&c.o, "h_seconds", "m=\"x\"", bounds, 5, counts, 123.25), 0);
  char *l[16];
  size_t n = lines_of((char *)cap_close(&c), l, 16);
  cr_assert_eq(n, 8, "%zu lines", n);
  cr_assert_str_eq(l[0], "h_seconds_bucket{m=\"x\",le=\"0.005\"} 2");
  cr_assert_str_eq(l[1], "h_seconds_bucket{m=\"x\",le=\"0.01\"} 2");
  cr_assert_str_eq(l[2], "h_seconds_bucket{m=\"x\",le=\"0.025\"} 5");
  cr_assert_str_eq(l[3], "h_seconds_bucket{m=\"x\",le=\"1\"} 6");
  cr_assert_str_eq(l[4], "h_seconds_bucket{m=\"x\",le=\"10\"} 6");
  cr_assert_str_eq(l[5], "h_seconds_bucket{m=\"x\",le=\"+Inf\"} 10");
  cr_assert_str_eq(l[6], "h_seconds_sum{m=\"x\"} 123.25");
  cr_assert_str_eq(l[7], "h_seconds_count{m=\"x\"} 10");
  cap_free(&c);
}

Test(exposition, histogram_without_labels_and_without_bounds) {
  static const uint64_t counts[] = {7};
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_histogram(&c.o, "h", "", NULL, 0, counts, 0.5), 0);
  cr_assert_str_eq(cap_close(&c), "h_bucket{le=\"+Inf\"} 7\nh_sum 0.5\nh_count 7\n");
  cap_free(&c);
}

/* le as Go writes it (strconv 'g', shortest): the default buckets and powers of ten. */
Test(exposition, histogram_le_of_the_default_buckets_in_text_format) {
  static const double bounds[] = {.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10};
  static const char *const want[] = {"0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
                                     "0.5",   "1",    "2.5",   "5",    "10"};
  uint64_t counts[12] = {0};
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_histogram(&c.o, "h", "", bounds, 11, counts, 0), 0);
  char *l[16];
  size_t n = lines_of((char *)cap_close(&c), l, 16);
  cr_assert_eq(n, 14);
  for (size_t i = 0; i < 11; i++) {
    char line[64];
    snprintf(line, sizeof(line), "h_bucket{le=\"%s\"} 0", want[i]);
    cr_assert_str_eq(l[i], line);
  }
  cap_free(&c);
}

/* OpenMetrics' canonical numbers: Go's %g with ".0" appended when there is neither a point nor
 * an exponent (le="1.0", "10.0", "100000.0", but "1e+06" and "0.005"). */
Test(exposition, histogram_le_is_canonical_in_openmetrics) {
  static const double bounds[] = {.001, .005, .5, 1, 2.5, 10, 1e5, 1e6, 1e-5};
  static const char *const want[] = {"0.001", "0.005",    "0.5",   "1.0",  "2.5",
                                     "10.0",  "100000.0", "1e+06", "1e-05"};
  uint64_t counts[10] = {0};
  capture c;
  cap_open(&c, true);
  /* (not ascending: the writer does not care, urpc_metrics_new checks it) */
  cr_assert_eq(obs_histogram(&c.o, "h", "", bounds, 9, counts, 0), 0);
  char *l[16];
  size_t n = lines_of((char *)cap_close(&c), l, 16);
  cr_assert_eq(n, 12);
  for (size_t i = 0; i < 9; i++) {
    char line[64];
    snprintf(line, sizeof(line), "h_bucket{le=\"%s\"} 0", want[i]);
    cr_assert_str_eq(l[i], line);
  }
  cr_assert_str_eq(l[9], "h_bucket{le=\"+Inf\"} 0");
  cap_free(&c);
}

/* Go's switch between fixed and exponent form (below 1e-4, from 1e+06 on), in both formats. */
Test(exposition, histogram_le_of_powers_of_ten) {
  static const double bounds[] = {1e-10, 1e-5, 1e-4, 0.1, 0, 1e5, 1e6, 1e10};
  static const char *const text[] = {"1e-10", "1e-05",  "0.0001", "0.1",
                                     "0",     "100000", "1e+06",  "1e+10"};
  static const char *const om[] = {"1e-10", "1e-05",    "0.0001", "0.1",
                                   "0.0",   "100000.0", "1e+06",  "1e+10"};
  uint64_t counts[9] = {0};
  for (int f = 0; f <= 1; f++) {
    capture c;
    cap_open(&c, f);
    cr_assert_eq(obs_histogram(&c.o, "h", "", bounds, 8, counts, 0), 0);
    char *l[16];
    size_t n = lines_of((char *)cap_close(&c), l, 16);
    cr_assert_eq(n, 11);
    for (size_t i = 0; i < 8; i++) {
      char line[64];
      snprintf(line, sizeof(line), "h_bucket{le=\"%s\"} 0", f ? om[i] : text[i]);
      cr_assert_str_eq(l[i], line, "openmetrics=%d", f);
    }
    cap_free(&c);
  }
}

/* A bound that is not finite is spelled as Prometheus spells it, never "inf". */
Test(exposition, histogram_le_of_an_infinite_bound) {
  static const double bounds[] = {1, INFINITY};
  static const uint64_t counts[] = {1, 0, 0};
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_histogram(&c.o, "h", "", bounds, 2, counts, 0.5), 0);
  char *l[8];
  size_t n = lines_of((char *)cap_close(&c), l, 8);
  cr_assert_eq(n, 5);
  cr_assert_str_eq(l[1], "h_bucket{le=\"+Inf\"} 1");
  cap_free(&c);
}

/* Every le reads back as its bound: two bounds that differ after the sixth digit must not get
 * the same le (one series twice in a scrape, which Prometheus rejects). */
Test(exposition, histogram_le_keeps_every_digit_of_a_bound) {
  static const double bounds[] = {1, 1.0000001, 0.1234567891, 1234567};
  uint64_t counts[5] = {0};
  for (int om = 0; om <= 1; om++) {
    capture c;
    cap_open(&c, om);
    cr_assert_eq(obs_histogram(&c.o, "h", "", bounds, 4, counts, 0), 0);
    char *l[8];
    size_t n = lines_of((char *)cap_close(&c), l, 8);
    cr_assert_eq(n, 7);
    for (size_t i = 0; i < 4; i++) {
      const char *le = strstr(l[i], "le=\"");
      cr_assert_not_null(le, "%s", l[i]);
      char *end;
      double v = strtod(le + 4, &end);
      cr_assert_eq(v, bounds[i], "openmetrics=%d: %s does not read back as %.17g", om, l[i],
                   bounds[i]);
      cr_assert_eq(*end, '"', "%s", l[i]);
    }
    cr_assert_str_neq(l[0], l[1]);
    cap_free(&c);
  }
}

/* Labels as long as metrics.c makes them (up to 640 characters) still get their le. */
Test(exposition, histogram_with_long_labels) {
  char labels[700] = "";
  char value[300];
  memset(value, 's', sizeof(value) - 1);
  value[sizeof(value) - 1] = 0;
  cr_assert_eq(obs_label(labels, sizeof(labels), "grpc_service", value), 0);
  cr_assert_eq(obs_label(labels, sizeof(labels), "grpc_method", value), 0);
  cr_assert_gt(strlen(labels), 600);
  static const double bounds[] = {.5};
  static const uint64_t counts[] = {1, 2};
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_histogram(&c.o, "h", labels, bounds, 1, counts, 3), 0);
  char *l[8];
  size_t n = lines_of((char *)cap_close(&c), l, 8);
  cr_assert_eq(n, 4);
  char want[800];
  snprintf(want, sizeof(want), "h_bucket{%s,le=\"0.5\"} 1", labels);
  cr_assert_str_eq(l[0], want);
  snprintf(want, sizeof(want), "h_bucket{%s,le=\"+Inf\"} 3", labels);
  cr_assert_str_eq(l[1], want);
  snprintf(want, sizeof(want), "h_count{%s} 3", labels);
  cr_assert_str_eq(l[3], want);
  cap_free(&c);
}

/* ---- the end ---- */

Test(exposition, end_writes_eof_only_for_openmetrics) {
  capture c;
  cap_open(&c, false);
  cr_assert_eq(obs_sample_u64(&c.o, "x", "", 1), 0);
  cr_assert_eq(obs_end(&c.o), 0);
  cr_assert_str_eq(cap_close(&c), "x 1\n");
  cap_free(&c);
  cap_open(&c, true);
  cr_assert_eq(obs_sample_u64(&c.o, "x", "", 1), 0);
  cr_assert_eq(obs_end(&c.o), 0);
  cr_assert_str_eq(cap_close(&c), "x 1\n# EOF\n");
  cap_free(&c);
}

/* ---- failing streams ---- */

static FILE *dev_full(bool unbuffered) {
  FILE *f = fopen("/dev/full", "w");
  cr_assert_not_null(f, "/dev/full: cannot open");
  if (unbuffered) cr_assert_eq(setvbuf(f, NULL, _IONBF, 0), 0);
  return f;
}

Test(exposition, every_write_to_a_failing_stream_returns_minus_one) {
  static const double bounds[] = {1};
  static const uint64_t counts[] = {1, 1};
  for (int om = 0; om <= 1; om++) {
    obs_out o;
    obs_out_init(&o, dev_full(true), om);
    cr_assert_eq(obs_family(&o, "a_total", "counter", "A."), -1);
    cr_assert_eq(obs_sample_u64(&o, "a_total", "", 1), -1);
    cr_assert_eq(obs_sample_u64(&o, "a_total", "k=\"v\"", 1), -1);
    cr_assert_eq(obs_sample_f64(&o, "b", "", 1.5), -1);
    cr_assert_eq(obs_histogram(&o, "h", "", bounds, 1, counts, 2), -1);
    cr_assert_eq(obs_end(&o), -1, "openmetrics=%d", om);
    fclose(o.f);
  }
}

/* A buffered stream fails only when its buffer goes out: obs_end must push it out and say so,
 * in both formats, or a short exposition that never arrived is reported written. */
Test(exposition, end_reports_a_failure_still_in_the_buffer) {
  for (int om = 0; om <= 1; om++) {
    obs_out o;
    obs_out_init(&o, dev_full(false), om);
    cr_assert_eq(obs_family(&o, "a_total", "counter", "A."), 0, "buffered: no failure yet");
    cr_assert_eq(obs_sample_u64(&o, "a_total", "", 1), 0);
    cr_assert_eq(obs_end(&o), -1, "openmetrics=%d: the buffered text never arrived", om);
    fclose(o.f);
  }
}

/* Once the stream has failed, later calls say so even if their own bytes fit in the buffer. */
Test(exposition, a_failed_stream_stays_failed) {
  obs_out o;
  obs_out_init(&o, dev_full(false), false);
  char big[8192];
  memset(big, 'x', sizeof(big) - 1);
  big[sizeof(big) - 1] = 0;
  int rc = 0;
  for (int i = 0; i < 64 && rc == 0; i++) rc = obs_family(&o, "a", "gauge", big);
  cr_assert_eq(rc, -1, "half a megabyte into /dev/full without a failure");
  cr_assert_eq(obs_sample_u64(&o, "a", "", 1), -1);
  fclose(o.f);
}
