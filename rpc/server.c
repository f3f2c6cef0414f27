/* The public server: options, registration, start (bind every shard's listener, start the
 * shards and their workers), stop, wait and counters. */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/cpu.h"
#include "core/heap.h"
#include "core/log.h"
#include "io/listener.h"
#include "io/signals.h"
#include "rpc/rpc_ext.h"
#include "rpc/rpc_impl.h"

#define MAX_SHARDS 1024

static const io_handler rpc_io_handler = {
    .conn_open = rpc_conn_open,
    .conn_recv = rpc_conn_recv,
    .conn_produce = rpc_conn_produce,
    .conn_drain = rpc_conn_drain,
    .conn_closed = rpc_conn_closed,
    .after_batch = rpc_shard_after_batch,
};

/* idle_trim.c recognises nghttp2's scratch buffers by the sizes nghttp2 1.52 allocates: with
 * another version it stays off, and says so once. */
static bool nghttp2_is_1_52(void) {
  return (nghttp2_version(0)->version_num & 0xffff00) == 0x013400;
}

static void check_nghttp2(urpc_server *s) {
  s->idle_trim = nghttp2_is_1_52();
  if (!s->idle_trim)
    LOG_WARN("nghttp2 %s: idle connections keep nghttp2's scratch pages (the trim is written "
             "for 1.52)",
             nghttp2_version(0)->version_str);
}

void urpc_server_options_init(urpc_server_options *o) {
  memset(o, 0, sizeof(*o));
  o->listen = "[::]:50051";
  o->workers_per_shard = 1;
  o->pin_shards = true;
  o->max_recv_message = 4u << 20;
  o->max_concurrent_streams = 1000;
  o->health = true;
  o->reflection = true;
  o->initial_stream_window = 1u << 20;
  o->initial_conn_window = 16u << 20;
  o->response_compression = "identity";
  o->tls_handshake_timeout_ms = 10000;
  o->tls_ticket_lifetime_s = 3600;
  o->keepalive_time_ms = 2u * 3600 * 1000;
  o->keepalive_timeout_ms = 20000;
  o->min_ping_interval_ms = 5u * 60 * 1000;
  o->max_ping_strikes = 2;
  o->max_calls = 100000;
  o->max_connection_memory = 128u << 20;
  o->max_memory = 1u << 30;
  o->stream_reset_rate = 10000;
  o->preface_timeout_ms = 20000;
  o->first_request_timeout_ms = 60000;
}

int urpc_server_new(const urpc_server_options *o, urpc_server **out) {
  if (!o || !o->listen || o->shards < 0 || o->shards > MAX_SHARDS || o->workers_per_shard < 0 ||
      o->max_recv_message == 0 || o->max_recv_message > UINT32_MAX ||
      o->max_concurrent_streams == 0 || o->initial_stream_window > INT32_MAX ||
      o->initial_conn_window > INT32_MAX || o->initial_conn_window < 65535 ||
      (o->keepalive_time_ms && !o->keepalive_timeout_ms) || o->max_calls == 0 ||
      o->max_connection_memory < o->max_recv_message || o->max_memory < o->max_recv_message ||
      o->stream_reset_rate > 1000000)
    return -EINVAL;
  rpc_encoding enc = o->response_compression ? rpc_encoding_parse(o->response_compression,
                                                                  strlen(o->response_compression))
                                             : RPC_ENC_IDENTITY;
  if (enc == RPC_ENC_UNKNOWN) return -EINVAL;
  urpc_server *s = calloc(1, sizeof(*s));
  if (!s) return -ENOMEM;
  s->opts = *o;
  s->opts.response_compression = NULL; /* the caller's string need not outlive this call */
  s->resp_encoding = (uint8_t)enc;
  s->max_conns = o->max_connections ? o->max_connections : UINT32_MAX; /* start may lower it */
  s->idle_trim = nghttp2_is_1_52();
  s->listen = strdup(o->listen);
  s->opts.listen = s->listen;
  if (o->tls_listen) {
    s->tls_listen = strdup(o->tls_listen);
    s->tls_cert = o->tls_cert ? strdup(o->tls_cert) : NULL;
    s->tls_key = o->tls_key ? strdup(o->tls_key) : NULL;
    s->tls_client_ca = o->tls_client_ca ? strdup(o->tls_client_ca) : NULL;
  }
  s->opts.tls_listen = s->tls_listen;
  s->opts.tls_cert = s->tls_cert;
  s->opts.tls_key = s->tls_key;
  s->opts.tls_client_ca = s->tls_client_ca;
  rpc_registry_init(&s->registry);
  pthread_mutex_init(&s->stop_mu, NULL);
  pthread_cond_init(&s->stop_cv, NULL);
  if (!s->listen || rpc_h2_callbacks_new(&s->h2_callbacks) < 0 ||
      rpc_h2_option_new(&s->opts, &s->h2_option) < 0) {
    urpc_server_free(s);
    return -ENOMEM;
  }
  *out = s;
  return 0;
}

int urpc_server_add_service(urpc_server *s, const ProtobufCServiceDescriptor *service,
                            const urpc_method *methods, size_t n_methods) {
  if (s->started) return -EBUSY;
  return rpc_registry_add(&s->registry, service, methods, n_methods);
}

/* The default connection limit: the descriptors the file limit leaves after the server's own
 * (per shard: its ring, its wake-up eventfd, its listeners; a few for the process). Accepting
 * past it would only fail with EMFILE. */
static uint32_t fd_limit_conns(const urpc_server *s) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY) return UINT32_MAX;
  uint64_t own = 32 + 4 * (uint64_t)s->n_shards;
  uint64_t n = rl.rlim_cur > own + 16 ? rl.rlim_cur - own : 16;
  return n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
}

static bool any_blocking(const rpc_registry *r) {
  for (size_t i = 0; i < r->cap; i++)
    if (r->slots[i] && (r->slots[i]->flags & URPC_METHOD_BLOCKING)) return true;
  return false;
}

static int start_shards(urpc_server *s, int *fds, int *tls_fds, char *why, size_t why_len) {
  int cpus[CPU_SETSIZE];
  int n_cpus = core_cpu_affinity(cpus, CPU_SETSIZE);
  /* Pinned when the shards own their CPUs: one per CPU of the mask (a static CPU manager, a
   * taskset) or a count the user chose. Shards sized down by a cgroup CPU quota share the
   * mask's CPUs with other processes (Kubernetes' default CPU manager gives every pod all of
   * the node's): pinned, every such server on a node would crowd onto the first CPUs. */
  bool pin = s->opts.pin_shards && n_cpus > 0 && (s->opts.shards || s->n_shards >= n_cpus);
  bool workers = any_blocking(&s->registry);
  for (int i = 0; i < s->n_shards; i++) {
    rpc_shard *sh = &s->shards[i];
    int err = rpc_shard_init(sh, s, i);
    io_shard_config cfg = {
        .index = i,
        .backend = s->io,
        .cpu = pin ? cpus[i % n_cpus] : -1,
        .listen_fd = fds[i],
        .tls_listen_fd = tls_fds[i],
        .tls = s->tls,
        .handshake_timeout_ms = s->opts.tls_handshake_timeout_ms,
        .tcp_user_timeout_ms = s->opts.tcp_user_timeout_ms,
        .handler = &rpc_io_handler,
        .ctx = sh,
    };
    if (!err) err = rpc_health_copy_to_shard(s, sh);
    if (!err) err = io_shard_new(&cfg, &sh->io);
    if (!err) sh->timers = io_shard_timers(sh->io);
    if (err) {
      snprintf(why, why_len, "cannot create shard %d: %s", i, strerror(-err));
      return err;
    }
    fds[i] = tls_fds[i] = -1; /* the shard owns them now */
    if (workers && (err = rpc_shard_start_workers(sh)) < 0) {
      snprintf(why, why_len, "cannot start worker threads: %s", strerror(-err));
      return err;
    }
    if ((err = io_shard_start(sh->io, why, why_len)) < 0) return err;
  }
  return 0;
}

int urpc_server_add_descriptors(urpc_server *s, const void *set, size_t len) {
  if (s->started) return -EBUSY;
  if (!s->refl_db) {
    int err = rpc_refl_db_new(&s->refl_db);
    if (err < 0) return err;
  }
  int n = rpc_refl_db_add(s->refl_db, set, len);
  return n < 0 ? n : 0;
}

/* A method registered as unary but streaming in its .proto (or the reverse) would speak the
 * wrong protocol to every client: refuse to start, naming it, when the descriptors say so. */
static int check_method_kinds(urpc_server *s, char *why, size_t why_len) {
  if (!s->refl_db) return 0;
  const rpc_registry *r = &s->registry;
  for (size_t i = 0; i < r->cap; i++) {
    const rpc_method *m = r->slots[i];
    bool cs, ss;
    if (!m || rpc_refl_method_kind(s->refl_db, m->service->name, m->desc->name, &cs, &ss) < 0)
      continue;
    bool rcs = m->flags & URPC_METHOD_CLIENT_STREAMING,
         rss = m->flags & URPC_METHOD_SERVER_STREAMING;
    if (cs != rcs || ss != rss) {
      snprintf(why, why_len,
               "%s is %s%s in its .proto but registered with%s%s: fix the urpc_method flags",
               m->path, cs ? "client-streaming" : (ss ? "" : "unary"),
               cs && ss ? "+server-streaming" : (!cs && ss ? "server-streaming" : ""),
               rcs ? " CLIENT_STREAMING" : "",
               rss ? " SERVER_STREAMING" : (rcs ? "" : "out streaming flags"));
      return -EINVAL;
    }
  }
  return 0;
}

/* Which backend the shards run: io_uring if it can be had (URPC_IO_AUTO falls back to epoll and
 * keeps the reason; URPC_IO_URING fails with it). */
static int choose_io(urpc_server *s, char *why, size_t why_len) {
  s->io_fallback[0] = 0;
  if (s->opts.io == URPC_IO_EPOLL) {
    s->io = IO_BACKEND_EPOLL;
    return 0;
  }
  s->io = IO_BACKEND_URING;
  char reason[sizeof(s->io_fallback)];
  int err = io_ring_probe(reason, sizeof(reason));
  if (err == 0) return 0;
  if (s->opts.io == URPC_IO_URING) {
    snprintf(why, why_len, "%s", reason);
    return err;
  }
  s->io = IO_BACKEND_EPOLL;
  snprintf(s->io_fallback, sizeof(s->io_fallback), "%s", reason);
  return 0;
}

const char *urpc_server_io_backend(const urpc_server *s, const char **fallback_why) {
  if (fallback_why) *fallback_why = s->io_fallback[0] ? s->io_fallback : NULL;
  return s->io == IO_BACKEND_EPOLL ? "epoll" : "io_uring";
}

int urpc_server_start(urpc_server *s, char *why, size_t why_len) {
  if (s->started) return -EBUSY;
  int io_err = choose_io(s, why, why_len);
  if (io_err < 0) return io_err;
  if (s->opts.reflection) {
    int err = urpc_server_add_descriptors(s, rpc_refl_builtin_set, rpc_refl_builtin_set_len);
    if (!err) err = rpc_reflection_register(&s->registry, &s->reflection, s->refl_db);
    if (err < 0) {
      snprintf(why, why_len, "cannot register the reflection service: %s", strerror(-err));
      return err;
    }
  }
  if (s->opts.health) {
    int err = rpc_health_register(s);
    if (err < 0) {
      snprintf(why, why_len, "cannot register the health service: %s", strerror(-err));
      return err;
    }
  }
  int kinds = check_method_kinds(s, why, why_len);
  if (kinds < 0) return kinds;
  core_heap_configure(); /* large messages' memory goes back to the kernel when freed */
  check_nghttp2(s);
  s->n_shards = s->opts.shards ? s->opts.shards : core_cpu_default_count();
  if (!s->opts.max_connections) s->max_conns = fd_limit_conns(s);
  s->shards = calloc((size_t)s->n_shards, sizeof(*s->shards));
  int *fds = malloc(2 * (size_t)s->n_shards * sizeof(int));
  if (!s->shards || !fds) {
    free(fds);
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  int *tls_fds = fds + s->n_shards;
  for (int i = 0; i < 2 * s->n_shards; i++) fds[i] = -1;
  int err = 0;
  if (s->opts.tls_listen) {
    tls_config tc = {s->opts.tls_cert, s->opts.tls_key, s->opts.tls_allow_12, s->opts.tls_client_ca,
                     !s->opts.tls_client_optional};
    tls_tickets_set_lifetime(s->opts.tls_ticket_lifetime_s);
    err = tls_ctx_new(&tc, &s->tls, why, why_len);
    if (!err)
      err = io_listen_group(s->opts.tls_listen, s->n_shards, tls_fds, s->tls_bound,
                            sizeof(s->tls_bound), why, why_len);
  }
  if (!err)
    err =
        io_listen_group(s->opts.listen, s->n_shards, fds, s->bound, sizeof(s->bound), why, why_len);
  if (err == 0) err = start_shards(s, fds, tls_fds, why, why_len);
  s->started = true; /* even partly: stop and wait undo what did start */
  if (err < 0) {
    for (int i = 0; i < 2 * s->n_shards; i++)
      if (fds[i] >= 0) close(fds[i]);
    urpc_server_stop(s);
    urpc_server_wait(s);
  }
  free(fds);
  return err;
}

const char *urpc_server_address(const urpc_server *s) {
  return s->bound;
}
const char *urpc_server_tls_address(const urpc_server *s) {
  return s->opts.tls_listen ? s->tls_bound : NULL;
}
int urpc_server_shard_count(const urpc_server *s) {
  return s->n_shards;
}

io_shard *rpc_server_shard_io(const urpc_server *s, int i) {
  return s->started && s->shards && i >= 0 && i < s->n_shards ? s->shards[i].io : NULL;
}

bool urpc_server_serving(urpc_server *s) {
  pthread_mutex_lock(&s->stop_mu);
  bool serving = s->started && !s->draining && !s->stop_requested;
  pthread_mutex_unlock(&s->stop_mu);
  return serving;
}

void urpc_server_stop(urpc_server *s) {
  pthread_mutex_lock(&s->stop_mu);
  s->stop_requested = true;
  pthread_cond_broadcast(&s->stop_cv);
  pthread_mutex_unlock(&s->stop_mu);
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_stop(s->shards[i].io);
}

/* Shutdown order matters: shards stay alive (connections closed) until the workers have
 * finished and posted their last replies, so a poster never waits on a queue nobody drains. */
void urpc_server_wait(urpc_server *s) {
  pthread_mutex_lock(&s->stop_mu);
  while (!s->stop_requested) pthread_cond_wait(&s->stop_cv, &s->stop_mu);
  pthread_mutex_unlock(&s->stop_mu);
  /* No call may be dispatched to a worker once the workers stop: wait for every shard to have
   * closed its connections first. */
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_wait_stopped(s->shards[i].io);
  for (int i = 0; i < s->n_shards; i++) rpc_shard_stop_workers(&s->shards[i]);
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_exit(s->shards[i].io);
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_join(s->shards[i].io);
  /* Whatever was posted after a shard exited: its connections are gone, so finishing those
   * calls only releases them. No shard thread runs any more. */
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_run_posted(s->shards[i].io);
}

void urpc_server_free(urpc_server *s) {
  if (!s) return;
  for (int i = 0; s->shards && i < s->n_shards; i++) {
    if (s->shards[i].server) rpc_shard_dispose(&s->shards[i]); /* before its timer wheel goes */
    if (s->shards[i].io) io_shard_free(s->shards[i].io);
  }
  free(s->shards);
  rpc_registry_dispose(&s->registry);
  free(s->interceptors);
  rpc_health_table_dispose(&s->health);
  rpc_refl_db_free(s->refl_db);
  if (s->h2_callbacks) nghttp2_session_callbacks_del(s->h2_callbacks);
  if (s->h2_option) nghttp2_option_del(s->h2_option);
  free(s->listen);
  free(s->tls_listen);
  free(s->tls_cert);
  free(s->tls_key);
  free(s->tls_client_ca);
  tls_ctx_unref(s->tls);
  pthread_mutex_destroy(&s->stop_mu);
  pthread_cond_destroy(&s->stop_cv);
  free(s);
}

int urpc_signals_open(void) {
  return io_signals_open();
}
int urpc_signals_wait(int handle) {
  return io_signals_wait(handle);
}
int urpc_signals_wait_timeout(int handle, int timeout_ms) {
  return io_signals_wait_timeout(handle, timeout_ms);
}

int urpc_server_reload_tls(urpc_server *s, char *why, size_t why_len) {
  if (!s->tls) {
    snprintf(why, why_len, "no TLS listener to reload");
    return -EINVAL;
  }
  tls_config tc = {s->opts.tls_cert, s->opts.tls_key, s->opts.tls_allow_12, s->opts.tls_client_ca,
                   !s->opts.tls_client_optional};
  tls_ctx *fresh;
  int err = tls_ctx_new(&tc, &fresh, why, why_len);
  if (err < 0) return err;
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io) io_shard_set_tls(s->shards[i].io, fresh);
  tls_ctx *old = s->tls;
  s->tls = fresh; /* the shards hold their own references */
  tls_ctx_unref(old);
  return 0;
}
