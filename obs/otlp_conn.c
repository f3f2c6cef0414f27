/* The collector connection (otlp_conn.h): connect, TLS handshake, write and read on one
 * non-blocking socket, each wait a poll bounded by the export's deadline. With TLS, plaintext
 * goes through tls_conn_seal into `out` and ciphertext read comes back through tls_conn_recv;
 * without, `out` holds the caller's bytes by reference until they are written. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "core/clock.h"
#include "obs/otlp_conn.h"

#define READ_CHUNK 16384

void otlp_conn_init(otlp_conn *c) {
  memset(c, 0, sizeof(*c));
  c->fd = -1;
  core_pool_init(&c->blocks, core_outq_block_size(), 4);
  core_outq_init(&c->out, &c->blocks);
}

void otlp_conn_close(otlp_conn *c) {
  tls_conn_free(c->tls);
  c->tls = NULL;
  core_outq_dispose(&c->out);
  if (c->fd >= 0) close(c->fd);
  c->fd = -1;
}

void otlp_conn_dispose(otlp_conn *c) {
  otlp_conn_close(c);
  core_pool_dispose(&c->blocks);
}

int otlp_conn_failed(otlp_conn *c, otlp_fail kind, int rc, const char *fmt, ...) {
  c->fail = kind;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->why, sizeof(c->why), fmt, ap);
  va_end(ap);
  return rc;
}

static int wait_fd(otlp_conn *c, short events, uint64_t deadline_ns) {
  for (;;) {
    uint64_t now = core_now_ns();
    if (now >= deadline_ns)
      return otlp_conn_failed(c, OTLP_FAIL_TIMEOUT, -ETIMEDOUT, "no %s within the export timeout",
                              events == POLLIN ? "answer" : "progress sending");
    struct pollfd p = {.fd = c->fd, .events = events};
    int n = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR)
      return otlp_conn_failed(c, OTLP_FAIL_NET, -errno, "poll: %s", strerror(errno));
  }
}

static int connect_tcp(otlp_conn *c, const char *host, const char *port, uint64_t deadline_ns) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  int g = getaddrinfo(host, port, &hints, &ai);
  if (g)
    return otlp_conn_failed(c, OTLP_FAIL_NET, -EHOSTUNREACH, "cannot resolve %s: %s", host,
                            gai_strerror(g));
  int rc = -ECONNREFUSED;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    c->fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (c->fd < 0) {
      rc = -errno;
      continue;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    if (connect(c->fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS)
      rc = -errno;
    else if (!(rc = wait_fd(c, POLLOUT, deadline_ns)) &&
             getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
      rc = -errno;
    else if (!rc && err)
      rc = -err;
    if (!rc) break;
    close(c->fd);
    c->fd = -1;
  }
  freeaddrinfo(ai);
  if (rc == -ETIMEDOUT) return rc; /* wait_fd said so */
  if (rc)
    return otlp_conn_failed(c, OTLP_FAIL_NET, rc, "cannot connect to %s port %s: %s", host, port,
                            strerror(-rc));
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return 0;
}

static int tls_failed(otlp_conn *c, int rc) {
  const char *why = tls_conn_error(c->tls);
  return otlp_conn_failed(c, OTLP_FAIL_TLS, rc, "%s", why ? why : "TLS failed");
}

static int discard(void *ud, const uint8_t *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return 0;
}

/* A TLS server that refuses us after our handshake is done (TLS 1.3: a client certificate it
 * does not like) sends an alert and closes, and our next write meets the reset. The alert is
 * already here to read: it says why, where the reset does not. */
static int send_failed(otlp_conn *c, int err) {
  int rc = otlp_conn_failed(c, OTLP_FAIL_NET, -err, "send: %s", strerror(err));
  uint8_t buf[READ_CHUNK];
  ssize_t n;
  while (c->tls && !tls_conn_error(c->tls) && (n = read(c->fd, buf, sizeof(buf))) > 0)
    if (tls_conn_recv(c->tls, buf, (size_t)n, discard, NULL, &c->out) < 0) break;
  return c->tls && tls_conn_error(c->tls) ? tls_failed(c, rc) : rc;
}

/* Writes out all of `out`. */
static int flush(otlp_conn *c, uint64_t deadline_ns) {
  struct iovec iov[16];
  while (c->out.bytes) {
    ssize_t w = writev(c->fd, iov, core_outq_iov(&c->out, iov, 16));
    if (w >= 0) {
      core_outq_consume(&c->out, (size_t)w);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN) return send_failed(c, errno);
    int rc = wait_fd(c, POLLOUT, deadline_ns);
    if (rc) return rc;
  }
  return 0;
}

typedef struct relay {
  int (*on_data)(void *ud, const uint8_t *p, size_t n);
  void *ud;
  bool any;
} relay;

static int relay_plain(void *ud, const uint8_t *p, size_t n) {
  relay *r = ud;
  r->any = true;
  return r->on_data(r->ud, p, n);
}

/* One read (after waiting for it) and, with TLS, its feed to the session: returns 1 (bytes
 * came; plaintext, if any, went to r->on_data), 0 (the peer closed) or a negative code. */
static int read_some(otlp_conn *c, relay *r, uint64_t deadline_ns) {
  uint8_t buf[READ_CHUNK];
  for (;;) {
    ssize_t n = read(c->fd, buf, sizeof(buf));
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN)
        return otlp_conn_failed(c, OTLP_FAIL_NET, -errno, "receive: %s", strerror(errno));
      int rc = wait_fd(c, POLLIN, deadline_ns);
      if (rc) return rc;
      continue;
    }
    if (n == 0) return 0;
    if (!c->tls) {
      int rc = relay_plain(r, buf, (size_t)n);
      return rc < 0 ? rc : 1;
    }
    int rc = tls_conn_recv(c->tls, buf, (size_t)n, relay_plain, r, &c->out);
    int f = flush(c, deadline_ns); /* whatever TLS answers (handshake, alerts) */
    if (rc < 0) return tls_conn_error(c->tls) ? tls_failed(c, rc) : rc;
    if (f) return f;
    return rc == TLS_CLOSED ? 0 : 1;
  }
}

int otlp_conn_read(otlp_conn *c, int (*on_data)(void *ud, const uint8_t *p, size_t n), void *ud,
                   uint64_t deadline_ns) {
  relay r = {on_data, ud, false};
  for (;;) { /* TLS records without plaintext (tickets) do not count */
    int rc = read_some(c, &r, deadline_ns);
    if (rc <= 0 || r.any) return r.any && rc >= 0 ? 1 : rc;
  }
}

static int no_plain_yet(void *ud, const uint8_t *p, size_t n) {
  (void)ud, (void)p, (void)n;
  return -EPROTO;
}

static int handshake(otlp_conn *c, tls_ctx *tls, const char *host, uint64_t deadline_ns) {
  c->tls = tls_client_conn_new(tls, host);
  if (!c->tls) return otlp_conn_failed(c, OTLP_FAIL_TLS, -ENOMEM, "out of memory for TLS");
  int rc = tls_conn_start(c->tls, &c->out);
  if (rc) return tls_failed(c, rc);
  relay r = {no_plain_yet, NULL, false};
  while (!(rc = flush(c, deadline_ns)) && !tls_conn_ready(c->tls)) {
    rc = read_some(c, &r, deadline_ns);
    if (rc == 0)
      return otlp_conn_failed(c, OTLP_FAIL_TLS, -ECONNRESET,
                              "TLS handshake with %s failed: the collector closed the "
                              "connection (is it serving TLS?)",
                              host);
    if (rc < 0) return rc;
  }
  return rc;
}

int otlp_conn_open(otlp_conn *c, const char *host, const char *port, tls_ctx *tls,
                   uint64_t deadline_ns) {
  int rc = connect_tcp(c, host, port, deadline_ns);
  if (!rc && tls) rc = handshake(c, tls, host, deadline_ns);
  if (rc) otlp_conn_close(c);
  return rc;
}

int otlp_conn_write(otlp_conn *c, const struct iovec *iov, int n, uint64_t deadline_ns) {
  core_outq plain;
  core_outq_init(&plain, &c->blocks);
  core_outq *q = c->tls ? &plain : &c->out;
  int rc = 0;
  for (int i = 0; i < n && !rc; i++)
    if (iov[i].iov_len) rc = core_outq_ref(q, iov[i].iov_base, iov[i].iov_len, NULL, NULL);
  if (rc) rc = otlp_conn_failed(c, OTLP_FAIL_NET, rc, "out of memory");
  if (!rc && c->tls && (rc = tls_conn_seal(c->tls, &plain, &c->out)) < 0) rc = tls_failed(c, rc);
  core_outq_dispose(&plain);
  if (!rc) rc = flush(c, deadline_ns);
  if (rc) core_outq_dispose(&c->out); /* the caller's bytes go away with the call */
  return rc;
}
