/* core/mpmc.h: single-thread semantics, then the two ways the ring is used: many producers and
 * one consumer (completions posted to a shard) and one producer and many consumers (a shard
 * handing work to its workers). Items are non-NULL integers encoded as pointers. */
#include <errno.h>
#include <stdint.h>

#include <criterion/criterion.h>

#include "core/mpmc.h"
#include "stress.h"

#define ITEM(i)   ((void *)(uintptr_t)(i))
#define UNITEM(p) ((uintptr_t)(p))

TestSuite(mpmc);

Test(mpmc, init_rejects_bad_capacity) {
  core_mpmc q;
  core_mpmc_cell cells[16];
  cr_expect_eq(core_mpmc_init(&q, cells, 0), -EINVAL);
  cr_expect_eq(core_mpmc_init(&q, cells, 1), -EINVAL);
  cr_expect_eq(core_mpmc_init(&q, cells, 3), -EINVAL);
  cr_expect_eq(core_mpmc_init(&q, cells, 10), -EINVAL);
  cr_expect_eq(core_mpmc_init(&q, NULL, 8), -EINVAL);
  cr_expect_eq(core_mpmc_init(&q, cells, 2), 0);
  cr_expect_eq(core_mpmc_init(&q, cells, 16), 0);
}

Test(mpmc, empty_pop_returns_null) {
  core_mpmc q;
  core_mpmc_cell cells[4];
  cr_assert_eq(core_mpmc_init(&q, cells, 4), 0);
  cr_expect_null(core_mpmc_pop(&q));
  cr_expect_null(core_mpmc_pop(&q));
}

Test(mpmc, push_pop_fifo) {
  core_mpmc q;
  core_mpmc_cell cells[8];
  cr_assert_eq(core_mpmc_init(&q, cells, 8), 0);
  for (uintptr_t i = 1; i <= 6; i++) cr_assert(core_mpmc_push(&q, ITEM(i)));
  for (uintptr_t i = 1; i <= 6; i++) cr_assert_eq(UNITEM(core_mpmc_pop(&q)), i);
  cr_expect_null(core_mpmc_pop(&q));
}

Test(mpmc, full_rejects_push_until_pop) {
  core_mpmc q;
  core_mpmc_cell cells[4];
  cr_assert_eq(core_mpmc_init(&q, cells, 4), 0);
  for (uintptr_t i = 1; i <= 4; i++) cr_assert(core_mpmc_push(&q, ITEM(i)));
  cr_expect_not(core_mpmc_push(&q, ITEM(5)), "a full ring accepted a fifth item");
  cr_assert_eq(UNITEM(core_mpmc_pop(&q)), 1);
  cr_assert(core_mpmc_push(&q, ITEM(5)), "one pop frees one slot");
  cr_expect_not(core_mpmc_push(&q, ITEM(6)));
  for (uintptr_t i = 2; i <= 5; i++) cr_assert_eq(UNITEM(core_mpmc_pop(&q)), i);
  cr_expect_null(core_mpmc_pop(&q));
}

Test(mpmc, smallest_ring_wraps) {
  core_mpmc q;
  core_mpmc_cell cells[2];
  cr_assert_eq(core_mpmc_init(&q, cells, 2), 0);
  uintptr_t in = 1, out = 1;
  for (int round = 0; round < 1000; round++) {
    int batch = 1 + round % 2;
    for (int k = 0; k < batch; k++) cr_assert(core_mpmc_push(&q, ITEM(in++)));
    if (batch == 2) cr_assert_not(core_mpmc_push(&q, ITEM(in)));
    for (int k = 0; k < batch; k++) cr_assert_eq(UNITEM(core_mpmc_pop(&q)), out++);
    cr_assert_null(core_mpmc_pop(&q));
  }
}

Test(mpmc, wraparound_many_laps) {
  core_mpmc q;
  core_mpmc_cell cells[8];
  cr_assert_eq(core_mpmc_init(&q, cells, 8), 0);
  uintptr_t in = 1, out = 1;
  for (int round = 0; round < 2000; round++) {
    int batch = 1 + round % 8;
    for (int k = 0; k < batch; k++) cr_assert(core_mpmc_push(&q, ITEM(in++)));
    for (int k = 0; k < batch; k++) cr_assert_eq(UNITEM(core_mpmc_pop(&q)), out++);
    cr_assert_null(core_mpmc_pop(&q));
  }
}

/* ---- many producers and one consumer, one producer and many consumers (stress.c, also run
 * under TSan by stress_main.c) ---- */

Test(mpmc, mpsc_stress, .timeout = 100) {
  cr_assert_eq(stress_mpsc(500000u), 0, "failed checks: see stderr");
}

Test(mpmc, spmc_stress, .timeout = 100) {
  cr_assert_eq(stress_spmc(1000000u), 0, "failed checks: see stderr");
}
