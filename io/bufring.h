/* A shard's provided-buffer ring for multishot recv: the kernel picks a buffer per completion,
 * we hand it back as soon as its bytes have been consumed. */
#ifndef URPC_IO_BUFRING_H
#define URPC_IO_BUFRING_H

#include <liburing.h>
#include <stdint.h>

typedef struct io_bufring {
  struct io_uring_buf_ring *br; /* shared with the kernel (mmap'd) */
  size_t br_bytes;
  uint8_t *mem; /* count * size bytes of buffers */
  unsigned count, size;
  int bgid;
} io_bufring;

/* `count` must be a power of two. Returns 0 or -errno. */
int io_bufring_init(io_bufring *b, struct io_uring *ring, int bgid, unsigned count, unsigned size);
static inline const uint8_t *io_bufring_data(const io_bufring *b, unsigned bid) {
  return b->mem + (size_t)bid * b->size;
}
/* Returns buffer `bid` to the kernel. */
static inline void io_bufring_recycle(io_bufring *b, unsigned bid) {
  io_uring_buf_ring_add(b->br, b->mem + (size_t)bid * b->size, b->size, (unsigned short)bid,
                        io_uring_buf_ring_mask(b->count), 0);
  io_uring_buf_ring_advance(b->br, 1);
}
void io_bufring_dispose(io_bufring *b, struct io_uring *ring);

#endif
