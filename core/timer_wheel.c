/* Placement: with c = clock_ms and e an expiry after it, a timer goes to level L = 0 when
 * e - c < 512, else to the level whose 9 bits hold the highest set bit of e - c; its slot is the
 * level's digit of e, (e >> 9L) & 511. A slot's "time" is the first multiple of 512^L after the
 * clock with that digit: e itself on level 0, the start of e's level-L block above, which is
 * after the clock and no later than e because e - c >= 512^L; and as e - c < 512^(L+1), no two
 * blocks a timer of level L can be in share a slot. Slots keep that time while the clock
 * approaches it, so a timer never has to move before then (a slot with the clock's own digit
 * is next lap's).
 *
 * Advancing visits, in time order, each slot time up to the target: first the slots of the
 * higher levels reached then (cascades: each timer is filed again against the new clock and
 * lands lower), then level 0's slot, whose timers are due exactly then. The next slot time of a
 * level is one circular bitmap search from the clock's digit; the wheel's is the least over the
 * non-empty levels.
 *
 * Order: for one expiry, a timer on a higher level was armed before any on a lower one (it was
 * further away), so cascaded timers go in front of those already in the slot, and the lowest
 * cascading level goes first; appending new ones then keeps every slot in arm order. */
#include <assert.h>
#include <stddef.h>
#include <string.h>

#include "core/timer_wheel.h"

#define BITS   CORE_WHEEL_BITS
#define SLOTS  CORE_WHEEL_SLOTS
#define LEVELS CORE_WHEEL_LEVELS
#define MASK   (SLOTS - 1)
#define WORDS  (SLOTS / 64)

_Static_assert(BITS *LEVELS >= 64, "levels must cover every 64-bit distance");
_Static_assert(WORDS <= 8 && LEVELS <= 8, "summaries are one byte");
_Static_assert(LEVELS *SLOTS <= UINT16_MAX + 1, "core_timer.slot is 16 bits");

static void mark(core_timer_wheel *w, unsigned level, unsigned idx) {
  w->slot_bits[level][idx / 64] |= 1ull << (idx % 64);
  w->word_bits[level] |= (uint8_t)(1u << (idx / 64));
  w->level_bits |= (uint8_t)(1u << level);
}

static void unmark(core_timer_wheel *w, unsigned level, unsigned idx) {
  uint64_t *word = &w->slot_bits[level][idx / 64];
  *word &= ~(1ull << (idx % 64));
  if (*word) return;
  w->word_bits[level] &= (uint8_t) ~(1u << (idx / 64));
  if (!w->word_bits[level]) w->level_bits &= (uint8_t) ~(1u << level);
}

/* Files `t` by its expiry against the clock: at the tail of its slot, or at the head (the
 * cascades' older timers). The clock's own millisecond goes to level 0 (only a cascade files a
 * timer due exactly at the clock; that slot fires next). */
static void file(core_timer_wheel *w, core_timer *t, bool front) {
  uint64_t d = t->expire_ms - w->clock_ms;
  unsigned level = d < SLOTS ? 0 : (unsigned)(63 - __builtin_clzll(d)) / BITS;
  unsigned idx = (unsigned)(t->expire_ms >> (level * BITS)) & MASK;
  core_timer **head = &w->slots[level][idx];
  t->slot = (uint16_t)(level * SLOTS + idx);
  if (!*head) {
    t->next = t->prev = t;
    *head = t;
    mark(w, level, idx);
    return;
  }
  core_timer *first = *head, *last = first->prev;
  t->prev = last;
  t->next = first;
  last->next = t;
  first->prev = t;
  if (front) *head = t;
}

static void unlink_timer(core_timer_wheel *w, core_timer *t) {
  unsigned level = t->slot / SLOTS, idx = t->slot % SLOTS;
  core_timer **head = &w->slots[level][idx];
  if (t->next == t) {
    *head = NULL;
    unmark(w, level, idx);
  } else {
    t->prev->next = t->next;
    t->next->prev = t->prev;
    if (*head == t) *head = t->next;
  }
  t->next = t->prev = NULL;
  w->count--;
}

void core_timer_wheel_init(core_timer_wheel *w, uint64_t now_ms) {
  memset(w, 0, sizeof(*w));
  w->now_ms = w->clock_ms = now_ms;
}

void core_timer_init(core_timer *t, core_timer_fn fn, void *arg) {
  t->next = t->prev = NULL;
  t->expire_ms = 0;
  t->fn = fn;
  t->arg = arg;
  t->slot = 0;
}

void core_timer_arm(core_timer_wheel *w, core_timer *t, uint64_t expire_ms) {
  if (t->prev) unlink_timer(w, t);
  /* Due already: the next advance fires it. Inside advance now_ms is the target, at or ahead of
   * the clock, so a callback's timer never fires in the advance that ran the callback. */
  if (expire_ms <= w->now_ms) expire_ms = w->now_ms + 1;
  t->expire_ms = expire_ms;
  file(w, t, false);
  w->count++;
}

void core_timer_cancel(core_timer_wheel *w, core_timer *t) {
  if (t->prev) unlink_timer(w, t);
}

/* First set bit at or after `from` in a level's bitmap, or -1. */
static int first_set(const core_timer_wheel *w, unsigned level, unsigned from) {
  unsigned wi = from / 64;
  if (wi >= WORDS) return -1;
  uint64_t bits = w->slot_bits[level][wi] & (~0ull << (from % 64));
  if (bits) return (int)(wi * 64 + (unsigned)__builtin_ctzll(bits));
  unsigned later = w->word_bits[level] & ~((2u << wi) - 1); /* words after wi */
  if (!later) return -1;
  wi = (unsigned)__builtin_ctz(later);
  return (int)(wi * 64 + (unsigned)__builtin_ctzll(w->slot_bits[level][wi]));
}

/* The time of a non-empty level's next slot: searched circularly from the slot after the
 * clock's digit; the clock's digit itself comes last, as next lap's. */
static uint64_t level_next(const core_timer_wheel *w, unsigned level) {
  unsigned shift = level * BITS;
  uint64_t block = w->clock_ms >> shift;
  int idx = first_set(w, level, (unsigned)(block & MASK) + 1);
  if (idx < 0) idx = first_set(w, level, 0);
  uint64_t at = (block & ~(uint64_t)MASK) | (unsigned)idx;
  if (at <= block) at += SLOTS;
  /* Only the top level's shift can overflow, and its timers are no lap ahead (distance < 2^64
   * means its digit, bit 63 of e, is 1 while the clock's is 0). */
  assert(shift + (64 - (unsigned)__builtin_clzll(at)) <= 64);
  return at << shift;
}

/* The earliest slot time of the wheel; the wheel must not be empty. A level's slots come no
 * sooner than its next block boundary, so the search stops at the first level whose boundary is
 * not before the best time found. */
static uint64_t next_time(const core_timer_wheel *w) {
  uint64_t best = UINT64_MAX;
  for (unsigned bits = w->level_bits; bits; bits &= bits - 1) {
    unsigned level = (unsigned)__builtin_ctz(bits), shift = level * BITS;
    if (shift && (w->clock_ms >> shift) + 1 > (best - 1) >> shift) break;
    uint64_t at = level_next(w, level);
    if (at < best) best = at;
  }
  return best;
}

/* Refiles the timers of a slot whose time the clock has reached; all land lower. Walked from the
 * last and put in front, so they keep their order and precede the slot's newer timers. No
 * callback runs here, so the detached list cannot change under the walk. */
static void cascade(core_timer_wheel *w, unsigned level, unsigned idx) {
  core_timer *first = w->slots[level][idx], *t = first->prev;
  w->slots[level][idx] = NULL;
  unmark(w, level, idx);
  for (;;) {
    core_timer *prev = t->prev; /* read before file() relinks t */
    file(w, t, true);
    if (t == first) break;
    t = prev;
  }
}

/* Fires level 0's slot of the clock's millisecond, first armed first. Callbacks may cancel or
 * re-arm any timer, this slot's included; what they arm is due after now_ms, at or after the
 * clock, so it never joins this slot and the loop ends. */
static unsigned fire_slot(core_timer_wheel *w, unsigned idx) {
  unsigned fired = 0;
  core_timer *t;
  while ((t = w->slots[0][idx])) {
    unlink_timer(w, t);
    t->fn(t, t->arg);
    fired++;
  }
  return fired;
}

unsigned core_timer_wheel_advance(core_timer_wheel *w, uint64_t now_ms) {
  if (now_ms <= w->now_ms) return 0;
  w->now_ms = now_ms; /* timers armed by callbacks are relative to the new time */
  unsigned fired = 0;
  while (w->level_bits) {
    uint64_t at = next_time(w);
    if (at > now_ms) break;
    w->clock_ms = at;
    /* Every level with a boundary here has its slot of this time reached, lowest first. */
    for (unsigned level = 1; level < LEVELS; level++) {
      unsigned shift = level * BITS;
      if (at & ((1ull << shift) - 1)) break; /* not a boundary here, nor of any level above */
      unsigned idx = (unsigned)(at >> shift) & MASK;
      if (w->slots[level][idx]) cascade(w, level, idx);
    }
    fired += fire_slot(w, (unsigned)at & MASK);
  }
  /* Every slot left has its time after now_ms: moving the clock there keeps every time. */
  w->clock_ms = now_ms;
  return fired;
}

uint64_t core_timer_wheel_catch_up(core_timer_wheel *w, uint64_t now_ms) {
  if (w->level_bits) {
    uint64_t at = next_time(w);
    if (at <= now_ms) now_ms = at - 1;
  }
  /* Every slot's time is after now_ms: moving the clock there keeps every time (as advance). */
  if (now_ms > w->now_ms) w->now_ms = w->clock_ms = now_ms;
  return w->now_ms;
}

int64_t core_timer_wheel_timeout(const core_timer_wheel *w) {
  if (!w->level_bits) return -1;
  uint64_t at = next_time(w);
  if (at <= w->now_ms) return 0; /* only inside advance, from a callback */
  uint64_t d = at - w->now_ms;
  return d > INT64_MAX ? INT64_MAX : (int64_t)d;
}
