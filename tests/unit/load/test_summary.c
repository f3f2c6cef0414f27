/* bench/load/summary.h: the JSON report parses back (cJSON) with ghz's field names and types,
 * and its numbers agree with the histogram it came from; the text summary carries the same
 * figures. With an argument, writes the JSON report of the same run to that file (for
 * check_summary.py, which reads it with Python's json). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/load/summary.h"

static const load_count errors[] = {
    {"rpc error: code = Unavailable desc = connection refused", 3},
    {"rpc error: code = DeadlineExceeded desc = context deadline exceeded", 2},
};

/* 1000 OK calls from 100 µs to 100 ms plus a few failures. */
static core_hdr_hist *make_run(load_result *r) {
  core_hdr_hist *h = core_hdr_hist_new(3);
  if (!h) abort(); /* also runs outside a test (--write) */
  for (uint64_t i = 1; i <= 1000; i++) core_hdr_hist_record(h, i * i * 100);
  memset(r, 0, sizeof(*r));
  r->count = 1005;
  r->total_ns = 2500000000ull;
  r->ok = h;
  r->status[0] = 1000;
  r->status[14] = 3;
  r->status[4] = 2;
  r->errors = errors;
  r->n_errors = 2;
  r->date = 1700000000;
  r->options = (load_options){.host = "127.0.0.1:50051",
                              .call = "helloworld.Greeter.SayHello",
                              .data = "{\"name\":\"x\"}",
                              .metadata = "{\"k\":\"v\"}",
                              .insecure = true,
                              .total = 1005,
                              .concurrency = 50,
                              .connections = 2,
                              .cpus = 1};
  return h;
}

static uint64_t num(const cJSON *o, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
  cr_assert(cJSON_IsNumber(v), "%s is no number", name);
  return (uint64_t)v->valuedouble;
}

/* The report as a reader of the output gets it: printed, then parsed. */
static cJSON *report(const load_result *r) {
  cJSON *j = load_summary_json(r);
  cr_assert_not_null(j);
  char *text = cJSON_PrintUnformatted(j);
  cJSON_Delete(j);
  cr_assert_not_null(text);
  j = cJSON_Parse(text);
  free(text);
  cr_assert_not_null(j);
  return j;
}

TestSuite(summary);

Test(summary, json_agrees_with_the_histogram) {
  load_result r;
  core_hdr_hist *h = make_run(&r);
  cJSON *j = report(&r);

  cr_expect_eq(num(j, "count"), 1005);
  cr_expect_eq(num(j, "total"), 2500000000ull);
  cr_expect_eq(num(j, "fastest"), 100);
  cr_expect_eq(num(j, "slowest"), 100000000);
  cr_expect_eq(num(j, "average"), (uint64_t)(core_hdr_hist_mean(h) + 0.5));
  cr_expect(fabs(cJSON_GetObjectItem(j, "rps")->valuedouble - 402.0) < 1e-9);
  cr_expect_str_eq(cJSON_GetObjectItem(j, "date")->valuestring, "2023-11-14T22:13:20Z");

  const cJSON *dist = cJSON_GetObjectItem(j, "latencyDistribution");
  cr_assert(cJSON_IsArray(dist));
  cr_expect_eq(cJSON_GetArraySize(dist), 7);
  static const int pct[] = {10, 25, 50, 75, 90, 95, 99};
  for (int i = 0; i < 7; i++) {
    const cJSON *e = cJSON_GetArrayItem(dist, i);
    cr_expect_eq(num(e, "percentage"), (uint64_t)pct[i]);
    cr_expect_eq(num(e, "latency"), core_hdr_hist_percentile(h, pct[i]));
    /* and the value is the sample's: the i-th call took i*i*100 ns */
    uint64_t k = (uint64_t)pct[i] * 10, exact = k * k * 100;
    cr_expect(fabs((double)num(e, "latency") - (double)exact) <= exact * 1e-3);
  }
  cr_expect_eq(num(j, "latencyP999"), core_hdr_hist_percentile(h, 99.9));

  const cJSON *hist = cJSON_GetObjectItem(j, "histogram");
  cr_assert(cJSON_IsArray(hist));
  cr_assert_eq(cJSON_GetArraySize(hist), LOAD_HIST_MARKS);
  uint64_t total = 0;
  double freq = 0, last_mark = 0;
  for (int i = 0; i < LOAD_HIST_MARKS; i++) {
    const cJSON *e = cJSON_GetArrayItem(hist, i);
    double mark = cJSON_GetObjectItem(e, "mark")->valuedouble;
    cr_expect_gt(mark, last_mark);
    last_mark = mark;
    total += num(e, "count");
    freq += cJSON_GetObjectItem(e, "frequency")->valuedouble;
  }
  cr_expect(fabs(cJSON_GetObjectItem(cJSON_GetArrayItem(hist, 0), "mark")->valuedouble - 1e-7) <
            1e-15);
  cr_expect(fabs(last_mark - 0.1) < 1e-12);
  cr_expect_eq(total, 1000);
  cr_expect(fabs(freq - 1) < 1e-9);
  /* latencies i*i*100: those up to the first step (10 ms) are i <= 316 (plus the mark 100 ns). */
  cr_expect_eq(num(cJSON_GetArrayItem(hist, 0), "count"), 1);
  cr_expect_eq(num(cJSON_GetArrayItem(hist, 1), "count"), 315);

  const cJSON *codes = cJSON_GetObjectItem(j, "statusCodeDistribution");
  cr_expect_eq(num(codes, "OK"), 1000);
  cr_expect_eq(num(codes, "Unavailable"), 3);
  cr_expect_eq(num(codes, "DeadlineExceeded"), 2);
  cr_expect_eq(cJSON_GetArraySize(codes), 3);
  const cJSON *errs = cJSON_GetObjectItem(j, "errorDistribution");
  cr_expect_eq(num(errs, errors[0].name), 3);

  const cJSON *opts = cJSON_GetObjectItem(j, "options");
  cr_expect_str_eq(cJSON_GetObjectItem(opts, "call")->valuestring, "helloworld.Greeter.SayHello");
  cr_expect_eq(num(opts, "concurrency"), 50);
  cr_expect(cJSON_IsTrue(cJSON_GetObjectItem(opts, "insecure")));
  cr_expect_null(cJSON_GetObjectItem(opts, "duration")); /* omitempty */
  cr_expect_str_eq(cJSON_GetObjectItem(cJSON_GetObjectItem(opts, "data"), "name")->valuestring,
                   "x");
  cJSON_Delete(j);
  core_hdr_hist_free(h);
}

Test(summary, no_successful_call) {
  load_result r = {.count = 4, .total_ns = 1000000, .status = {[14] = 4}};
  core_hdr_hist *h = core_hdr_hist_new(2);
  r.ok = h;
  cJSON *j = report(&r);
  cr_expect(cJSON_IsNull(cJSON_GetObjectItem(j, "histogram")));
  cr_expect(cJSON_IsNull(cJSON_GetObjectItem(j, "latencyDistribution")));
  cr_expect_eq(num(j, "fastest"), 0);
  cr_expect(fabs(cJSON_GetObjectItem(j, "rps")->valuedouble - 4000) < 1e-9);
  cJSON_Delete(j);
  core_hdr_hist_free(h);
}

Test(summary, text_has_ghz_lines) {
  load_result r;
  core_hdr_hist *h = make_run(&r);
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  cr_assert_not_null(f);
  cr_assert_eq(load_summary_text(&r, f), 0);
  fclose(f);
  cr_expect_not_null(strstr(buf, "Summary:\n  Count:\t1005\n  Total:\t2500.00 ms\n"));
  cr_expect_not_null(strstr(buf, "  Slowest:\t100.00 ms\n  Fastest:\t0.00 ms\n"));
  cr_expect_not_null(strstr(buf, "  Requests/sec:\t402.00\n"));
  cr_expect_not_null(strstr(buf, "Response time histogram:\n  0.000 [1]\t|\n"));
  cr_expect_not_null(strstr(buf, "  100.000 [")); /* the last mark, ms */
  char line[64];
  snprintf(line, sizeof(line), "  50 %% in %.2f ms \n", core_hdr_hist_percentile(h, 50) / 1e6);
  cr_expect_not_null(strstr(buf, line), "no '%s' in:\n%s", line, buf);
  cr_expect_not_null(strstr(buf, "  99.9 % in "));
  cr_expect_not_null(strstr(buf, "  [OK]\t1000 responses\n  [DeadlineExceeded]\t2 responses\n"));
  cr_expect_not_null(strstr(buf, "Error distribution:\n  [3]\trpc error: code = Unavailable"));
  free(buf);
  core_hdr_hist_free(h);
}

/* `test_load_summary --write FILE`: the same run's JSON report for check_summary.py. */
static void write_report(const char *path) {
  load_result r;
  core_hdr_hist *h = make_run(&r);
  cJSON *j = load_summary_json(&r);
  char *text = j ? cJSON_Print(j) : NULL;
  FILE *f = fopen(path, "w");
  if (!text || !f || fputs(text, f) < 0 || fclose(f) != 0) exit(1);
  free(text);
  cJSON_Delete(j);
  core_hdr_hist_free(h);
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "--write") == 0) {
    write_report(argv[2]);
    return 0;
  }
  struct criterion_test_set *tests = criterion_initialize();
  int rc = criterion_handle_args(argc, argv, true); /* > 0: run; 0: done (--help); < 0: bad */
  int ok = rc > 0 ? criterion_run_all_tests(tests) : rc == 0;
  criterion_finalize(tests);
  return !ok;
}
