/* Connections: multishot accept, multishot recv from the provided-buffer ring, one gathered
 * send in flight at a time, and close that waits for the last completion before freeing.
 *
 * A connection holds one op-in-flight count per armed recv and per send; it is freed when it is
 * closing and the count drops to zero, so no completion ever points at freed memory. */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/shard_impl.h"

struct io_uring_sqe *io_get_sqe(io_shard *s) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
  while (!sqe) {
    /* SQ full: hand the batch to the kernel now rather than drop an op. */
    int n = io_uring_submit(&s->ring);
    if (n > 0) core_ctr_add(&s->stats.ring_submitted, (uint64_t)n);
    sqe = io_uring_get_sqe(&s->ring);
  }
  return sqe;
}

io_shard *io_conn_shard(const io_conn *c) {
  return c->shard;
}

bool io_conn_is_tls(const io_conn *c) {
  return c->tls != NULL;
}

const tls_peer *io_conn_tls_peer(const io_conn *c) {
  return c->tls && tls_conn_ready(c->tls) ? tls_conn_peer(c->tls) : NULL;
}

void io_accept_arm(io_shard *s, bool tls) {
  struct io_uring_sqe *sqe = io_get_sqe(s);
  io_uring_prep_multishot_accept(sqe, tls ? s->cfg.tls_listen_fd : s->cfg.listen_fd, NULL, NULL,
                                 SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, tls ? &s->tls_accept_op : &s->accept_op);
  *(tls ? &s->tls_accept_armed : &s->accept_armed) = true;
  s->ops_in_flight++;
}

static void recv_arm(io_conn *c) {
  struct io_uring_sqe *sqe = io_get_sqe(c->shard);
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (unsigned short)c->shard->bufs.bgid;
  io_uring_sqe_set_data(sqe, &c->recv_op);
  c->recv_armed = 1;
  c->shard->ops_in_flight++;
}

static void conn_free_if_done(io_conn *c) {
  if (!c->closing || c->recv_armed || c->send || c->in_flush || c->in_cb) return;
  io_shard *s = c->shard;
  if (core_timer_armed(&c->handshake)) core_timer_cancel(&s->timers, &c->handshake);
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
  core_ctr_sub(&s->stats.open, 1);
  core_pool_put(&s->conn_pool, c);
}

static void cancel_op(io_shard *s, const void *op) {
  struct io_uring_sqe *sqe = io_get_sqe(s);
  io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
  io_uring_sqe_set_data(sqe, NULL);
}

void io_conn_set_close_reason(io_conn *c, io_close_reason why) {
  if (!c->close_reason) c->close_reason = (uint8_t)(why + 1);
}

/* Counted once, when the connection ends: the reason named first, or `why`. */
static void count_close(io_conn *c, io_close_reason why) {
  io_conn_set_close_reason(c, why);
  core_ctr_inc(&c->shard->stats.closed[c->close_reason - 1]);
}

static void count_tls_failure(io_conn *c, unsigned cause) {
  core_ctr_inc(&c->shard->stats.tls_failed[cause == TLS_FAIL_NONE ? TLS_FAIL_PROTOCOL : cause]);
}

/* A TLS connection ending before its handshake finished or failed: counted failed for `cause`. */
static void count_tls_cut(io_conn *c, unsigned cause) {
  if (c->tls && !c->closing && !tls_conn_ready(c->tls) && tls_conn_failure(c->tls) == TLS_FAIL_NONE)
    count_tls_failure(c, cause);
}

static void close_as(io_conn *c, io_close_reason why) {
  if (c->closing) return;
  count_close(c, why);
  c->closing = 1;
  io_shard *s = c->shard;
  s->cfg.handler->conn_closed(c->state);
  c->state = NULL;
  if (c->recv_armed) cancel_op(s, &c->recv_op);
  /* A send still in flight waits for a peer that does not read (or is slow): cancel it, or the
   * connection — and a shard that is stopping — would wait for it without end. What it did
   * not send is dropped with a reset. */
  if (c->send) cancel_op(s, c->send);
  if (c->send || c->out.bytes) c->abort = 1;
  conn_free_if_done(c);
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
    if (c->closing || !s->cfg.handler->conn_drain) continue;
    s->cfg.handler->conn_drain(c->state);
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

static void conn_open(io_shard *s, int fd, bool tls) {
  io_conn *c = core_pool_get(&s->conn_pool);
  core_ctr_inc(&s->stats.accepted);
  if (!c) {
    LOG_WARN("out of memory: refusing a connection");
    core_ctr_inc(&s->stats.closed[IO_CLOSED_ERROR]);
    close(fd);
    return;
  }
  memset(c, 0, sizeof(*c));
  c->recv_op.type = OP_RECV;
  c->fd = fd;
  c->shard = s;
  core_outq_init(&c->out, &s->block_pool);
  core_outq_init(&c->plain, &s->block_pool);
  if (tls) {
    c->tls = tls_conn_new(s->cfg.tls);
    if (!c->tls) {
      LOG_WARN("out of memory: refusing a TLS connection");
      core_ctr_inc(&s->stats.closed[IO_CLOSED_ERROR]);
      close(fd);
      core_pool_put(&s->conn_pool, c);
      return;
    }
    core_timer_init(&c->handshake, on_handshake_timeout, c);
    core_timer_arm(&s->timers, &c->handshake, core_now_ms() + s->cfg.handshake_timeout_ms);
  }
  c->next = s->conns;
  if (s->conns) s->conns->prev = c;
  s->conns = c;
  core_ctr_inc(&s->stats.open);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  /* Sent data unacknowledged this long (a peer gone without a FIN, or one whose window stays
   * shut) ends the connection, if asked: grpc's servers set 20 s. */
  unsigned uto = s->cfg.tcp_user_timeout_ms;
  if (uto) setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &uto, sizeof(uto));
  c->state = s->cfg.handler->conn_open(s->cfg.ctx, c);
  if (!c->state) {
    count_close(c, IO_CLOSED_LIMIT); /* refused by the layer above */
    c->closing = 1;
    conn_free_if_done(c);
    return;
  }
  recv_arm(c);
  /* Accepted just before the listener closed: it is told at once. */
  if (s->draining && s->cfg.handler->conn_drain) s->cfg.handler->conn_drain(c->state);
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
    if (!s->stopping && !s->draining) io_accept_arm(s, tls);
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

void io_on_accept(io_shard *s, struct io_uring_cqe *cqe, bool tls) {
  bool more = cqe->flags & IORING_CQE_F_MORE;
  if (!more) {
    *(tls ? &s->tls_accept_armed : &s->accept_armed) = false;
    s->ops_in_flight--;
  }
  if (cqe->res >= 0) {
    s->accept_backoff_ms = 0;
    if (s->stopping)
      close(cqe->res);
    else
      conn_open(s, cqe->res, tls);
  } else if (out_of_resources(cqe->res)) {
    if (!more) {
      accept_backoff(s, cqe->res, tls);
      return;
    }
  } else if (cqe->res != -ECANCELED) {
    LOG_WARN("accept: %s", strerror(-cqe->res));
  }
  if (!more && !s->stopping && !s->draining) io_accept_arm(s, tls);
}

static int plain_in(void *ud, const uint8_t *p, size_t n) {
  io_conn *c = ud;
  return c->shard->cfg.handler->conn_recv(c->state, p, n);
}

/* Received bytes to the layer above, through TLS when the connection has it. TLS may answer
 * (handshake, alerts): that output is flushed; a failed session closes once it is sent. */
static int deliver(io_conn *c, const uint8_t *p, size_t n) {
  if (!c->tls) return c->shard->cfg.handler->conn_recv(c->state, p, n);
  bool was_ready = tls_conn_ready(c->tls);
  int rc = tls_conn_recv(c->tls, p, n, plain_in, c, &c->out);
  if (!was_ready && tls_conn_ready(c->tls)) {
    core_ctr_inc(&c->shard->stats.tls_ok);
    if (tls_conn_resumed(c->tls)) core_ctr_inc(&c->shard->stats.tls_resumed);
    core_timer_cancel(&c->shard->timers, &c->handshake);
    io_conn_flush(c); /* the layer above's first output (HTTP/2 SETTINGS) can go now */
  }
  if (rc == TLS_CLOSED) {
    io_conn_set_close_reason(c, IO_CLOSED_PEER); /* its close_notify */
    return -1;
  }
  if (rc < 0 && !was_ready) count_tls_failure(c, tls_conn_failure(c->tls));
  if (rc < 0) {
    if (!c->out.bytes) return -1;
    c->close_after_send = 1; /* send the alert first */
  }
  if (c->out.bytes) io_conn_flush(c);
  return 0;
}

void io_on_recv(io_conn *c, struct io_uring_cqe *cqe) {
  io_shard *s = c->shard;
  c->in_cb = 1; /* keeps c alive until the end of this function */
  bool more = cqe->flags & IORING_CQE_F_MORE;
  if (!more) {
    c->recv_armed = 0;
    s->ops_in_flight--;
  }
  int res = cqe->res;
  if (res > 0) {
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    core_ctr_add(&s->stats.bytes_in, (uint64_t)res);
    int rc = c->closing ? 0 : deliver(c, io_bufring_data(&s->bufs, bid), (size_t)res);
    io_bufring_recycle(&s->bufs, bid);
    if (rc < 0) io_conn_close(c);
  } else if (res == -ENOBUFS) {
    core_ctr_inc(
        &s->stats.enobufs); /* the ring ran dry; re-arming below picks up where it stopped */
  } else if (!c->closing) {
    bool peer = res == 0 || res == -ECONNRESET;
    if (!peer && res != -ECANCELED) LOG_DEBUG("recv: %s", strerror(-res));
    count_tls_cut(c, IO_TLS_FAIL_EOF);
    close_as(c, peer ? IO_CLOSED_PEER : IO_CLOSED_ERROR);
  }
  if (!c->recv_armed && !c->closing) recv_arm(c);
  c->in_cb = 0;
  conn_free_if_done(c);
}

void io_conn_flush(io_conn *c) {
  if (c->in_flush || c->closing) return;
  c->in_flush = 1;
  c->flush_next = c->shard->flush_head;
  c->shard->flush_head = c;
}

static void send_start(io_conn *c) {
  io_shard *s = c->shard;
  io_send_op *op = core_pool_get(&s->send_pool);
  if (!op) {
    io_conn_close(c);
    return;
  }
  op->op.type = OP_SEND;
  op->conn = c;
  memset(&op->msg, 0, sizeof(op->msg));
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = (size_t)core_outq_iov(&c->out, op->iov, IO_SEND_IOV);
  struct io_uring_sqe *sqe = io_get_sqe(s);
  io_uring_prep_sendmsg(sqe, c->fd, &op->msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, op);
  c->send = op;
  s->ops_in_flight++;
}

static void flush_one(io_conn *c) {
  io_shard *s = c->shard;
  if (c->closing || c->send) return; /* a send in flight: its completion flushes again */
  bool can_produce = !c->tls || tls_conn_ready(c->tls);
  if (c->out.bytes < s->cfg.out_soft_cap && !c->close_after_send && can_produce) {
    /* With TLS the layer above writes plaintext, sealed into records right after. */
    core_outq *dst = c->tls ? &c->plain : &c->out;
    int rc = s->cfg.handler->conn_produce(c->state, dst);
    if (rc >= 0 && c->tls && tls_conn_seal(c->tls, &c->plain, &c->out) < 0) rc = -1;
    if (rc < 0) {
      io_conn_close(c);
      return;
    }
    if (rc == IO_CLOSE_AFTER_SEND) c->close_after_send = 1;
  }
  if (c->out.bytes)
    send_start(c);
  else if (c->close_after_send)
    io_conn_close(c);
}

void io_flush_all(io_shard *s) {
  while (s->flush_head) {
    io_conn *c = s->flush_head;
    s->flush_head = c->flush_next;
    c->in_flush = 0;
    if (c->closing)
      conn_free_if_done(c);
    else
      flush_one(c);
  }
}

void io_on_send(io_send_op *op, struct io_uring_cqe *cqe) {
  io_conn *c = op->conn;
  io_shard *s = c->shard;
  s->ops_in_flight--;
  c->send = NULL;
  c->in_cb = 1;
  core_pool_put(&s->send_pool, op);
  if (cqe->res > 0) {
    core_ctr_add(&s->stats.bytes_out, (uint64_t)cqe->res);
    core_outq_consume(&c->out, (size_t)cqe->res);
    io_conn_flush(c); /* the rest of the queue, and whatever the layer above has now */
  } else if (!c->closing) {
    bool peer = cqe->res == -EPIPE || cqe->res == -ECONNRESET;
    if (!peer) LOG_DEBUG("send: %s", strerror(-cqe->res));
    close_as(c, peer ? IO_CLOSED_PEER : IO_CLOSED_ERROR);
  }
  c->in_cb = 0;
  conn_free_if_done(c);
}
