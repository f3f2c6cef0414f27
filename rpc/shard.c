/* rpc's side of a shard: its pools, its handler queues and worker threads, and nghttp2's
 * allocator. The shard thread lists complete calls; handlers run after each batch on the
 * shard thread, or on a worker (through a lock-free queue) for blocking methods. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "rpc/rpc_impl.h"

/* nghttp2 allocates from the shard's slab: no locks, and an idle session costs only the pages
 * it has written (see core/slab.h). */
static void *h2_malloc(size_t size, void *ud) {
  rpc_shard *sh = ud;
  void *p = core_slab_alloc(&sh->h2_slab, size);
  if (sh->tracking) rpc_idle_trim_track(sh, p, size);
  return p;
}
static void h2_free(void *p, void *ud) {
  rpc_shard *sh = ud;
  rpc_idle_trim_forget(sh, p);
  core_slab_free(&sh->h2_slab, p);
}
static void *h2_calloc(size_t n, size_t size, void *ud) {
  rpc_shard *sh = ud;
  void *p = core_slab_calloc(&sh->h2_slab, n, size);
  if (sh->tracking && p) rpc_idle_trim_track(sh, p, n * size);
  return p;
}
static void *h2_realloc(void *p, size_t size, void *ud) {
  rpc_shard *sh = ud;
  if (p) rpc_idle_trim_forget(sh, p);
  void *q = core_slab_realloc(&sh->h2_slab, p, size);
  if (sh->tracking && !p) rpc_idle_trim_track(sh, q, size);
  return q;
}

int rpc_shard_init(rpc_shard *sh, urpc_server *server, int index) {
  memset(sh, 0, sizeof(*sh));
  sh->server = server;
  sh->index = index;
  /* Enough cached for a shard's steady state; what a burst takes beyond goes back. */
  core_pool_init(&sh->call_pool, sizeof(urpc_call), 1024);
  core_pool_init(&sh->conn_pool, sizeof(rpc_conn), 256);
  rpc_budget_shard_init(sh, &server->opts, server->n_shards);
  core_mpmc_init(&sh->work_q, sh->work_cells, RPC_WORK_Q);
  if (sem_init(&sh->work_sem, 0, 0) < 0) return -errno;
  core_slab_init(&sh->h2_slab);
  sh->h2_mem = (nghttp2_mem){sh, h2_malloc, h2_free, h2_calloc, h2_realloc};
  return 0;
}

void rpc_shard_dispose(rpc_shard *sh) {
  rpc_budget_shard_dispose(sh);
  if (sh->call_pool.live) /* calls not yet released: every call comes from this pool */
    LOG_WARN("%zu calls still live at shutdown", sh->call_pool.live);
  core_pool_dispose(&sh->call_pool);
  core_pool_dispose(&sh->conn_pool);
  core_slab_dispose(&sh->h2_slab);
  rpc_health_table_dispose(&sh->health);
  sem_destroy(&sh->work_sem);
  free(sh->workers);
}

static void *worker_main(void *arg) {
  rpc_shard *sh = arg;
  char tag[24];
  snprintf(tag, sizeof(tag), "worker %d", sh->index);
  core_log_set_tag(tag);
  for (;;) {
    while (sem_wait(&sh->work_sem) < 0 && errno == EINTR) {
    }
    urpc_call *call = core_mpmc_pop(&sh->work_q);
    if (call)
      rpc_call_run(call);
    else if (atomic_load(&sh->workers_stop))
      return NULL;
  }
}

int rpc_shard_start_workers(rpc_shard *sh) {
  int n = sh->server->opts.workers_per_shard;
  sh->workers = calloc((size_t)n, sizeof(*sh->workers));
  if (n && !sh->workers) return -ENOMEM;
  for (int i = 0; i < n; i++) {
    int err = pthread_create(&sh->workers[i], NULL, worker_main, sh);
    if (err) return -err;
    sh->n_workers++;
  }
  return 0;
}

void rpc_shard_stop_workers(rpc_shard *sh) {
  atomic_store(&sh->workers_stop, true);
  for (int i = 0; i < sh->n_workers; i++) sem_post(&sh->work_sem);
  for (int i = 0; i < sh->n_workers; i++) pthread_join(sh->workers[i], NULL);
  sh->n_workers = 0;
}

void rpc_shard_after_batch(void *ctx) {
  rpc_shard *sh = ctx;
  urpc_call *call;
  uint64_t ran = 0;
  while ((call = sh->run_head)) {
    ran++;
    sh->run_head = call->run_next;
    if (!sh->run_head) sh->run_tail = NULL;
    /* Responses made earlier in this batch count: a connection that stopped reading gets no
     * more calls run for it (budget.c). */
    call->handler_started = 1; /* from now on a cancel reaches its on_cancel */
    if (call->conn && rpc_budget_over(call->conn)) {
      RPC_LIMIT_HIT(sh, URPC_LIMIT_MEMORY);
      urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, RPC_BUSY_MEMORY);
    } else {
      rpc_call_run(call);
    }
  }
  if (ran || core_ctr_get(&sh->stats.handler_queue)) core_ctr_set(&sh->stats.handler_queue, ran);
  rpc_stream_notify_writable(sh);
}

void rpc_shard_enqueue(rpc_shard *sh, urpc_call *call) {
  if ((call->method->flags & URPC_METHOD_BLOCKING) && sh->n_workers > 0) {
    if (core_mpmc_push(&sh->work_q, call)) {
      sem_post(&sh->work_sem);
      return;
    }
    /* Every worker is busy and the queue is full: shed load rather than queue without end. */
    RPC_LIMIT_HIT(sh, URPC_LIMIT_WORKER_QUEUE);
    call->with_handler = 0;
    call->answered = 0;
    rpc_call_fail_now(call, URPC_STATUS_RESOURCE_EXHAUSTED, "server busy: worker queue full");
    rpc_call_unref(call);
    return;
  }
  call->run_next = NULL;
  if (sh->run_tail)
    sh->run_tail->run_next = call;
  else
    sh->run_head = call;
  sh->run_tail = call;
}
