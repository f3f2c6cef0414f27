/* core/timer_wheel.h: a timer fires at the first advance that reaches its expiry, never before
 * and never a lap early; cancel, re-arm (also from callbacks), timeouts and big jumps. Each
 * test timer records when it fired; a randomised run checks everything against a model. The
 * second half covers the hierarchy: timers hours to years away, cascades across level
 * boundaries, arm order, timeout() as a lower bound with 100,000 timers. */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/timer_wheel.h"

TestSuite(timer_wheel);

static core_timer_wheel wheel; /* 33 KiB of slot heads: static, not on the stack */

typedef struct tt tt;
struct tt {
  core_timer t;
  int fired;         /* times the callback ran */
  uint64_t fired_at; /* wheel time at the last run */
  void (*action)(tt *self);
  tt *other;       /* for actions that touch another timer */
  uint64_t period; /* for re-arming actions */
};

static void on_fire(core_timer *t, void *arg) {
  tt *x = arg;
  cr_assert_eq(&x->t, t, "callback got another timer's argument");
  cr_assert_not(core_timer_armed(t), "a firing timer is still armed");
  cr_assert_leq(t->expire_ms, wheel.now_ms, "fired at %llu, before its expiry %llu",
                (unsigned long long)wheel.now_ms, (unsigned long long)t->expire_ms);
  x->fired++;
  x->fired_at = wheel.now_ms;
  if (x->action) x->action(x);
}

static void tt_init(tt *x) {
  *x = (tt){0};
  core_timer_init(&x->t, on_fire, x);
}

/* Advances one millisecond at a time up to `to`, returning the total fired. */
static unsigned step_to(uint64_t to) {
  unsigned fired = 0;
  while (wheel.now_ms < to) fired += core_timer_wheel_advance(&wheel, wheel.now_ms + 1);
  return fired;
}

Test(timer_wheel, fires_at_exact_ms_not_before) {
  core_timer_wheel_init(&wheel, 1000);
  tt a;
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 1010);
  cr_expect(core_timer_armed(&a.t));
  cr_expect_eq(step_to(1009), 0);
  cr_expect_eq(a.fired, 0, "fired before its time");
  cr_expect_eq(core_timer_wheel_advance(&wheel, 1010), 1);
  cr_expect_eq(a.fired, 1);
  cr_expect_eq(a.fired_at, 1010);
  cr_expect_not(core_timer_armed(&a.t));
  cr_expect_eq(wheel.count, 0);
  cr_expect_eq(step_to(3000), 0, "fired twice");
}

Test(timer_wheel, fires_when_a_jump_passes_its_expiry) {
  core_timer_wheel_init(&wheel, 0);
  tt a;
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 37);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 36), 0);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 36), 0, "advance to the same time");
  cr_expect_eq(core_timer_wheel_advance(&wheel, 30), 0, "advance back in time");
  cr_expect_eq(core_timer_wheel_advance(&wheel, 50), 1);
  cr_expect_eq(a.fired_at, 50);
}

Test(timer_wheel, advance_returns_number_fired) {
  core_timer_wheel_init(&wheel, 0);
  tt x[10];
  for (int i = 0; i < 10; i++) {
    tt_init(&x[i]);
    core_timer_arm(&wheel, &x[i].t, 10 + (uint64_t)(i % 3)); /* 10, 11, 12 */
  }
  cr_expect_eq(wheel.count, 10);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 11), 7);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 12), 3);
  cr_expect_eq(wheel.count, 0);
}

Test(timer_wheel, cancel) {
  core_timer_wheel_init(&wheel, 0);
  tt a, b;
  tt_init(&a);
  tt_init(&b);
  core_timer_cancel(&wheel, &a.t); /* never armed: no-op */
  cr_expect_eq(wheel.count, 0);
  core_timer_arm(&wheel, &a.t, 20);
  core_timer_arm(&wheel, &b.t, 20);
  cr_expect_eq(wheel.count, 2);
  core_timer_cancel(&wheel, &a.t);
  cr_expect_not(core_timer_armed(&a.t));
  cr_expect_eq(wheel.count, 1);
  core_timer_cancel(&wheel, &a.t); /* twice: no-op */
  cr_expect_eq(wheel.count, 1);
  cr_expect_eq(step_to(100), 1);
  cr_expect_eq(a.fired, 0, "a cancelled timer fired");
  cr_expect_eq(b.fired, 1);
  core_timer_cancel(&wheel, &b.t); /* already fired: no-op */
  cr_expect_eq(wheel.count, 0);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), -1);
}

Test(timer_wheel, arm_again_moves_the_timer) {
  core_timer_wheel_init(&wheel, 0);
  tt a;
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 10);
  core_timer_arm(&wheel, &a.t, 30); /* later */
  cr_expect_eq(wheel.count, 1);
  cr_expect_eq(step_to(29), 0);
  cr_expect_eq(step_to(30), 1);
  cr_expect_eq(a.fired_at, 30);
  core_timer_arm(&wheel, &a.t, 80);
  core_timer_arm(&wheel, &a.t, 40); /* earlier */
  cr_expect_eq(wheel.count, 1);
  cr_expect_eq(step_to(200), 1);
  cr_expect_eq(a.fired_at, 40);
  cr_expect_eq(a.fired, 2);
}

static void rearm_self(tt *x) {
  core_timer_arm(&wheel, &x->t, wheel.now_ms + x->period);
}

Test(timer_wheel, rearm_from_callback) {
  core_timer_wheel_init(&wheel, 500);
  tt a;
  tt_init(&a);
  a.action = rearm_self;
  a.period = 7;
  core_timer_arm(&wheel, &a.t, 507);
  for (uint64_t now = 501; now <= 1200; now++) {
    int before = a.fired;
    core_timer_wheel_advance(&wheel, now);
    int due = (now - 500) % 7 == 0;
    cr_assert_eq(a.fired - before, due, "at %llu: fired %d times", (unsigned long long)now,
                 a.fired - before);
  }
  cr_expect_eq(a.fired, 100);
  cr_expect(core_timer_armed(&a.t));
  cr_expect_eq(a.t.expire_ms, 1207);
}

Test(timer_wheel, rearm_from_callback_across_a_jump) {
  core_timer_wheel_init(&wheel, 0);
  tt a;
  tt_init(&a);
  a.action = rearm_self;
  a.period = 600; /* more than a revolution */
  core_timer_arm(&wheel, &a.t, 600);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 700), 1);
  /* Re-armed relative to the wheel's new time: due at 1300, not re-fired in this advance. */
  cr_expect_eq(a.t.expire_ms, 1300);
  cr_expect_eq(step_to(1299), 0);
  cr_expect_eq(step_to(1300), 1);
}

static void cancel_other(tt *x) {
  core_timer_cancel(&wheel, &x->other->t);
}

Test(timer_wheel, callback_cancels_timer_in_same_slot) {
  core_timer_wheel_init(&wheel, 0);
  tt a, b;
  tt_init(&a);
  tt_init(&b);
  /* Both due at 50, same slot: whichever fires first cancels the other. */
  a.action = b.action = cancel_other;
  a.other = &b;
  b.other = &a;
  core_timer_arm(&wheel, &a.t, 50);
  core_timer_arm(&wheel, &b.t, 50);
  cr_expect_eq(step_to(60), 1);
  cr_expect_eq(a.fired + b.fired, 1, "a cancelled timer fired (a %d, b %d)", a.fired, b.fired);
  cr_expect_eq(wheel.count, 0);
}

Test(timer_wheel, callback_cancels_timers_due_in_same_advance) {
  core_timer_wheel_init(&wheel, 0);
  enum { N = 6 };
  tt x[N];
  /* Chain: each cancels the next; all in one slot, some a lap later; plus a jump that covers
   * several slots. */
  for (int i = 0; i < N; i++) tt_init(&x[i]);
  for (int i = 0; i < N - 1; i++) {
    x[i].action = cancel_other;
    x[i].other = &x[i + 1];
  }
  core_timer_arm(&wheel, &x[0].t, 100);
  core_timer_arm(&wheel, &x[1].t, 100);
  core_timer_arm(&wheel, &x[2].t, 100 + 512); /* same slot, next lap */
  core_timer_arm(&wheel, &x[3].t, 100);
  core_timer_arm(&wheel, &x[4].t, 90); /* earlier slot, same advance */
  core_timer_arm(&wheel, &x[5].t, 95);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 100), 3);
  /* Slot 90 first: x4 fires and cancels x5 (slot 95). Slot 100: x0 fires, cancels x1; x3
   * fires and cancels x4 (done already). x2 waits for its lap. */
  cr_expect_eq(x[4].fired, 1);
  cr_expect_eq(x[5].fired, 0);
  cr_expect_eq(x[0].fired, 1);
  cr_expect_eq(x[1].fired, 0);
  cr_expect_eq(x[3].fired, 1);
  cr_expect_eq(x[2].fired, 0, "timer due a lap later fired early");
  cr_expect(core_timer_armed(&x[2].t));
  cr_expect_eq(step_to(611), 0);
  cr_expect_eq(step_to(612), 1);
}

static void cancel_self(tt *x) {
  core_timer_cancel(&wheel, &x->t);
}

Test(timer_wheel, callback_cancels_itself) {
  core_timer_wheel_init(&wheel, 0);
  tt a;
  tt_init(&a);
  a.action = cancel_self;
  core_timer_arm(&wheel, &a.t, 5);
  cr_expect_eq(step_to(10), 1);
  cr_expect_eq(wheel.count, 0);
}

static void arm_other_in_past(tt *x) {
  core_timer_arm(&wheel, &x->other->t, 0);
}

Test(timer_wheel, callback_arming_past_timer_fires_next_advance) {
  core_timer_wheel_init(&wheel, 0);
  tt a, b;
  tt_init(&a);
  tt_init(&b);
  a.action = arm_other_in_past;
  a.other = &b;
  core_timer_arm(&wheel, &a.t, 10);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 10), 1);
  cr_expect_eq(b.fired, 0, "a timer armed by a callback fired in the same advance");
  cr_expect(core_timer_armed(&b.t));
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 1);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 11), 1);
  cr_expect_eq(b.fired, 1);
}

Test(timer_wheel, past_expiry_fires_at_next_advance) {
  core_timer_wheel_init(&wheel, 10000);
  tt a, b, c;
  tt_init(&a);
  tt_init(&b);
  tt_init(&c);
  core_timer_arm(&wheel, &a.t, 50);    /* long past */
  core_timer_arm(&wheel, &b.t, 10000); /* now */
  core_timer_arm(&wheel, &c.t, 9999);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 1);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 10001), 3);
  cr_expect_eq(a.fired + b.fired + c.fired, 3);
  cr_expect_eq(a.fired_at, 10001);
}

Test(timer_wheel, past_expiry_fires_on_a_big_jump_too) {
  core_timer_wheel_init(&wheel, 10000);
  tt a;
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 3);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 50000), 1);
}

Test(timer_wheel, beyond_one_revolution_not_a_lap_early) {
  static const uint64_t dues[] = {511, 512, 513, 1024, 1025, 2000, 5000, 512 * 7 + 3};
  enum { N = sizeof(dues) / sizeof(dues[0]) };
  core_timer_wheel_init(&wheel, 0);
  tt x[N];
  for (int i = 0; i < N; i++) {
    tt_init(&x[i]);
    core_timer_arm(&wheel, &x[i].t, dues[i]);
  }
  while (wheel.now_ms < 6000) {
    core_timer_wheel_advance(&wheel, wheel.now_ms + 1);
    for (int i = 0; i < N; i++) {
      int want = wheel.now_ms >= dues[i];
      cr_assert_eq(x[i].fired, want, "timer due at %llu: fired %d times by %llu",
                   (unsigned long long)dues[i], x[i].fired, (unsigned long long)wheel.now_ms);
    }
  }
  for (int i = 0; i < N; i++) cr_expect_eq(x[i].fired_at, dues[i]);
}

Test(timer_wheel, beyond_one_revolution_with_jumps) {
  /* 2000 ms with 512 slots, approached in strides that land on its slot a lap early. */
  core_timer_wheel_init(&wheel, 0);
  tt a;
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 2000);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 2000 - 512), 0);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 2000 - 1), 0, "fired a lap early");
  cr_expect_eq(core_timer_wheel_advance(&wheel, 2000), 1);

  /* Strides of 300 ms: first advance at or past 2000 is 2100. */
  core_timer_wheel_init(&wheel, 0);
  tt_init(&a);
  core_timer_arm(&wheel, &a.t, 2000);
  for (uint64_t now = 300; now <= 3000; now += 300) {
    core_timer_wheel_advance(&wheel, now);
    cr_assert_eq(a.fired, now >= 2000, "at %llu", (unsigned long long)now);
  }
  cr_expect_eq(a.fired_at, 2100);
}

Test(timer_wheel, timeout) {
  core_timer_wheel_init(&wheel, 1000);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), -1);
  tt a, b, c;
  tt_init(&a);
  tt_init(&b);
  tt_init(&c);
  core_timer_arm(&wheel, &a.t, 1040);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 40);
  core_timer_arm(&wheel, &b.t, 1005);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 5);
  core_timer_cancel(&wheel, &b.t);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 40);
  core_timer_wheel_advance(&wheel, 1030);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 10);
  core_timer_wheel_advance(&wheel, 1040);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), -1);

  /* Beyond a revolution: a lower bound no larger than the revolution. A timer a lap later in
   * the slot of a nearer time must not shorten it to that nearer time. */
  core_timer_arm(&wheel, &c.t, 1040 + 512 + 20);
  int64_t to = core_timer_wheel_timeout(&wheel);
  cr_expect_gt(to, 20, "timeout %lld for a timer %d ms away", (long long)to, 512 + 20);
  cr_expect_leq(to, 512);
}

/* catch_up: the clock moves, nothing fires, and it stops short of what is due (io/shard.c calls
 * it before a turn's I/O, which must see the current time; the advance after it fires). */
Test(timer_wheel, catch_up_moves_the_clock_without_firing) {
  core_timer_wheel_init(&wheel, 1000);
  /* No timer armed (a shard asleep with no connection): all the way. */
  cr_expect_eq(core_timer_wheel_catch_up(&wheel, 31000), 31000);
  cr_expect_eq(wheel.now_ms, 31000);
  cr_expect_eq(core_timer_wheel_catch_up(&wheel, 5000), 31000, "went back");
  tt a, b;
  tt_init(&a);
  tt_init(&b);
  core_timer_arm(&wheel, &a.t, 31000 + 20000); /* a preface deadline: relative to the new time */
  core_timer_arm(&wheel, &b.t, 31040);
  cr_expect_eq(core_timer_wheel_catch_up(&wheel, 31030), 31030);
  /* A timer due: just before it, left to the advance. */
  cr_expect_eq(core_timer_wheel_catch_up(&wheel, 31100), 31039);
  cr_expect_eq(b.fired, 0);
  cr_expect(core_timer_armed(&b.t));
  cr_expect_eq(core_timer_wheel_advance(&wheel, 31100), 1);
  cr_expect_eq(b.fired_at, 31100);
  cr_expect_eq(a.fired, 0);
  cr_expect_eq(step_to(50999), 0);
  cr_expect_eq(core_timer_wheel_advance(&wheel, 51000), 1);
  cr_expect_eq(a.fired_at, 51000);
}

/* Catch-ups at every scale between advances, against the expiries: a timer fires exactly at the
 * first advance that reaches it, never in a catch-up, whatever levels the clock crossed. */
Test(timer_wheel, catch_up_then_advance_on_all_scales) {
  enum { N = 2000 };
  static tt x[N];
  srand(7);
  core_timer_wheel_init(&wheel, 123456);
  for (int i = 0; i < N; i++) {
    tt_init(&x[i]);
    uint64_t span = 1ull << (rand() % 34); /* 1 ms to 200 days */
    core_timer_arm(&wheel, &x[i].t, 123456 + 1 + (uint64_t)rand() % span);
  }
  int turns = 0;
  for (; wheel.count && turns < 50000; turns++) {
    uint64_t target = wheel.now_ms + 1 + ((uint64_t)rand() % (1ull << (rand() % 36)));
    uint64_t earliest = UINT64_MAX;
    for (int i = 0; i < N; i++)
      if (!x[i].fired && x[i].t.expire_ms < earliest) earliest = x[i].t.expire_ms;
    uint64_t now = core_timer_wheel_catch_up(&wheel, target);
    cr_assert_leq(now, target);
    cr_assert_lt(now, earliest, "caught up to %llu, a timer is due at %llu",
                 (unsigned long long)now, (unsigned long long)earliest);
    cr_assert_gt(core_timer_wheel_timeout(&wheel), 0, "the catch-up left a slot due");
    core_timer_wheel_advance(&wheel, target);
    for (int i = 0; i < N; i++) {
      bool due = x[i].t.expire_ms <= target;
      cr_assert_eq(x[i].fired, due ? 1 : 0, "timer due %llu fired %d times by %llu",
                   (unsigned long long)x[i].t.expire_ms, x[i].fired, (unsigned long long)target);
      if (due && x[i].t.expire_ms > now) /* due in this turn: fired at its advance, not before */
        cr_assert_eq(x[i].fired_at, target);
    }
  }
  cr_expect_eq(wheel.count, 0, "%u timers left after %d turns", wheel.count, turns);
}

Test(timer_wheel, advancing_by_timeout_lands_on_expiry) {
  static const uint64_t dues[] = {3, 700, 2000, 2001, 9999};
  enum { N = sizeof(dues) / sizeof(dues[0]) };
  core_timer_wheel_init(&wheel, 0);
  tt x[N];
  for (int i = 0; i < N; i++) {
    tt_init(&x[i]);
    core_timer_arm(&wheel, &x[i].t, dues[i]);
  }
  int loops = 0;
  for (int64_t to; (to = core_timer_wheel_timeout(&wheel)) >= 0; loops++) {
    cr_assert_gt(to, 0);
    cr_assert_lt(loops, 1000);
    core_timer_wheel_advance(&wheel, wheel.now_ms + (uint64_t)to);
  }
  /* Sleeping for the timeout never oversleeps: each fired exactly on time. */
  for (int i = 0; i < N; i++) {
    cr_expect_eq(x[i].fired, 1);
    cr_expect_eq(x[i].fired_at, dues[i], "due %llu, fired at %llu", (unsigned long long)dues[i],
                 (unsigned long long)x[i].fired_at);
  }
}

Test(timer_wheel, huge_jump_fires_everything_due) {
  enum { N = 2000 };
  static tt x[N];
  core_timer_wheel_init(&wheel, 1000000);
  uint32_t rng = 42;
  for (int i = 0; i < N; i++) {
    rng = rng * 1664525u + 1013904223u;
    tt_init(&x[i]);
    core_timer_arm(&wheel, &x[i].t, 1000000 + 1 + (rng >> 8) % 200000);
  }
  /* A jump to the middle fires exactly those due. */
  uint64_t mid = 1000000 + 100000;
  unsigned fired = core_timer_wheel_advance(&wheel, mid);
  unsigned want = 0;
  for (int i = 0; i < N; i++) {
    int due = x[i].t.expire_ms <= mid;
    want += (unsigned)due;
    cr_assert_eq(x[i].fired, due, "timer due at %llu, fired %d times at %llu",
                 (unsigned long long)x[i].t.expire_ms, x[i].fired, (unsigned long long)mid);
    cr_assert_eq(core_timer_armed(&x[i].t), !due);
  }
  cr_expect_eq(fired, want);
  cr_expect_eq(wheel.count, N - want);
  /* An hour later: everything. */
  cr_expect_eq(core_timer_wheel_advance(&wheel, mid + 3600 * 1000), N - want);
  cr_expect_eq(wheel.count, 0);
  for (int i = 0; i < N; i++) cr_assert_eq(x[i].fired, 1);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), -1);
}

/* Random arms, cancels and advances (small and large); each timer must fire exactly once, at
 * the first advance whose target reaches its expiry. */
Test(timer_wheel, randomised_against_model) {
  enum { N = 200 };
  static tt x[N];
  static uint64_t due[N]; /* 0: not armed in the model */
  core_timer_wheel_init(&wheel, 77);
  for (int i = 0; i < N; i++) tt_init(&x[i]);
  uint32_t rng = 7;
  for (int step = 0; step < 20000; step++) {
    rng ^= rng << 13;
    rng ^= rng >> 17;
    rng ^= rng << 5;
    int i = (int)(rng % N);
    uint32_t op = (rng >> 8) % 10;
    if (op < 4) {
      uint64_t d = (rng >> 12) % 8 == 0 ? (rng >> 16) % 5000 : (rng >> 16) % 100;
      uint64_t at = wheel.now_ms + d;
      core_timer_arm(&wheel, &x[i].t, at);
      due[i] = at > wheel.now_ms ? at : wheel.now_ms + 1;
      x[i].fired = 0;
    } else if (op < 5) {
      core_timer_cancel(&wheel, &x[i].t);
      due[i] = 0;
      x[i].fired = 0;
    } else {
      uint64_t d = (rng >> 12) % 16 == 0 ? (rng >> 16) % 3000 : (rng >> 16) % 20;
      uint64_t to = wheel.now_ms + d;
      core_timer_wheel_advance(&wheel, to);
      for (int k = 0; k < N; k++) {
        if (!due[k]) {
          cr_assert_eq(x[k].fired, 0, "step %d: a cancelled or fired timer fired", step);
          continue;
        }
        if (due[k] <= to) {
          cr_assert_eq(x[k].fired, 1, "step %d: timer due %llu fired %d times by %llu", step,
                       (unsigned long long)due[k], x[k].fired, (unsigned long long)to);
          cr_assert_eq(x[k].fired_at, to);
          due[k] = 0;
          x[k].fired = 0;
        } else {
          cr_assert_eq(x[k].fired, 0, "step %d: timer due %llu fired early at %llu", step,
                       (unsigned long long)due[k], (unsigned long long)to);
          cr_assert(core_timer_armed(&x[k].t));
        }
      }
    }
    uint32_t armed = 0;
    for (int k = 0; k < N; k++) armed += due[k] != 0;
    cr_assert_eq(wheel.count, armed, "step %d", step);
  }
}

/* ---- The hierarchy: far timers, cascades across levels, big jumps, scale. ---- */

#define L1_MS   ((uint64_t)CORE_WHEEL_SLOTS) /* one level-1 slot: 512 ms */
#define L2_MS   (L1_MS * CORE_WHEEL_SLOTS)   /* one level-2 slot: about 4.4 min */
#define L3_MS   (L2_MS * CORE_WHEEL_SLOTS)   /* one level-3 slot: about 37 h */
#define HOUR_MS ((uint64_t)3600 * 1000)

static uint64_t rng64_state;
static uint64_t rng64(void) { /* xorshift64 */
  rng64_state ^= rng64_state << 13;
  rng64_state ^= rng64_state >> 7;
  rng64_state ^= rng64_state << 17;
  return rng64_state;
}

/* A distance on a random scale, from 0 to about 2^bits: every level below that gets used. */
static uint64_t any_scale(unsigned bits) {
  unsigned k = (unsigned)(rng64() % (bits + 1));
  return rng64() % ((1ull << k) + 1);
}

static int order_log[16], order_len;
static void log_order(tt *x) {
  order_log[order_len++] = (int)x->period; /* period doubles as an id here */
}

Test(timer_wheel, same_ms_fires_in_arm_order_across_levels) {
  /* A is armed far ahead (level 2), B later (level 1), C and D last (level 0), all for the same
   * ms; cascades must not put the older ones behind the newer. */
  uint64_t due = 3 * L2_MS + 700;
  core_timer_wheel_init(&wheel, 0);
  tt x[4];
  for (int i = 0; i < 4; i++) {
    tt_init(&x[i]);
    x[i].action = log_order;
    x[i].period = (uint64_t)i;
  }
  order_len = 0;
  core_timer_arm(&wheel, &x[0].t, due);
  cr_expect_eq(core_timer_wheel_advance(&wheel, due - L2_MS / 2), 0);
  core_timer_arm(&wheel, &x[1].t, due);
  cr_expect_eq(core_timer_wheel_advance(&wheel, due - 300), 0);
  core_timer_arm(&wheel, &x[2].t, due);
  cr_expect_eq(step_to(due - 100), 0);
  core_timer_arm(&wheel, &x[3].t, due);
  cr_expect_eq(core_timer_wheel_advance(&wheel, due), 4);
  cr_assert_eq(order_len, 4);
  for (int i = 0; i < 4; i++)
    cr_expect_eq(order_log[i], i, "position %d: timer %d", i, order_log[i]);
}

Test(timer_wheel, next_lap_in_the_clocks_own_slot) {
  /* Just under 512^L ms ahead, a timer's level-L digit is the clock's own: that slot is next
   * lap's, not one already passed. */
  for (unsigned level = 1; level <= 3; level++) {
    uint64_t lap = 1ull << (9 * (level + 1)), start = 5 * (lap / 512) + 1000;
    core_timer_wheel_init(&wheel, start);
    tt a, b;
    tt_init(&a);
    tt_init(&b);
    core_timer_arm(&wheel, &a.t, start + lap - 1);
    core_timer_arm(&wheel, &b.t, start + lap - 700);
    int wakes = 0;
    for (int64_t to; (to = core_timer_wheel_timeout(&wheel)) >= 0; wakes++) {
      cr_assert_gt(to, 0, "level %u", level);
      uint64_t earliest = b.fired ? start + lap - 1 : start + lap - 700;
      cr_assert_leq(wheel.now_ms + (uint64_t)to, earliest, "level %u: woken past %llu", level,
                    (unsigned long long)earliest);
      core_timer_wheel_advance(&wheel, wheel.now_ms + (uint64_t)to);
    }
    cr_expect_eq(a.fired_at, start + lap - 1, "level %u", level);
    cr_expect_eq(b.fired_at, start + lap - 700, "level %u", level);
    cr_expect_leq(wakes, 2 * (int)level + 2, "level %u: %d wake-ups", level, wakes);
  }
}

Test(timer_wheel, extreme_expiries) {
  /* The top level (distance 2^63 or more) and the largest time; huge jumps land on them. */
  core_timer_wheel_init(&wheel, 5);
  tt a, b, c;
  tt_init(&a);
  tt_init(&b);
  tt_init(&c);
  uint64_t top = (1ull << 63) + 12345;
  core_timer_arm(&wheel, &a.t, top);
  core_timer_arm(&wheel, &b.t, UINT64_MAX - 1);
  core_timer_arm(&wheel, &c.t, 6 * L3_MS);
  int64_t to = core_timer_wheel_timeout(&wheel);
  cr_expect_gt(to, 0);
  cr_expect_leq((uint64_t)to, 6 * L3_MS - 5);
  cr_expect_eq(core_timer_wheel_advance(&wheel, top - 1), 1);
  cr_expect_eq(c.fired_at, top - 1);
  cr_expect_eq(a.fired, 0, "fired early");
  cr_expect_leq((uint64_t)core_timer_wheel_timeout(&wheel), 1);
  cr_expect_eq(core_timer_wheel_advance(&wheel, top), 1);
  cr_expect_eq(a.fired_at, top);
  cr_expect_eq(core_timer_wheel_advance(&wheel, UINT64_MAX - 2), 0);
  cr_expect_eq(core_timer_wheel_timeout(&wheel), 1);
  cr_expect_eq(core_timer_wheel_advance(&wheel, UINT64_MAX - 1), 1);
  cr_expect_eq(wheel.count, 0);
}

Test(timer_wheel, shutdown_flush_jump_fires_days_ahead) {
  /* io/shard.c flushes the wheel at exit with jumps of CORE_WHEEL_SLOTS * 10^6 ms (~6 days). */
  static const uint64_t dues[] = {1, 511, 512, 2 * HOUR_MS, 24 * HOUR_MS, 5 * 24 * HOUR_MS};
  enum { N = sizeof(dues) / sizeof(dues[0]) };
  core_timer_wheel_init(&wheel, 123456789);
  tt x[N];
  for (int i = 0; i < N; i++) {
    tt_init(&x[i]);
    core_timer_arm(&wheel, &x[i].t, wheel.now_ms + dues[i]);
  }
  cr_expect_eq(core_timer_wheel_advance(&wheel, wheel.now_ms + CORE_WHEEL_SLOTS * 1000000ull), N);
  cr_expect_eq(wheel.count, 0);
}

/* Scale: timers that must fire on the exact ms, counted; the callback checks the ms. */
static unsigned exact_fired;
static void on_fire_exact(core_timer *t, void *arg) {
  (void)arg;
  cr_assert_eq(t->expire_ms, wheel.now_ms, "due %llu, fired at %llu",
               (unsigned long long)t->expire_ms, (unsigned long long)wheel.now_ms);
  exact_fired++;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/* 100,000 timers, most of them keepalive-like (hours away), some days away, a few near. Waking
 * only when timeout() says, as the shard does, every timer fires on its ms: timeout() never
 * points past the earliest expiry, and it is never 0, so the loop always makes progress. Half
 * of them are cancelled on the way. */
Test(timer_wheel, timeout_with_100k_far_timers) {
  enum { N = 100000 };
  core_timer *t = calloc(N, sizeof(*t));
  uint64_t *due = calloc(N, sizeof(*due));       /* by timer; 0 once cancelled */
  uint64_t *sorted = calloc(N, sizeof(*sorted)); /* expiry << 17 | index, ascending */
  cr_assert(t && due && sorted);
  uint64_t start = 987654321;
  core_timer_wheel_init(&wheel, start);
  rng64_state = 0x9e3779b97f4a7c15ull;
  for (int i = 0; i < N; i++) {
    uint64_t r = rng64() % 100, d;
    if (r < 80)
      d = HOUR_MS + rng64() % (2 * HOUR_MS); /* keepalive */
    else if (r < 95)
      d = rng64() % (3 * 24 * HOUR_MS);
    else
      d = 1 + rng64() % 2000;
    due[i] = start + d;
    sorted[i] = due[i] << 17 | (uint64_t)i;
    core_timer_init(&t[i], on_fire_exact, NULL);
    core_timer_arm(&wheel, &t[i], due[i]);
  }
  qsort(sorted, N, sizeof(*sorted), cmp_u64);
  exact_fired = 0;
  unsigned want = N, next = 0, wakes = 0;
  for (;;) {
    while (next < N && !due[sorted[next] & 0x1ffff]) next++; /* skip cancelled (and fired) */
    int64_t to = core_timer_wheel_timeout(&wheel);
    if (next == N) {
      cr_assert_eq(to, -1);
      break;
    }
    uint64_t earliest = sorted[next] >> 17;
    cr_assert_gt(to, 0);
    cr_assert_leq((uint64_t)to, earliest - wheel.now_ms, "timeout %lld, earliest in %llu",
                  (long long)to, (unsigned long long)(earliest - wheel.now_ms));
    unsigned before = exact_fired;
    core_timer_wheel_advance(&wheel, wheel.now_ms + (uint64_t)to);
    wakes++;
    /* What fired is exactly the timers due now (each checked its ms in the callback). */
    while (next < N && (sorted[next] >> 17) <= wheel.now_ms) {
      if (due[sorted[next] & 0x1ffff]) {
        due[sorted[next] & 0x1ffff] = 0;
        before++;
      }
      next++;
    }
    cr_assert_eq(exact_fired, before, "at %llu", (unsigned long long)wheel.now_ms);
    cr_assert_eq(wheel.count, want - exact_fired);
    /* Once, a little after the start: cancel every other timer still armed. */
    if (wakes == 50) {
      for (int i = 0; i < N; i += 2) {
        if (!due[i]) continue;
        cr_assert(core_timer_armed(&t[i]));
        core_timer_cancel(&wheel, &t[i]);
        due[i] = 0;
        want--;
      }
    }
  }
  cr_expect_eq(exact_fired, want);
  /* Distinct expiries plus early wake-ups: at most two per timer beyond level 0. */
  cr_expect_leq(wakes, 3u * N, "%u wake-ups", wakes);
  cr_log_info("100k timers: %u fired over %u wake-ups", exact_fired, wakes);
  free(t);
  free(due);
  free(sorted);
}

/* Timers spread over three hours, stepped through 1 ms at a time across a level-3 boundary (so
 * across level-1 and level-2 ones all along); some re-arm themselves hours ahead from their
 * callback. Each must fire on its ms (the callback checks), none may be lost. */
typedef struct {
  core_timer t;
  uint64_t due;    /* 0: done */
  uint64_t period; /* re-armed this far ahead when it fires, or 0 */
} stepped;

static void on_fire_stepped(core_timer *t, void *arg) {
  stepped *s = arg;
  if (t->expire_ms != wheel.now_ms || s->due != wheel.now_ms)
    cr_assert_fail("due %llu, fired at %llu", (unsigned long long)s->due,
                   (unsigned long long)wheel.now_ms);
  exact_fired++;
  if (s->period) {
    s->due = wheel.now_ms + s->period;
    s->period = 0; /* once */
    core_timer_arm(&wheel, t, s->due);
  } else {
    s->due = 0;
  }
}

Test(timer_wheel, hours_of_timers_fire_on_their_ms_stepwise) {
  enum { N = 3000 };
  static stepped x[N];
  uint64_t start = 3 * L3_MS - 90 * 60 * 1000; /* a level-3 boundary 1.5 h in */
  uint64_t end = start + 3 * HOUR_MS;
  core_timer_wheel_init(&wheel, start);
  rng64_state = 12345;
  /* Expiries on and a ms either side of level-1 and level-2 boundaries, of the level-3 one,
   * and at random. */
  for (int i = 0; i < N; i++) {
    uint64_t at;
    if (i < 400) {
      uint64_t b = i < 200 ? L1_MS : L2_MS;
      at = (start / b + 1 + rng64() % ((end - start) / b)) * b + (uint64_t)(i % 3) - 1;
    } else if (i < 430) {
      at = 3 * L3_MS + (uint64_t)(i % 3) - 1 + (i % 2 ? L2_MS : 0);
    } else {
      at = start + 1 + rng64() % (end - start - 1);
    }
    if (at > end) at = end;
    x[i].due = at;
    x[i].period = i % 7 == 0 ? any_scale(24) : 0; /* up to ~4.6 h more */
    if (x[i].period == 0 && i % 7 == 0) x[i].period = 1;
    core_timer_init(&x[i].t, on_fire_stepped, &x[i]);
    core_timer_arm(&wheel, &x[i].t, at);
  }
  exact_fired = 0;
  while (wheel.now_ms < end) core_timer_wheel_advance(&wheel, wheel.now_ms + 1);
  unsigned left = 0;
  for (int i = 0; i < N; i++) {
    if (!x[i].due) continue;
    cr_assert_gt(x[i].due, end, "timer %d due %llu never fired", i, (unsigned long long)x[i].due);
    cr_assert(core_timer_armed(&x[i].t));
    left++;
  }
  cr_expect_eq(wheel.count, left);
  cr_expect_geq(exact_fired, (unsigned)N);
}

/* The model check again, now with expiries and jumps on every scale (ms to years), advances to
 * exactly timeout() as the shard makes them, callbacks that re-arm far ahead, and clocks
 * starting just before boundaries of high levels. timeout() is checked against the model too. */
static void rearm_period(tt *x) {
  core_timer_arm(&wheel, &x->t, wheel.now_ms + x->period);
}

static void model_run(uint64_t start, uint64_t seed) {
  enum { N = 200 };
  static tt x[N];
  static uint64_t due[N]; /* 0: not armed in the model */
  core_timer_wheel_init(&wheel, start);
  for (int i = 0; i < N; i++) {
    tt_init(&x[i]);
    due[i] = 0;
  }
  rng64_state = seed;
  for (int step = 0; step < 20000; step++) {
    int i = (int)(rng64() % N);
    uint64_t op = rng64() % 20;
    if (op < 7) {
      uint64_t d = any_scale(40);
      /* Often just under a level's lap, where the slot is the clock's own digit's. */
      if (rng64() % 4 == 0) d = (1ull << (9 * (1 + rng64() % 4))) - 1 - rng64() % 600;
      uint64_t back = rng64() % 8 == 0 && wheel.now_ms >= 100 ? 100 : 0; /* maybe past */
      uint64_t at = wheel.now_ms + d - back;
      x[i].period = rng64() % 4 == 0 ? 1 + any_scale(36) : 0;
      x[i].action = x[i].period ? rearm_period : NULL;
      core_timer_arm(&wheel, &x[i].t, at);
      due[i] = at > wheel.now_ms ? at : wheel.now_ms + 1;
      x[i].fired = 0;
    } else if (op < 9) {
      core_timer_cancel(&wheel, &x[i].t);
      due[i] = 0;
      x[i].fired = 0;
    } else {
      uint64_t earliest = UINT64_MAX;
      for (int k = 0; k < N; k++)
        if (due[k] && due[k] < earliest) earliest = due[k];
      int64_t tmo = core_timer_wheel_timeout(&wheel);
      if (earliest == UINT64_MAX) {
        cr_assert_eq(tmo, -1, "step %d", step);
      } else {
        cr_assert_gt(tmo, 0, "step %d", step);
        cr_assert_leq((uint64_t)tmo, earliest - wheel.now_ms, "step %d: timeout %lld past %llu",
                      step, (long long)tmo, (unsigned long long)earliest);
      }
      uint64_t to;
      if (op < 13 && tmo > 0)
        to = wheel.now_ms + (uint64_t)tmo; /* the shard's wake-up */
      else if (op < 17)
        to = wheel.now_ms + rng64() % 20;
      else
        to = wheel.now_ms + any_scale(36); /* up to ~2 years */
      core_timer_wheel_advance(&wheel, to);
      for (int k = 0; k < N; k++) {
        if (!due[k]) {
          cr_assert_eq(x[k].fired, 0, "step %d: a cancelled or fired timer fired", step);
          continue;
        }
        if (due[k] <= to) {
          cr_assert_eq(x[k].fired, 1, "step %d: timer due %llu fired %d times by %llu", step,
                       (unsigned long long)due[k], x[k].fired, (unsigned long long)to);
          cr_assert_eq(x[k].fired_at, to);
          due[k] = x[k].period ? to + x[k].period : 0;
          x[k].fired = 0;
        } else {
          cr_assert_eq(x[k].fired, 0, "step %d: timer due %llu fired early at %llu", step,
                       (unsigned long long)due[k], (unsigned long long)to);
        }
        cr_assert_eq(core_timer_armed(&x[k].t), due[k] != 0, "step %d", step);
        if (due[k]) cr_assert_eq(x[k].t.expire_ms, due[k], "step %d", step);
      }
    }
    uint32_t armed = 0;
    for (int k = 0; k < N; k++) armed += due[k] != 0;
    cr_assert_eq(wheel.count, armed, "step %d", step);
  }
}

Test(timer_wheel, randomised_against_model_on_all_scales) {
  model_run(77, 1);
  model_run(L3_MS - 3000, 2);                      /* level-3 boundary */
  model_run(L3_MS * CORE_WHEEL_SLOTS - 100000, 3); /* level-4 boundary */
  model_run((1ull << 45) - 5, 4);                  /* level-5 boundary */
}
