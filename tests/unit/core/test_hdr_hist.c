/* core/hdr_hist.h: percentiles of known distributions (uniform, exponential, from a fixed-seed
 * PRNG) against the exact nearest-rank percentiles of the sorted values, within the relative
 * error the digits promise; merge equals recording everything in one; 0, the top of the range
 * and values above it. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/hdr_hist.h"

TestSuite(hdr_hist);

static const double pcts[] = {10, 25, 50, 75, 90, 95, 99, 99.9, 100};

/* xorshift64*: the same values on every run. */
static uint64_t rng_state;
static uint64_t rng(void) {
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 0x2545F4914F6CDD1Dull;
}
static double rng_unit(void) { /* (0, 1] */
  return ((double)(rng() >> 11) + 1) / 9007199254740992.0;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of sorted values, computed apart from the histogram. */
static uint64_t exact_percentile(const uint64_t *sorted, size_t n, double p) {
  size_t rank = (size_t)ceil(p * (double)n / 100.0 - 1e-9);
  if (rank < 1) rank = 1;
  return sorted[rank - 1];
}

static void check_against_exact(core_hdr_hist *h, uint64_t *v, size_t n) {
  double bound = h->digits == 2 ? 0.01 : 0.001;
  qsort(v, n, sizeof(v[0]), cmp_u64);
  cr_expect_eq(h->count, n);
  cr_expect_eq(h->min, v[0]);
  cr_expect_eq(h->max, v[n - 1]);
  double sum = 0;
  for (size_t i = 0; i < n; i++) sum += (double)v[i];
  double mean = sum / (double)n, var = 0;
  for (size_t i = 0; i < n; i++) var += ((double)v[i] - mean) * ((double)v[i] - mean);
  cr_expect(fabs(core_hdr_hist_mean(h) - mean) <= mean * 1e-12, "mean %f, exact %f",
            core_hdr_hist_mean(h), mean);
  double sd = sqrt(var / (double)n);
  cr_expect(fabs(core_hdr_hist_stddev(h) - sd) <= sd * bound + mean * bound, "stddev %f, exact %f",
            core_hdr_hist_stddev(h), sd);
  for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
    uint64_t want = exact_percentile(v, n, pcts[i]);
    uint64_t got = core_hdr_hist_percentile(h, pcts[i]);
    double err = fabs((double)got - (double)want);
    cr_expect(err <= (double)want * bound, "digits %d p%g: %lu, exact %lu (error %.5f%%)",
              h->digits, pcts[i], (unsigned long)got, (unsigned long)want,
              100 * err / (double)want);
  }
}

static void run_distribution(int digits, int exponential) {
  enum { N = 200000 };
  uint64_t *v = malloc(N * sizeof(*v));
  cr_assert_not_null(v);
  core_hdr_hist *h = core_hdr_hist_new(digits);
  cr_assert_not_null(h);
  rng_state = 0x9E3779B97F4A7C15ull + (uint64_t)digits;
  for (size_t i = 0; i < N; i++) {
    if (exponential) /* mean 200 µs, from 1 µs up to seconds in the tail */
      v[i] = 1000 + (uint64_t)(-log(rng_unit()) * 200000.0);
    else /* uniform over 1 µs .. 50 ms */
      v[i] = 1000 + rng() % 50000000;
    core_hdr_hist_record(h, v[i]);
  }
  check_against_exact(h, v, N);
  core_hdr_hist_free(h);
  free(v);
}

Test(hdr_hist, uniform_two_digits) {
  run_distribution(2, 0);
}
Test(hdr_hist, uniform_three_digits) {
  run_distribution(3, 0);
}
Test(hdr_hist, exponential_two_digits) {
  run_distribution(2, 1);
}
Test(hdr_hist, exponential_three_digits) {
  run_distribution(3, 1);
}

/* Every value of a wide sweep lands in a bucket whose midpoint is within the promise. */
Test(hdr_hist, every_bucket_keeps_its_precision) {
  for (int digits = 2; digits <= 3; digits++) {
    core_hdr_hist *h = core_hdr_hist_new(digits);
    cr_assert_not_null(h);
    double bound = digits == 2 ? 0.01 : 0.001;
    for (uint64_t v = CORE_HDR_HIST_MIN_NS; v <= CORE_HDR_HIST_MAX_NS; v = v + v / 7 + 1) {
      core_hdr_hist_reset(h);
      core_hdr_hist_record(h, v);
      core_hdr_hist_record(h, 0); /* so min/max do not clamp the midpoint to v */
      core_hdr_hist_record(h, CORE_HDR_HIST_MAX_NS);
      uint64_t got = core_hdr_hist_percentile(h, 50);
      cr_assert(fabs((double)got - (double)v) <= (double)v * bound, "digits %d: %lu -> %lu", digits,
                (unsigned long)v, (unsigned long)got);
    }
    core_hdr_hist_free(h);
  }
}

Test(hdr_hist, merge_equals_recording_in_one) {
  core_hdr_hist *a = core_hdr_hist_new(3), *b = core_hdr_hist_new(3), *all = core_hdr_hist_new(3);
  cr_assert(a && b && all);
  rng_state = 42;
  for (int i = 0; i < 50000; i++) {
    uint64_t v = rng() % 10000000000ull;
    core_hdr_hist_record(i % 3 ? a : b, v);
    core_hdr_hist_record(all, v);
  }
  core_hdr_hist_record(b, CORE_HDR_HIST_MAX_NS * 2);
  core_hdr_hist_record(all, CORE_HDR_HIST_MAX_NS * 2);
  cr_assert_eq(core_hdr_hist_merge(a, b), 0);
  cr_expect_eq(a->count, all->count);
  cr_expect_eq(a->clamped, 1);
  cr_expect_eq(a->sum, all->sum);
  cr_expect_eq(a->min, all->min);
  cr_expect_eq(a->max, all->max);
  cr_expect_arr_eq(a->counts, all->counts, all->counts_len * sizeof(all->counts[0]));
  for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++)
    cr_expect_eq(core_hdr_hist_percentile(a, pcts[i]), core_hdr_hist_percentile(all, pcts[i]));

  core_hdr_hist *two = core_hdr_hist_new(2);
  cr_assert_not_null(two);
  cr_expect_eq(core_hdr_hist_merge(a, two), -EINVAL);
  core_hdr_hist_free(two);
  core_hdr_hist_free(a);
  core_hdr_hist_free(b);
  core_hdr_hist_free(all);
}

Test(hdr_hist, edges) {
  cr_expect_null(core_hdr_hist_new(1));
  cr_expect_null(core_hdr_hist_new(4));
  core_hdr_hist *h = core_hdr_hist_new(2);
  cr_assert_not_null(h);
  /* Empty: everything 0. */
  cr_expect_eq(core_hdr_hist_percentile(h, 50), 0);
  cr_expect_eq(core_hdr_hist_mean(h), 0);
  cr_expect_eq(core_hdr_hist_stddev(h), 0);

  /* 0 is a value like any other; small values are exact. */
  core_hdr_hist_record(h, 0);
  cr_expect_eq(core_hdr_hist_percentile(h, 100), 0);
  core_hdr_hist_record(h, 17);
  cr_expect_eq(core_hdr_hist_percentile(h, 50), 0);
  cr_expect_eq(core_hdr_hist_percentile(h, 100), 17);

  /* The top of the range is in range; above it is clamped into the last bucket and counted,
   * and min/max/mean keep the true value. */
  core_hdr_hist_record(h, CORE_HDR_HIST_MAX_NS);
  cr_expect_eq(h->clamped, 0);
  uint64_t huge = CORE_HDR_HIST_MAX_NS * 10;
  core_hdr_hist_record(h, huge);
  cr_expect_eq(h->clamped, 1);
  cr_expect_eq(h->count, 4);
  cr_expect_eq(h->max, huge);
  cr_expect_eq(core_hdr_hist_percentile(h, 100), huge);
  uint64_t p75 = core_hdr_hist_percentile(h, 75);
  cr_expect(fabs((double)p75 - (double)CORE_HDR_HIST_MAX_NS) <= CORE_HDR_HIST_MAX_NS * 0.01,
            "p75 %lu", (unsigned long)p75);
  cr_expect_eq(h->sum, 17 + CORE_HDR_HIST_MAX_NS + huge);
  /* UINT64_MAX does not index outside the array. */
  core_hdr_hist_record(h, UINT64_MAX);
  cr_expect_eq(h->clamped, 2);

  /* The iterator visits the non-empty buckets in order, adding up to count. */
  core_hdr_hist_iter it = {0};
  uint64_t n = 0, last = 0;
  int buckets = 0;
  while (core_hdr_hist_next(h, &it)) {
    cr_expect_geq(it.lo, last);
    cr_expect_leq(it.lo, it.hi);
    last = it.hi + 1;
    n += it.n;
    buckets++;
  }
  cr_expect_eq(n, h->count);
  cr_expect_eq(buckets, 3); /* 0, 17, and the last bucket with three */

  core_hdr_hist_reset(h);
  cr_expect_eq(h->count, 0);
  cr_expect_eq(core_hdr_hist_percentile(h, 99), 0);
  core_hdr_hist_free(h);
}
