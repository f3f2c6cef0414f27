/* Per-shard record lanes and the thread that drains them (handoff.h). A lane is made by its
 * shard at its first call and freed only after the consumer has stopped. */
#include "obs/handoff.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"

int obs_handoff_init(obs_handoff *h, size_t record_size, size_t min_records, size_t local_size,
                     void (*init_local)(void *local)) {
  memset(h, 0, sizeof(*h));
  if (!record_size || !min_records || min_records > (1u << 20)) return -EINVAL;
  h->record_size = (record_size + 63) & ~(size_t)63; /* no record shares a line with the next */
  h->cap = 2;
  while (h->cap < min_records) h->cap *= 2;
  h->local_size = (local_size + 7) & ~(size_t)7;
  h->init_local = init_local;
  return 0;
}

static void lane_free(obs_lane *l) {
  if (!l) return;
  free(l->records);
  free(l->full_slots);
  free(l->free_slots);
  free(l);
}

static obs_lane *lane_new(obs_handoff *h) {
  obs_lane *l =
      aligned_alloc(CORE_CACHELINE, (sizeof(obs_lane) + h->local_size + CORE_CACHELINE - 1) &
                                        ~(size_t)(CORE_CACHELINE - 1));
  if (!l) return NULL;
  memset(l, 0, sizeof(*l) + h->local_size);
  l->records = aligned_alloc(CORE_CACHELINE, h->cap * h->record_size);
  l->full_slots = calloc(h->cap, sizeof(void *));
  l->free_slots = calloc(h->cap, sizeof(void *));
  if (!l->records || !l->full_slots || !l->free_slots ||
      core_spsc_init(&l->full, l->full_slots, h->cap) ||
      core_spsc_init(&l->free, l->free_slots, h->cap)) {
    lane_free(l);
    return NULL;
  }
  memset(l->records, 0, h->cap * h->record_size);
  /* The shard is the free ring's consumer; filling it here, before the lane is published, is
   * the one time another party plays its producer. */
  for (size_t i = 0; i < h->cap; i++) core_spsc_push(&l->free, l->records + i * h->record_size);
  if (h->init_local) h->init_local(l->local);
  return l;
}

obs_lane *obs_handoff_lane(obs_handoff *h, int shard) {
  if (shard < 0 || shard >= OBS_MAX_SHARDS) return NULL;
  obs_lane *l = atomic_load_explicit(&h->lanes[shard], memory_order_relaxed);
  if (l) return l;
  l = lane_new(h); /* once per shard, at its first call */
  if (!l) return NULL;
  /* release: the consumer, loading it with acquire, sees the rings initialised */
  atomic_store_explicit(&h->lanes[shard], l, memory_order_release);
  size_t n = atomic_load_explicit(&h->n_lanes, memory_order_relaxed);
  while (n < (size_t)shard + 1 &&
         !atomic_compare_exchange_weak_explicit(&h->n_lanes, &n, (size_t)shard + 1,
                                                memory_order_release, memory_order_relaxed)) {
  }
  return l;
}

void obs_handoff_counts(obs_handoff *h, uint64_t *taken, uint64_t *dropped) {
  *taken = *dropped = 0;
  size_t n = obs_handoff_lanes(h);
  for (size_t i = 0; i < n; i++) {
    obs_lane *l = obs_handoff_lane_at(h, i);
    if (!l) continue;
    *taken += core_ctr_get(&l->taken);
    *dropped += core_ctr_get(&l->dropped);
  }
}

bool obs_handoff_drain(obs_handoff *h, void (*take)(void *arg, obs_lane *lane, void *record),
                       void *arg) {
  bool any = false;
  size_t n = obs_handoff_lanes(h);
  for (size_t i = 0; i < n; i++) {
    obs_lane *l = obs_handoff_lane_at(h, i);
    if (!l) continue;
    void *r;
    while ((r = core_spsc_pop(&l->full))) {
      take(arg, l, r);
      any = true;
    }
  }
  return any;
}

static void *consumer_main(void *arg) {
  obs_handoff *h = arg;
  if (h->t.log_tag) core_log_set_tag(h->t.log_tag);
  for (;;) {
    bool stop = atomic_load_explicit(&h->stop, memory_order_acquire);
    uint64_t req = atomic_load_explicit(&h->flush_req, memory_order_acquire);
    h->t.step(h->t.arg, stop || req != atomic_load_explicit(&h->flush_done, memory_order_relaxed));
    /* release: what the step wrote out happens before a flusher sees its request done */
    atomic_store_explicit(&h->flush_done, req, memory_order_release);
    if (stop) break;
    struct timespec ts = {0, (long)h->t.poll_ns};
    nanosleep(&ts, NULL);
  }
  if (h->t.at_exit) h->t.at_exit(h->t.arg);
  return NULL;
}

int obs_handoff_start(obs_handoff *h, const obs_handoff_thread *t) {
  h->t = *t;
  if (h->t.poll_ns >= 1000000000u) h->t.poll_ns = 999999999u;
  int rc = pthread_create(&h->thread, NULL, consumer_main, h);
  if (rc) return -rc;
  if (t->name) pthread_setname_np(h->thread, t->name);
  h->started = true;
  return 0;
}

void obs_handoff_stop(obs_handoff *h) {
  if (!h->started) return;
  atomic_store_explicit(&h->stop, true, memory_order_release);
  pthread_join(h->thread, NULL);
  h->started = false;
}

void obs_handoff_dispose(obs_handoff *h) {
  size_t n = obs_handoff_lanes(h);
  for (size_t i = 0; i < n; i++) {
    lane_free(obs_handoff_lane_at(h, i));
    atomic_store_explicit(&h->lanes[i], NULL, memory_order_relaxed);
  }
  atomic_store_explicit(&h->n_lanes, 0, memory_order_relaxed);
}

int obs_handoff_flush(obs_handoff *h, unsigned timeout_ms) {
  uint64_t req = atomic_fetch_add_explicit(&h->flush_req, 1, memory_order_acq_rel) + 1;
  uint64_t deadline = core_now_ns() + timeout_ms * 1000000ull;
  while (atomic_load_explicit(&h->flush_done, memory_order_acquire) < req) {
    if (core_now_ns() >= deadline) return -ETIMEDOUT;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
  return 0;
}
