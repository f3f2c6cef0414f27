/* A subchannel (subchannel.h): one address, one connection at a time, calls that wait for it.
 *
 * Ownership: the subchannel owns its waiting calls (`waiting`, FIFO), its started calls
 * (`started`, each riding a cli_call whose on_close frees it) and its connections: `cur`, the
 * one being made or READY, and `conns`, every opened one (cur, and those told GOAWAY that
 * finish their calls). A sub_conn outlives the subchannel when the subchannel is freed while
 * it connects: it is orphaned (sub = NULL) and freed by whichever of conn_open/conn_failed
 * comes. Every state change goes through set_state. Timers: `backoff` (TRANSIENT_FAILURE),
 * `kick` (work deferred to the next loop turn, so no on_close runs inside
 * cli_subchannel_call), and each call's `deadline`; all cancelled on every path that frees. */
#include "client/subchannel.h"

#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/alloc.h"
#include "core/clock.h"
#include "rpc/compress.h"

#define DEFAULT_MAX_PENDING 1024u
#define DEFAULT_SEND_BUFFER (64u << 10)
#define DEFAULT_INITIAL_MS  1000u
#define DEFAULT_MULTIPLIER  1.6
#define DEFAULT_JITTER      0.2
#define DEFAULT_MAX_MS      120000u
#define DEFAULT_MIN_TIMEOUT 20000u
#define MAX_MD              64

typedef struct sub_conn {
  cli_subchannel *sub; /* NULL once orphaned */
  io_conn *io;         /* once opened */
  cli_conn *cc;
  struct sub_conn *next; /* sub->conns */
  /* keepalive: a PING every keepalive_time_ms while calls are open; none acked within
   * keepalive_timeout_ms closes the connection (its calls end UNAVAILABLE) */
  core_timer_wheel *timers;
  core_timer ka;
  uint32_t ka_time_ms, ka_timeout_ms;
  uint64_t acked_before; /* cli_conn_pings_acked when the PING went out */
  bool ping_out;
} sub_conn;

typedef struct sub_msg {
  struct sub_msg *next;
  size_t len;
  unsigned flags; /* CLI_SEND_* */
  uint8_t bytes[];
} sub_msg;

typedef enum { CALL_WAITING, CALL_STARTED } call_state;

struct cli_sub_call {
  cli_subchannel *sub;
  cli_sub_call *prev, *next; /* on sub->waiting or sub->started */
  call_state state;
  cli_sub_handlers h;
  void *user;
  char *path;
  cli_metadata *md; /* keys and values copied */
  size_t n_md;
  char *encoding;
  bool wait_for_ready;
  uint64_t deadline_ms; /* 0: none */
  core_timer deadline;
  bool deadline_hit;     /* the deadline cancelled it: CANCELLED is reported DEADLINE_EXCEEDED */
  sub_msg *sq, *sq_tail; /* request messages not yet handed to the cli_call */
  size_t queued;
  bool send_closed;                            /* close_send asked (done once sq is empty) */
  bool want_writable;                          /* send said -EAGAIN */
  sub_conn *conn;                              /* STARTED */
  cli_call *call;                              /* STARTED */
  _Alignas(max_align_t) unsigned char extra[]; /* cli_sub_call_opts.extra bytes */
};

typedef struct call_list {
  cli_sub_call *head, *tail;
  uint32_t n;
} call_list;

struct cli_subchannel {
  io_shard *shard;
  core_slab *slab; /* the shard thread's (alloc.h): its calls */
  core_timer_wheel *timers;
  cli_addr *addrs; /* tried in order, from addr_i, until one connects */
  unsigned n_addrs, addr_i;
  cli_subchannel_config cfg;
  char *authority, *server_name;
  cli_sub_state state;
  sub_conn *cur;
  sub_conn *conns;
  call_list waiting, started;
  core_timer backoff, kick;
  uint32_t attempts;         /* connection attempts since the last READY */
  double cur_backoff_ms;     /* connection-backoff.md's current_backoff */
  uint64_t next_deadline_ms; /* and current_deadline */
  uint64_t rng;
  char last_error[256];
};

static const io_handler sub_io_handler;

/* ---- lists ---- */

static void list_push(call_list *l, cli_sub_call *c) {
  c->prev = l->tail;
  c->next = NULL;
  if (l->tail)
    l->tail->next = c;
  else
    l->head = c;
  l->tail = c;
  l->n++;
}

static void list_remove(call_list *l, cli_sub_call *c) {
  if (c->prev)
    c->prev->next = c->next;
  else
    l->head = c->next;
  if (c->next)
    c->next->prev = c->prev;
  else
    l->tail = c->prev;
  c->prev = c->next = NULL;
  l->n--;
}

/* ---- calls ---- */

static void free_call(cli_sub_call *sc) {
  for (sub_msg *m = sc->sq, *next; m; m = next) {
    next = m->next;
    free(m);
  }
  for (size_t i = 0; i < sc->n_md; i++) {
    free((char *)sc->md[i].key);
    free((void *)sc->md[i].value);
  }
  free(sc->md);
  free(sc->path);
  free(sc->encoding);
  cli_free(sc->sub->slab, sc);
}

/* A call that never started ends: off the waiting list, on_close, freed. */
static void end_waiting(cli_sub_call *sc, urpc_status_code code, const char *msg) {
  cli_subchannel *sub = sc->sub;
  list_remove(&sub->waiting, sc);
  if (core_timer_armed(&sc->deadline)) core_timer_cancel(sub->timers, &sc->deadline);
  if (sc->h.on_close) sc->h.on_close(sc, code, msg, sc->user);
  free_call(sc);
}

static void kick(cli_subchannel *sub) {
  if (sub->state != CLI_SUB_SHUTDOWN && !core_timer_armed(&sub->kick))
    core_timer_arm(sub->timers, &sub->kick, sub->timers->now_ms);
}

static void t_metadata(cli_call *call, const char *key, const uint8_t *value, size_t len,
                       bool trailer, void *user) {
  (void)call;
  cli_sub_call *sc = user;
  if (sc->h.on_metadata) sc->h.on_metadata(sc, key, value, len, trailer, sc->user);
}

static void t_message(cli_call *call, const uint8_t *msg, size_t len, void *user) {
  (void)call;
  cli_sub_call *sc = user;
  if (sc->h.on_message) sc->h.on_message(sc, msg, len, sc->user);
}

static void t_close(cli_call *call, urpc_status_code status, const char *message, void *user) {
  (void)call;
  cli_sub_call *sc = user;
  cli_subchannel *sub = sc->sub;
  list_remove(&sub->started, sc);
  if (core_timer_armed(&sc->deadline)) core_timer_cancel(sub->timers, &sc->deadline);
  if (sc->deadline_hit && status == URPC_STATUS_CANCELLED) {
    status = URPC_STATUS_DEADLINE_EXCEEDED;
    message = "deadline exceeded";
  }
  if (sc->h.on_close) sc->h.on_close(sc, status, message, sc->user);
  free_call(sc);
  if (sub->waiting.n) kick(sub); /* a stream slot came free */
}

/* Hands buffered messages to the cli_call, then the deferred close_send. Returns false when
 * the call ended (a failed send cancels it: sc is freed). */
static bool push_buffered(cli_sub_call *sc) {
  while (sc->sq) {
    sub_msg *m = sc->sq;
    int rc = cli_call_send(sc->call, m->bytes, m->len, m->flags);
    if (rc == -EAGAIN) return true; /* t_writable comes back */
    sc->sq = m->next;
    if (!sc->sq) sc->sq_tail = NULL;
    sc->queued -= m->len;
    free(m);
    if (rc) {
      cli_call_cancel(sc->call);
      return false;
    }
  }
  if (sc->send_closed) cli_call_close_send(sc->call);
  return true;
}

static void t_writable(cli_call *call, void *user) {
  (void)call;
  cli_sub_call *sc = user;
  if (sc->sq) {
    io_conn *io = sc->conn->io;
    bool alive = push_buffered(sc);
    io_conn_flush(io);
    if (!alive || sc->sq) return;
  }
  if (sc->want_writable) {
    sc->want_writable = false;
    if (sc->h.on_writable) sc->h.on_writable(sc, sc->user);
  }
}

static const cli_call_handlers trampolines = {
    .on_metadata = t_metadata,
    .on_message = t_message,
    .on_close = t_close,
    .on_writable = t_writable,
};

/* Starts a waiting call on `conn` (READY, can start), or ends it. May free sc. */
static void start_call(cli_subchannel *sub, sub_conn *conn, cli_sub_call *sc) {
  int64_t timeout_ns = 0;
  if (sc->deadline_ms) {
    uint64_t now = core_now_ms();
    if (now >= sc->deadline_ms) {
      sc->deadline_hit = true;
      end_waiting(sc, URPC_STATUS_DEADLINE_EXCEEDED, "deadline exceeded");
      return;
    }
    timeout_ns = (int64_t)(sc->deadline_ms - now) * 1000000;
  }
  cli_call_opts o = {
      .timeout_ns = timeout_ns, .md = sc->md, .n_md = sc->n_md, .encoding = sc->encoding};
  int err;
  cli_call *call = cli_call_start(conn->cc, sc->path, &o, &trampolines, sc, &err);
  if (!call) {
    end_waiting(sc, err == -EINVAL ? URPC_STATUS_INVALID_ARGUMENT : URPC_STATUS_INTERNAL,
                "the call could not start on the connection");
    return;
  }
  list_remove(&sub->waiting, sc);
  sc->state = CALL_STARTED;
  sc->call = call;
  sc->conn = conn;
  list_push(&sub->started, sc);
  if (push_buffered(sc) && !sc->sq && sc->want_writable) {
    sc->want_writable = false;
    if (sc->h.on_writable) sc->h.on_writable(sc, sc->user);
  }
}

/* ---- states and connections ---- */

static double jittered(cli_subchannel *sub, double ms) {
  sub->rng ^= sub->rng << 13;
  sub->rng ^= sub->rng >> 7;
  sub->rng ^= sub->rng << 17;
  double u = (double)(sub->rng >> 11) / (double)(1ull << 53); /* [0, 1) */
  return ms + (u * 2 - 1) * sub->cfg.jitter * ms;
}

static void set_state(cli_subchannel *sub, cli_sub_state st) {
  sub->state = st;
}

static void fail_waiting(cli_subchannel *sub, bool all, urpc_status_code code, const char *msg) {
  for (cli_sub_call *sc = sub->waiting.head, *next; sc; sc = next) {
    next = sc->next;
    if (all || !sc->wait_for_ready) end_waiting(sc, code, msg);
  }
}

static void connect_failed(cli_subchannel *sub, const char *why) {
  snprintf(sub->last_error, sizeof(sub->last_error), "%s", why);
  sub->cur = NULL;
  sub->addr_i = 0;
  set_state(sub, CLI_SUB_TRANSIENT_FAILURE);
  core_timer_arm(sub->timers, &sub->backoff, sub->next_deadline_ms);
}

static bool start_connect(cli_subchannel *sub);

/* An address failed: the next one is tried at once (the waiting calls wait on); after the
 * last, the subchannel is in TRANSIENT_FAILURE. Returns true when another attempt is under
 * way. */
static bool try_next_address(cli_subchannel *sub, const char *why) {
  snprintf(sub->last_error, sizeof(sub->last_error), "%s", why);
  sub->cur = NULL;
  if (sub->addr_i + 1 < sub->n_addrs) {
    sub->addr_i++;
    return start_connect(sub);
  }
  connect_failed(sub, why);
  return false;
}

/* connection-backoff.md's loop, one TryConnect per pass over the addresses (the first address
 * of a pass sets the backoff; the others share its deadline). Returns whether an attempt is
 * under way. */
static bool start_connect(cli_subchannel *sub) {
  if (!sub->n_addrs) return false; /* the channel's resolver has not answered yet */
  uint64_t now = core_now_ms();
  if (sub->addr_i) {
    /* the same pass: the backoff deadline stands */
  } else if (!sub->attempts) {
    sub->cur_backoff_ms = sub->cfg.initial_backoff_ms;
    sub->next_deadline_ms = now + sub->cfg.initial_backoff_ms;
  } else {
    sub->cur_backoff_ms = sub->cur_backoff_ms * sub->cfg.multiplier;
    if (sub->cur_backoff_ms > sub->cfg.max_backoff_ms)
      sub->cur_backoff_ms = sub->cfg.max_backoff_ms;
    double d = jittered(sub, sub->cur_backoff_ms);
    sub->next_deadline_ms = now + (uint64_t)(d > 0 ? d : 0);
  }
  if (!sub->addr_i) sub->attempts++;
  uint64_t timeout = sub->next_deadline_ms > now ? sub->next_deadline_ms - now : 0;
  if (timeout < sub->cfg.min_connect_timeout_ms) timeout = sub->cfg.min_connect_timeout_ms;
  sub_conn *conn = calloc(1, sizeof(*conn));
  int rc = -ENOMEM;
  if (conn) {
    conn->sub = sub;
    const cli_addr *a = &sub->addrs[sub->addr_i];
    io_connect_req req = {.addr = (const struct sockaddr *)&a->ss,
                          .addr_len = a->len,
                          .timeout_ms = (unsigned)timeout,
                          .tls = sub->cfg.tls,
                          .server_name = sub->server_name,
                          .handler = &sub_io_handler,
                          .ctx = conn};
    rc = io_shard_connect(sub->shard, &req);
  }
  if (rc) {
    free(conn);
    char why[128];
    snprintf(why, sizeof(why), "connect: %s", strerror(-rc));
    if (try_next_address(sub, why)) return true;
    kick(sub); /* fails the waiting calls that do not wait for ready, next turn */
    return false;
  }
  sub->cur = conn;
  set_state(sub, CLI_SUB_CONNECTING);
  return true;
}

/* What the state asks of the waiting calls: start them (READY), fail those that do not wait
 * for ready (TRANSIENT_FAILURE), or get a connection (IDLE). */
static void process(cli_subchannel *sub) {
  switch (sub->state) {
  case CLI_SUB_READY: {
    sub_conn *conn = sub->cur;
    bool any = false;
    while (sub->waiting.head && cli_conn_can_start(conn->cc)) {
      start_call(sub, conn, sub->waiting.head);
      any = true;
    }
    if (any) io_conn_flush(conn->io);
    break;
  }
  case CLI_SUB_TRANSIENT_FAILURE:
    fail_waiting(sub, false, URPC_STATUS_UNAVAILABLE, sub->last_error);
    break;
  case CLI_SUB_IDLE:
    if (sub->waiting.n) start_connect(sub);
    break;
  case CLI_SUB_CONNECTING:
  case CLI_SUB_SHUTDOWN:
    break;
  }
}

static void on_kick(core_timer *t, void *arg) {
  (void)t;
  process(arg);
}

static void on_backoff(core_timer *t, void *arg) {
  (void)t;
  cli_subchannel *sub = arg;
  set_state(sub, CLI_SUB_IDLE);
  process(sub);
}

/* The connection stops taking calls (GOAWAY, or it closed): the subchannel goes IDLE and, if
 * calls wait, connects again. */
static void detach(cli_subchannel *sub, sub_conn *conn) {
  if (sub->cur != conn) return;
  sub->cur = NULL;
  set_state(sub, CLI_SUB_IDLE);
  kick(sub);
}

static void on_keepalive(core_timer *t, void *arg) {
  (void)t;
  sub_conn *conn = arg;
  uint64_t now = conn->timers->now_ms;
  if (conn->ping_out) {
    if (cli_conn_pings_acked(conn->cc) == conn->acked_before) {
      if (conn->sub)
        snprintf(conn->sub->last_error, sizeof(conn->sub->last_error),
                 "keepalive: no PING ACK within %u ms", conn->ka_timeout_ms);
      io_conn_set_close_reason(conn->io, IO_CLOSED_ERROR);
      io_conn_close(conn->io); /* sc_closed: the calls end UNAVAILABLE */
      return;
    }
    conn->ping_out = false;
  }
  if (cli_conn_has_calls(conn->cc) && !cli_conn_ping(conn->cc)) {
    conn->acked_before = cli_conn_pings_acked(conn->cc);
    conn->ping_out = true;
    io_conn_flush(conn->io);
    core_timer_arm(conn->timers, &conn->ka, now + conn->ka_timeout_ms);
    return;
  }
  core_timer_arm(conn->timers, &conn->ka, now + conn->ka_time_ms);
}

static void *sc_open(void *ctx, io_conn *io) {
  sub_conn *conn = ctx;
  cli_subchannel *sub = conn->sub;
  if (!sub) {
    free(conn);
    return NULL;
  }
  cli_conn_config cc = {.authority = sub->authority,
                        .tls = sub->cfg.tls != NULL,
                        .max_recv_message = sub->cfg.max_recv_message,
                        .user_agent = sub->cfg.user_agent,
                        .send_buffer = sub->cfg.send_buffer};
  if (cli_conn_new(&cc, &conn->cc)) {
    free(conn);
    connect_failed(sub, "out of memory for the HTTP/2 session");
    fail_waiting(sub, false, URPC_STATUS_UNAVAILABLE, sub->last_error);
    return NULL;
  }
  conn->io = io;
  conn->next = sub->conns;
  sub->conns = conn;
  conn->timers = sub->timers;
  core_timer_init(&conn->ka, on_keepalive, conn);
  if (sub->cfg.keepalive_time_ms) {
    conn->ka_time_ms = sub->cfg.keepalive_time_ms;
    conn->ka_timeout_ms = sub->cfg.keepalive_timeout_ms ? sub->cfg.keepalive_timeout_ms : 20000;
    core_timer_arm(conn->timers, &conn->ka, core_now_ms() + conn->ka_time_ms);
  }
  sub->attempts = 0;
  sub->addr_i = 0;
  set_state(sub, CLI_SUB_READY);
  process(sub);
  io_conn_flush(io); /* the preface and SETTINGS at least */
  return conn;
}

static void sc_failed(void *ctx, int err, const char *why) {
  (void)err;
  sub_conn *conn = ctx;
  cli_subchannel *sub = conn->sub;
  free(conn);
  if (!sub) return;
  if (try_next_address(sub, why)) return;
  fail_waiting(sub, false, URPC_STATUS_UNAVAILABLE, sub->last_error);
  if (sub->cfg.on_failure) sub->cfg.on_failure(sub, sub->cfg.arg);
}

static int sc_recv(void *state, const uint8_t *p, size_t n) {
  sub_conn *conn = state;
  if (cli_conn_recv(conn->cc, p, n) < 0) {
    io_conn_set_close_reason(conn->io, IO_CLOSED_ERROR);
    return -1;
  }
  if (conn->sub && cli_conn_goaway(conn->cc)) {
    io_conn_set_close_reason(conn->io, IO_CLOSED_GOAWAY);
    detach(conn->sub, conn);
  } else if (conn->sub && conn->sub->cur == conn && conn->sub->waiting.n)
    process(conn->sub); /* the server's SETTINGS may allow more streams */
  if (cli_conn_want_write(conn->cc)) io_conn_flush(conn->io);
  return 0;
}

static int sc_produce(void *state, core_outq *out) {
  sub_conn *conn = state;
  int rc = cli_conn_produce(conn->cc, out);
  if (rc < 0) return rc;
  if (rc == 1 && conn->sub) detach(conn->sub, conn); /* new calls go to a new connection */
  return rc == 1 ? IO_CLOSE_AFTER_SEND : 0;
}

/* The shard drains (its server shuts down gracefully): calls in flight may still need this
 * connection, and handlers finishing theirs may make new ones, so it closes once idle rather
 * than at once. */
static void sc_drain(void *state) {
  sub_conn *conn = state;
  cli_conn_close_when_idle(conn->cc);
  io_conn_flush(conn->io);
}

static void sc_closed(void *state) {
  sub_conn *conn = state;
  cli_subchannel *sub = conn->sub;
  if (core_timer_armed(&conn->ka)) core_timer_cancel(conn->timers, &conn->ka);
  if (sub) {
    for (sub_conn **p = &sub->conns; *p; p = &(*p)->next)
      if (*p == conn) {
        *p = conn->next;
        break;
      }
    detach(sub, conn);
  }
  cli_conn_free(conn->cc); /* its calls end UNAVAILABLE through t_close */
  free(conn);
}

static const io_handler sub_io_handler = {
    .conn_open = sc_open,
    .conn_recv = sc_recv,
    .conn_produce = sc_produce,
    .conn_drain = sc_drain,
    .conn_closed = sc_closed,
    .conn_failed = sc_failed,
};

/* ---- the API ---- */

int cli_subchannel_new(io_shard *shard, const cli_addr *addrs, unsigned n,
                       const cli_subchannel_config *cfg, cli_subchannel **out) {
  if (!cfg->authority || !*cfg->authority || (cfg->tls && !cfg->server_name)) return -EINVAL;
  cli_subchannel *sub = calloc(1, sizeof(*sub));
  if (!sub) return -ENOMEM;
  if (cli_subchannel_set_addrs(sub, addrs, n)) {
    free(sub);
    return -ENOMEM;
  }
  sub->authority = strdup(cfg->authority);
  sub->server_name = cfg->server_name ? strdup(cfg->server_name) : NULL;
  sub->slab = cli_thread_slab();
  if (!sub->authority || (cfg->server_name && !sub->server_name) || !sub->slab) {
    free(sub->authority);
    free(sub->server_name);
    free(sub->addrs);
    free(sub);
    return -ENOMEM;
  }
  sub->shard = shard;
  sub->timers = io_shard_timers(shard);
  sub->cfg = *cfg;
  if (!sub->cfg.max_pending) sub->cfg.max_pending = DEFAULT_MAX_PENDING;
  if (!sub->cfg.send_buffer) sub->cfg.send_buffer = DEFAULT_SEND_BUFFER;
  if (!sub->cfg.initial_backoff_ms) sub->cfg.initial_backoff_ms = DEFAULT_INITIAL_MS;
  if (sub->cfg.multiplier <= 0) sub->cfg.multiplier = DEFAULT_MULTIPLIER;
  if (sub->cfg.jitter <= 0) sub->cfg.jitter = DEFAULT_JITTER;
  if (!sub->cfg.max_backoff_ms) sub->cfg.max_backoff_ms = DEFAULT_MAX_MS;
  if (!sub->cfg.min_connect_timeout_ms) sub->cfg.min_connect_timeout_ms = DEFAULT_MIN_TIMEOUT;
  if (sub->cfg.tls) tls_ctx_ref(sub->cfg.tls);
  sub->rng = core_now_ns() ^ (uintptr_t)sub ^ 0x9e3779b97f4a7c15ull;
  core_timer_init(&sub->backoff, on_backoff, sub);
  core_timer_init(&sub->kick, on_kick, sub);
  set_state(sub, CLI_SUB_IDLE);
  *out = sub;
  return 0;
}

void cli_subchannel_free(cli_subchannel *sub) {
  if (!sub) return;
  set_state(sub, CLI_SUB_SHUTDOWN);
  if (core_timer_armed(&sub->backoff)) core_timer_cancel(sub->timers, &sub->backoff);
  if (core_timer_armed(&sub->kick)) core_timer_cancel(sub->timers, &sub->kick);
  fail_waiting(sub, true, URPC_STATUS_CANCELLED, "the subchannel was shut down");
  while (sub->started.head) cli_call_cancel(sub->started.head->call); /* t_close unlinks */
  if (sub->cur && !sub->cur->io) sub->cur->sub = NULL;                /* connecting: orphaned */
  sub->cur = NULL;
  while (sub->conns) {
    sub_conn *conn = sub->conns;
    sub->conns = conn->next;
    conn->sub = NULL;
    io_conn_close(conn->io); /* sc_closed frees it, now */
  }
  if (sub->cfg.tls) tls_ctx_unref(sub->cfg.tls);
  free(sub->authority);
  free(sub->server_name);
  free(sub->addrs);
  free(sub);
}

int cli_subchannel_set_addrs(cli_subchannel *sub, const cli_addr *addrs, unsigned n) {
  cli_addr *copy = NULL;
  if (n) {
    copy = malloc(n * sizeof(*copy));
    if (!copy) return -ENOMEM;
    memcpy(copy, addrs, n * sizeof(*copy));
  }
  bool was_empty = !sub->n_addrs;
  free(sub->addrs);
  sub->addrs = copy;
  sub->n_addrs = n;
  if (sub->addr_i >= n) sub->addr_i = 0;
  if (was_empty && n && sub->timers) kick(sub); /* calls waited for addresses */
  return 0;
}

void cli_subchannel_fail_waiting(cli_subchannel *sub, const char *why) {
  snprintf(sub->last_error, sizeof(sub->last_error), "%s", why);
  fail_waiting(sub, false, URPC_STATUS_UNAVAILABLE, sub->last_error);
}

bool cli_subchannel_busy(const cli_subchannel *sub) {
  return sub->waiting.n || sub->started.n;
}

cli_sub_state cli_subchannel_state(const cli_subchannel *sub) {
  return sub->state;
}

uint32_t cli_subchannel_waiting(const cli_subchannel *sub) {
  return sub->waiting.n;
}

const char *cli_subchannel_last_error(const cli_subchannel *sub) {
  return sub->last_error;
}

void cli_sub_call_expire(cli_sub_call *sc) {
  sc->deadline_hit = true;
  if (sc->state == CALL_WAITING) {
    end_waiting(sc, URPC_STATUS_DEADLINE_EXCEEDED,
                "deadline exceeded while waiting for a "
                "connection");
    return;
  }
  io_conn *io = sc->conn->io;
  cli_call_cancel(sc->call); /* t_close says DEADLINE_EXCEEDED and frees sc */
  io_conn_flush(io);
}

static void on_deadline(core_timer *t, void *arg) {
  (void)t;
  cli_sub_call_expire(arg);
}

void *cli_sub_call_extra(cli_sub_call *sc) {
  return sc->extra;
}

void cli_subchannel_connect(cli_subchannel *sub) {
  if (sub->state == CLI_SUB_IDLE) start_connect(sub);
}

const cli_addr *cli_subchannel_addrs(const cli_subchannel *sub, unsigned *n) {
  *n = sub->n_addrs;
  return sub->addrs;
}

static int copy_md(cli_sub_call *sc, const cli_metadata *md, size_t n) {
  if (!n) return 0;
  sc->md = calloc(n, sizeof(*sc->md));
  if (!sc->md) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    char *k = strdup(md[i].key);
    void *v = malloc(md[i].len ? md[i].len : 1);
    if (k) sc->n_md = i + 1; /* free_call frees what was copied */
    sc->md[i].key = k;
    sc->md[i].value = v;
    sc->md[i].len = md[i].len;
    if (!k || !v) {
      sc->n_md = i + 1;
      return -ENOMEM;
    }
    if (md[i].len) memcpy(v, md[i].value, md[i].len);
  }
  return 0;
}

cli_sub_call *cli_subchannel_call(cli_subchannel *sub, const char *path, const cli_sub_call_opts *o,
                                  const cli_sub_handlers *h, void *user, int *err) {
  static const cli_sub_call_opts none;
  if (!o) o = &none;
  const char *enc = o->call.encoding;
  *err = -EINVAL;
  if (!path || path[0] != '/' || o->call.n_md > MAX_MD ||
      (enc && rpc_encoding_parse(enc, strlen(enc)) == RPC_ENC_UNKNOWN))
    return NULL;
  *err = -ESHUTDOWN;
  if (sub->state == CLI_SUB_SHUTDOWN) return NULL;
  bool now = sub->state == CLI_SUB_READY && !sub->waiting.n && cli_conn_can_start(sub->cur->cc);
  *err = -EAGAIN;
  if (!now && sub->waiting.n >= sub->cfg.max_pending) return NULL;
  *err = -ENOMEM;
  cli_sub_call *sc = cli_calloc(sub->slab, sizeof(*sc) + o->extra);
  if (!sc) return NULL;
  sc->sub = sub;
  sc->h = *h;
  sc->user = user;
  sc->wait_for_ready = o->wait_for_ready;
  core_timer_init(&sc->deadline, on_deadline, sc);
  if (o->call.timeout_ns > 0) {
    sc->deadline_ms = core_now_ms() + (uint64_t)(o->call.timeout_ns + 999999) / 1000000;
    core_timer_arm(sub->timers, &sc->deadline, sc->deadline_ms);
  }
  if (now) { /* the request headers go now: nothing to keep for later */
    sub_conn *conn = sub->cur;
    cli_call *call = cli_call_start(conn->cc, path, &o->call, &trampolines, sc, err);
    if (!call) {
      if (core_timer_armed(&sc->deadline)) core_timer_cancel(sub->timers, &sc->deadline);
      free_call(sc);
      return NULL;
    }
    sc->state = CALL_STARTED;
    sc->call = call;
    sc->conn = conn;
    list_push(&sub->started, sc);
    io_conn_flush(conn->io);
    *err = 0;
    return sc;
  }
  sc->path = strdup(path);
  sc->encoding = enc ? strdup(enc) : NULL;
  if (!sc->path || (enc && !sc->encoding) || copy_md(sc, o->call.md, o->call.n_md)) {
    if (core_timer_armed(&sc->deadline)) core_timer_cancel(sub->timers, &sc->deadline);
    free_call(sc);
    return NULL;
  }
  list_push(&sub->waiting, sc);
  if (sub->state == CLI_SUB_IDLE) {
    start_connect(sub);
  } else if (sub->state == CLI_SUB_TRANSIENT_FAILURE && !sc->wait_for_ready) {
    kick(sub);
  }
  *err = 0;
  return sc;
}

bool cli_sub_call_message_compressed(const cli_sub_call *sc) {
  return sc->call && cli_call_message_compressed(sc->call);
}

int cli_sub_call_send(cli_sub_call *sc, const uint8_t *msg, size_t len, unsigned flags) {
  if (sc->send_closed) return -EPIPE;
  if (sc->state == CALL_STARTED && !sc->sq) {
    int rc = cli_call_send(sc->call, msg, len, flags);
    if (rc == -EAGAIN) sc->want_writable = true;
    if (!rc) io_conn_flush(sc->conn->io);
    return rc;
  }
  if (sc->queued >= sc->sub->cfg.send_buffer) {
    sc->want_writable = true;
    return -EAGAIN;
  }
  sub_msg *m = malloc(sizeof(*m) + (len ? len : 1));
  if (!m) return -ENOMEM;
  m->next = NULL;
  m->len = len;
  m->flags = flags;
  if (len) memcpy(m->bytes, msg, len);
  if (sc->sq_tail)
    sc->sq_tail->next = m;
  else
    sc->sq = m;
  sc->sq_tail = m;
  sc->queued += len;
  return 0;
}

int cli_sub_call_close_send(cli_sub_call *sc) {
  if (sc->send_closed) return 0;
  sc->send_closed = true;
  if (sc->state == CALL_STARTED && !sc->sq) {
    int rc = cli_call_close_send(sc->call);
    io_conn_flush(sc->conn->io);
    return rc;
  }
  return 0;
}

void cli_sub_call_cancel(cli_sub_call *sc) {
  if (sc->state == CALL_WAITING) {
    end_waiting(sc, URPC_STATUS_CANCELLED, "cancelled by the client");
    return;
  }
  io_conn *io = sc->conn->io;
  cli_call_cancel(sc->call); /* t_close frees sc */
  io_conn_flush(io);
}
