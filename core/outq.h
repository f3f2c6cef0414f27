/* A connection's output: an ordered queue of byte segments, gathered into one send.
 *
 * Small pieces (frame headers, HPACK blocks, control frames) are copied into fixed-size blocks
 * taken from a per-shard pool; large payloads are queued by reference with a release callback,
 * so packed messages go to the socket without a copy. A segment is released once every byte
 * of it was sent. Single thread (the shard's). */
#ifndef URPC_CORE_OUTQ_H
#define URPC_CORE_OUTQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "core/pool.h"

#define CORE_OUTQ_BLOCK 16384 /* bytes of copy space per block, header excluded */

typedef void (*core_release_fn)(void *arg);

typedef struct core_outseg {
  const uint8_t *data;
  size_t len;
  core_release_fn release; /* NULL: nothing to release */
  void *arg;
} core_outseg;

typedef struct core_outblk core_outblk;

typedef struct core_outq {
  core_outseg *segs; /* ring of segments, grown on demand */
  uint32_t head, tail, cap;
  size_t bytes;      /* unsent bytes queued */
  core_outblk *cur;  /* block that copies append to, or NULL */
  core_pool *blocks; /* the shard's pool of blocks (size core_outq_block_size()) */
} core_outq;

size_t core_outq_block_size(void);
/* `blocks` must come from core_pool_init(.., core_outq_block_size(), ..) and outlive the queue. */
void core_outq_init(core_outq *q, core_pool *blocks);
/* Appends a copy of `p`. Returns 0 or -ENOMEM. */
int core_outq_copy(core_outq *q, const void *p, size_t n);
/* Appends `p` by reference: `release(arg)` runs once it is sent or the queue is disposed.
 * On -ENOMEM `release` has already been called. */
int core_outq_ref(core_outq *q, const void *p, size_t n, core_release_fn release, void *arg);
/* Fills up to `max` iovecs from the front, returns how many. */
int core_outq_iov(const core_outq *q, struct iovec *iov, int max);
/* Drops `n` sent bytes from the front, releasing finished segments. */
void core_outq_consume(core_outq *q, size_t n);
/* Releases everything, sent or not. The queue may be reused after. */
void core_outq_dispose(core_outq *q);

#endif
