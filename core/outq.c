/* Segments live in a power-of-two ring; copy blocks are reference counted by the segments
 * pointing into them (plus one for `cur` while copies may still append). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/outq.h"

struct core_outblk {
  core_pool *pool;
  uint32_t refs;
  uint32_t used;
  uint8_t data[CORE_OUTQ_BLOCK];
};

size_t core_outq_block_size(void) {
  return sizeof(core_outblk);
}

static void blk_unref(void *arg) {
  core_outblk *b = arg;
  if (--b->refs == 0) core_pool_put(b->pool, b);
}

void core_outq_init(core_outq *q, core_pool *blocks) {
  memset(q, 0, sizeof(*q));
  q->blocks = blocks;
}

static int grow(core_outq *q) {
  uint32_t ncap = q->cap ? q->cap * 2 : 8;
  core_outseg *s = malloc(ncap * sizeof(*s));
  if (!s) return -ENOMEM;
  uint32_t n = q->tail - q->head;
  for (uint32_t i = 0; i < n; i++) s[i] = q->segs[(q->head + i) & (q->cap - 1)];
  free(q->segs);
  q->segs = s;
  q->head = 0;
  q->tail = n;
  q->cap = ncap;
  return 0;
}

static core_outseg *push_seg(core_outq *q) {
  if (q->tail - q->head == q->cap && grow(q) < 0) return NULL;
  return &q->segs[q->tail++ & (q->cap - 1)];
}

static core_outseg *last_seg(core_outq *q) {
  return q->tail == q->head ? NULL : &q->segs[(q->tail - 1) & (q->cap - 1)];
}

static int new_block(core_outq *q) {
  if (q->cur) blk_unref(q->cur);
  core_outblk *b = core_pool_get(q->blocks);
  q->cur = b;
  if (!b) return -ENOMEM;
  b->pool = q->blocks;
  b->refs = 1;
  b->used = 0;
  return 0;
}

int core_outq_copy(core_outq *q, const void *p, size_t n) {
  const uint8_t *src = p;
  while (n > 0) {
    if (!q->cur || q->cur->used == CORE_OUTQ_BLOCK) {
      if (new_block(q) < 0) return -ENOMEM;
    }
    core_outblk *b = q->cur;
    size_t room = CORE_OUTQ_BLOCK - b->used;
    size_t take = n < room ? n : room;
    uint8_t *dst = b->data + b->used;
    memcpy(dst, src, take);
    core_outseg *last = last_seg(q);
    if (last && last->arg == b && last->release == blk_unref && last->data + last->len == dst) {
      last->len += take; /* contiguous with the previous copy: extend it */
    } else {
      core_outseg *s = push_seg(q);
      if (!s) return -ENOMEM;
      *s = (core_outseg){dst, take, blk_unref, b};
      b->refs++;
    }
    b->used += (uint32_t)take;
    q->bytes += take;
    src += take;
    n -= take;
  }
  return 0;
}

int core_outq_ref(core_outq *q, const void *p, size_t n, core_release_fn release, void *arg) {
  core_outseg *s = push_seg(q);
  if (!s) {
    if (release) release(arg);
    return -ENOMEM;
  }
  *s = (core_outseg){p, n, release, arg};
  q->bytes += n;
  return 0;
}

int core_outq_iov(const core_outq *q, struct iovec *iov, int max) {
  int n = 0;
  for (uint32_t i = q->head; i != q->tail && n < max; i++) {
    const core_outseg *s = &q->segs[i & (q->cap - 1)];
    if (s->len == 0) continue;
    iov[n].iov_base = (void *)s->data;
    iov[n].iov_len = s->len;
    n++;
  }
  return n;
}

static void release_seg(core_outseg *s) {
  if (s->release) s->release(s->arg);
}

void core_outq_consume(core_outq *q, size_t n) {
  q->bytes -= n;
  while (q->head != q->tail) {
    core_outseg *s = &q->segs[q->head & (q->cap - 1)];
    if (n < s->len) {
      s->data += n;
      s->len -= n;
      return;
    }
    n -= s->len;
    q->head++;
    release_seg(s);
  }
  /* Everything sent: let an idle connection hold no block. */
  if (q->cur) {
    blk_unref(q->cur);
    q->cur = NULL;
  }
}

void core_outq_dispose(core_outq *q) {
  while (q->head != q->tail) release_seg(&q->segs[q->head++ & (q->cap - 1)]);
  if (q->cur) blk_unref(q->cur);
  free(q->segs);
  core_pool *blocks = q->blocks;
  core_outq_init(q, blocks);
}
