/* Slot of a timer = expire_ms mod CORE_WHEEL_SLOTS. Advancing from now to now+d visits at most
 * min(d, CORE_WHEEL_SLOTS) slots and fires only timers whose expiry has really come. */
#include <stddef.h>

#include "core/timer_wheel.h"

#define MASK (CORE_WHEEL_SLOTS - 1)

void core_timer_wheel_init(core_timer_wheel *w, uint64_t now_ms) {
  for (int i = 0; i < CORE_WHEEL_SLOTS; i++) w->slots[i].next = w->slots[i].prev = &w->slots[i];
  w->now_ms = now_ms;
  w->count = 0;
}

void core_timer_init(core_timer *t, core_timer_fn fn, void *arg) {
  t->next = t->prev = NULL;
  t->expire_ms = 0;
  t->fn = fn;
  t->arg = arg;
}

static void unlink_timer(core_timer_wheel *w, core_timer *t) {
  t->prev->next = t->next;
  t->next->prev = t->prev;
  t->next = t->prev = NULL;
  w->count--;
}

void core_timer_arm(core_timer_wheel *w, core_timer *t, uint64_t expire_ms) {
  if (t->prev) unlink_timer(w, t);
  /* Due already: it goes in the next slot advance visits. */
  if (expire_ms <= w->now_ms) expire_ms = w->now_ms + 1;
  t->expire_ms = expire_ms;
  core_timer *head = &w->slots[expire_ms & MASK];
  t->prev = head->prev;
  t->next = head;
  head->prev->next = t;
  head->prev = t;
  w->count++;
}

void core_timer_cancel(core_timer_wheel *w, core_timer *t) {
  if (t->prev) unlink_timer(w, t);
}

/* Fires the due timers of one slot. Callbacks may cancel or arm any timer, so the scan starts
 * over after each one; timers armed meanwhile are due after now_ms and are passed over. */
static unsigned fire_slot(core_timer_wheel *w, core_timer *head, uint64_t now_ms) {
  unsigned fired = 0;
  for (;;) {
    core_timer *t = head->next;
    while (t != head && t->expire_ms > now_ms) t = t->next;
    if (t == head) return fired;
    unlink_timer(w, t);
    t->fn(t, t->arg);
    fired++;
  }
}

unsigned core_timer_wheel_advance(core_timer_wheel *w, uint64_t now_ms) {
  unsigned fired = 0;
  if (now_ms <= w->now_ms) return 0;
  uint64_t steps = now_ms - w->now_ms;
  if (steps > CORE_WHEEL_SLOTS) steps = CORE_WHEEL_SLOTS;
  uint64_t from = w->now_ms + 1;
  w->now_ms = now_ms; /* timers armed by callbacks are relative to the new time */
  for (uint64_t i = 0; i < steps && w->count; i++)
    fired += fire_slot(w, &w->slots[(from + i) & MASK], now_ms);
  return fired;
}

int64_t core_timer_wheel_timeout(const core_timer_wheel *w) {
  if (!w->count) return -1;
  for (uint64_t d = 1; d <= CORE_WHEEL_SLOTS; d++) {
    const core_timer *head = &w->slots[(w->now_ms + d) & MASK];
    for (const core_timer *t = head->next; t != head; t = t->next) {
      if (t->expire_ms <= w->now_ms + d) return (int64_t)d;
    }
  }
  return CORE_WHEEL_SLOTS;
}
