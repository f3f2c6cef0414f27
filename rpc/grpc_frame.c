/* The reader checks the declared length against the limit before allocating anything, so a
 * peer cannot make us reserve more than the limit. It holds at most one buffer, the message
 * being filled, and lets go of it when the message goes to the callback (or to
 * rpc_frame_reader_release), so an owner never sees a pointer it already freed. */
#include <string.h>

#include "rpc/grpc_frame.h"

void rpc_frame_reader_init(rpc_frame_reader *r, uint32_t max_len) {
  memset(r, 0, sizeof(*r));
  r->max_len = max_len;
}

void rpc_frame_prefix(uint8_t out[RPC_FRAME_PREFIX], bool compressed, uint32_t len) {
  out[0] = compressed ? 1 : 0;
  out[1] = (uint8_t)(len >> 24);
  out[2] = (uint8_t)(len >> 16);
  out[3] = (uint8_t)(len >> 8);
  out[4] = (uint8_t)len;
}

void *rpc_frame_reader_release(rpc_frame_reader *r) {
  void *msg = r->msg;
  r->msg = NULL;
  return msg;
}

static int start_message(rpc_frame_reader *r, rpc_frame_alloc_fn alloc, void *ud) {
  if (r->prefix[0] > 1) return RPC_FRAME_BAD_FLAG;
  r->compressed = r->prefix[0] == 1;
  r->msg_len = (uint32_t)r->prefix[1] << 24 | (uint32_t)r->prefix[2] << 16 |
               (uint32_t)r->prefix[3] << 8 | r->prefix[4];
  if (r->msg_len > r->max_len) {
    r->last_len = r->msg_len;
    return RPC_FRAME_TOO_LARGE;
  }
  r->msg = alloc(ud, r->msg_len);
  if (!r->msg) return RPC_FRAME_NOMEM;
  r->msg_have = 0;
  return 0;
}

int rpc_frame_feed(rpc_frame_reader *r, const uint8_t *p, size_t n, rpc_frame_alloc_fn alloc,
                   rpc_frame_msg_fn on_msg, void *ud) {
  while (n > 0 || (r->prefix_len == RPC_FRAME_PREFIX && r->msg_have == r->msg_len)) {
    if (r->prefix_len < RPC_FRAME_PREFIX) {
      size_t take = RPC_FRAME_PREFIX - r->prefix_len;
      if (take > n) take = n;
      memcpy(r->prefix + r->prefix_len, p, take);
      r->prefix_len += (uint8_t)take;
      p += take;
      n -= take;
      if (r->prefix_len < RPC_FRAME_PREFIX) return 0;
      int err = start_message(r, alloc, ud);
      if (err) return err;
    }
    size_t take = r->msg_len - r->msg_have;
    if (take > n) take = n;
    if (take) memcpy(r->msg + r->msg_have, p, take);
    r->msg_have += (uint32_t)take;
    p += take;
    n -= take;
    if (r->msg_have < r->msg_len) return 0;
    r->prefix_len = 0; /* message complete: the next byte starts a new prefix */
    uint8_t *msg = r->msg;
    r->msg = NULL; /* the callee's now, whatever it returns */
    if (on_msg(ud, msg, r->msg_len, r->compressed) < 0) return RPC_FRAME_ABORTED;
  }
  return 0;
}
