/* Connections, the same for both backends: accepted (or connected out, connect.c), fed received
 * bytes (through TLS when they speak it), flushed (the layer above produces, the backend sends
 * one gathered send at a time), closed with a reason, and freed once the backend holds nothing
 * of them (io_uring: the last completion is back; epoll: the batch of events that might name
 * them is over). Each connection calls its own handler: the shard's for accepted ones. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/shard_impl.h"

io_shard *io_conn_shard(const io_conn *c) {
  return c->shard;
}

bool io_conn_is_tls(const io_conn *c) {
  return c->tls != NULL;
}

const tls_peer *io_conn_tls_peer(const io_conn *c) {
  return c->tls && tls_conn_ready(c->tls) ? tls_conn_peer(c->tls) : NULL;
}

int io_conn_peer_addr(io_conn *c, struct sockaddr_storage *out, socklen_t *len) {
  if (!c->peer_len) {
    socklen_t n = sizeof(c->peer);
    if (getpeername(c->fd, (struct sockaddr *)&c->peer, &n) < 0) return -errno;
    if (!n || n > sizeof(c->peer)) return -EAFNOSUPPORT; /* not IP: a socket pair in a test */
    c->peer_len = (uint8_t)n;
  }
  memcpy(out, &c->peer, c->peer_len);
  *len = c->peer_len;
  return 0;
}

void io_conn_release(io_conn *c) {
  io_shard *s = c->shard;
  if (!c->closing || c->in_flush || c->in_cb || s->be->conn_held(c)) return;
  if (core_timer_armed(&c->handshake)) core_timer_cancel(&s->timers, &c->handshake);
  if (c->connect) core_pool_put(&s->connect_pool, c->connect);
  if (c->abort) {
    /* Output the peer never took: reset rather than leave it to the kernel to keep trying. */
    struct linger lg = {1, 0};
    setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  }
  core_outq_dispose(&c->out);
  core_outq_dispose(&c->plain);
  tls_conn_free(c->tls);
  close(c->fd);
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  core_ctr_sub(c->outbound ? &s->stats.connect_open : &s->stats.open, 1);
  core_pool_put(&s->conn_pool, c);
}

void io_conn_discard(io_conn *c) {
  c->closing = 1;
  c->shard->be->conn_stop(c);
  io_conn_release(c);
}

void io_conn_set_close_reason(io_conn *c, io_close_reason why) {
  if (!c->close_reason) c->close_reason = (uint8_t)(why + 1);
}

/* Counted once, when an accepted connection ends: the reason named first, or `why`. */
static void count_close(io_conn *c, io_close_reason why) {
  io_conn_set_close_reason(c, why);
  if (!c->outbound) core_ctr_inc(&c->shard->stats.closed[c->close_reason - 1]);
}

static void count_tls_failure(io_conn *c, unsigned cause) {
  core_ctr_inc(&c->shard->stats.tls_failed[cause == TLS_FAIL_NONE ? TLS_FAIL_PROTOCOL : cause]);
}

/* An accepted TLS connection ending before its handshake finished or failed: counted failed
 * for `cause`. */
static void count_tls_cut(io_conn *c, unsigned cause) {
  if (c->tls && !c->outbound && !c->closing && !tls_conn_ready(c->tls) &&
      tls_conn_failure(c->tls) == TLS_FAIL_NONE)
    count_tls_failure(c, cause);
}

static void close_as(io_conn *c, io_close_reason why) {
  if (c->closing) return;
  count_close(c, why);
  c->closing = 1;
  io_shard *s = c->shard;
  if (c->connect)
    io_connect_failed(c, why); /* outbound, never opened */
  else
    c->handler->conn_closed(c->state);
  c->state = NULL;
  /* A send still in flight waits for a peer that does not read (or is slow): it is cancelled,
   * or the connection — and a shard that is stopping — would wait for it without end. What it
   * did not send is dropped with a reset. */
  if (c->sending || c->out.bytes) c->abort = 1;
  s->be->conn_stop(c);
  io_conn_release(c);
}

void io_conn_close(io_conn *c) {
  close_as(c, IO_CLOSED_ERROR);
}

void io_close_all(io_shard *s) {
  io_conn *next;
  for (io_conn *c = s->conns; c; c = next) {
    next = c->next;
    close_as(c, IO_CLOSED_SHUTDOWN);
  }
}

void io_drain_all(io_shard *s) {
  for (io_conn *c = s->conns; c; c = c->next) {
    if (c->closing || c->connect || !c->handler->conn_drain) continue;
    c->handler->conn_drain(c->state);
    io_conn_flush(c);
  }
}

static void on_handshake_timeout(core_timer *t, void *arg) {
  (void)t;
  io_conn *c = arg;
  LOG_DEBUG("TLS handshake not finished in time: closing");
  count_tls_cut(c, IO_TLS_FAIL_TIMEOUT);
  io_conn_close(c);
}

io_conn *io_conn_make(io_shard *s, int fd, const io_handler *h, bool outbound) {
  io_conn *c = core_pool_get(&s->conn_pool);
  if (!c) return NULL;
  memset(c, 0, sizeof(*c));
  c->recv_op.type = OP_RECV;
  c->fd = fd;
  c->shard = s;
  c->handler = h;
  c->outbound = outbound;
  core_outq_init(&c->out, &s->block_pool);
  core_outq_init(&c->plain, &s->block_pool);
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  core_ctr_inc(outbound ? &s->stats.connect_open : &s->stats.open);
  return c;
}

void io_conn_accepted(io_shard *s, int fd, bool tls) {
  if (s->stopping) {
    close(fd);
    return;
  }
  s->accept_backoff_ms = 0;
  core_ctr_inc(&s->stats.accepted);
  io_conn *c = io_conn_make(s, fd, s->cfg.handler, false);
  if (!c) {
    close(fd);
  } else if (tls && !(c->tls = tls_conn_new(s->cfg.tls))) {
    io_conn_discard(c); /* closes fd */
    c = NULL;
  }
  if (!c) {
    LOG_WARN("out of memory: refusing a connection");
    core_ctr_inc(&s->stats.closed[IO_CLOSED_ERROR]);
    return;
  }
  if (tls) {
    core_timer_init(&c->handshake, on_handshake_timeout, c);
    core_timer_arm(&s->timers, &c->handshake, core_now_ms() + s->cfg.handshake_timeout_ms);
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  /* Sent data unacknowledged this long (a peer gone without a FIN, or one whose window stays
   * shut) ends the connection, if asked: grpc's servers set 20 s. */
  unsigned uto = s->cfg.tcp_user_timeout_ms;
  if (uto) setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
  c->state = c->handler->conn_open(s->cfg.ctx, c);
  if (!c->state) {
    count_close(c, IO_CLOSED_LIMIT); /* refused by the layer above */
    io_conn_discard(c);
    return;
  }
  s->be->conn_start(c);
  /* Accepted just before the listener closed: it is told at once. */
  if (s->draining && c->handler->conn_drain) c->handler->conn_drain(c->state);
  io_conn_flush(c); /* the layer above may have output at once (e.g. HTTP/2 SETTINGS) */
}

/* Out of file descriptors or memory: the connection waits in the backlog, and accepting again
 * at once would fail at once. Accepts pause, 10 ms at first, doubling up to a second while it
 * lasts; one line per ten seconds says so. */
#define ACCEPT_BACKOFF_MIN_MS 10
#define ACCEPT_BACKOFF_MAX_MS 1000
#define ACCEPT_LOG_EVERY_MS   10000

static bool out_of_resources(int err) {
  return err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM;
}

static void on_accept_resume(core_timer *t, void *arg) {
  (void)t;
  io_shard *s = arg;
  for (int tls = 0; tls < 2; tls++) {
    if (!s->accept_paused[tls]) continue;
    s->accept_paused[tls] = false;
    if (!s->stopping && !s->draining) s->be->accept_arm(s, tls);
  }
}

static void accept_backoff(io_shard *s, int err, bool tls) {
  uint64_t now = core_now_ms();
  s->accept_failures++;
  if (now >= s->accept_logged_ms + ACCEPT_LOG_EVERY_MS) {
    LOG_WARN("accept: %s (%llu times): new connections wait; raise the file limit (ulimit -n) or "
             "lower --max-connections",
             strerror(-err), (unsigned long long)s->accept_failures);
    s->accept_logged_ms = now;
    s->accept_failures = 0;
  }
  s->accept_paused[tls] = true;
  if (core_timer_armed(&s->accept_resume)) return;
  s->accept_backoff_ms = s->accept_backoff_ms ? s->accept_backoff_ms * 2 : ACCEPT_BACKOFF_MIN_MS;
  if (s->accept_backoff_ms > ACCEPT_BACKOFF_MAX_MS) s->accept_backoff_ms = ACCEPT_BACKOFF_MAX_MS;
  core_timer_init(&s->accept_resume, on_accept_resume, s);
  core_timer_arm(&s->timers, &s->accept_resume, now + s->accept_backoff_ms);
}

void io_accept_failed(io_shard *s, int err, bool tls) {
  if (out_of_resources(err))
    accept_backoff(s, err, tls);
  else if (err != -ECANCELED)
    LOG_WARN("accept: %s", strerror(-err));
}

static int plain_in(void *ud, const uint8_t *p, size_t n) {
  io_conn *c = ud;
  return c->handler->conn_recv(c->state, p, n);
}

/* An outbound connection's first plaintext came with the handshake's last flight: it opens
 * first. */
static int plain_in_opening(void *ud, const uint8_t *p, size_t n) {
  io_conn *c = ud;
  if (c->connect && io_connect_open(c) < 0) return -1;
  return plain_in(ud, p, n);
}

static void handshake_done(io_conn *c) {
  io_shard *s = c->shard;
  if (c->outbound) {
    if (c->connect) io_connect_open(c); /* cancels the timer, flushes */
    return;
  }
  core_ctr_inc(&s->stats.tls_ok);
  if (tls_conn_resumed(c->tls)) core_ctr_inc(&s->stats.tls_resumed);
  core_timer_cancel(&s->timers, &c->handshake);
  io_conn_flush(c); /* the layer above's first output (HTTP/2 SETTINGS) can go now */
}

/* A TLS session failed before its handshake finished. */
static void handshake_failed(io_conn *c) {
  if (!c->outbound) {
    count_tls_failure(c, tls_conn_failure(c->tls));
    return;
  }
  if (!c->connect) return; /* opened with the last flight; the layer above refused */
  const char *why = tls_conn_error(c->tls);
  int err = tls_conn_failure(c->tls) == TLS_FAIL_PEER_CERT ? -EKEYREJECTED : -EPROTO;
  io_connect_note(c, err, "%s", why ? why : "TLS handshake failed");
}

/* Received bytes to the layer above, through TLS when the connection has it. TLS may answer
 * (handshake, alerts): that output is flushed; a failed session closes once it is sent. */
static int deliver(io_conn *c, const uint8_t *p, size_t n) {
  if (!c->tls) return c->handler->conn_recv(c->state, p, n);
  bool was_ready = tls_conn_ready(c->tls);
  int rc = tls_conn_recv(c->tls, p, n, c->connect ? plain_in_opening : plain_in, c, &c->out);
  if (!was_ready && tls_conn_ready(c->tls) && !c->closing) handshake_done(c);
  if (rc == TLS_CLOSED) {
    io_conn_set_close_reason(c, IO_CLOSED_PEER); /* its close_notify */
    return -1;
  }
  if (rc < 0 && !was_ready) handshake_failed(c);
  if (rc < 0) {
    if (!c->out.bytes) return -1;
    c->close_after_send = 1; /* send the alert first */
  }
  if (c->out.bytes) io_conn_flush(c);
  return 0;
}

void io_conn_received(io_conn *c, const uint8_t *p, size_t n) {
  core_ctr_add(&c->shard->stats.bytes_in, n);
  if (c->closing) return;
  c->in_cb = 1; /* keeps c alive until the end of this function */
  if (deliver(c, p, n) < 0) io_conn_close(c);
  c->in_cb = 0;
  io_conn_release(c);
}

void io_conn_recv_ended(io_conn *c, int res) {
  if (c->closing) return;
  bool peer = res == 0 || res == -ECONNRESET;
  if (!peer && res != -ECANCELED) LOG_DEBUG("recv: %s", strerror(-res));
  count_tls_cut(c, IO_TLS_FAIL_EOF);
  if (c->connect) {
    char at[160];
    io_connect_note(c, res ? res : -ECONNRESET, "%s: %s", io_connect_phase(c, at, sizeof(at)),
                    res ? strerror(-res) : "the server closed the connection");
  }
  close_as(c, peer ? IO_CLOSED_PEER : IO_CLOSED_ERROR);
}

void io_conn_flush(io_conn *c) {
  if (c->in_flush || c->closing) return;
  c->in_flush = 1;
  c->flush_next = c->shard->flush_head;
  c->shard->flush_head = c;
}

static void flush_one(io_conn *c) {
  io_shard *s = c->shard;
  if (c->closing || c->sending) return; /* a send in flight: its end flushes again */
  bool can_produce = !c->tls || tls_conn_ready(c->tls);
  if (c->out.bytes < s->cfg.out_soft_cap && !c->close_after_send && can_produce) {
    /* With TLS the layer above writes plaintext, sealed into records right after. */
    core_outq *dst = c->tls ? &c->plain : &c->out;
    int rc = c->handler->conn_produce(c->state, dst);
    if (rc >= 0 && c->tls && tls_conn_seal(c->tls, &c->plain, &c->out) < 0) rc = -1;
    if (rc < 0) {
      io_conn_close(c);
      return;
    }
    if (rc == IO_CLOSE_AFTER_SEND) c->close_after_send = 1;
  }
  if (c->out.bytes)
    s->be->send(c);
  else if (c->close_after_send)
    io_conn_close(c);
}

void io_flush_all(io_shard *s) {
  while (s->flush_head) {
    io_conn *c = s->flush_head;
    s->flush_head = c->flush_next;
    c->in_flush = 0;
    if (c->closing)
      io_conn_release(c);
    else
      flush_one(c);
  }
}

void io_conn_sent(io_conn *c, size_t n) {
  core_ctr_add(&c->shard->stats.bytes_out, n);
  core_outq_consume(&c->out, n);
}

void io_conn_send_failed(io_conn *c, int err) {
  if (c->closing) return;
  bool peer = err == -EPIPE || err == -ECONNRESET;
  if (!peer) LOG_DEBUG("send: %s", strerror(-err));
  close_as(c, peer ? IO_CLOSED_PEER : IO_CLOSED_ERROR);
}
