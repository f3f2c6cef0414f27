/* Initialisation of the lock-free rings; push and pop are inline in their headers. */
#include <errno.h>

#include "core/mpmc.h"
#include "core/spsc.h"

static int is_pow2(size_t n) {
  return n >= 2 && (n & (n - 1)) == 0;
}

int core_spsc_init(core_spsc *q, void **slots, size_t cap) {
  if (!is_pow2(cap) || !slots) return -EINVAL;
  atomic_init(&q->head, 0);
  atomic_init(&q->tail, 0);
  q->head_cache = q->tail_cache = 0;
  q->slots = slots;
  q->mask = cap - 1;
  return 0;
}

int core_mpmc_init(core_mpmc *q, core_mpmc_cell *cells, size_t cap) {
  if (!is_pow2(cap) || !cells) return -EINVAL;
  for (size_t i = 0; i < cap; i++) {
    atomic_init(&cells[i].seq, i);
    cells[i].item = NULL;
  }
  atomic_init(&q->enqueue_pos, 0);
  atomic_init(&q->dequeue_pos, 0);
  q->cells = cells;
  q->mask = cap - 1;
  return 0;
}
