/* The log-linear latency histogram (hdr_hist.h). Bucket b >= 1 holds the values whose highest
 * set bit is b + sub_bits - 1, in 2^(sub_bits-1) sub-buckets 2^b wide; bucket 0 holds the
 * first 2^sub_bits values one by one. The smallest value of a sub-bucket in bucket b is at
 * least 2^(sub_bits-1) * 2^b, so a sub-bucket's width is at most 2^(1-sub_bits) of its values
 * and its midpoint at most 2^-sub_bits away from each: sub_bits is the smallest with
 * 2^sub_bits >= 2 * 10^digits (HdrHistogram's rule), which keeps that under 10^-digits. */
#include "core/hdr_hist.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

core_hdr_hist *core_hdr_hist_new(int digits) {
  unsigned sub_bits;
  if (digits == 2)
    sub_bits = 8; /* 256 >= 200 */
  else if (digits == 3)
    sub_bits = 11; /* 2048 >= 2000 */
  else
    return NULL;
  core_hdr_hist probe = {.sub_bits = sub_bits};
  size_t len = core_hdr_hist_index_of(&probe, CORE_HDR_HIST_MAX_NS) + 1;
  core_hdr_hist *h = calloc(1, sizeof(*h) + len * sizeof(h->counts[0]));
  if (!h) return NULL;
  h->digits = digits;
  h->sub_bits = sub_bits;
  h->counts_len = len;
  h->min = UINT64_MAX;
  return h;
}

void core_hdr_hist_free(core_hdr_hist *h) {
  free(h);
}

void core_hdr_hist_reset(core_hdr_hist *h) {
  memset(h->counts, 0, h->counts_len * sizeof(h->counts[0]));
  h->count = h->clamped = h->max = h->sum = 0;
  h->min = UINT64_MAX;
}

int core_hdr_hist_merge(core_hdr_hist *into, const core_hdr_hist *from) {
  if (into->digits != from->digits) return -EINVAL;
  for (size_t i = 0; i < from->counts_len; i++) into->counts[i] += from->counts[i];
  into->count += from->count;
  into->clamped += from->clamped;
  into->sum += from->sum;
  if (from->min < into->min) into->min = from->min;
  if (from->max > into->max) into->max = from->max;
  return 0;
}

static void bucket_range(const core_hdr_hist *h, size_t i, uint64_t *lo, uint64_t *hi) {
  size_t half = (size_t)1 << (h->sub_bits - 1);
  unsigned b = i < 2 * half ? 0 : (unsigned)(i / half - 1);
  uint64_t sub = (uint64_t)(i - ((size_t)b << (h->sub_bits - 1)));
  *lo = sub << b;
  *hi = *lo + (1ull << b) - 1;
}

/* The value reported for bucket i: its midpoint, within the values really recorded. */
static uint64_t bucket_value(const core_hdr_hist *h, size_t i) {
  uint64_t lo, hi;
  bucket_range(h, i, &lo, &hi);
  uint64_t mid = lo + (hi - lo) / 2;
  if (mid < h->min) mid = h->min;
  if (mid > h->max) mid = h->max;
  return mid;
}

double core_hdr_hist_mean(const core_hdr_hist *h) {
  return h->count ? (double)h->sum / (double)h->count : 0;
}

double core_hdr_hist_stddev(const core_hdr_hist *h) {
  if (!h->count) return 0;
  double mean = core_hdr_hist_mean(h), acc = 0;
  for (size_t i = 0; i < h->counts_len; i++) {
    if (!h->counts[i]) continue;
    double d = (double)bucket_value(h, i) - mean;
    acc += d * d * (double)h->counts[i];
  }
  return sqrt(acc / (double)h->count);
}

uint64_t core_hdr_hist_percentile(const core_hdr_hist *h, double p) {
  if (!h->count) return 0;
  if (p > 100) p = 100;
  /* The epsilon keeps p99.9 of 1000 values at rank 999 despite 99.9 / 100 * 1000 rounding up. */
  uint64_t rank = (uint64_t)ceil(p * (double)h->count / 100.0 - 1e-9);
  if (rank < 1) rank = 1;
  if (rank >= h->count) return h->max; /* exact, clamped values included */
  uint64_t seen = 0;
  for (size_t i = 0; i < h->counts_len; i++) {
    seen += h->counts[i];
    if (seen >= rank) return bucket_value(h, i);
  }
  return h->max; /* not reached: the counts add up to count */
}

bool core_hdr_hist_next(const core_hdr_hist *h, core_hdr_hist_iter *it) {
  while (it->index < h->counts_len && !h->counts[it->index]) it->index++;
  if (it->index >= h->counts_len) return false;
  bucket_range(h, it->index, &it->lo, &it->hi);
  it->n = h->counts[it->index];
  it->index++;
  return true;
}
