/* Bounded multi-producer multi-consumer ring of non-NULL pointers (Vyukov's sequence ring).
 *
 * Used as an MPSC queue (worker and foreign threads posting completions to a shard) and as an
 * SPMC queue (a shard handing blocking calls to its workers). Each cell carries a sequence
 * number that tells producers and consumers whose turn the cell is; a compare-and-swap on the
 * shared index claims a cell. Never on the run-to-completion hot path. */
#ifndef URPC_CORE_MPMC_H
#define URPC_CORE_MPMC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/spsc.h"

typedef struct core_mpmc_cell {
  _Atomic size_t seq;
  void *item;
} core_mpmc_cell;

typedef struct core_mpmc {
  _Alignas(CORE_CACHELINE) _Atomic size_t enqueue_pos;
  _Alignas(CORE_CACHELINE) _Atomic size_t dequeue_pos;
  _Alignas(CORE_CACHELINE) core_mpmc_cell *cells;
  size_t mask;
} core_mpmc;

/* `cap` must be a power of two >= 2; `cells` must hold `cap` cells and outlive the ring. */
int core_mpmc_init(core_mpmc *q, core_mpmc_cell *cells, size_t cap);

/* Any thread. Returns false when full. */
static inline bool core_mpmc_push(core_mpmc *q, void *item) {
  size_t pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
  for (;;) {
    core_mpmc_cell *c = &q->cells[pos & q->mask];
    /* acquire: a consumer's read of this cell's previous item is done before we reuse it. */
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)pos;
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&q->enqueue_pos, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed)) {
        c->item = item;
        /* release: publishes the item to the consumer that will acquire seq == pos + 1. */
        atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
        return true;
      }
    } else if (dif < 0) {
      return false;
    } else {
      pos = atomic_load_explicit(&q->enqueue_pos, memory_order_relaxed);
    }
  }
}

/* Any thread. Returns NULL when empty. */
static inline void *core_mpmc_pop(core_mpmc *q) {
  size_t pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
  for (;;) {
    core_mpmc_cell *c = &q->cells[pos & q->mask];
    /* acquire: pairs with the producer's release of seq, so `item` is the one it wrote. */
    size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
    intptr_t dif = (intptr_t)seq - (intptr_t)(pos + 1);
    if (dif == 0) {
      if (atomic_compare_exchange_weak_explicit(&q->dequeue_pos, &pos, pos + 1,
                                                memory_order_relaxed, memory_order_relaxed)) {
        void *item = c->item;
        /* release: our read of item is done before a producer a lap later refills the cell. */
        atomic_store_explicit(&c->seq, pos + q->mask + 1, memory_order_release);
        return item;
      }
    } else if (dif < 0) {
      return NULL;
    } else {
      pos = atomic_load_explicit(&q->dequeue_pos, memory_order_relaxed);
    }
  }
}

#endif
