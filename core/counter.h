/* Counters with one writer and any number of readers: a shard counts its own events, a
 * metrics scrape on another thread reads them.
 *
 * The writer does a relaxed load and a relaxed store — on x86 and arm64 the same instructions
 * as a plain `+=` on a uint64_t — so counting costs no atomic read-modify-write and no fence;
 * atomic only so that a concurrent reader is well defined (and sees whole values). A counter
 * written by more than one thread would lose counts: keep each one to its owner. Gauges are
 * counters that also go down (core_ctr_sub; a reader may briefly see the wrap past zero, so
 * readers of a gauge that can dip clamp it, see core_ctr_gauge). */
#ifndef URPC_CORE_COUNTER_H
#define URPC_CORE_COUNTER_H

#include <stdatomic.h>
#include <stdint.h>

typedef struct core_ctr {
  _Atomic uint64_t v;
} core_ctr;

static inline uint64_t core_ctr_get(const core_ctr *c) {
  return atomic_load_explicit(&c->v, memory_order_relaxed);
}

/* Owner only. */
static inline void core_ctr_add(core_ctr *c, uint64_t n) {
  atomic_store_explicit(&c->v, core_ctr_get(c) + n, memory_order_relaxed);
}

static inline void core_ctr_inc(core_ctr *c) {
  core_ctr_add(c, 1);
}

static inline void core_ctr_sub(core_ctr *c, uint64_t n) {
  atomic_store_explicit(&c->v, core_ctr_get(c) - n, memory_order_relaxed);
}

static inline void core_ctr_set(core_ctr *c, uint64_t n) {
  atomic_store_explicit(&c->v, n, memory_order_relaxed);
}

/* A sum of gauges read one after another may be off by what moved meanwhile, even below
 * zero: read as signed, clamp at zero. */
static inline uint64_t core_ctr_gauge(uint64_t sum) {
  return (int64_t)sum < 0 ? 0 : sum;
}

#endif
