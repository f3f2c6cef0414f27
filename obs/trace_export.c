/* The exporter thread (urpc_trace.h): drains every shard's ring of finished spans into a batch
 * (the records themselves, given back to their shards' pools once exported), and exports a batch
 * when it is full, when the oldest span in it has waited OTEL_BSP_SCHEDULE_DELAY, on a flush
 * and at the end. A slow or failing collector holds up only this thread: meanwhile the shards'
 * pools run dry and they drop (and count) spans instead of waiting.
 *
 * Shards are never woken for this and never wake the exporter: it polls the rings every
 * POLL_NS (a few hundred cheap wake-ups a second). The lanes and the thread's loop are
 * obs/handoff.c's. */
#include "core/clock.h"
#include "core/log.h"
#include "obs/trace_impl.h"
#include "tls/tls.h"

#define POLL_NS 2000000 /* 2 ms: a shard at 100k spans/s fills 200 slots meanwhile */

static void export_batch(urpc_tracer *t) {
  if (!t->n_batch) return;
  if (t->o.on_span)
    for (size_t i = 0; i < t->n_batch; i++) t->o.on_span(t->batch[i], t->o.on_span_arg);
  int rc =
      t->otlp ? otlp_exporter_send(t->otlp, (const urpc_span *const *)t->batch, t->n_batch) : 0;
  _Atomic uint64_t *c = rc ? &t->failures : &t->exported;
  atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + t->n_batch,
                        memory_order_relaxed);
  for (size_t i = 0; i < t->n_batch; i++) obs_lane_give_back(t->batch_from[i], t->batch[i]);
  t->n_batch = 0;
}

/* A span a shard handed over joins the batch, exported when it fills. */
static void take_span(void *arg, obs_lane *l, void *span) {
  urpc_tracer *t = arg;
  if (!t->n_batch) t->batch_first_ns = core_now_ns();
  t->batch_from[t->n_batch] = l;
  t->batch[t->n_batch++] = span;
  if (t->n_batch == t->batch_max) export_batch(t);
}

/* One turn of the exporter thread (obs/handoff.c runs it; urgent: a flush or the end). */
static void exporter_step(void *arg, bool urgent) {
  urpc_tracer *t = arg;
  obs_handoff_drain(&t->handoff, take_span, t);
  if (urgent ||
      (t->n_batch && core_now_ns() - t->batch_first_ns >= t->o.schedule_delay_ms * 1000000ull))
    export_batch(t);
}

static void exporter_exit(void *arg) {
  (void)arg;
  tls_thread_exit(); /* the handshakes of https exports */
}

int trace_export_start(urpc_tracer *t) {
  obs_handoff_thread th = {.step = exporter_step,
                           .at_exit = exporter_exit,
                           .arg = t,
                           .poll_ns = POLL_NS,
                           .name = "urpc-trace",
                           .log_tag = "otlp exporter"}; /* its lines: failed exports */
  return obs_handoff_start(&t->handoff, &th);
}

int urpc_tracer_flush(urpc_tracer *t, unsigned timeout_ms) {
  return obs_handoff_flush(&t->handoff, timeout_ms);
}
