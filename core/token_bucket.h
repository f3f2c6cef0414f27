/* A token bucket: `burst` tokens up front, refilled at `rate` per second, never above `burst`.
 * For limits on what a peer may make us do per unit of time (resets we send, oversized header
 * lists) without a timer: the refill is computed from the clock when a token is taken. Single
 * thread; 16 bytes. */
#ifndef URPC_CORE_TOKEN_BUCKET_H
#define URPC_CORE_TOKEN_BUCKET_H

#include <stdbool.h>
#include <stdint.h>

typedef struct core_token_bucket {
  uint64_t stamp_ms; /* when `tokens` was last brought up to date */
  uint32_t tokens;
} core_token_bucket;

static inline void core_token_bucket_init(core_token_bucket *b, uint32_t burst, uint64_t now_ms) {
  b->tokens = burst;
  b->stamp_ms = now_ms;
}

/* Takes one token. Returns false when none is left (the limit is hit; nothing is taken). A
 * `rate` of 0 never refills; a `burst` of 0 means no limit. */
static inline bool core_token_bucket_take(core_token_bucket *b, uint32_t burst, uint32_t rate,
                                          uint64_t now_ms) {
  if (burst == 0) return true;
  if (now_ms > b->stamp_ms && rate) {
    uint64_t add = (now_ms - b->stamp_ms) * rate / 1000u;
    if (add) {
      /* Only whole tokens are added; the remainder of the interval is kept for the next one. */
      b->stamp_ms += add * 1000u / rate;
      b->tokens = add >= burst - b->tokens ? burst : b->tokens + (uint32_t)add;
    }
  }
  if (b->tokens == 0) return false;
  b->tokens--;
  return true;
}

#endif
