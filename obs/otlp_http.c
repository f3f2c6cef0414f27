/* OTLP/HTTP export (otlp.h, trace_impl.h): POST the protobuf body to the collector's
 * /v1/traces over HTTP/1.1, one keep-alive connection, non-blocking socket I/O bounded by the
 * export timeout, the answer read with http-parser. As the OTLP spec says: 2xx is success; 429,
 * 502, 503, 504 and network errors are retried with exponential backoff (or Retry-After) while
 * the timeout allows; any other answer drops the batch. Exporter thread only: a slow or dead
 * collector stalls nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "obs/otlp.h"
#include "obs/trace_impl.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   5000

struct otlp_exporter {
  char host[256], port[8], path[512];
  char *header_lines; /* OTEL_EXPORTER_OTLP_HEADERS as "k: v\r\n" lines */
  otlp_resource *res;
  unsigned timeout_ms;
  _Atomic bool *stop;
  int fd; /* the keep-alive connection, or -1 */
  uint64_t rng;
};

/* "http://host[:port][/path]", host a name, IPv4 or [IPv6]. */
static int parse_url(otlp_exporter *e, const char *url) {
  if (!strncmp(url, "https://", 8)) return -ENOTSUP; /* TLS to the collector: not yet */
  if (strncmp(url, "http://", 7)) return -EINVAL;
  const char *h = url + 7, *end = h + strcspn(h, "/");
  const char *port = NULL, *hend;
  if (*h == '[') {
    const char *rb = memchr(h, ']', (size_t)(end - h));
    if (!rb) return -EINVAL;
    h++;
    hend = rb;
    if (rb + 1 < end) {
      if (rb[1] != ':') return -EINVAL;
      port = rb + 2;
    }
  } else {
    const char *colon = memchr(h, ':', (size_t)(end - h));
    hend = colon ? colon : end;
    if (colon) port = colon + 1;
  }
  size_t hn = (size_t)(hend - h), pn = port ? (size_t)(end - port) : 0;
  if (!hn || hn >= sizeof(e->host) || (port && (!pn || pn >= sizeof(e->port)))) return -EINVAL;
  memcpy(e->host, h, hn);
  e->host[hn] = '\0';
  if (port) {
    memcpy(e->port, port, pn);
    e->port[pn] = '\0';
    if (strspn(e->port, "0123456789") != pn) return -EINVAL;
  } else {
    strcpy(e->port, "80");
  }
  const char *path = *end ? end : "/";
  if (strlen(path) >= sizeof(e->path) || strpbrk(path, " \r\n")) return -EINVAL;
  strcpy(e->path, path);
  return 0;
}

int otlp_exporter_new(const urpc_trace_options *o, _Atomic bool *stop, otlp_exporter **out) {
  otlp_exporter *e = calloc(1, sizeof(*e));
  if (!e) return -ENOMEM;
  e->fd = -1;
  e->stop = stop;
  e->timeout_ms = o->export_timeout_ms ? o->export_timeout_ms : 10000;
  e->rng = core_now_ns() | 1;
  int rc = parse_url(e, o->endpoint);
  if (!rc) {
    e->header_lines = otlp_headers_lines(o->headers);
    if (!e->header_lines) rc = -EINVAL;
  }
  if (!rc) rc = otlp_resource_new(o->service_name, o->resource_attributes, &e->res);
  if (rc) {
    otlp_exporter_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void otlp_exporter_free(otlp_exporter *e) {
  if (!e) return;
  if (e->fd >= 0) close(e->fd);
  free(e->header_lines);
  otlp_resource_free(e->res);
  free(e);
}

static int wait_fd(int fd, short events, uint64_t deadline_ns) {
  for (;;) {
    uint64_t now = core_now_ns();
    if (now >= deadline_ns) return -ETIMEDOUT;
    struct pollfd p = {.fd = fd, .events = events};
    int n = poll(&p, 1, (int)((deadline_ns - now) / 1000000 + 1));
    if (n > 0) return 0;
    if (n < 0 && errno != EINTR) return -errno;
  }
}

static int connect_to(otlp_exporter *e, uint64_t deadline_ns) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  if (getaddrinfo(e->host, e->port, &hints, &ai)) return -EHOSTUNREACH;
  int rc = -ECONNREFUSED;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      rc = -errno;
      continue;
    }
    if (connect(fd, a->ai_addr, a->ai_addrlen) && errno != EINPROGRESS) {
      rc = -errno;
      close(fd);
      continue;
    }
    int err = 0;
    socklen_t len = sizeof(err);
    rc = wait_fd(fd, POLLOUT, deadline_ns);
    if (!rc && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) rc = -errno;
    if (!rc && err) rc = -err;
    if (rc) {
      close(fd);
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    e->fd = fd;
    break;
  }
  freeaddrinfo(ai);
  return rc;
}

static int write_all(int fd, struct iovec *iov, int n, uint64_t deadline_ns) {
  while (n) {
    ssize_t w = writev(fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN) return -errno;
      int rc = wait_fd(fd, POLLOUT, deadline_ns);
      if (rc) return rc;
      continue;
    }
    size_t left = (size_t)w;
    while (n && left >= iov->iov_len) {
      left -= iov->iov_len;
      iov++;
      n--;
    }
    if (n) {
      iov->iov_base = (char *)iov->iov_base + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

typedef struct answer {
  bool done, in_retry_after;
  unsigned retry_after_s;
} answer;

static int on_header_field(http_parser *p, const char *at, size_t len) {
  answer *a = p->data;
  a->in_retry_after = len == 11 && !strncasecmp(at, "retry-after", 11);
  return 0;
}
static int on_header_value(http_parser *p, const char *at, size_t len) {
  answer *a = p->data;
  if (a->in_retry_after) {
    unsigned v = 0;
    for (size_t i = 0; i < len && at[i] >= '0' && at[i] <= '9' && v < 100000; i++)
      v = v * 10 + (unsigned)(at[i] - '0');
    a->retry_after_s = v; /* an HTTP-date instead reads as 0: our own backoff then */
  }
  return 0;
}
static int on_message_complete(http_parser *p) {
  ((answer *)p->data)->done = true;
  return 0;
}

/* One request on the connection (made if needed). Returns 0 with the HTTP status, or a
 * negative code when the exchange failed (connection closed). */
static int post_once(otlp_exporter *e, const uint8_t *body, size_t len, uint64_t deadline_ns,
                     unsigned *status, unsigned *retry_after_s) {
  if (e->fd < 0) {
    int rc = connect_to(e, deadline_ns);
    if (rc) return rc;
  }
  char head[1024];
  int hn = snprintf(head, sizeof(head),
                    "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/x-protobuf\r\n"
                    "Content-Length: %zu\r\nUser-Agent: uringrpc-otlp\r\n",
                    e->path, e->host, e->port, len);
  if (hn < 0 || (size_t)hn >= sizeof(head)) return -EINVAL;
  struct iovec iov[4] = {{head, (size_t)hn},
                         {e->header_lines, strlen(e->header_lines)},
                         {"\r\n", 2},
                         {(void *)body, len}};
  int rc = write_all(e->fd, iov, 4, deadline_ns);
  static const http_parser_settings settings = {.on_header_field = on_header_field,
                                                .on_header_value = on_header_value,
                                                .on_message_complete = on_message_complete};
  http_parser p;
  http_parser_init(&p, HTTP_RESPONSE);
  answer a = {0};
  p.data = &a;
  char buf[4096];
  while (!rc && !a.done) {
    ssize_t r = read(e->fd, buf, sizeof(buf));
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN) {
        rc = wait_fd(e->fd, POLLIN, deadline_ns);
        continue;
      }
      rc = -errno;
      break;
    }
    size_t used = http_parser_execute(&p, &settings, buf, (size_t)r);
    if (HTTP_PARSER_ERRNO(&p) != HPE_OK || (r > 0 && used != (size_t)r))
      rc = -EPROTO;
    else if (r == 0 && !a.done)
      rc = -ECONNRESET;
  }
  if (rc || !http_should_keep_alive(&p)) {
    close(e->fd);
    e->fd = -1;
  }
  if (rc) return rc;
  *status = p.status_code;
  *retry_after_s = a.retry_after_s;
  return 0;
}

static void sleep_ms(unsigned ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

int otlp_exporter_send(otlp_exporter *e, const urpc_span *const *spans, size_t n) {
  const uint8_t *body;
  size_t len;
  int rc = otlp_encode(e->res, spans, n, &body, &len);
  if (rc) return rc;
  uint64_t deadline = core_now_ns() + e->timeout_ms * 1000000ull;
  unsigned backoff = BACKOFF_FIRST_MS;
  for (;;) {
    unsigned status = 0, retry_after = 0;
    bool reused = e->fd >= 0;
    rc = post_once(e, body, len, deadline, &status, &retry_after);
    if (rc && reused) /* the collector may have closed the idle connection: once more, anew */
      rc = post_once(e, body, len, deadline, &status, &retry_after);
    if (!rc && status >= 200 && status < 300) break;
    bool retry = rc || status == 429 || status == 502 || status == 503 || status == 504;
    if (!rc) rc = -EPROTO;
    if (!retry || atomic_load_explicit(e->stop, memory_order_relaxed)) break;
    e->rng ^= e->rng << 13, e->rng ^= e->rng >> 7, e->rng ^= e->rng << 17;
    unsigned wait = retry_after ? retry_after * 1000 : backoff / 2 + (unsigned)(e->rng % backoff);
    uint64_t now = core_now_ns();
    if (now + wait * 1000000ull >= deadline) break;
    for (unsigned slept = 0; slept < wait && !atomic_load(e->stop); slept += 20)
      sleep_ms(wait - slept < 20 ? wait - slept : 20);
    if (backoff < BACKOFF_MAX_MS) backoff *= 2;
  }
  return rc;
}
