/* The run itself: every shard drives the calls in flight on its own connections ("slots",
 * plan.h), counts into its own tally (tally.h), and tells the main thread when it is done; the
 * tallies are merged at the end. Nothing is shared between shards while calls run.
 *
 * Closed loop (no --rps): a call's on_close starts the next on the same slot at once; one
 * clock read per call (its end is the next one's start).
 * Open loop (--rps): each shard starts call k at its scheduled time (plan.h) on a free slot,
 * and a call's latency runs from that time, whether it found a slot then or waited for one.
 * The client runtime has no timer a caller can arm on a shard, so a pacer thread posts a tick
 * to a shard when its next call falls due (at most one tick in flight per shard, at most one
 * per LOAD_PACE_MIN_TICK_NS); between ticks a shard also starts what is due after each
 * completion. A shard due calls more often than LOAD_PACE_FAST_INTERVAL_NS that has calls in
 * flight lives on its completions (as many as its calls) and gets a tick a millisecond at most,
 * in case they pause: the pacer's wake-ups then cost the shard's core little.
 * -z / -x: the main thread waits until the time is up, then posts a stop to each shard (close:
 * cancel what is in flight; wait: let it end; ignore: cancel and leave it out); in closed loop
 * a shard also stops starting calls by itself once the time is past. An interrupt (SIGINT,
 * SIGTERM: cfg->interrupted) stops the run the same way, and the report covers what was done.
 *
 * Hot path: request bytes packed before the run, slots preallocated, no allocation of ours per
 * call (the client copies the request; a new error text allocates once). */
#ifndef URPC_LOAD_RUN_H
#define URPC_LOAD_RUN_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "bench/load/flags.h"
#include "bench/load/request.h"
#include "bench/load/tally.h"
#include "bench/load/target.h"

#define LOAD_PACE_MIN_TICK_NS      50000   /* 50 µs */
#define LOAD_PACE_FAST_INTERVAL_NS 100000  /* a shard due a call more often than every 100 µs */
#define LOAD_PACE_BUSY_TICK_NS     1000000 /* ... with calls in flight: a tick a ms at most */

typedef struct load_run_config {
  const load_flags *flags;
  const load_request *req;
  const char *path;      /* the :path, "/pkg.Service/Method" */
  bool client_streaming; /* each call sends every message (else one, in turn) */
  /* Set (by a signal handler) to stop the run early, as -z does when its time is up; NULL: no
   * such flag. Looked at every 100 ms. */
  const volatile sig_atomic_t *interrupted;
} load_run_config;

typedef struct load_run_result {
  load_tally tally;  /* merged; the caller disposes it */
  uint64_t total_ns; /* from the start to the last call's end (or the stop, with ignore) */
} load_run_result;

/* Runs the load on the target's connections (already made: load_target_connect). The calling
 * thread waits. Returns 0 with *out filled, or -ENOMEM with one line in `err`. The shards'
 * state stays allocated until load_run_release, which must come after load_target_close: a
 * stop or tick posted to a shard that had already finished may still run until the runtime
 * stops. */
typedef struct load_run load_run;
int load_run_exec(load_target *t, const load_run_config *cfg, load_run **out,
                  load_run_result *result, char *err, size_t err_len);
void load_run_release(load_run *r);

#endif
