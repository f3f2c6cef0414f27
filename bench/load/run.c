/* The load loop (run.h).
 *
 * A shard's idle slots wait in a FIFO; refill() starts calls on them while the shard may start
 * one (closed loop: calls left and time left; open loop: a call is due), and is the one place
 * that does. It is not reentrant: a call that ends inside a start (a cancel after a failed
 * send) only queues its slot, and the refill under way takes it. A shard is finished once
 * nothing is in flight and nothing more may start; it says so once (a count under the run's
 * mutex, a condition the main thread waits on), and from then on the stops and ticks that still
 * reach it change nothing (the main thread reads its tally after the unlock). */
#include "bench/load/run.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include "bench/load/plan.h"

typedef struct load_shard load_shard;

typedef struct load_slot {
  load_shard *sh;
  urpc_channel *ch;
  urpc_client_call *call;    /* NULL while idle */
  uint64_t t_start;          /* when the call was due: its latency counts from here */
  uint64_t msg_pos, msg_end; /* request messages still to send: msgs[pos % n] .. end */
} load_slot;

struct load_shard {
  /* Shard thread only during the run; the main thread reads after the shard's post. */
  load_slot *slots;
  uint32_t n_slots;
  uint32_t *idle; /* FIFO of idle slot indices, n_slots long */
  uint32_t idle_head, idle_n;
  uint64_t quota; /* calls this shard may start; UINT64_MAX when only time bounds it */
  uint64_t started, inflight;
  uint64_t msg_next;   /* the next request message, for calls that send one */
  uint64_t t0, t_stop; /* absolute ns; t_stop 0: none */
  uint64_t t_end;      /* the last call's end (or the stop, when ignoring) */
  bool open, refilling, stopping, ignoring, finished;
  load_sched sched;
  load_tally tally;
  /* Read-only during the run. */
  load_run *run;
  int index;
  /* The pacer sets it before posting a tick, the tick clears it first thing. */
  _Alignas(64) atomic_bool tick_pending;
  /* Open loop: calls are in flight, so completions will come and start what falls due; the
   * shard writes it when that changes (not per call), the pacer reads it. */
  atomic_bool busy;
};

struct load_run {
  load_target *t;
  const load_run_config *cfg;
  urpc_client_call_options opts;
  load_shard **shards;
  int n;
  pthread_mutex_t mu; /* with cv: the count of finished shards, the main thread waits on it */
  pthread_cond_t cv;  /* on CLOCK_MONOTONIC */
  int n_finished;
  uint64_t t0, t_stop;
  atomic_bool pacer_stop;
  pthread_t pacer;
  bool pacer_started, sync_ready;
};

/* The FIFO wraps by comparison, not by a division per call. */
static void idle_push(load_shard *sh, load_slot *s) {
  uint32_t i = sh->idle_head + sh->idle_n;
  if (i >= sh->n_slots) i -= sh->n_slots;
  sh->idle[i] = (uint32_t)(s - sh->slots);
  sh->idle_n++;
}

static load_slot *idle_pop(load_shard *sh) {
  load_slot *s = &sh->slots[sh->idle[sh->idle_head]];
  if (++sh->idle_head == sh->n_slots) sh->idle_head = 0;
  sh->idle_n--;
  return s;
}

/* Whether a call may start now, and when it counts from (t). */
static bool next_due(load_shard *sh, uint64_t now, uint64_t *t) {
  if (sh->stopping || sh->started >= sh->quota) return false;
  if (!sh->open) {
    *t = now;
    return !sh->t_stop || now < sh->t_stop;
  }
  uint64_t at = sh->t0 + load_sched_at(&sh->sched, sh->started);
  if (at > now || (sh->t_stop && at >= sh->t_stop)) return false;
  *t = at;
  return true;
}

/* Whether any call may still start, now or later. */
static bool more_to_come(const load_shard *sh) {
  if (sh->stopping || sh->started >= sh->quota) return false;
  if (!sh->t_stop) return true;
  if (sh->open) return sh->t0 + load_sched_at(&sh->sched, sh->started) < sh->t_stop;
  return load_now_ns() < sh->t_stop;
}

static void maybe_finish(load_shard *sh) {
  if (sh->finished || sh->inflight || more_to_come(sh)) return;
  sh->finished = true;
  load_run *r = sh->run; /* the unlock is the last touch: the tally is the main thread's then */
  pthread_mutex_lock(&r->mu);
  r->n_finished++;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
}

static void on_close(urpc_client_call *call, urpc_status_code status, const char *message,
                     void *user);
static void on_writable(urpc_client_call *call, void *user);

static const urpc_client_call_handlers handlers = {.on_close = on_close,
                                                   .on_writable = on_writable};

/* Sends the slot's messages until the client's buffer is full (on_writable goes on) or all
 * are out (then the request side closes). */
static void send_rest(load_shard *sh, load_slot *s) {
  const load_request *req = sh->run->cfg->req;
  urpc_client_call *call = s->call;
  while (s->msg_pos < s->msg_end) {
    const load_message *m = &req->msgs[req->n_msgs == 1 ? 0 : s->msg_pos % req->n_msgs];
    int rc = urpc_client_call_send(call, m->data, m->len);
    if (rc == -EAGAIN) return; /* not taken: on_writable follows, and this one goes then */
    s->msg_pos++;
    if (rc == -EPIPE) return; /* the call is ending: on_close follows */
    if (rc) {
      urpc_client_call_cancel(call); /* on_close runs inside: counted CANCELLED */
      return;
    }
  }
  urpc_client_call_close_send(call);
}

static void on_writable(urpc_client_call *call, void *user) {
  (void)call;
  load_slot *s = user;
  send_rest(s->sh, s);
}

/* A call the client refused outright (urpc_channel_call returned NULL): counted at once. */
static void refused(load_shard *sh, int e, uint64_t t) {
  urpc_status_code code = URPC_STATUS_UNKNOWN;
  const char *why = strerror(-e);
  if (e == -EAGAIN) {
    code = URPC_STATUS_RESOURCE_EXHAUSTED;
    why = "too many calls wait for a connection (the channel's max_pending)";
  } else if (e == -ENOMEM) {
    code = URPC_STATUS_RESOURCE_EXHAUSTED;
    why = "out of memory";
  } else if (e == -ECANCELED) {
    code = URPC_STATUS_CANCELLED;
  }
  uint64_t now = load_now_ns();
  load_tally_record(&sh->tally, (int)code, why, now - t);
  sh->t_end = now;
}

static bool start_call(load_shard *sh, load_slot *s, uint64_t t) {
  const load_run_config *cfg = sh->run->cfg;
  sh->started++;
  s->t_start = t;
  int e = 0;
  urpc_client_call *call = urpc_channel_call(s->ch, cfg->path, &sh->run->opts, &handlers, s, &e);
  if (!call) {
    refused(sh, e, t);
    return false;
  }
  if (sh->inflight++ == 0 && sh->open) atomic_store_explicit(&sh->busy, true, memory_order_relaxed);
  s->call = call;
  if (cfg->client_streaming) {
    s->msg_pos = 0;
    s->msg_end = cfg->req->n_msgs;
  } else {
    s->msg_pos = sh->msg_next++;
    s->msg_end = s->msg_pos + 1;
  }
  send_rest(sh, s);
  return true;
}

static void refill(load_shard *sh, uint64_t now) {
  if (sh->refilling || sh->finished) return;
  sh->refilling = true;
  bool first = true;
  uint64_t t;
  while (sh->idle_n) {
    /* Closed loop: the first start of a turn is timed from `now` (the end that freed it), the
     * later ones (the initial batch) from a fresh reading each. */
    if (!first && !sh->open) now = load_now_ns();
    first = false;
    if (!next_due(sh, now, &t)) break;
    load_slot *s = idle_pop(sh);
    if (!start_call(sh, s, t)) idle_push(sh, s);
  }
  sh->refilling = false;
  maybe_finish(sh);
}

static void on_close(urpc_client_call *call, urpc_status_code status, const char *message,
                     void *user) {
  (void)call;
  load_slot *s = user;
  load_shard *sh = s->sh;
  uint64_t now = load_now_ns();
  s->call = NULL;
  if (--sh->inflight == 0 && sh->open)
    atomic_store_explicit(&sh->busy, false, memory_order_relaxed);
  if (!sh->ignoring) {
    load_tally_record(&sh->tally, (int)status, message, now - s->t_start);
    sh->t_end = now;
  }
  idle_push(sh, s);
  refill(sh, now);
}

/* ---- posted to the shards ---- */

static void shard_start(urpc_channel *ch, void *arg) {
  (void)ch;
  load_shard *sh = arg;
  refill(sh, load_now_ns());
}

static void shard_tick(urpc_channel *ch, void *arg) {
  (void)ch;
  load_shard *sh = arg;
  atomic_store_explicit(&sh->tick_pending, false, memory_order_relaxed);
  refill(sh, load_now_ns());
}

static void shard_stop(urpc_channel *ch, void *arg) {
  (void)ch;
  load_shard *sh = arg;
  if (sh->finished) return; /* its tally may be the main thread's already */
  load_duration_stop mode = sh->run->cfg->flags->duration_stop;
  sh->stopping = true;
  if (mode == LOAD_STOP_IGNORE) {
    sh->ignoring = true;
    sh->t_end = load_now_ns();
  }
  if (mode != LOAD_STOP_WAIT) {
    sh->refilling = true; /* the cancels' on_close must not start anything (stopping) */
    for (uint32_t i = 0; i < sh->n_slots; i++) {
      urpc_client_call *c = sh->slots[i].call;
      if (c) urpc_client_call_cancel(c); /* on_close runs inside */
    }
    sh->refilling = false;
  }
  maybe_finish(sh);
}

/* ---- the pacer thread (open loop) ---- */

static void sleep_until(uint64_t t) {
  struct timespec ts = {.tv_sec = (time_t)(t / 1000000000ull),
                        .tv_nsec = (long)(t % 1000000000ull)};
  while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {
  }
}

/* A shard with calls in flight at a high rate hears from its completions more often than a tick
 * would come: it gets a tick no more often than LOAD_PACE_BUSY_TICK_NS, in case they pause. */
static bool fast_and_busy(const load_shard *sh) {
  return sh->sched.interval_ns < LOAD_PACE_FAST_INTERVAL_NS &&
         atomic_load_explicit(&sh->busy, memory_order_relaxed);
}

static void *pacer_main(void *arg) {
  load_run *r = arg;
  prctl(PR_SET_TIMERSLACK, 1UL); /* wake on time, not up to 50 µs late */
  /* Each shard's next call as the pacer sees it, and when it was last sent a tick. */
  uint64_t *k = calloc((size_t)r->n, sizeof(*k));
  uint64_t *ticked = calloc((size_t)r->n, sizeof(*ticked));
  if (!k || !ticked) {
    free(k);
    free(ticked);
    return NULL;
  }
  uint64_t last = 0;
  while (!atomic_load_explicit(&r->pacer_stop, memory_order_relaxed)) {
    uint64_t next = UINT64_MAX;
    for (int i = 0; i < r->n; i++) {
      const load_shard *sh = r->shards[i];
      if (k[i] >= sh->quota) continue;
      uint64_t at = r->t0 + load_sched_at(&sh->sched, k[i]);
      if (r->t_stop && at >= r->t_stop) continue;
      if (fast_and_busy(sh) && at < ticked[i] + LOAD_PACE_BUSY_TICK_NS)
        at = ticked[i] + LOAD_PACE_BUSY_TICK_NS;
      if (at < next) next = at;
    }
    if (next == UINT64_MAX) break; /* every scheduled call is announced */
    if (next < last + LOAD_PACE_MIN_TICK_NS) next = last + LOAD_PACE_MIN_TICK_NS;
    uint64_t now = load_now_ns();
    if (next > now + 100000000ull) { /* look at pacer_stop at least every 100 ms */
      sleep_until(now + 100000000ull);
      continue;
    }
    sleep_until(next);
    now = load_now_ns();
    last = now;
    for (int i = 0; i < r->n; i++) {
      load_shard *sh = r->shards[i];
      uint64_t due = load_sched_due(&sh->sched, now - r->t0);
      if (due > sh->quota) due = sh->quota;
      if (due <= k[i]) continue;
      if (fast_and_busy(sh) && now < ticked[i] + LOAD_PACE_BUSY_TICK_NS) continue;
      k[i] = due;
      ticked[i] = now;
      if (atomic_exchange_explicit(&sh->tick_pending, true, memory_order_relaxed)) continue;
      if (load_target_post(r->t, i, shard_tick, sh))
        atomic_store_explicit(&sh->tick_pending, false, memory_order_relaxed);
    }
  }
  free(k);
  free(ticked);
  return NULL;
}

/* ---- set-up, the wait, the merge ---- */

static int init_sync(load_run *r) {
  pthread_condattr_t a;
  int rc = pthread_condattr_init(&a);
  if (rc) return -rc;
  rc = pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
  if (!rc) rc = pthread_cond_init(&r->cv, &a);
  pthread_condattr_destroy(&a);
  if (rc) return -rc;
  if ((rc = pthread_mutex_init(&r->mu, NULL))) {
    pthread_cond_destroy(&r->cv);
    return -rc;
  }
  r->sync_ready = true;
  return 0;
}

typedef enum wait_end { WAIT_ALL, WAIT_TIME_UP, WAIT_INTERRUPTED } wait_end;

/* Waits until `want` shards have finished, or until CLOCK_MONOTONIC passes `until_ns` (0: no
 * bound), or (with `interruptible`) until cfg->interrupted is set, looked at every 100 ms. */
static wait_end wait_shards(load_run *r, int want, uint64_t until_ns, bool interruptible) {
  const volatile sig_atomic_t *flag = interruptible ? r->cfg->interrupted : NULL;
  wait_end end = WAIT_ALL;
  pthread_mutex_lock(&r->mu);
  while (r->n_finished < want) {
    if (flag && *flag) {
      end = WAIT_INTERRUPTED;
      break;
    }
    uint64_t at = until_ns;
    if (flag) {
      uint64_t slice = load_now_ns() + 100000000ull;
      if (!at || slice < at) at = slice;
    }
    if (!at) {
      pthread_cond_wait(&r->cv, &r->mu);
      continue;
    }
    struct timespec ts = {.tv_sec = (time_t)(at / 1000000000ull),
                          .tv_nsec = (long)(at % 1000000000ull)};
    if (pthread_cond_timedwait(&r->cv, &r->mu, &ts) == ETIMEDOUT && until_ns &&
        load_now_ns() >= until_ns && r->n_finished < want) {
      end = WAIT_TIME_UP;
      break;
    }
  }
  pthread_mutex_unlock(&r->mu);
  return end;
}

void load_run_release(load_run *r) {
  if (!r) return;
  for (int i = 0; i < r->n; i++) {
    load_shard *sh = r->shards[i];
    if (!sh) continue;
    load_tally_dispose(&sh->tally);
    free(sh->slots);
    free(sh->idle);
    free(sh);
  }
  free(r->shards);
  if (r->sync_ready) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
  }
  free(r);
}

static int setup(load_run *r, char *err, size_t err_len) {
  const load_flags *f = r->cfg->flags;
  r->n = r->t->shards;
  r->shards = calloc((size_t)r->n, sizeof(*r->shards));
  uint64_t *weights = calloc((size_t)r->n, sizeof(*weights));
  uint64_t *quotas = calloc((size_t)r->n, sizeof(*quotas));
  int rc = (r->shards && weights && quotas) ? 0 : -ENOMEM;
  for (int i = 0; i < r->n && !rc; i++) {
    load_shard *sh = aligned_alloc(64, (sizeof(*sh) + 63) / 64 * 64);
    if (!sh) {
      rc = -ENOMEM;
      break;
    }
    memset(sh, 0, sizeof(*sh));
    r->shards[i] = sh;
    sh->run = r;
    sh->index = i;
    atomic_init(&sh->tick_pending, false);
    atomic_init(&sh->busy, false);
    weights[i] = load_shard_slots(f->concurrency, f->connections, r->n, i);
    sh->slots = calloc(weights[i] ? weights[i] : 1, sizeof(*sh->slots));
    sh->idle = calloc(weights[i] ? weights[i] : 1, sizeof(*sh->idle));
    if (!sh->slots || !sh->idle || load_tally_init(&sh->tally)) rc = -ENOMEM;
  }
  if (!rc) {
    for (uint64_t j = 0; j < f->concurrency; j++) {
      uint32_t conn = load_slot_connection(j, f->connections);
      load_shard *sh = r->shards[load_connection_shard(conn, r->n)];
      load_slot *s = &sh->slots[sh->n_slots];
      s->sh = sh;
      s->ch = r->t->chans[conn];
      sh->idle[sh->n_slots] = sh->n_slots; /* every slot starts idle, in order */
      sh->n_slots++;
      sh->idle_n++;
    }
    if (f->total) load_split(f->total, weights, r->n, quotas);
    for (int i = 0; i < r->n; i++) {
      load_shard *sh = r->shards[i];
      sh->quota = f->total ? quotas[i] : UINT64_MAX;
      sh->open = f->rps > 0;
      if (sh->open && weights[i])
        load_sched_init(&sh->sched, f->rps, weights[i], f->concurrency, i, r->n);
    }
  }
  free(weights);
  free(quotas);
  if (rc) snprintf(err, err_len, "out of memory for %" PRIu64 " calls in flight", f->concurrency);
  return rc;
}

int load_run_exec(load_target *t, const load_run_config *cfg, load_run **out, load_run_result *res,
                  char *err, size_t err_len) {
  const load_flags *f = cfg->flags;
  memset(res, 0, sizeof(*res));
  load_run *r = calloc(1, sizeof(*r));
  if (!r) {
    snprintf(err, err_len, "out of memory");
    return -ENOMEM;
  }
  *out = r;
  r->t = t;
  r->cfg = cfg;
  r->opts = t->call_opts;
  atomic_init(&r->pacer_stop, false);
  int rc = setup(r, err, err_len);
  if (rc) return rc;
  if ((rc = init_sync(r))) {
    snprintf(err, err_len, "cannot set up the run's wait: %s", strerror(-rc));
    return rc;
  }
  if ((rc = load_tally_init(&res->tally))) {
    snprintf(err, err_len, "out of memory");
    return rc;
  }

  /* The start. Everything the shards read is written above; each post hands it over. */
  r->t0 = load_now_ns();
  uint64_t limit = f->duration_ns ? f->duration_ns : f->max_duration_ns;
  if (f->duration_ns && f->max_duration_ns && f->max_duration_ns < limit)
    limit = f->max_duration_ns;
  r->t_stop = limit ? r->t0 + limit : 0;
  for (int i = 0; i < r->n; i++) {
    r->shards[i]->t0 = r->t0;
    r->shards[i]->t_stop = r->t_stop;
  }
  int posted = 0;
  for (int i = 0; i < r->n; i++, posted++) {
    if ((rc = load_target_post(t, i, shard_start, r->shards[i]))) break;
  }
  if (!rc && f->rps) {
    if (pthread_create(&r->pacer, NULL, pacer_main, r) == 0)
      r->pacer_started = true;
    else
      rc = -EAGAIN;
  }
  if (rc) {
    /* Stop what did start, then wait for it: the shards use r until they are done. */
    snprintf(err, err_len, "cannot start the run: %s", strerror(-rc));
    for (int i = 0; i < posted; i++) load_target_post(t, i, shard_stop, r->shards[i]);
    wait_shards(r, posted, 0, false);
    if (r->pacer_started) pthread_join(r->pacer, NULL);
    return rc;
  }

  if (wait_shards(r, r->n, r->t_stop, true) != WAIT_ALL) {
    for (int i = 0; i < r->n; i++) {
      if (load_target_post(t, i, shard_stop, r->shards[i]))
        fprintf(stderr, "uringrpc-load: out of memory stopping shard %d\n", i);
    }
  }
  wait_shards(r, r->n, 0, false);
  atomic_store(&r->pacer_stop, true);
  if (r->pacer_started) pthread_join(r->pacer, NULL);

  uint64_t t_end = r->t0;
  for (int i = 0; i < r->n; i++) {
    load_shard *sh = r->shards[i];
    if (sh->t_end > t_end) t_end = sh->t_end;
    if ((rc = load_tally_merge(&res->tally, &sh->tally))) {
      snprintf(err, err_len, "out of memory merging the shards' counts");
      return rc;
    }
  }
  res->total_ns = t_end - r->t0;
  return 0;
}
