/* gRPC Length-Prefixed-Message reader: 1 byte compressed flag, 4 bytes big-endian length, the
 * message. Sans-IO: bytes in (any split, many messages per chunk), whole messages out. */
#ifndef URPC_RPC_GRPC_FRAME_H
#define URPC_RPC_GRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RPC_FRAME_PREFIX 5

enum rpc_frame_err {
  RPC_FRAME_TOO_LARGE = -1, /* declared length above the limit */
  RPC_FRAME_BAD_FLAG = -2,  /* flag byte other than 0 or 1 */
  RPC_FRAME_NOMEM = -3,     /* the allocator failed */
  RPC_FRAME_ABORTED = -4,   /* the message callback said stop */
};

/* Receives one whole message; `msg` was allocated with the reader's allocator and now belongs
 * to the callee. Returns 0 to go on, negative to stop the feed with RPC_FRAME_ABORTED. */
typedef int (*rpc_frame_msg_fn)(void *ud, uint8_t *msg, size_t len, bool compressed);
typedef void *(*rpc_frame_alloc_fn)(void *ud, size_t size);

typedef struct rpc_frame_reader {
  uint8_t prefix[RPC_FRAME_PREFIX];
  uint8_t prefix_len; /* prefix bytes seen of the current message */
  bool compressed;
  uint8_t *msg; /* the message being filled (from the allocator); NULL between messages */
  uint32_t msg_len, msg_have;
  uint32_t max_len;
  uint32_t last_len; /* declared length of the last oversized message, for the error text */
} rpc_frame_reader;

void rpc_frame_reader_init(rpc_frame_reader *r, uint32_t max_len);
/* Feeds `n` bytes. Returns 0 or an rpc_frame_err; after an error the reader must not be fed. */
int rpc_frame_feed(rpc_frame_reader *r, const uint8_t *p, size_t n, rpc_frame_alloc_fn alloc,
                   rpc_frame_msg_fn on_msg, void *ud);
/* True when a message has started but not ended: at end of stream that is a truncated body. */
static inline bool rpc_frame_partial(const rpc_frame_reader *r) {
  return r->prefix_len > 0;
}
/* The buffer of a message still being filled (its prefix is in, its bytes are not all), or
 * NULL; the reader forgets it, and the caller frees it as its allocator requires. For an owner
 * ending a stream mid-message: a message handed to the callback, even one that stopped the
 * feed, is the callee's and never returned here. */
void *rpc_frame_reader_release(rpc_frame_reader *r);
/* Writes the 5-byte prefix for a message of `len` bytes. */
void rpc_frame_prefix(uint8_t out[RPC_FRAME_PREFIX], bool compressed, uint32_t len);

#endif
