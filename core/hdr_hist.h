/* A latency histogram in the manner of HdrHistogram: log-linear buckets over a fixed array.
 *
 * Values are nanoseconds (uint64_t). The trackable range is 0 .. CORE_HDR_HIST_MAX_NS (one
 * hour); the promised precision holds from CORE_HDR_HIST_MIN_NS (1 µs) up, and below it the
 * buckets are 1 ns wide (exact) or close to it. With `digits` significant decimal digits
 * (2 or 3) each bucket is a power of two wide and at most 2 * 10^-digits of its lowest value:
 * a value reported for a bucket (its midpoint) is within 10^-digits (relative) of every value
 * recorded into it.
 *
 * Values above the range are clamped: they go into the last bucket, count in `count` and in
 * `clamped`, and min/max/mean keep the true value (the sum is exact, in ns, as long as it fits
 * 64 bits: 5 million hour-long calls). Values at 0 are recorded as 0.
 *
 * Recording is O(1) and allocation free: a bucket index from a count of leading zeros, one
 * increment, and the min/max/sum updates. No locks and no atomics: one histogram per thread
 * (per shard), merged when the run ends. */
#ifndef URPC_CORE_HDR_HIST_H
#define URPC_CORE_HDR_HIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CORE_HDR_HIST_MIN_NS 1000ull
#define CORE_HDR_HIST_MAX_NS 3600000000000ull /* 1 h */

typedef struct core_hdr_hist {
  int digits;        /* 2 or 3 */
  unsigned sub_bits; /* log2 of the sub-buckets per power of two (8 or 11) */
  size_t counts_len; /* entries of counts[] */
  uint64_t count;    /* values recorded, clamped ones included */
  uint64_t clamped;  /* values above CORE_HDR_HIST_MAX_NS, recorded as that */
  uint64_t min, max; /* true values; min is UINT64_MAX while count == 0 */
  uint64_t sum;      /* of the true values */
  uint64_t counts[]; /* owned, counts_len entries */
} core_hdr_hist;

/* A histogram keeping `digits` (2 or 3) significant digits; NULL for other digits or when
 * out of memory (2 digits: ~26 KiB; 3 digits: ~200 KiB). Free with core_hdr_hist_free. */
core_hdr_hist *core_hdr_hist_new(int digits);
void core_hdr_hist_free(core_hdr_hist *h);
void core_hdr_hist_reset(core_hdr_hist *h);

/* The counts[] entry of a value within range: the power of two above it picks the bucket, the
 * next sub_bits bits the sub-bucket (bucket 0 holds 0 .. 2^sub_bits - 1 one by one). */
static inline size_t core_hdr_hist_index_of(const core_hdr_hist *h, uint64_t v) {
  uint64_t mask = (1ull << h->sub_bits) - 1;
  unsigned b = (unsigned)(64 - __builtin_clzll(v | mask)) - h->sub_bits;
  return ((size_t)b << (h->sub_bits - 1)) + (size_t)(v >> b);
}

static inline void core_hdr_hist_record(core_hdr_hist *h, uint64_t v) {
  uint64_t b = v;
  if (v > CORE_HDR_HIST_MAX_NS) {
    b = CORE_HDR_HIST_MAX_NS;
    h->clamped++;
  }
  h->counts[core_hdr_hist_index_of(h, b)]++;
  h->count++;
  h->sum += v;
  if (v < h->min) h->min = v;
  if (v > h->max) h->max = v;
}

/* Adds everything `from` recorded into `into`; -EINVAL unless both keep the same digits. */
int core_hdr_hist_merge(core_hdr_hist *into, const core_hdr_hist *from);

/* 0 when empty. The mean is exact (from the sum); the standard deviation is computed from the
 * bucket midpoints around that mean, so it carries the histogram's precision. */
double core_hdr_hist_mean(const core_hdr_hist *h);
double core_hdr_hist_stddev(const core_hdr_hist *h);

/* The value at percentile p (0 < p <= 100) by nearest rank: the smallest recorded value with
 * at least p% of the values at or below it, reported as its bucket's midpoint clamped to
 * [min, max]; the last rank is max, exactly (a clamped value's too). Within 10^-digits of the exact
 * answer. 0 when empty. */
uint64_t core_hdr_hist_percentile(const core_hdr_hist *h, double p);

/* Walks the non-empty buckets in increasing order: start with it->index = 0; each true
 * return fills lo..hi (the values the bucket holds, both included) and n. */
typedef struct core_hdr_hist_iter {
  size_t index;
  uint64_t lo, hi, n;
} core_hdr_hist_iter;
bool core_hdr_hist_next(const core_hdr_hist *h, core_hdr_hist_iter *it);

#endif
