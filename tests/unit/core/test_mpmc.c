/* core/mpmc.h: single-thread semantics, then the two ways the ring is used: many producers and
 * one consumer (completions posted to a shard) and one producer and many consumers (a shard
 * handing work to its workers). Items are non-NULL integers encoded as pointers. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#include <criterion/criterion.h>

#include "core/mpmc.h"

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

/* ---- many producers, one consumer ---- */

#define MPSC_PRODUCERS 3u
#define MPSC_PER_PROD  500000u
#define MPSC_CAP       1024u
/* Item = seq << 2 | producer, seq in 1..MPSC_PER_PROD: never NULL, producer recoverable. */
#define MPSC_ITEM(prod, seq) (((uintptr_t)(seq) << 2) | (uintptr_t)(prod))

typedef struct mpsc_stress {
  core_mpmc q;
  core_mpmc_cell cells[MPSC_CAP];
  /* Consumer's results. */
  uint64_t count[MPSC_PRODUCERS];
  uint64_t sum[MPSC_PRODUCERS];
  uint64_t out_of_order, bad_producer;
} mpsc_stress;

typedef struct mpsc_producer_arg {
  mpsc_stress *s;
  unsigned id;
} mpsc_producer_arg;

static void *mpsc_producer(void *arg) {
  mpsc_producer_arg *a = arg;
  for (uintptr_t seq = 1; seq <= MPSC_PER_PROD; seq++) {
    while (!core_mpmc_push(&a->s->q, ITEM(MPSC_ITEM(a->id, seq)))) sched_yield();
  }
  return NULL;
}

static void *mpsc_consumer(void *arg) {
  mpsc_stress *s = arg;
  uintptr_t last[MPSC_PRODUCERS] = {0};
  uint64_t total = 0;
  while (total < (uint64_t)MPSC_PRODUCERS * MPSC_PER_PROD) {
    void *p = core_mpmc_pop(&s->q);
    if (!p) {
      sched_yield();
      continue;
    }
    uintptr_t v = UNITEM(p), prod = v & 3u, seq = v >> 2;
    total++;
    if (prod >= MPSC_PRODUCERS) {
      s->bad_producer++;
      continue;
    }
    /* Each producer's items must come out in the order that producer pushed them. */
    if (seq != last[prod] + 1) s->out_of_order++;
    last[prod] = seq;
    s->count[prod]++;
    s->sum[prod] += seq;
  }
  return NULL;
}

Test(mpmc, mpsc_stress, .timeout = 100) {
  static mpsc_stress s;
  cr_assert_eq(core_mpmc_init(&s.q, s.cells, MPSC_CAP), 0);
  pthread_t cons, prod[MPSC_PRODUCERS];
  mpsc_producer_arg args[MPSC_PRODUCERS];
  cr_assert_eq(pthread_create(&cons, NULL, mpsc_consumer, &s), 0);
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) {
    args[i] = (mpsc_producer_arg){&s, i};
    cr_assert_eq(pthread_create(&prod[i], NULL, mpsc_producer, &args[i]), 0);
  }
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) pthread_join(prod[i], NULL);
  pthread_join(cons, NULL);

  uint64_t n = MPSC_PER_PROD, want_sum = n * (n + 1) / 2;
  cr_expect_eq(s.bad_producer, 0);
  cr_expect_eq(s.out_of_order, 0, "%llu items out of per-producer order",
               (unsigned long long)s.out_of_order);
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) {
    cr_expect_eq(s.count[i], n, "producer %u: %llu items arrived", i,
                 (unsigned long long)s.count[i]);
    cr_expect_eq(s.sum[i], want_sum, "producer %u: checksum %llu, want %llu", i,
                 (unsigned long long)s.sum[i], (unsigned long long)want_sum);
  }
  cr_expect_null(core_mpmc_pop(&s.q), "ring not empty after the stress");
}

/* ---- one producer, many consumers ---- */

#define SPMC_CONSUMERS 2u
#define SPMC_N         1000000u
#define SPMC_CAP       1024u

typedef struct spmc_stress {
  core_mpmc q;
  core_mpmc_cell cells[SPMC_CAP];
  _Atomic uint64_t taken; /* items popped by all consumers together */
} spmc_stress;

typedef struct spmc_consumer {
  spmc_stress *s;
  uint8_t *seen; /* SPMC_N + 1 bytes, this consumer's own: merged after the join */
  uint64_t count, sum, out_of_order, out_of_range;
} spmc_consumer;

static void *spmc_producer(void *arg) {
  spmc_stress *s = arg;
  for (uintptr_t v = 1; v <= SPMC_N; v++) {
    while (!core_mpmc_push(&s->q, ITEM(v))) sched_yield();
  }
  return NULL;
}

static void *spmc_consume(void *arg) {
  spmc_consumer *c = arg;
  uintptr_t last = 0;
  while (atomic_load_explicit(&c->s->taken, memory_order_relaxed) < SPMC_N) {
    void *p = core_mpmc_pop(&c->s->q);
    if (!p) {
      sched_yield();
      continue;
    }
    atomic_fetch_add_explicit(&c->s->taken, 1, memory_order_relaxed);
    uintptr_t v = UNITEM(p);
    if (v == 0 || v > SPMC_N) {
      c->out_of_range++;
      continue;
    }
    /* One consumer sees a subsequence of the producer's order. */
    if (v <= last) c->out_of_order++;
    last = v;
    if (c->seen[v] < 255) c->seen[v]++;
    c->count++;
    c->sum += v;
  }
  return NULL;
}

Test(mpmc, spmc_stress, .timeout = 100) {
  static spmc_stress s;
  cr_assert_eq(core_mpmc_init(&s.q, s.cells, SPMC_CAP), 0);
  atomic_init(&s.taken, 0);
  spmc_consumer cons[SPMC_CONSUMERS];
  pthread_t ct[SPMC_CONSUMERS], pt;
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) {
    cons[i] = (spmc_consumer){.s = &s, .seen = calloc(SPMC_N + 1, 1)};
    cr_assert_not_null(cons[i].seen);
    cr_assert_eq(pthread_create(&ct[i], NULL, spmc_consume, &cons[i]), 0);
  }
  cr_assert_eq(pthread_create(&pt, NULL, spmc_producer, &s), 0);
  pthread_join(pt, NULL);
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) pthread_join(ct[i], NULL);

  uint64_t n = SPMC_N, count = 0, sum = 0, missing = 0, duplicated = 0;
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) {
    cr_expect_eq(cons[i].out_of_range, 0);
    cr_expect_eq(cons[i].out_of_order, 0, "consumer %u saw %llu items out of order", i,
                 (unsigned long long)cons[i].out_of_order);
    count += cons[i].count;
    sum += cons[i].sum;
  }
  for (uintptr_t v = 1; v <= SPMC_N; v++) {
    unsigned times = 0;
    for (unsigned i = 0; i < SPMC_CONSUMERS; i++) times += cons[i].seen[v];
    if (times == 0) missing++;
    if (times > 1) duplicated++;
  }
  cr_expect_eq(missing, 0, "%llu items never arrived", (unsigned long long)missing);
  cr_expect_eq(duplicated, 0, "%llu items arrived more than once", (unsigned long long)duplicated);
  cr_expect_eq(count, n);
  cr_expect_eq(sum, n * (n + 1) / 2);
  cr_expect_null(core_mpmc_pop(&s.q), "ring not empty after the stress");
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) free(cons[i].seen);
}
