/* io_uring setup with the best flags the kernel has, and the one-line diagnosis when io_uring
 * cannot be had at all. */
#ifndef URPC_IO_RING_H
#define URPC_IO_RING_H

#include <liburing.h>
#include <stddef.h>

/* Sets up `ring` with `entries` SQ entries and a CQ of `cq_entries`, trying
 * SINGLE_ISSUER|DEFER_TASKRUN, then COOP_TASKRUN, then no flags. Must be called on the thread
 * that will use the ring. Returns 0 or -errno; on failure `why` gets one line naming the cause
 * and the fix. */
int io_ring_setup(struct io_uring *ring, unsigned entries, unsigned cq_entries, char *why,
                  size_t why_len);

#endif
