/* Hashed timer wheel with millisecond ticks, one per shard.
 *
 * Add and cancel are O(1) (intrusive doubly linked slot lists); advancing walks the slots
 * the clock passed. A timer further away than one revolution waits in its slot for the right
 * lap. Callbacks may add or cancel timers, including themselves. Single thread. */
#ifndef URPC_CORE_TIMER_WHEEL_H
#define URPC_CORE_TIMER_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define CORE_WHEEL_SLOTS 512 /* power of two */

typedef struct core_timer core_timer;
typedef void (*core_timer_fn)(core_timer *t, void *arg);

struct core_timer {
  core_timer *next, *prev; /* slot list; prev == NULL when not armed */
  uint64_t expire_ms;
  core_timer_fn fn;
  void *arg;
};

typedef struct core_timer_wheel {
  core_timer slots[CORE_WHEEL_SLOTS]; /* list heads (sentinels) */
  uint64_t now_ms;                    /* every timer due at or before now_ms has fired */
  uint32_t count;                     /* armed timers */
} core_timer_wheel;

void core_timer_wheel_init(core_timer_wheel *w, uint64_t now_ms);
void core_timer_init(core_timer *t, core_timer_fn fn, void *arg);
/* (Re)arms `t` to fire at `expire_ms`; a time in the past fires at the next advance. */
void core_timer_arm(core_timer_wheel *w, core_timer *t, uint64_t expire_ms);
/* Disarms `t` if armed. */
void core_timer_cancel(core_timer_wheel *w, core_timer *t);
static inline bool core_timer_armed(const core_timer *t) {
  return t->prev != NULL;
}
/* Fires every timer due at or before `now_ms`. Returns how many fired. */
unsigned core_timer_wheel_advance(core_timer_wheel *w, uint64_t now_ms);
/* Milliseconds from now_ms until the wheel next needs advancing (a lower bound on the
 * earliest expiry, capped at one revolution), or -1 when no timer is armed. */
int64_t core_timer_wheel_timeout(const core_timer_wheel *w);

#endif
