/* The shard thread and its loop, the same for both backends (shard_uring.c, shard_epoll.c).
 * Everything here runs on the shard thread except io_shard_new/start/post/stop/join/free, which
 * take care to touch only the posted queue, the eventfd and the start handshake. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/shard_impl.h"

#define DEFAULT_RING_ENTRIES 1024
#define DEFAULT_RECV_BUFFERS 256
#define DEFAULT_RECV_SIZE    16384
#define DEFAULT_OUT_CAP      (256 * 1024)

static _Thread_local io_shard *t_shard;

io_shard *io_shard_current(void) {
  return t_shard;
}
int io_shard_index(const io_shard *s) {
  return s->cfg.index;
}
core_timer_wheel *io_shard_timers(io_shard *s) {
  return &s->timers;
}
const io_shard_counters *io_shard_get_counters(const io_shard *s) {
  return &s->stats;
}
uint64_t io_shard_turn_ns(const io_shard *s) {
  return s->turn_ns;
}

int io_shard_new(const io_shard_config *cfg, io_shard **out) {
  io_shard *s = calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->cfg = *cfg;
  s->be = cfg->backend == IO_BACKEND_EPOLL ? &io_epoll_backend : &io_uring_backend;
  s->epfd = -1;
  if (!s->cfg.ring_entries) s->cfg.ring_entries = DEFAULT_RING_ENTRIES;
  if (!s->cfg.recv_buffers) s->cfg.recv_buffers = DEFAULT_RECV_BUFFERS;
  if (!s->cfg.recv_buffer_size) s->cfg.recv_buffer_size = DEFAULT_RECV_SIZE;
  if (!s->cfg.out_soft_cap) s->cfg.out_soft_cap = DEFAULT_OUT_CAP;
  s->accept_op.type = OP_ACCEPT;
  s->tls_accept_op.type = OP_ACCEPT_TLS;
  s->wake_op.type = OP_WAKE;
  if (!s->cfg.handshake_timeout_ms) s->cfg.handshake_timeout_ms = 10000;
  if (s->cfg.tls) tls_ctx_ref(s->cfg.tls);
  s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (s->wake_fd < 0) {
    int err = -errno;
    free(s);
    return err;
  }
  core_mpmc_init(&s->posted, s->posted_cells, IO_POST_CAP);
  core_pool_init(&s->conn_pool, sizeof(io_conn), 256);
  core_pool_init(&s->send_pool, sizeof(io_send_op), 256);
  core_pool_init(&s->connect_pool, sizeof(io_connect_op), 16);
  core_pool_init(&s->block_pool, core_outq_block_size(), 64);
  snprintf(s->tag, sizeof(s->tag), "shard %d", cfg->index);
  pthread_mutex_init(&s->start_mu, NULL);
  pthread_condattr_t ca; /* io_shard_wait_drained's deadline is monotonic */
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->start_cv, &ca);
  pthread_condattr_destroy(&ca);
  *out = s;
  return 0;
}

void io_shard_run_posted(io_shard *s) {
  io_msg *m;
  while ((m = core_mpmc_pop(&s->posted))) m->fn(m);
}

void io_shard_post(io_shard *s, io_msg *m) {
  while (!core_mpmc_push(&s->posted, m)) sched_yield(); /* full: the shard is draining it */
  /* seq_cst: orders our push before the load of `sleeping`; the shard orders its store of
   * `sleeping` before its re-check of the queue. One of us sees the other. */
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&s->sleeping, memory_order_relaxed)) {
    uint64_t one = 1;
    ssize_t w = write(s->wake_fd, &one, sizeof(one));
    (void)w; /* cannot fail: the counter would need 2^64-2 pending wake-ups */
  }
}

static void on_stop(io_msg *m) {
  io_shard *s = (io_shard *)((char *)m - offsetof(io_shard, stop_msg));
  if (s->stopping) return;
  s->stopping = true;
  s->be->accept_cancel(s);
  io_close_all(s);
  pthread_mutex_lock(&s->start_mu);
  s->stopped = true;
  pthread_cond_broadcast(&s->start_cv);
  pthread_mutex_unlock(&s->start_mu);
}

/* Closing the listening sockets (not only cancelling the accepts) is what makes the kernel
 * stop completing handshakes for this shard; an accept already under way keeps its socket
 * alive until its cancellation completes. */
static void on_drain(io_msg *m) {
  io_shard *s = (io_shard *)((char *)m - offsetof(io_shard, drain_msg));
  if (s->draining || s->stopping) return;
  s->draining = true;
  s->be->accept_cancel(s);
  if (s->cfg.listen_fd >= 0) close(s->cfg.listen_fd);
  if (s->cfg.tls_listen_fd >= 0) close(s->cfg.tls_listen_fd);
  s->cfg.listen_fd = s->cfg.tls_listen_fd = -1;
  io_drain_all(s);
}

void io_shard_drain(io_shard *s) {
  s->drain_msg.fn = on_drain;
  io_shard_post(s, &s->drain_msg);
}

/* End of a loop turn: a draining shard with nothing left tells io_shard_wait_drained. */
static void check_drained(io_shard *s) {
  if (!s->draining || s->conns || s->accept_armed || s->tls_accept_armed) return;
  pthread_mutex_lock(&s->start_mu);
  if (!s->drained) {
    s->drained = true;
    pthread_cond_broadcast(&s->start_cv);
  }
  pthread_mutex_unlock(&s->start_mu);
}

bool io_shard_wait_drained(io_shard *s, uint64_t deadline_ms) {
  if (!s->started) return true;
  struct timespec until = {.tv_sec = (time_t)(deadline_ms / 1000),
                           .tv_nsec = (long)(deadline_ms % 1000) * 1000000};
  pthread_mutex_lock(&s->start_mu);
  while (!s->drained && !s->stopped && s->start_err == 0 &&
         pthread_cond_timedwait(&s->start_cv, &s->start_mu, &until) == 0) {
  }
  bool done = s->drained || s->stopped || s->start_err != 0;
  pthread_mutex_unlock(&s->start_mu);
  return done;
}

void io_shard_wait_stopped(io_shard *s) {
  if (!s->started) return; /* never started, or already joined */
  pthread_mutex_lock(&s->start_mu);
  while (!s->stopped && s->start_err == 0) pthread_cond_wait(&s->start_cv, &s->start_mu);
  pthread_mutex_unlock(&s->start_mu);
}

typedef struct tls_swap {
  io_msg msg;
  io_shard *shard;
  tls_ctx *ctx;
} tls_swap;

static void on_tls_swap(io_msg *m) {
  tls_swap *w = (tls_swap *)m;
  tls_ctx_unref(w->shard->cfg.tls);
  w->shard->cfg.tls = w->ctx; /* the reference taken in io_shard_set_tls */
  free(w);
}

void io_shard_set_tls(io_shard *s, tls_ctx *ctx) {
  tls_swap *w = malloc(sizeof(*w));
  if (!w) {
    LOG_WARN("out of memory: shard %d keeps its TLS context", s->cfg.index);
    return;
  }
  tls_ctx_ref(ctx);
  *w = (tls_swap){{on_tls_swap}, s, ctx};
  io_shard_post(s, &w->msg);
}

void io_shard_stop(io_shard *s) {
  s->stop_msg.fn = on_stop;
  io_shard_post(s, &s->stop_msg);
}

static void on_exit_msg(io_msg *m) {
  io_shard *s = (io_shard *)((char *)m - offsetof(io_shard, exit_msg));
  on_stop(&s->stop_msg);
  atomic_store_explicit(&s->exit_requested, true, memory_order_relaxed);
}

void io_shard_exit(io_shard *s) {
  s->exit_msg.fn = on_exit_msg;
  io_shard_post(s, &s->exit_msg);
}

bool io_shard_nothing_posted(io_shard *s) {
  return s->posted.enqueue_pos == s->posted.dequeue_pos;
}

void io_shard_turn_begin(io_shard *s) {
  s->turn_ns = core_now_ns();
  core_timer_wheel_catch_up(&s->timers, s->turn_ns / 1000000u);
}

static void loop(io_shard *s) {
  /* After exit is asked, the loop ends once the backend holds nothing but its wake-up. Until
   * then a stopped shard keeps draining posted messages: threads may still be finishing calls. */
  while (!atomic_load_explicit(&s->exit_requested, memory_order_relaxed) || s->be->busy(s) ||
         s->conns) {
    s->be->wait(s);
    io_shard_run_posted(s);
    core_timer_wheel_advance(&s->timers, s->turn_ns / 1000000u);
    if (s->cfg.handler->after_batch) s->cfg.handler->after_batch(s->cfg.ctx);
    io_flush_all(s);
    check_drained(s);
  }
}

static void *shard_main(void *arg) {
  io_shard *s = arg;
  t_shard = s;
  core_log_set_tag(s->tag);
  if (s->cfg.cpu >= 0) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(s->cfg.cpu, &set);
    int err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
    if (err) LOG_WARN("cannot pin to CPU %d: %s", s->cfg.cpu, strerror(err));
  }
  int err = s->be->setup(s);
  pthread_mutex_lock(&s->start_mu);
  s->start_err = err;
  pthread_cond_signal(&s->start_cv);
  pthread_mutex_unlock(&s->start_mu);
  if (err < 0) return NULL;

  core_timer_wheel_init(&s->timers, core_now_ms());
  if (s->cfg.listen_fd >= 0) s->be->accept_arm(s, false);
  if (s->cfg.tls_listen_fd >= 0) s->be->accept_arm(s, true);
  loop(s);
  /* Timers still armed belong to calls whose connections are gone: let them run (handlers see
   * their calls cancelled and finish them) instead of leaking them. */
  for (int pass = 0; pass < 16 && s->timers.count; pass++) {
    core_timer_wheel_advance(&s->timers, s->timers.now_ms + CORE_WHEEL_SLOTS * 1000000ull);
    io_shard_run_posted(s);
    if (s->cfg.handler->after_batch) s->cfg.handler->after_batch(s->cfg.ctx);
  }
  s->be->teardown(s);
  /* wolfSSL's per-thread ECC tables: filled by TLS handshakes, and by anything above that
   * verifies ECDSA on this thread (auth/'s JWTs on a plaintext shard too). */
  tls_thread_exit();
  return NULL;
}

int io_shard_start(io_shard *s, char *why, size_t why_len) {
  s->start_err = 1;
  int err = pthread_create(&s->thread, NULL, shard_main, s);
  if (err) {
    snprintf(why, why_len, "cannot start shard thread: %s", strerror(err));
    return -err;
  }
  s->started = true;
  pthread_mutex_lock(&s->start_mu);
  while (s->start_err == 1) pthread_cond_wait(&s->start_cv, &s->start_mu);
  err = s->start_err;
  pthread_mutex_unlock(&s->start_mu);
  if (err < 0) snprintf(why, why_len, "%s", s->start_why);
  return err;
}

void io_shard_join(io_shard *s) {
  if (s->started) pthread_join(s->thread, NULL);
  s->started = false;
}

void io_shard_free(io_shard *s) {
  if (!s) return;
  if (s->cfg.listen_fd >= 0) close(s->cfg.listen_fd);
  if (s->cfg.tls_listen_fd >= 0) close(s->cfg.tls_listen_fd);
  tls_ctx_unref(s->cfg.tls);
  close(s->wake_fd);
  core_pool_dispose(&s->conn_pool);
  core_pool_dispose(&s->send_pool);
  core_pool_dispose(&s->connect_pool);
  core_pool_dispose(&s->block_pool);
  pthread_mutex_destroy(&s->start_mu);
  pthread_cond_destroy(&s->start_cv);
  free(s);
}
