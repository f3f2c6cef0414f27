/* The admin endpoint: GET /metrics (Prometheus text 0.0.4, or OpenMetrics when the scraper's
 * Accept asks for it), /healthz (200 while the process runs) and /readyz (200 while serving,
 * 503 once draining), over HTTP/1.1 and h2c. This file is the thread, its poll(2) loop and the
 * connections; admin_routes.c answers, admin_http1.c (http-parser) and admin_h2.c (nghttp2)
 * speak the protocols. A connection whose first bytes are the HTTP/2 client preface (prior
 * knowledge, as curl --http2-prior-knowledge, nghttp and h2load send it) gets an nghttp2
 * session; any other speaks HTTP/1.1, and may switch with Upgrade: h2c.
 *
 * One thread of its own, so a scrape never takes a shard's time, and a slow or hostile client
 * costs this thread only. What a client can make it hold, and for how long:
 * - Connections: ADMIN_MAX_CLIENTS (64); one over is accepted and closed at once.
 * - Output: a client's requests are parsed only while its unsent output is at most
 *   ADMIN_OUT_CAP (1 MiB), and nothing more is read from it meanwhile, so a client that
 *   pipelines without reading holds at most 1 MiB plus one answer (HTTP/1.1) or one frame
 *   (HTTP/2, whose answers wait in the session: at most ADMIN_H2_STREAMS, 16, at a time), and
 *   the kernel's socket buffers push back on it.
 * - Input: ADMIN_IN_SIZE (16 KiB) per connection, read once the previous read is parsed.
 * - Request size: http-parser's 80 KiB head on HTTP/1.1 (400 and close), a 16 KiB header list
 *   on HTTP/2 (ADMIN_H2_HEADERS_MAX: 431); paths over 255 bytes match no route (404).
 * - Time: a request must be complete within ADMIN_REQUEST_MS (10 s) of its first byte, else
 *   the connection is closed (a slowloris sending a byte every few seconds is cut there); a
 *   connection with no request in progress is closed once nothing was sent to it and nothing
 *   answered for ADMIN_IDLE_MS (10 s), which also cuts a client that stops reading.
 * So the whole endpoint holds at most about 64 x (1 MiB + one /metrics answer + 16 KiB). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "obs/admin_impl.h"

/* Output buffers larger than this are freed once drained rather than kept for the next one. */
#define ADMIN_OUT_KEEP 65536
/* Times one client's output may be refilled and written in one loop turn. */
#define ADMIN_ROUNDS 4

static const char h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

uint64_t admin_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

bool admin_out_append(admin_client *c, const void *p, size_t n) {
  if (c->dead) return false;
  size_t pending = admin_out_pending(c);
  if (c->out_off && c->out_off >= pending) { /* moves each byte at most once on average */
    memmove(c->out, c->out + c->out_off, pending);
    c->out_off = 0;
    c->out_len = pending;
  }
  if (n > c->out_size - c->out_len) {
    size_t size = c->out_size ? c->out_size : 4096;
    while (size - c->out_len < n) size *= 2;
    char *o = realloc(c->out, size);
    if (!o) { /* out of memory: give up on this client */
      c->dead = true;
      return false;
    }
    c->out = o;
    c->out_size = size;
  }
  memcpy(c->out + c->out_len, p, n);
  c->out_len += n;
  return true;
}

/* ---- connections ---- */

static void drop(urpc_admin *a, size_t i) {
  admin_client *c = a->clients[i];
  close(c->fd);
  admin_h2_free(c);
  free(c->out);
  free(c);
  a->clients[i] = a->clients[--a->n_clients];
}

static void accept_one(urpc_admin *a) {
  int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  admin_client *c = a->n_clients < ADMIN_MAX_CLIENTS ? calloc(1, sizeof(*c)) : NULL;
  if (!c) { /* full (or out of memory): this one goes, the others are served */
    close(fd);
    return;
  }
  c->fd = fd;
  c->admin = a;
  c->last_ms = admin_now_ms();
  admin_http1_init(c);
  a->clients[a->n_clients++] = c;
}

/* Which protocol: HTTP/2 once the whole preface is in, HTTP/1.1 at the first byte that
 * differs from it. */
static void detect(admin_client *c) {
  size_t n = c->in_len - c->in_off, want = sizeof(h2_preface) - 1;
  if (n > want) n = want;
  if (memcmp(c->in + c->in_off, h2_preface, n) != 0)
    c->proto = ADMIN_PROTO_HTTP1;
  else if (n == want && admin_h2_start(c) < 0)
    c->dead = true;
}

/* Parses what was read and queues the answers, as far as the output cap allows. */
static void process(admin_client *c) {
  admin_proto before;
  do {
    before = c->proto;
    if (c->proto == ADMIN_PROTO_UNKNOWN) detect(c);
    if (c->proto == ADMIN_PROTO_HTTP1)
      admin_http1_process(c);
    else if (c->proto == ADMIN_PROTO_H2)
      admin_h2_process(c);
  } while (c->proto != before && !c->dead); /* detected, or upgraded: the rest is for h2 */
  if (c->in_off == c->in_len) c->in_off = c->in_len = 0;
}

static bool can_read(const admin_client *c) {
  return !c->eof && !c->close_after && !c->dead && admin_out_pending(c) <= ADMIN_OUT_CAP &&
         (c->proto == ADMIN_PROTO_UNKNOWN || c->in_off == c->in_len);
}

static void read_from(admin_client *c) {
  ssize_t n = recv(c->fd, c->in + c->in_len, sizeof(c->in) - c->in_len, 0);
  if (n == 0) {
    c->eof = true;
  } else if (n < 0) {
    if (errno != EAGAIN && errno != EINTR) c->dead = true;
  } else {
    if (c->proto == ADMIN_PROTO_UNKNOWN && !c->req_ms) c->req_ms = admin_now_ms();
    c->in_len += (size_t)n;
  }
}

static void write_to(admin_client *c) {
  while (admin_out_pending(c)) {
    ssize_t n = send(c->fd, c->out + c->out_off, admin_out_pending(c), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno != EAGAIN && errno != EINTR) c->dead = true;
      return;
    }
    c->out_off += (size_t)n;
    c->last_ms = admin_now_ms();
  }
  c->out_off = c->out_len = 0;
  if (c->out_size > ADMIN_OUT_KEEP) {
    free(c->out);
    c->out = NULL;
    c->out_size = 0;
  }
}

/* Reads if `readable` and allowed, then parses and writes until the client has nothing more
 * to say, the socket is full, or ADMIN_ROUNDS answers' worth went out (fairness between
 * clients). Whenever it returns with work left, output is pending, so poll's POLLOUT brings the
 * client back: no output pending means nothing can be parsed or sent before more input. */
static void step(admin_client *c, bool readable) {
  if (readable && can_read(c)) read_from(c);
  for (int round = 0;; round++) {
    process(c);
    if (c->dead || !admin_out_pending(c) || round == ADMIN_ROUNDS) return;
    write_to(c);
    if (admin_out_pending(c)) return;
  }
}

/* True when the client is to be closed now. */
static bool finished(const admin_client *c, uint64_t now) {
  if (c->dead) return true;
  if (c->req_ms ? now > c->req_ms + ADMIN_REQUEST_MS : now > c->last_ms + ADMIN_IDLE_MS)
    return true;
  if (admin_out_pending(c)) return false;
  return c->close_after || c->eof || (c->proto == ADMIN_PROTO_H2 && admin_h2_done(c));
}

static void *admin_main(void *arg) {
  urpc_admin *a = arg;
  struct pollfd fds[ADMIN_MAX_CLIENTS + 2];
  pthread_setname_np(pthread_self(), "urpc-admin"); /* for top -H, perf and ps -L */
  for (;;) {
    fds[0] = (struct pollfd){.fd = a->stop_pipe[0], .events = POLLIN};
    fds[1] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < a->n_clients; i++) {
      admin_client *c = a->clients[i];
      fds[2 + i] = (struct pollfd){
          .fd = c->fd,
          .events = (short)((can_read(c) ? POLLIN : 0) | (admin_out_pending(c) ? POLLOUT : 0))};
    }
    size_t n = a->n_clients;
    if (poll(fds, 2 + n, 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    for (size_t i = n; i-- > 0;) { /* backwards: drop() moves the last client into slot i */
      admin_client *c = a->clients[i];
      if (fds[2 + i].revents) step(c, fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR));
      if (finished(c, admin_now_ms())) drop(a, i);
    }
    if (fds[1].revents & POLLIN) accept_one(a);
  }
  while (a->n_clients) drop(a, a->n_clients - 1);
  return NULL;
}

/* ---- start and stop ---- */

static int listen_on(const char *addr, char *bound, size_t bound_len, char *why, size_t why_len) {
  char host[128];
  const char *colon = strrchr(addr, ':');
  if (!colon || (size_t)(colon - addr) >= sizeof(host)) {
    snprintf(why, why_len, "bad admin address '%s': expected HOST:PORT", addr);
    return -EINVAL;
  }
  const char *h = addr;
  size_t hl = (size_t)(colon - addr);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') h++, hl -= 2;
  memcpy(host, h, hl);
  host[hl] = 0;
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
  if (getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res) != 0) {
    snprintf(why, why_len, "bad admin address '%s'", addr);
    return -EINVAL;
  }
  int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 64) < 0) {
    int err = errno;
    if (fd >= 0) close(fd);
    freeaddrinfo(res);
    snprintf(why, why_len, "cannot listen on admin address %s: %s", addr, strerror(err));
    return -err;
  }
  freeaddrinfo(res);
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char name[64] = "?", port[16] = "0";
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  getnameinfo((struct sockaddr *)&ss, sl, name, sizeof(name), port, sizeof(port),
              NI_NUMERICHOST | NI_NUMERICSERV);
  snprintf(bound, bound_len, ss.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", name, port);
  return fd;
}

int urpc_admin_start(urpc_server *s, urpc_metrics *m, const char *listen, char *why, size_t why_len,
                     urpc_admin **out) {
  urpc_admin *a = calloc(1, sizeof(*a));
  if (!a) {
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  a->server = s;
  a->metrics = m;
  a->listen_fd = listen_on(listen, a->bound, sizeof(a->bound), why, why_len);
  int err = a->listen_fd < 0 ? a->listen_fd : 0;
  if (!err && pipe2(a->stop_pipe, O_CLOEXEC) < 0) {
    err = -errno;
    snprintf(why, why_len, "cannot start the admin endpoint: %s", strerror(errno));
  }
  if (!err && (err = -pthread_create(&a->thread, NULL, admin_main, a)) < 0)
    snprintf(why, why_len, "cannot start the admin thread: %s", strerror(-err));
  if (err) {
    if (a->listen_fd >= 0) close(a->listen_fd);
    free(a);
    return err;
  }
  a->running = true;
  *out = a;
  return 0;
}

const char *urpc_admin_address(const urpc_admin *a) {
  return a->bound;
}

void urpc_admin_stop(urpc_admin *a) {
  if (!a) return;
  if (a->running) {
    ssize_t w = write(a->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(a->thread, NULL);
    close(a->stop_pipe[0]);
    close(a->stop_pipe[1]);
  }
  close(a->listen_fd);
  free(a->scrape);
  free(a);
}
