/* core/timer_wheel.h: a timer fires at the first advance that reaches its expiry, never before
 * and never a lap early; cancel, re-arm (also from callbacks), timeouts and big jumps. Each
 * test timer records when it fired; a randomised run checks everything against a model. */
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/timer_wheel.h"

TestSuite(timer_wheel);

static core_timer_wheel wheel; /* 20 KiB of slot heads: static, not on the stack */

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
