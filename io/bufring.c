/* liburing 2.3 has no io_uring_setup_buf_ring: the ring is mmap'd here and registered. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/bufring.h"

int io_bufring_init(io_bufring *b, struct io_uring *ring, int bgid, unsigned count, unsigned size) {
  memset(b, 0, sizeof(*b));
  if (count == 0 || (count & (count - 1)) || count > 32768) return -EINVAL;
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  b->br_bytes = (count * sizeof(struct io_uring_buf) + page - 1) & ~(page - 1);
  void *br = mmap(NULL, b->br_bytes, PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
  if (br == MAP_FAILED) return -errno;
  /* Buffers are touched only when the kernel fills them: an idle shard costs little RSS. */
  b->mem = aligned_alloc(page, (size_t)count * size);
  if (!b->mem) {
    munmap(br, b->br_bytes);
    return -ENOMEM;
  }
  struct io_uring_buf_reg reg;
  memset(&reg, 0, sizeof(reg));
  reg.ring_addr = (uintptr_t)br;
  reg.ring_entries = count;
  reg.bgid = (unsigned short)bgid;
  int err = io_uring_register_buf_ring(ring, &reg, 0);
  if (err < 0) {
    free(b->mem);
    munmap(br, b->br_bytes);
    b->mem = NULL;
    return err;
  }
  b->br = br;
  b->count = count;
  b->size = size;
  b->bgid = bgid;
  io_uring_buf_ring_init(b->br);
  for (unsigned i = 0; i < count; i++)
    io_uring_buf_ring_add(b->br, b->mem + (size_t)i * size, size, (unsigned short)i,
                          io_uring_buf_ring_mask(count), (int)i);
  io_uring_buf_ring_advance(b->br, (int)count);
  return 0;
}

void io_bufring_dispose(io_bufring *b, struct io_uring *ring) {
  if (!b->br) return;
  io_uring_unregister_buf_ring(ring, b->bgid);
  munmap(b->br, b->br_bytes);
  free(b->mem);
  b->br = NULL;
  b->mem = NULL;
}
