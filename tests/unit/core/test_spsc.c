/* core/spsc.h: single-thread semantics of the ring, then a two-thread stress in which the
 * producer pushes 1..N (encoded as pointers) and the consumer checks that every item arrives,
 * once, in order. */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "core/spsc.h"
#include "stress.h"

#define ITEM(i)   ((void *)(uintptr_t)(i))
#define UNITEM(p) ((uintptr_t)(p))

TestSuite(spsc);

Test(spsc, init_rejects_bad_capacity) {
  core_spsc q;
  void *slots[16];
  cr_expect_eq(core_spsc_init(&q, slots, 0), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, slots, 3), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, slots, 6), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, slots, 12), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, slots, 15), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, NULL, 16), -EINVAL);
  cr_expect_eq(core_spsc_init(&q, slots, 2), 0);
  cr_expect_eq(core_spsc_init(&q, slots, 16), 0);
}

Test(spsc, empty_pop_returns_null) {
  core_spsc q;
  void *slots[4];
  cr_assert_eq(core_spsc_init(&q, slots, 4), 0);
  cr_expect_null(core_spsc_pop(&q));
  cr_expect_null(core_spsc_pop(&q));
}

Test(spsc, push_pop_fifo) {
  core_spsc q;
  void *slots[8];
  cr_assert_eq(core_spsc_init(&q, slots, 8), 0);
  for (uintptr_t i = 1; i <= 5; i++) cr_assert(core_spsc_push(&q, ITEM(i)));
  for (uintptr_t i = 1; i <= 5; i++) cr_assert_eq(UNITEM(core_spsc_pop(&q)), i);
  cr_expect_null(core_spsc_pop(&q));
}

Test(spsc, full_rejects_push_until_pop) {
  core_spsc q;
  void *slots[4];
  cr_assert_eq(core_spsc_init(&q, slots, 4), 0);
  for (uintptr_t i = 1; i <= 4; i++) cr_assert(core_spsc_push(&q, ITEM(i)), "push %zu", (size_t)i);
  cr_expect_not(core_spsc_push(&q, ITEM(5)), "a full ring accepted a fifth item");
  cr_expect_not(core_spsc_push(&q, ITEM(5)));
  cr_assert_eq(UNITEM(core_spsc_pop(&q)), 1);
  cr_assert(core_spsc_push(&q, ITEM(5)), "one pop frees one slot");
  cr_expect_not(core_spsc_push(&q, ITEM(6)));
  for (uintptr_t i = 2; i <= 5; i++) cr_assert_eq(UNITEM(core_spsc_pop(&q)), i);
  cr_expect_null(core_spsc_pop(&q));
}

Test(spsc, wraparound_many_laps) {
  core_spsc q;
  void *slots[4];
  cr_assert_eq(core_spsc_init(&q, slots, 4), 0);
  uintptr_t next_in = 1, next_out = 1;
  /* Uneven batch sizes so head and tail cross the end of the array at varying offsets. */
  for (int round = 0; round < 1000; round++) {
    int batch = 1 + round % 4;
    for (int k = 0; k < batch; k++) cr_assert(core_spsc_push(&q, ITEM(next_in++)));
    for (int k = 0; k < batch; k++) cr_assert_eq(UNITEM(core_spsc_pop(&q)), next_out++);
    cr_assert_null(core_spsc_pop(&q));
  }
  cr_expect_eq(next_in, next_out);
}

Test(spsc, fill_drain_repeatedly) {
  core_spsc q;
  void *slots[8];
  cr_assert_eq(core_spsc_init(&q, slots, 8), 0);
  uintptr_t v = 1;
  for (int lap = 0; lap < 100; lap++) {
    uintptr_t first = v;
    for (int k = 0; k < 8; k++) cr_assert(core_spsc_push(&q, ITEM(v++)));
    cr_assert_not(core_spsc_push(&q, ITEM(v)));
    for (int k = 0; k < 8; k++) cr_assert_eq(UNITEM(core_spsc_pop(&q)), first + (uintptr_t)k);
    cr_assert_null(core_spsc_pop(&q));
  }
}

/* ---- two-thread stress (stress.c, also run under TSan by stress_main.c) ---- */

Test(spsc, two_thread_stress, .timeout = 100) {
  cr_assert_eq(stress_spsc(2000000u), 0, "failed checks: see stderr");
}
