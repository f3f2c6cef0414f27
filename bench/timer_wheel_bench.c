/* Micro-benchmark of core/timer_wheel: what one shard loop turn pays for its timers.
 *
 * For each timer count N it arms N keepalive-like timers (uniform over 1-2 h ahead, as every
 * connection holds one) and measures, in ns per call: core_timer_wheel_timeout(); an advance of
 * one millisecond that fires nothing; re-arming a random timer 2 h ahead (a keepalive pushed
 * back by a read); and, separately, advancing 1 ms at a time through N timers due within 10 s
 * (ns per timer fired). Uses only the public interface, so it also builds against an older
 * timer_wheel.c for before/after figures. Wall-clock numbers: run it on a quiet machine. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/timer_wheel.h"

#define HOUR_MS (3600u * 1000u)

static core_timer_wheel wheel; /* tens of KiB: static, not on the stack */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rng_state = 88172645463325252ull;
static uint64_t rnd(void) { /* xorshift64: deterministic, no libc state */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static unsigned fired;
static void on_fire(core_timer *t, void *arg) {
  (void)t;
  (void)arg;
  fired++;
}

/* Calls `op` in batches until `budget_ns` has passed (at least 3 times, at most `max_calls`);
 * returns ns per call. The budget keeps the slow cases (milliseconds per call) short. */
typedef void (*op_fn)(core_timer *timers, unsigned n);
static double measure_once(op_fn op, core_timer *timers, unsigned n, uint64_t budget_ns,
                           unsigned max_calls) {
  unsigned calls = 0, batch = 1;
  uint64_t start = now_ns(), elapsed;
  do {
    for (unsigned i = 0; i < batch; i++) op(timers, n);
    calls += batch;
    elapsed = now_ns() - start;
    if (batch < 4096) batch *= 2;
  } while ((elapsed < budget_ns || calls < 3) && calls < max_calls);
  return (double)elapsed / calls;
}

static void arm_far(core_timer *timers, unsigned n) {
  core_timer_wheel_init(&wheel, 1000000);
  for (unsigned i = 0; i < n; i++) {
    core_timer_init(&timers[i], on_fire, NULL);
    core_timer_arm(&wheel, &timers[i], wheel.now_ms + HOUR_MS + rnd() % HOUR_MS);
  }
}

/* Best of three runs, each on freshly armed timers: other processes only ever add time. */
static double measure(op_fn op, core_timer *timers, unsigned n, uint64_t budget_ns,
                      unsigned max_calls) {
  double best = 0;
  for (int run = 0; run < 3; run++) {
    arm_far(timers, n);
    double ns = measure_once(op, timers, n, budget_ns, max_calls);
    if (!run || ns < best) best = ns;
  }
  return best;
}

static volatile int64_t sink;
static void op_timeout(core_timer *timers, unsigned n) {
  (void)timers;
  (void)n;
  sink += core_timer_wheel_timeout(&wheel);
}
static void op_step(core_timer *timers, unsigned n) {
  (void)timers;
  (void)n;
  core_timer_wheel_advance(&wheel, wheel.now_ms + 1);
}
static void op_rearm(core_timer *timers, unsigned n) {
  core_timer_arm(&wheel, &timers[rnd() % n], wheel.now_ms + 2 * HOUR_MS);
}

/* N timers due within 10 s, stepped through 1 ms at a time: ns per timer fired. */
static double fire_once(core_timer *timers, unsigned n) {
  core_timer_wheel_init(&wheel, 1000000);
  for (unsigned i = 0; i < n; i++) {
    core_timer_init(&timers[i], on_fire, NULL);
    core_timer_arm(&wheel, &timers[i], wheel.now_ms + 1 + rnd() % 10000);
  }
  fired = 0;
  uint64_t start = now_ns();
  while (wheel.count) core_timer_wheel_advance(&wheel, wheel.now_ms + 1);
  double ns = (double)(now_ns() - start) / n;
  if (fired != n) fprintf(stderr, "fired %u of %u\n", fired, n);
  return ns;
}

int main(int argc, char **argv) {
  static const unsigned defaults[] = {1000, 10000, 100000};
  unsigned nn = argc > 1 ? (unsigned)(argc - 1) : 3;
  printf("%8s %12s %12s %12s %14s\n", "timers", "timeout ns", "step ns", "rearm ns",
         "fire ns/timer");
  for (unsigned k = 0; k < nn; k++) {
    unsigned n = argc > 1 ? (unsigned)strtoul(argv[k + 1], NULL, 10) : defaults[k];
    if (!n) continue;
    core_timer *timers = calloc(n, sizeof(*timers));
    if (!timers) return 1;
    double t_timeout = measure(op_timeout, timers, n, 200000000, UINT32_MAX);
    /* Fewer steps than the hour before the first expiry: this measures turns that fire nothing. */
    double t_step = measure(op_step, timers, n, 200000000, 3000000);
    double t_rearm = measure(op_rearm, timers, n, 200000000, UINT32_MAX);

    double t_fire = 0;
    for (int run = 0; run < 3; run++) {
      double ns = fire_once(timers, n);
      if (!run || ns < t_fire) t_fire = ns;
    }
    printf("%8u %12.1f %12.1f %12.1f %14.1f\n", n, t_timeout, t_step, t_rearm, t_fire);
    free(timers);
  }
  return 0;
}
