/* The exporter thread (urpc_trace.h): drains every shard's ring of finished spans into a batch
 * (the records themselves, given back to their shards' pools once exported), and exports a batch
 * when it is full, when the oldest span in it has waited OTEL_BSP_SCHEDULE_DELAY, on a flush
 * and at the end. A slow or failing collector holds up only this thread: meanwhile the shards'
 * pools run dry and they drop (and count) spans instead of waiting.
 *
 * Shards are never woken for this and never wake the exporter: it polls the rings every
 * POLL_NS (a few hundred cheap wake-ups a second). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/trace_impl.h"
#include "tls/tls.h"

#define POLL_NS 2000000 /* 2 ms: a shard at 100k spans/s fills 200 slots meanwhile */

void trace_rng_seed(uint64_t s[4]); /* trace.c */

trace_shard *trace_shard_new(urpc_tracer *t) {
  trace_shard *sh = calloc(1, sizeof(*sh));
  if (!sh) return NULL;
  sh->records = calloc(t->pool, sizeof(urpc_span));
  sh->full_slots = calloc(t->pool, sizeof(void *));
  sh->free_slots = calloc(t->pool, sizeof(void *));
  if (!sh->records || !sh->full_slots || !sh->free_slots ||
      core_spsc_init(&sh->full, sh->full_slots, t->pool) ||
      core_spsc_init(&sh->free, sh->free_slots, t->pool)) {
    trace_shard_free(sh);
    return NULL;
  }
  /* The shard is the free ring's consumer; filling it here, before the shard is published, is
   * the one time another thread plays its producer. */
  for (size_t i = 0; i < t->pool; i++) core_spsc_push(&sh->free, &sh->records[i]);
  trace_rng_seed(sh->rng);
  return sh;
}

void trace_shard_free(trace_shard *sh) {
  if (!sh) return;
  free(sh->records);
  free(sh->full_slots);
  free(sh->free_slots);
  free(sh);
}

static void export_batch(urpc_tracer *t) {
  if (!t->n_batch) return;
  if (t->o.on_span)
    for (size_t i = 0; i < t->n_batch; i++) t->o.on_span(t->batch[i], t->o.on_span_arg);
  int rc =
      t->otlp ? otlp_exporter_send(t->otlp, (const urpc_span *const *)t->batch, t->n_batch) : 0;
  _Atomic uint64_t *c = rc ? &t->failures : &t->exported;
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + t->n_batch,
                        memory_order_relaxed);
  for (size_t i = 0; i < t->n_batch; i++)
    core_spsc_push(&t->batch_from[i]->free, t->batch[i]); /* never full: it holds the pool */
  t->n_batch = 0;
}

/* Moves what the shards handed over into the batch, exporting each time it fills. */
static void drain(urpc_tracer *t) {
  size_t n = atomic_load_explicit(&t->n_shards, memory_order_acquire);
  for (size_t i = 0; i < n; i++) {
    /* acquire: pairs with the shard's release store that published its rings */
    trace_shard *sh = atomic_load_explicit(&t->shards[i], memory_order_acquire);
    if (!sh) continue;
    urpc_span *s;
    while ((s = core_spsc_pop(&sh->full))) {
      if (!t->n_batch) t->batch_first_ns = core_now_ns();
      t->batch_from[t->n_batch] = sh;
      t->batch[t->n_batch++] = s;
      if (t->n_batch == t->batch_max) export_batch(t);
    }
  }
}

static void *exporter_main(void *arg) {
  urpc_tracer *t = arg;
  core_log_set_tag("otlp exporter"); /* its lines: failed exports */
  for (;;) {
    bool stop = atomic_load_explicit(&t->stop, memory_order_acquire);
    uint64_t req = atomic_load_explicit(&t->flush_req, memory_order_acquire);
    drain(t);
    if (stop || req != atomic_load_explicit(&t->flush_done, memory_order_relaxed) ||
        (t->n_batch && core_now_ns() - t->batch_first_ns >= t->o.schedule_delay_ms * 1000000ull))
      export_batch(t);
    /* release: the spans exported above happen before a flusher sees its request done */
    atomic_store_explicit(&t->flush_done, req, memory_order_release);
    if (stop) {
      tls_thread_exit(); /* the handshakes of https exports */
      return NULL;
    }
    /* Even when spans came: a shard's pool (2048 records by default) outlasts POLL_NS at any
     * rate one shard reaches, and an exporter sharing a core with a shard that woke for every
     * few spans would cost that shard a context switch each time. */
    struct timespec ts = {0, POLL_NS};
    nanosleep(&ts, NULL);
  }
}

int trace_export_start(urpc_tracer *t) {
  int rc = pthread_create(&t->thread, NULL, exporter_main, t);
  if (rc) return -rc;
  pthread_setname_np(t->thread, "urpc-trace");
  t->thread_started = true;
  return 0;
}

void trace_export_stop(urpc_tracer *t) {
  if (!t->thread_started) return;
  atomic_store_explicit(&t->stop, true, memory_order_release);
  pthread_join(t->thread, NULL);
  t->thread_started = false;
}

int urpc_tracer_flush(urpc_tracer *t, unsigned timeout_ms) {
  uint64_t req = atomic_fetch_add_explicit(&t->flush_req, 1, memory_order_acq_rel) + 1;
  uint64_t deadline = core_now_ns() + timeout_ms * 1000000ull;
  while (atomic_load_explicit(&t->flush_done, memory_order_acquire) < req) {
    if (core_now_ns() >= deadline) return -ETIMEDOUT;
    struct timespec ts = {0, 500000};
    nanosleep(&ts, NULL);
  }
  return 0;
}
