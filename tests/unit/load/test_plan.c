/* bench/load/plan.h and tally.h: where calls in flight go (connections, shards), how -n and
 * --rps are split so that shards end together, the open-loop schedule, and the per-shard counts
 * merged as ghz would have counted them in one place. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "bench/load/plan.h"
#include "bench/load/tally.h"

Test(plan, slots_round_robin_over_connections_and_shards) {
  /* 16 connections x 32 streams on 3 shards: 6, 5 and 5 connections, 32 slots each. */
  uint64_t sum = 0;
  for (int s = 0; s < 3; s++) sum += load_shard_slots(512, 16, 3, s);
  cr_expect_eq(sum, 512);
  cr_expect_eq(load_shard_slots(512, 16, 3, 0), 6 * 32);
  cr_expect_eq(load_shard_slots(512, 16, 3, 1), 5 * 32);
  /* 10 in flight on 4 connections: 3 3 2 2. */
  cr_expect_eq(load_connection_slots(10, 4, 0), 3);
  cr_expect_eq(load_connection_slots(10, 4, 1), 3);
  cr_expect_eq(load_connection_slots(10, 4, 2), 2);
  cr_expect_eq(load_connection_slots(10, 4, 3), 2);
  /* The same count slot by slot, as run.c assigns them. */
  uint64_t per_conn[4] = {0}, per_shard[2] = {0};
  for (uint64_t j = 0; j < 10; j++) {
    uint32_t c = load_slot_connection(j, 4);
    per_conn[c]++;
    per_shard[load_connection_shard(c, 2)]++;
  }
  for (uint32_t c = 0; c < 4; c++) cr_expect_eq(per_conn[c], load_connection_slots(10, 4, c));
  cr_expect_eq(per_shard[0], load_shard_slots(10, 4, 2, 0));
  cr_expect_eq(per_shard[1], load_shard_slots(10, 4, 2, 1));
}

Test(plan, split_in_proportion_adds_up) {
  uint64_t w[3] = {192, 160, 160}, out[3];
  load_split(1000, w, 3, out);
  cr_expect_eq(out[0] + out[1] + out[2], 1000);
  cr_expect_eq(out[0], 376); /* 375 + one of the remainder */
  cr_expect_eq(out[1], 312);
  cr_expect_eq(out[2], 312);
  uint64_t w2[2] = {1, 1}, out2[2];
  load_split(1, w2, 2, out2);
  cr_expect_eq(out2[0], 1);
  cr_expect_eq(out2[1], 0);
  uint64_t w3[3] = {0, 5, 5}, out3[3];
  load_split(7, w3, 3, out3);
  cr_expect_eq(out3[0], 0);
  cr_expect_eq(out3[1] + out3[2], 7);
  uint64_t big[2] = {3, 1}, outb[2];
  load_split(UINT64_MAX / 2, big, 2, outb);
  cr_expect_eq(outb[0] + outb[1], UINT64_MAX / 2);
}

Test(plan, one_shard_schedule) {
  load_sched s;
  load_sched_init(&s, 200, 50, 50, 0, 1); /* 200/s: every 5 ms from 0 */
  cr_expect_eq(load_sched_at(&s, 0), 0);
  cr_expect_eq(load_sched_at(&s, 1), 5000000);
  cr_expect_eq(load_sched_at(&s, 200), 1000000000);
  cr_expect_eq(load_sched_due(&s, 0), 1);
  cr_expect_eq(load_sched_due(&s, 4999999), 1);
  cr_expect_eq(load_sched_due(&s, 5000000), 2);
  cr_expect_eq(load_sched_due(&s, 999999999), 200);
  cr_expect_eq(load_sched_due(&s, 1000000000), 201);
}

Test(plan, shards_interleave_as_one_schedule) {
  /* 3 shards with equal slots at 300/s: together one call every 3.33 ms, in turn. */
  load_sched s[3];
  for (int i = 0; i < 3; i++) load_sched_init(&s[i], 300, 10, 30, i, 3);
  uint64_t times[30];
  int n = 0;
  for (uint64_t k = 0; k < 10; k++)
    for (int i = 0; i < 3; i++) times[n++] = load_sched_at(&s[i], k);
  for (int j = 0; j < 30; j++) {
    double want = j * 1e9 / 300;
    cr_expect(times[j] >= want - 2 && times[j] <= want + 2, "call %d at %lu, want %.0f", j,
              (unsigned long)times[j], want);
  }
  /* Over one second, each shard has a third of the calls due. */
  for (int i = 0; i < 3; i++) cr_expect_eq(load_sched_due(&s[i], 999999999), 100);
  /* Unequal slots: rates in proportion (2:1 of 300/s). */
  load_sched a, b;
  load_sched_init(&a, 300, 20, 30, 0, 2);
  load_sched_init(&b, 300, 10, 30, 1, 2);
  cr_expect_eq(load_sched_due(&a, 999999999), 200);
  cr_expect_eq(load_sched_due(&b, 999999999), 100);
}

Test(plan, due_agrees_with_at) {
  load_sched s;
  load_sched_init(&s, 7, 3, 7, 1, 3); /* an awkward interval */
  for (uint64_t k = 0; k < 1000; k++) {
    uint64_t at = load_sched_at(&s, k);
    cr_assert_eq(load_sched_due(&s, at), k + 1, "k %lu", (unsigned long)k);
    if (at) cr_assert_eq(load_sched_due(&s, at - 1), k, "k %lu", (unsigned long)k);
  }
}

/* ---- tally.h ---- */

Test(tally, ok_calls_go_to_the_histogram_errors_by_text) {
  load_tally t;
  cr_assert_eq(load_tally_init(&t), 0);
  load_tally_record(&t, 0, NULL, 1000000);
  load_tally_record(&t, 0, NULL, 3000000);
  load_tally_record(&t, 14, "connection refused", 5);
  load_tally_record(&t, 14, "connection refused", 5);
  load_tally_record(&t, 12, "unknown method", 5);
  load_tally_record(&t, 99, "odd", 5); /* outside gRPC's codes: UNKNOWN */
  cr_expect_eq(t.count, 6);
  cr_expect_eq(t.ok->count, 2);
  cr_expect_eq(t.ok->min, 1000000);
  cr_expect_eq(t.status[0], 2);
  cr_expect_eq(t.status[14], 2);
  cr_expect_eq(t.status[12], 1);
  cr_expect_eq(t.status[2], 1);
  cr_assert_eq(t.n_errors, 3);
  cr_expect_str_eq(t.errors[0].name, "rpc error: code = Unavailable desc = connection refused");
  cr_expect_eq(t.errors[0].n, 2);
  cr_expect_str_eq(t.errors[1].name, "rpc error: code = Unimplemented desc = unknown method");
  cr_expect_str_eq(t.errors[2].name, "rpc error: code = Unknown desc = odd");
  load_tally_dispose(&t);
}

Test(tally, merge_adds_everything) {
  load_tally a, b, m;
  cr_assert_eq(load_tally_init(&a), 0);
  cr_assert_eq(load_tally_init(&b), 0);
  cr_assert_eq(load_tally_init(&m), 0);
  for (int i = 0; i < 100; i++) load_tally_record(&a, 0, NULL, 1000 + (uint64_t)i);
  for (int i = 0; i < 50; i++) load_tally_record(&b, 0, NULL, 5000 + (uint64_t)i);
  load_tally_record(&a, 4, "deadline", 1);
  load_tally_record(&b, 4, "deadline", 1);
  load_tally_record(&b, 1, "cancelled", 1);
  cr_assert_eq(load_tally_merge(&m, &a), 0);
  cr_assert_eq(load_tally_merge(&m, &b), 0);
  cr_expect_eq(m.count, 153);
  cr_expect_eq(m.ok->count, 150);
  cr_expect_eq(m.ok->min, 1000);
  cr_expect_eq(m.ok->max, 5049);
  cr_expect_eq(m.status[4], 2);
  cr_expect_eq(m.status[1], 1);
  cr_assert_eq(m.n_errors, 2);
  cr_expect_eq(m.errors[0].n, 2);
  load_tally_dispose(&a);
  load_tally_dispose(&b);
  load_tally_dispose(&m);
}

Test(tally, distinct_texts_are_bounded) {
  load_tally t;
  cr_assert_eq(load_tally_init(&t), 0);
  char msg[32];
  for (int i = 0; i < LOAD_TALLY_MAX_ERRORS + 10; i++) {
    snprintf(msg, sizeof(msg), "error %d", i);
    load_tally_record(&t, 13, msg, 1);
  }
  cr_expect_eq(t.status[13], LOAD_TALLY_MAX_ERRORS + 10);
  cr_expect_eq(t.n_errors, LOAD_TALLY_MAX_ERRORS + 1);
  uint64_t n = 0;
  for (size_t i = 0; i < t.n_errors; i++) n += t.errors[i].n;
  cr_expect_eq(n, LOAD_TALLY_MAX_ERRORS + 10);
  cr_expect_str_eq(t.errors[t.n_errors - 1].name, LOAD_TALLY_OTHER_ERRORS);
  cr_expect_eq(t.errors[t.n_errors - 1].n, 10);
  load_tally_dispose(&t);
}
