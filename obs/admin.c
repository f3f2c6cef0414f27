/* The admin endpoint: GET /metrics (Prometheus text 0.0.4, or OpenMetrics when the scraper's
 * Accept asks for it), /healthz (200 while the process runs) and /readyz (200 while serving,
 * 503 once draining), over HTTP/1.1 parsed by the packaged http-parser.
 *
 * One thread of its own, poll(2) over its listener and at most ADMIN_MAX_CLIENTS connections:
 * a scrape never takes a shard's time, and a slow or hostile client costs this thread only.
 * Keep-alive and pipelined requests are answered in order; a request the parser refuses (bad
 * syntax, a head over http-parser's 80 KiB) gets 400 and a close; a connection quiet for
 * ADMIN_IDLE_MS is closed. */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "obs/urpc_admin.h"

#define ADMIN_MAX_CLIENTS 64
#define ADMIN_IDLE_MS     10000
#define ADMIN_URL_MAX     256

typedef struct client {
  int fd;
  http_parser parser;
  char url[ADMIN_URL_MAX];
  size_t url_len;
  bool accept_header, openmetrics; /* in the Accept header; it asks for OpenMetrics */
  char *out;                       /* responses not yet written */
  size_t out_len, out_off;
  bool close_after; /* Connection: close, or an error: close once written */
  bool broken;      /* out of memory for its responses: dropped */
  uint64_t last_ms;
  urpc_admin *admin;
} client;

struct urpc_admin {
  urpc_server *server;
  urpc_metrics *metrics;
  int listen_fd, stop_pipe[2];
  pthread_t thread;
  bool running;
  char bound[96];
  client clients[ADMIN_MAX_CLIENTS];
  size_t n_clients;
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- responses ---- */

static void append(client *c, const char *p, size_t n) {
  if (c->broken) return;
  char *o = realloc(c->out, c->out_len + n);
  if (!o) { /* out of memory: give up on this client */
    c->broken = true;
    return;
  }
  memcpy(o + c->out_len, p, n);
  c->out = o;
  c->out_len += n;
}

static void respond(client *c, int status, const char *reason, const char *type, const char *body,
                    size_t len) {
  char head[320];
  int n = snprintf(head, sizeof(head),
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s\r\n", status,
                   reason, type, len, c->close_after ? "Connection: close\r\n" : "");
  append(c, head, (size_t)n);
  append(c, body, len);
}

static void respond_text(client *c, int status, const char *reason, const char *text) {
  respond(c, status, reason, "text/plain; charset=utf-8", text, strlen(text));
}

static void serve_metrics(client *c) {
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  int rc = f ? urpc_metrics_write(c->admin->metrics, f, c->openmetrics) : -ENOMEM;
  if (f) fclose(f);
  if (rc < 0 || !body) {
    respond_text(c, 500, "Internal Server Error", "cannot write the metrics\n");
  } else {
    respond(c, 200, "OK",
            c->openmetrics ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                           : "text/plain; version=0.0.4; charset=utf-8",
            body, len);
  }
  free(body);
}

static void serve(client *c) {
  size_t path_len = strcspn(c->url, "?");
  bool get = c->parser.method == HTTP_GET;
  if (!http_should_keep_alive(&c->parser)) c->close_after = true;
  if (path_len == 8 && !memcmp(c->url, "/metrics", 8) && get) {
    serve_metrics(c);
  } else if (path_len == 8 && !memcmp(c->url, "/healthz", 8) && get) {
    respond_text(c, 200, "OK", "ok\n");
  } else if (path_len == 7 && !memcmp(c->url, "/readyz", 7) && get) {
    if (urpc_server_serving(c->admin->server))
      respond_text(c, 200, "OK", "ready\n");
    else
      respond_text(c, 503, "Service Unavailable", "draining\n");
  } else if (!get && (!memcmp(c->url, "/metrics", 8) || !memcmp(c->url, "/healthz", 8) ||
                      !memcmp(c->url, "/readyz", 7))) {
    respond_text(c, 405, "Method Not Allowed", "GET only\n");
  } else {
    respond_text(c, 404, "Not Found", "try /metrics, /healthz or /readyz\n");
  }
}

/* ---- parsing ---- */

static int on_message_begin(http_parser *p) {
  client *c = p->data;
  c->url_len = 0;
  c->url[0] = 0;
  c->openmetrics = c->accept_header = false;
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  client *c = p->data;
  if (c->url_len + n >= ADMIN_URL_MAX) n = ADMIN_URL_MAX - 1 - c->url_len; /* no such path */
  memcpy(c->url + c->url_len, at, n);
  c->url_len += n;
  c->url[c->url_len] = 0;
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  client *c = p->data;
  c->accept_header = n == 6 && strncasecmp(at, "accept", 6) == 0;
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  client *c = p->data;
  static const char om[] = "application/openmetrics-text";
  if (c->accept_header && memmem(at, n, om, sizeof(om) - 1)) c->openmetrics = true;
  return 0;
}

static int on_message_complete(http_parser *p) {
  serve(p->data);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_message_complete = on_message_complete,
};

/* ---- connections ---- */

static void drop(urpc_admin *a, size_t i) {
  close(a->clients[i].fd);
  free(a->clients[i].out);
  a->clients[i] = a->clients[--a->n_clients];
}

static void accept_one(urpc_admin *a) {
  int fd = accept4(a->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) return;
  if (a->n_clients == ADMIN_MAX_CLIENTS) { /* full: this one goes, the others are served */
    close(fd);
    return;
  }
  client *c = &a->clients[a->n_clients++];
  memset(c, 0, sizeof(*c));
  c->fd = fd;
  c->admin = a;
  c->last_ms = now_ms();
  http_parser_init(&c->parser, HTTP_REQUEST);
  c->parser.data = c;
}

/* Returns false when the client is done (closed or failed). */
static bool read_from(client *c) {
  char buf[16384];
  ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return false;
  if (n < 0) return true;
  c->last_ms = now_ms();
  if (c->close_after) return true; /* answered with a close: the rest is not read */
  size_t used = http_parser_execute(&c->parser, &settings, buf, (size_t)n);
  if (HTTP_PARSER_ERRNO(&c->parser) != HPE_OK || used != (size_t)n) {
    c->close_after = true;
    respond_text(c, 400, "Bad Request", "bad request\n");
  }
  return true;
}

/* Returns false when the client is done. */
static bool write_to(client *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN || errno == EINTR;
    c->out_off += (size_t)n;
    c->last_ms = now_ms();
  }
  free(c->out);
  c->out = NULL;
  c->out_len = c->out_off = 0;
  return !c->close_after;
}

static void *admin_main(void *arg) {
  urpc_admin *a = arg;
  struct pollfd fds[ADMIN_MAX_CLIENTS + 2];
  for (;;) {
    fds[0] = (struct pollfd){.fd = a->stop_pipe[0], .events = POLLIN};
    fds[1] = (struct pollfd){.fd = a->listen_fd, .events = POLLIN};
    for (size_t i = 0; i < a->n_clients; i++)
      fds[2 + i] = (struct pollfd){.fd = a->clients[i].fd,
                                   .events = (short)(POLLIN | (a->clients[i].out ? POLLOUT : 0))};
    size_t n = a->n_clients;
    if (poll(fds, 2 + n, 1000) < 0 && errno != EINTR) break;
    if (fds[0].revents) break;
    uint64_t now = now_ms();
    for (size_t i = n; i-- > 0;) { /* backwards: drop() moves the last client into slot i */
      client *c = &a->clients[i];
      bool alive = true;
      if (fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR)) alive = read_from(c);
      if (c->broken) alive = false;
      if (alive && c->out) alive = write_to(c);
      if (alive && now > c->last_ms + ADMIN_IDLE_MS) alive = false;
      if (!alive) drop(a, i);
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
  free(a);
}
