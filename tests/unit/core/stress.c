/* The stress runs of stress.h. Items are non-NULL integers encoded as pointers; checks are
 * counted, never asserted, so the same code serves Criterion and a plain main. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mpmc.h"
#include "core/spsc.h"
#include "stress.h"

#define ITEM(i)   ((void *)(uintptr_t)(i))
#define UNITEM(p) ((uintptr_t)(p))
#define RING_CAP  1024u

static int check(int ok, const char *what, unsigned long long got, unsigned long long want) {
  if (ok) return 0;
  fprintf(stderr, "stress: %s: %llu, want %llu\n", what, got, want);
  return 1;
}

static int start(pthread_t *t, void *(*fn)(void *), void *arg) {
  if (pthread_create(t, NULL, fn, arg) == 0) return 0;
  fprintf(stderr, "stress: cannot start a thread\n");
  return 1;
}

/* ---- spsc ---- */

typedef struct spsc_run {
  core_spsc q;
  void *slots[RING_CAP];
  uint64_t n;
  /* Filled by the consumer. */
  uint64_t sum, sqsum; /* sum of items and of their squares (mod 2^64) */
  uint64_t count, out_of_order;
} spsc_run;

static void *spsc_producer(void *arg) {
  spsc_run *s = arg;
  for (uintptr_t i = 1; i <= s->n; i++)
    while (!core_spsc_push(&s->q, ITEM(i))) sched_yield();
  return NULL;
}

static void *spsc_consumer(void *arg) {
  spsc_run *s = arg;
  uintptr_t expect = 1;
  while (s->count < s->n) {
    void *p = core_spsc_pop(&s->q);
    if (!p) {
      sched_yield();
      continue;
    }
    uintptr_t v = UNITEM(p);
    if (v != expect) s->out_of_order++;
    expect = v + 1;
    s->sum += v;
    s->sqsum += (uint64_t)v * v;
    s->count++;
  }
  return NULL;
}

int stress_spsc(uint64_t n) {
  static spsc_run s;
  s = (spsc_run){.n = n};
  if (core_spsc_init(&s.q, s.slots, RING_CAP) != 0) return check(0, "spsc init", 1, 0);
  pthread_t prod, cons;
  if (start(&cons, spsc_consumer, &s)) return 1;
  if (start(&prod, spsc_producer, &s)) {
    s.n = 0; /* let the consumer end */
    pthread_join(cons, NULL);
    return 1;
  }
  pthread_join(prod, NULL);
  pthread_join(cons, NULL);
  uint64_t want_sum = 0, want_sqsum = 0;
  for (uint64_t v = 1; v <= n; v++) {
    want_sum += v;
    want_sqsum += v * v;
  }
  int bad = check(s.count == n, "spsc items arrived", s.count, n);
  bad += check(s.out_of_order == 0, "spsc items out of order", s.out_of_order, 0);
  bad += check(s.sum == want_sum, "spsc sum", s.sum, want_sum);
  bad += check(s.sqsum == want_sqsum, "spsc sum of squares", s.sqsum, want_sqsum);
  bad += check(core_spsc_pop(&s.q) == NULL, "spsc ring not empty after the run", 1, 0);
  return bad;
}

/* ---- mpsc: many producers, one consumer ---- */

#define MPSC_PRODUCERS 3u
/* Item = seq << 2 | producer, seq from 1: never NULL, producer recoverable. */
#define MPSC_ITEM(prod, seq) (((uintptr_t)(seq) << 2) | (uintptr_t)(prod))

typedef struct mpsc_run {
  core_mpmc q;
  core_mpmc_cell cells[RING_CAP];
  uint64_t n; /* per producer */
  /* Consumer's results. */
  uint64_t count[MPSC_PRODUCERS], sum[MPSC_PRODUCERS];
  uint64_t out_of_order, bad_producer;
} mpsc_run;

typedef struct mpsc_producer_arg {
  mpsc_run *s;
  unsigned id;
} mpsc_producer_arg;

static void *mpsc_producer(void *arg) {
  mpsc_producer_arg *a = arg;
  for (uintptr_t seq = 1; seq <= a->s->n; seq++)
    while (!core_mpmc_push(&a->s->q, ITEM(MPSC_ITEM(a->id, seq)))) sched_yield();
  return NULL;
}

static void *mpsc_consumer(void *arg) {
  mpsc_run *s = arg;
  uintptr_t last[MPSC_PRODUCERS] = {0};
  uint64_t total = 0;
  while (total < (uint64_t)MPSC_PRODUCERS * s->n) {
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

int stress_mpsc(uint64_t n) {
  static mpsc_run s;
  s = (mpsc_run){.n = n};
  if (core_mpmc_init(&s.q, s.cells, RING_CAP) != 0) return check(0, "mpmc init", 1, 0);
  pthread_t cons, prod[MPSC_PRODUCERS];
  mpsc_producer_arg args[MPSC_PRODUCERS];
  if (start(&cons, mpsc_consumer, &s)) return 1;
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) {
    args[i] = (mpsc_producer_arg){&s, i};
    if (start(&prod[i], mpsc_producer, &args[i])) abort(); /* the consumer would wait forever */
  }
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) pthread_join(prod[i], NULL);
  pthread_join(cons, NULL);
  uint64_t want_sum = n * (n + 1) / 2;
  int bad = check(s.bad_producer == 0, "mpsc items from no producer", s.bad_producer, 0);
  bad += check(s.out_of_order == 0, "mpsc items out of per-producer order", s.out_of_order, 0);
  for (unsigned i = 0; i < MPSC_PRODUCERS; i++) {
    bad += check(s.count[i] == n, "mpsc items arrived from one producer", s.count[i], n);
    bad += check(s.sum[i] == want_sum, "mpsc checksum of one producer", s.sum[i], want_sum);
  }
  bad += check(core_mpmc_pop(&s.q) == NULL, "mpsc ring not empty after the run", 1, 0);
  return bad;
}

/* ---- spmc: one producer, many consumers ---- */

#define SPMC_CONSUMERS 2u

typedef struct spmc_run {
  core_mpmc q;
  core_mpmc_cell cells[RING_CAP];
  uint64_t n;
  _Atomic uint64_t taken; /* items popped by all consumers together */
} spmc_run;

typedef struct spmc_consumer {
  spmc_run *s;
  uint8_t *seen; /* n + 1 bytes, this consumer's own: merged after the join */
  uint64_t count, sum, out_of_order, out_of_range;
} spmc_consumer;

static void *spmc_producer(void *arg) {
  spmc_run *s = arg;
  for (uintptr_t v = 1; v <= s->n; v++)
    while (!core_mpmc_push(&s->q, ITEM(v))) sched_yield();
  return NULL;
}

static void *spmc_consume(void *arg) {
  spmc_consumer *c = arg;
  uintptr_t last = 0;
  while (atomic_load_explicit(&c->s->taken, memory_order_relaxed) < c->s->n) {
    void *p = core_mpmc_pop(&c->s->q);
    if (!p) {
      sched_yield();
      continue;
    }
    atomic_fetch_add_explicit(&c->s->taken, 1, memory_order_relaxed);
    uintptr_t v = UNITEM(p);
    if (v == 0 || v > c->s->n) {
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

int stress_spmc(uint64_t n) {
  static spmc_run s;
  s.n = n;
  atomic_init(&s.taken, 0);
  if (core_mpmc_init(&s.q, s.cells, RING_CAP) != 0) return check(0, "mpmc init", 1, 0);
  spmc_consumer cons[SPMC_CONSUMERS];
  pthread_t ct[SPMC_CONSUMERS], pt;
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) {
    cons[i] = (spmc_consumer){.s = &s, .seen = calloc(n + 1, 1)};
    if (!cons[i].seen || start(&ct[i], spmc_consume, &cons[i])) abort();
  }
  if (start(&pt, spmc_producer, &s)) abort();
  pthread_join(pt, NULL);
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) pthread_join(ct[i], NULL);

  uint64_t count = 0, sum = 0, missing = 0, duplicated = 0;
  int bad = 0;
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) {
    bad += check(cons[i].out_of_range == 0, "spmc items out of range", cons[i].out_of_range, 0);
    bad += check(cons[i].out_of_order == 0, "spmc items out of order at one consumer",
                 cons[i].out_of_order, 0);
    count += cons[i].count;
    sum += cons[i].sum;
  }
  for (uintptr_t v = 1; v <= n; v++) {
    unsigned times = 0;
    for (unsigned i = 0; i < SPMC_CONSUMERS; i++) times += cons[i].seen[v];
    if (times == 0) missing++;
    if (times > 1) duplicated++;
  }
  bad += check(missing == 0, "spmc items never arrived", missing, 0);
  bad += check(duplicated == 0, "spmc items arrived more than once", duplicated, 0);
  bad += check(count == n, "spmc items arrived", count, n);
  bad += check(sum == n * (n + 1) / 2, "spmc sum", sum, n * (n + 1) / 2);
  bad += check(core_mpmc_pop(&s.q) == NULL, "spmc ring not empty after the run", 1, 0);
  for (unsigned i = 0; i < SPMC_CONSUMERS; i++) free(cons[i].seen);
  return bad;
}
