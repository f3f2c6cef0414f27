/* Bounded single-producer single-consumer ring of non-NULL pointers.
 *
 * Power-of-two capacity over caller-supplied storage. The producer owns `tail`, the consumer
 * owns `head`; each keeps a private copy of the other's index so that the shared line is read
 * only when the cached copy says the ring looks full (or empty). Head and tail live on separate
 * cache lines so producer and consumer never write the same line. */
#ifndef URPC_CORE_SPSC_H
#define URPC_CORE_SPSC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#define CORE_CACHELINE 64

typedef struct core_spsc {
  _Alignas(CORE_CACHELINE) _Atomic size_t head; /* next slot to pop; written by consumer */
  size_t tail_cache;                            /* consumer's copy of tail */
  _Alignas(CORE_CACHELINE) _Atomic size_t tail; /* next slot to push; written by producer */
  size_t head_cache;                            /* producer's copy of head */
  _Alignas(CORE_CACHELINE) void **slots;
  size_t mask;
} core_spsc;

/* `cap` must be a power of two >= 2; `slots` must hold `cap` pointers and outlive the ring.
 * Returns 0 or -EINVAL. */
int core_spsc_init(core_spsc *q, void **slots, size_t cap);

/* Producer thread only. Returns false when full. */
static inline bool core_spsc_push(core_spsc *q, void *item) {
  size_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  if (t - q->head_cache > q->mask) {
    /* acquire: the consumer's reads of the slots it freed happen before we overwrite them. */
    q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
    if (t - q->head_cache > q->mask) return false;
  }
  q->slots[t & q->mask] = item;
  /* release: the slot write above is visible before the consumer sees the new tail. */
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
  return true;
}

/* Consumer thread only. Returns NULL when empty. */
static inline void *core_spsc_pop(core_spsc *q) {
  size_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  if (h == q->tail_cache) {
    /* acquire: pairs with the producer's release store of tail, so the slot is written. */
    q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
    if (h == q->tail_cache) return NULL;
  }
  void *item = q->slots[h & q->mask];
  /* release: our read of the slot completes before the producer may reuse it. */
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
  return item;
}

#endif
