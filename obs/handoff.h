/* Records handed from shard threads to one background thread, for the interceptors of obs/ that
 * do their work off the call path (tracing's exporter, the access log's writer). Private to obs/.
 *
 * Each shard gets a lane at its first call (published with a release store; the consumer loads
 * it with acquire): a pool of fixed-size records and two single-producer single-consumer rings,
 * `full` (shard -> consumer: filled records) and `free` (consumer -> shard: records to reuse).
 * Both rings can hold every record, so a push never fails; a shard with no free record drops
 * what it had to hand over and counts it. A shard never blocks, locks or allocates after its
 * lane exists.
 *
 * The consumer thread calls `step` in a loop and sleeps `poll_ns` after each (shards never wake
 * it): even when records came, since a lane's pool outlasts the nap at any rate one shard
 * reaches, and a consumer sharing a core with a shard that woke for every few records would
 * cost that shard a context switch each time. obs_handoff_flush and obs_handoff_stop make the
 * next step "urgent": it must write out everything it holds before returning. */
#ifndef URPC_OBS_HANDOFF_H
#define URPC_OBS_HANDOFF_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counter.h"
#include "core/spsc.h"

#define OBS_MAX_SHARDS 1024 /* as the server's */

typedef struct obs_lane {
  core_spsc full, free;
  void **full_slots, **free_slots;
  unsigned char *records;
  core_ctr taken, dropped; /* one writer, the shard: records asked for, of those none free */
  uint64_t local[];        /* the owner's per-shard state (local_size bytes), shard thread only */
} obs_lane;

/* The consumer thread. */
typedef struct obs_handoff_thread {
  void (*step)(void *arg, bool urgent);
  void (*at_exit)(void *arg); /* on the thread, after its last step; may be NULL */
  void *arg;
  uint64_t poll_ns;    /* the nap after each step, below 1 s */
  const char *name;    /* the thread's name, 15 bytes at most */
  const char *log_tag; /* the tag of its core_log lines */
} obs_handoff_thread;

typedef struct obs_handoff {
  size_t record_size, cap, local_size; /* cap: records per lane, a power of two */
  void (*init_local)(void *local);
  _Atomic(obs_lane *) lanes[OBS_MAX_SHARDS];
  _Atomic size_t n_lanes; /* lanes[n_lanes..] are all NULL */
  /* the consumer thread */
  obs_handoff_thread t;
  pthread_t thread;
  bool started;
  _Atomic bool stop; /* readable by the step (e.g. to give up retries) */
  _Atomic uint64_t flush_req, flush_done;
} obs_handoff;

/* Lanes of at least `min_records` records of `record_size` bytes, each with `local_size` bytes
 * of shard-owned state (zeroed, then `init_local` if not NULL, before the lane is published).
 * Returns 0 or -EINVAL. Nothing is allocated until a shard's first call. */
int obs_handoff_init(obs_handoff *h, size_t record_size, size_t min_records, size_t local_size,
                     void (*init_local)(void *local));
/* Starts the consumer thread (`t` is copied). Returns 0 or -errno. */
int obs_handoff_start(obs_handoff *h, const obs_handoff_thread *t);
/* Runs one last urgent step and joins the thread (nothing if never started). */
void obs_handoff_stop(obs_handoff *h);
/* After stop: frees every lane. */
void obs_handoff_dispose(obs_handoff *h);
/* Waits until a step that began after this call (urgent) is done, at most `timeout_ms`. Any
 * thread but a shard's and the consumer's. Returns 0 or -ETIMEDOUT. */
int obs_handoff_flush(obs_handoff *h, unsigned timeout_ms);
/* Sums of every lane's counters. Any thread. */
void obs_handoff_counts(obs_handoff *h, uint64_t *taken, uint64_t *dropped);

/* ---- shard thread ---- */

/* The lane of shard `shard`, made at its first use; NULL when out of memory or out of range. */
obs_lane *obs_handoff_lane(obs_handoff *h, int shard);

/* A free record to fill, or NULL (counted as dropped). */
static inline void *obs_lane_take(obs_lane *l) {
  core_ctr_inc(&l->taken);
  void *r = core_spsc_pop(&l->free);
  if (!r) core_ctr_inc(&l->dropped);
  return r;
}

/* Hands a filled record to the consumer. Never fails: the ring holds the whole pool. */
static inline void obs_lane_publish(obs_lane *l, void *record) {
  core_spsc_push(&l->full, record);
}

/* ---- consumer thread ---- */

/* Lane `i` (0 .. n_lanes), or NULL if that shard has not made one yet. */
static inline obs_lane *obs_handoff_lane_at(obs_handoff *h, size_t i) {
  /* acquire: pairs with the shard's release store that published its rings */
  return atomic_load_explicit(&h->lanes[i], memory_order_acquire);
}

static inline size_t obs_handoff_lanes(obs_handoff *h) {
  return atomic_load_explicit(&h->n_lanes, memory_order_acquire);
}

/* Hands every filled record of every lane to `take` (with its lane), which gives it back with
 * obs_lane_give_back, at once or later. Returns whether any came. */
bool obs_handoff_drain(obs_handoff *h, void (*take)(void *arg, obs_lane *lane, void *record),
                       void *arg);

/* Gives a record back to its lane's pool once done with it. */
static inline void obs_lane_give_back(obs_lane *l, void *record) {
  core_spsc_push(&l->free, record); /* never full: it holds the pool */
}

#endif
