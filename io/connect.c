/* Outbound connections until they open: the socket, the connect (the backend's, reported
 * through io_conn_connected), the TLS handshake as a client, one timer over both, and the one
 * callback that ends it: conn_open when the connection is usable, or conn_failed with the
 * first cause named. From conn_open on, conn.c treats it as it treats an accepted one.
 *
 * While unopened, c->connect holds the op (the handler's ctx, the address the kernel reads,
 * the failure noted); it is freed when the connection opens, or with the connection. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/shard_impl.h"

#define DEFAULT_CONNECT_TIMEOUT_MS 10000

/* "127.0.0.1:50051", "[::1]:50051", "unix:/run/x.sock" or "unix:@abstract". */
static void format_addr(const io_connect_op *op, char *buf, size_t len) {
  const struct sockaddr *sa = (const struct sockaddr *)&op->addr;
  char host[INET6_ADDRSTRLEN];
  if (sa->sa_family == AF_INET) {
    const struct sockaddr_in *in = (const void *)sa;
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
    snprintf(buf, len, "%s:%u", host, ntohs(in->sin_port));
  } else if (sa->sa_family == AF_INET6) {
    const struct sockaddr_in6 *in6 = (const void *)sa;
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
    snprintf(buf, len, "[%s]:%u", host, ntohs(in6->sin6_port));
  } else {
    const struct sockaddr_un *un = (const void *)sa;
    size_t n = op->addr_len - offsetof(struct sockaddr_un, sun_path);
    bool abstract = n > 0 && un->sun_path[0] == '\0';
    if (abstract) n--;
    snprintf(buf, len, "unix:%s%.*s", abstract ? "@" : "", (int)strnlen(un->sun_path + abstract, n),
             un->sun_path + abstract);
  }
}

const char *io_connect_phase(const io_conn *c, char *buf, size_t len) {
  char addr[128];
  format_addr(c->connect, addr, sizeof(addr));
  snprintf(buf, len, "%s %s", c->connect->tcp_done ? "TLS handshake with" : "connecting to", addr);
  return buf;
}

void io_connect_note(io_conn *c, int err, const char *fmt, ...) {
  io_connect_op *op = c->connect;
  if (op->err) return;
  op->err = err;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(op->why, sizeof(op->why), fmt, ap);
  va_end(ap);
}

void io_connect_failed(io_conn *c, io_close_reason why) {
  io_connect_op *op = c->connect;
  if (!op->err) {
    char at[160];
    bool stop = why == IO_CLOSED_SHUTDOWN;
    io_connect_note(c, stop ? -ECANCELED : -ECONNABORTED, "%s: %s",
                    io_connect_phase(c, at, sizeof(at)),
                    stop ? "cancelled: the shard is stopping" : "closed");
  }
  core_ctr_inc(&c->shard->stats.connect_failed);
  LOG_DEBUG("%s", op->why);
  c->handler->conn_failed(op->ctx, op->err, op->why);
}

int io_connect_open(io_conn *c) {
  io_shard *s = c->shard;
  io_connect_op *op = c->connect;
  void *ctx = op->ctx;
  core_timer_cancel(&s->timers, &c->handshake);
  c->connect = NULL;
  core_pool_put(&s->connect_pool, op);
  core_ctr_inc(&s->stats.connect_ok);
  c->state = c->handler->conn_open(ctx, c);
  if (!c->state) {
    io_conn_discard(c); /* refused by the layer above, which knows */
    return -1;
  }
  if (s->draining && c->handler->conn_drain) c->handler->conn_drain(c->state);
  io_conn_flush(c);
  return 0;
}

void io_conn_connected(io_conn *c, int res) {
  if (c->closing) return;
  char at[160];
  if (res < 0) {
    io_connect_note(c, res, "%s: %s", io_connect_phase(c, at, sizeof(at)), strerror(-res));
    io_conn_close(c);
    return;
  }
  c->connect->tcp_done = 1;
  c->shard->be->conn_start(c);
  if (c->closing) return; /* the backend could not watch it */
  if (!c->tls) {
    io_connect_open(c);
    return;
  }
  if (tls_conn_start(c->tls, &c->out) < 0) {
    io_connect_note(c, -EPROTO, "%s: cannot write the ClientHello",
                    io_connect_phase(c, at, sizeof(at)));
    io_conn_close(c);
    return;
  }
  io_conn_flush(c); /* the ClientHello; the layer above writes nothing before conn_open */
}

static void on_connect_timeout(core_timer *t, void *arg) {
  (void)t;
  io_conn *c = arg;
  char at[160];
  io_connect_note(c, -ETIMEDOUT, "%s: no %s within %u ms", io_connect_phase(c, at, sizeof(at)),
                  c->connect->tcp_done ? "TLS handshake" : "connection", c->connect->timeout_ms);
  io_conn_close(c);
}

/* 0, -EINVAL (no address, or too short for its family) or -EAFNOSUPPORT. */
static int check_addr(const struct sockaddr *sa, socklen_t len) {
  if (!sa || len < sizeof(sa_family_t) || len > sizeof(struct sockaddr_storage)) return -EINVAL;
  size_t min;
  switch (sa->sa_family) {
  case AF_INET:
    min = sizeof(struct sockaddr_in);
    break;
  case AF_INET6:
    min = sizeof(struct sockaddr_in6);
    break;
  case AF_UNIX:
    min = offsetof(struct sockaddr_un, sun_path) + 1;
    break;
  default:
    return -EAFNOSUPPORT;
  }
  return len < min ? -EINVAL : 0;
}

int io_shard_connect(io_shard *s, const io_connect_req *req) {
  const io_handler *h = req->handler;
  if (!h || !h->conn_open || !h->conn_recv || !h->conn_produce || !h->conn_closed ||
      !h->conn_failed || (req->tls && (!req->server_name || !*req->server_name)))
    return -EINVAL;
  int err = check_addr(req->addr, req->addr_len);
  if (err) return err;
  if (s->stopping) return -ESHUTDOWN;
  int family = req->addr->sa_family;
  int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return -errno;
  if (family != AF_UNIX) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  }
  io_connect_op *op = core_pool_get(&s->connect_pool);
  io_conn *c = op ? io_conn_make(s, fd, h, true) : NULL;
  if (!c) {
    if (op) core_pool_put(&s->connect_pool, op);
    close(fd);
    return -ENOMEM;
  }
  memset(op, 0, sizeof(*op));
  op->op.type = OP_CONNECT;
  op->conn = c;
  op->ctx = req->ctx;
  op->timeout_ms = req->timeout_ms ? req->timeout_ms : DEFAULT_CONNECT_TIMEOUT_MS;
  op->addr_len = req->addr_len;
  memcpy(&op->addr, req->addr, req->addr_len);
  c->connect = op;
  if (req->tls && !(c->tls = tls_client_conn_new(req->tls, req->server_name))) {
    io_conn_discard(c); /* frees op, closes fd */
    return -ENOMEM;
  }
  core_ctr_inc(&s->stats.connect_attempts);
  core_timer_init(&c->handshake, on_connect_timeout, c);
  core_timer_arm(&s->timers, &c->handshake, core_now_ms() + op->timeout_ms);
  c->connecting = 1;
  s->be->connect(c);
  return 0;
}
