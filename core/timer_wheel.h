/* Hierarchical timer wheel with millisecond ticks, one per shard.
 *
 * Eight levels of 512 slots, level L counting in units of 512^L ms, enough to place any 64-bit
 * expiry: level 0 holds, one slot per millisecond, the timers less than 512 ms away when filed;
 * a timer further away waits in a coarser slot and moves down a level (a cascade) when the
 * clock reaches that slot. Each level keeps an occupancy bitmap, so the next slot due is found
 * with a few count-trailing-zeros instructions whatever the number of timers. Arm and cancel
 * are O(1); advancing costs O(levels) per slot it reaches (empty stretches of any length are
 * skipped) plus O(1) per timer it fires or moves down, and a timer moves down at most once per
 * level. Timers due at the same millisecond fire in the order they were armed. Callbacks may
 * arm or cancel any timer, themselves included. Single thread: a wheel belongs to one shard
 * loop. */
#ifndef URPC_CORE_TIMER_WHEEL_H
#define URPC_CORE_TIMER_WHEEL_H

#include <stdbool.h>
#include <stdint.h>

#define CORE_WHEEL_BITS   9
#define CORE_WHEEL_SLOTS  (1 << CORE_WHEEL_BITS) /* per level; level 0 spans this many ms */
#define CORE_WHEEL_LEVELS 8                      /* 8 x 9 bits cover 64-bit times */

typedef struct core_timer core_timer;
typedef void (*core_timer_fn)(core_timer *t, void *arg);

/* Embedded in its owner; the owner must cancel it before freeing it. Fields are the wheel's:
 * the owner may read expire_ms (the expiry the timer was armed with, or now_ms + 1 for one
 * armed in the past), never write them. */
struct core_timer {
  core_timer *next, *prev; /* circular slot list; prev == NULL when not armed */
  uint64_t expire_ms;
  core_timer_fn fn;
  void *arg;
  uint16_t slot; /* while armed: level * CORE_WHEEL_SLOTS + index */
};

/* Embedded in the shard (about 33 KiB). Read-only for its users apart from the calls below. */
typedef struct core_timer_wheel {
  core_timer *slots[CORE_WHEEL_LEVELS][CORE_WHEEL_SLOTS]; /* first timer of each slot, or NULL */
  uint64_t slot_bits[CORE_WHEEL_LEVELS][CORE_WHEEL_SLOTS / 64]; /* bit per non-empty slot */
  uint8_t word_bits[CORE_WHEEL_LEVELS]; /* bit per non-zero word of slot_bits[level] */
  uint8_t level_bits;                   /* bit per non-empty level */
  uint64_t now_ms;   /* every timer due at or before now_ms has fired (or is firing) */
  uint64_t clock_ms; /* the slots' reference time: now_ms, but behind it inside advance */
  uint32_t count;    /* armed timers */
} core_timer_wheel;

void core_timer_wheel_init(core_timer_wheel *w, uint64_t now_ms);
void core_timer_init(core_timer *t, core_timer_fn fn, void *arg);
/* (Re)arms `t` to fire at `expire_ms`; a time at or before now_ms fires at the next advance.
 * O(1). Times must stay below UINT64_MAX. */
void core_timer_arm(core_timer_wheel *w, core_timer *t, uint64_t expire_ms);
/* Disarms `t` if armed. O(1). */
void core_timer_cancel(core_timer_wheel *w, core_timer *t);
static inline bool core_timer_armed(const core_timer *t) {
  return t->prev != NULL;
}
/* Sets now_ms to `now_ms` and fires every timer due at or before it, each once, in expiry order
 * (arm order within a millisecond); callbacks see the new now_ms and arm relative to it, so a
 * timer they arm fires at a later advance. Returns how many fired. An earlier or equal time is a
 * no-op. */
unsigned core_timer_wheel_advance(core_timer_wheel *w, uint64_t now_ms);
/* Moves now_ms forward to `now_ms` without firing or moving any timer: all the way, or to just
 * before the next slot time (a timer due, or a cascade) when that comes sooner, which is left to
 * the next advance. For a loop that runs its I/O before advancing: what the I/O arms or stamps
 * with now_ms is relative to the current time, not to the last advance (which, after a sleep
 * with no timer armed, may be long past). Returns the new now_ms; an earlier time is a no-op.
 * Not from a callback. O(levels). */
uint64_t core_timer_wheel_catch_up(core_timer_wheel *w, uint64_t now_ms);
/* Milliseconds from now_ms until the wheel next needs advancing, or -1 when no timer is armed.
 * Never later than the earliest expiry, and equal to it unless a timer filed 512 ms or more
 * ahead waits on a coarser level L in a slot reached sooner: then it is that slot's time, when
 * its timers move down a level (up to 512^L ms before their expiries). So sleeping for it and
 * advancing never oversleeps a timer, and a far timer costs at most one early wake-up per
 * level it passes through (a 2 h keepalive: two). At least 1 between advances (0 only from a
 * callback). O(levels): no timer list is walked. */
int64_t core_timer_wheel_timeout(const core_timer_wheel *w);

#endif
