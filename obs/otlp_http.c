/* OTLP/HTTP export (otlp.h, trace_impl.h): POST the protobuf body to the collector's
 * /v1/traces over HTTP/1.1, one keep-alive connection (TLS inside for https endpoints:
 * otlp_conn.c), non-blocking socket I/O bounded by the export timeout, the answer read with
 * http-parser. As the OTLP spec says: 2xx is success; 429, 502, 503, 504 and network (and TLS)
 * errors are retried with exponential backoff (or Retry-After) while the timeout allows; any
 * other answer drops the batch. A failed export is logged once a minute per kind of failure,
 * and the recovery once. Exporter thread only: a slow or dead collector stalls nothing else. */
#include <errno.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/otlp.h"
#include "obs/otlp_conn.h"
#include "obs/trace_impl.h"

#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS   5000
#define LOG_EVERY_MS     60000 /* a failure of one kind is logged at most this often */

struct otlp_exporter {
  char host[256], port[8], path[512];
  char url[512]; /* the endpoint, for log lines */
  bool https;
  char *header_lines; /* OTEL_EXPORTER_OTLP_HEADERS as "k: v\r\n" lines */
  otlp_resource *res;
  unsigned timeout_ms;
  _Atomic bool *stop;
  tls_ctx *tls;   /* https: the client context every connection is made from */
  otlp_conn conn; /* the keep-alive connection */
  uint64_t rng;
  bool failing;                         /* the last export failed */
  core_log_limit log_limit[OTLP_FAILS]; /* per kind of failure */
};

/* "http[s]://host[:port][/path]", host a name, IPv4 or [IPv6]. */
static int parse_url(otlp_exporter *e, const char *url) {
  e->https = !strncmp(url, "https://", 8);
  if (!e->https && strncmp(url, "http://", 7)) return -EINVAL;
  const char *h = url + (e->https ? 8 : 7), *end = h + strcspn(h, "/");
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
    strcpy(e->port, e->https ? "443" : "80");
  }
  const char *path = *end ? end : "/";
  if (strlen(path) >= sizeof(e->path) || strpbrk(path, " \r\n")) return -EINVAL;
  strcpy(e->path, path);
  return 0;
}

/* The https endpoint's client context: the CA bundle (the system's without one) and the client
 * certificate of the options; HTTP/1.1 offered by ALPN. */
static int make_tls(otlp_exporter *e, const urpc_trace_options *o, char *why, size_t why_len) {
  tls_client_config cfg = {.ca_file = o->ca_file,
                           .cert_file = o->client_cert_file,
                           .key_file = o->client_key_file,
                           .alpn = "http/1.1"};
  return tls_client_ctx_new(&cfg, &e->tls, why, why_len);
}

int otlp_exporter_new(const urpc_trace_options *o, _Atomic bool *stop, otlp_exporter **out,
                      char *why, size_t why_len) {
  otlp_exporter *e = calloc(1, sizeof(*e));
  if (!e) return -ENOMEM;
  otlp_conn_init(&e->conn);
  e->stop = stop;
  e->timeout_ms = o->export_timeout_ms ? o->export_timeout_ms : 10000;
  e->rng = core_now_ns() | 1;
  snprintf(e->url, sizeof(e->url), "%s", o->endpoint);
  int rc = parse_url(e, o->endpoint);
  if (rc)
    snprintf(why, why_len, "bad OTLP endpoint '%s': expected http[s]://host[:port][/path]",
             o->endpoint);
  if (!rc) {
    e->header_lines = otlp_headers_lines(o->headers);
    if (!e->header_lines)
      rc = -EINVAL, snprintf(why, why_len, "bad OTLP headers: expected k=v,k2=v2");
  }
  if (!rc && (rc = otlp_resource_new(o->service_name, o->resource_attributes, &e->res)))
    snprintf(why, why_len, "%s",
             rc == -ENOMEM ? "out of memory" : "bad resource attributes: expected k=v,k2=v2");
  if (!rc && e->https) rc = make_tls(e, o, why, why_len);
  if (rc) {
    otlp_exporter_free(e);
    return rc;
  }
  *out = e;
  return 0;
}

void otlp_exporter_free(otlp_exporter *e) {
  if (!e) return;
  otlp_conn_dispose(&e->conn);
  tls_ctx_unref(e->tls);
  free(e->header_lines);
  otlp_resource_free(e->res);
  free(e);
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

typedef struct reader {
  http_parser p;
  answer a;
} reader;

static const http_parser_settings settings = {.on_header_field = on_header_field,
                                              .on_header_value = on_header_value,
                                              .on_message_complete = on_message_complete};

static int on_bytes(void *ud, const uint8_t *p, size_t n) {
  reader *r = ud;
  size_t used = http_parser_execute(&r->p, &settings, (const char *)p, n);
  return HTTP_PARSER_ERRNO(&r->p) != HPE_OK || used != n ? -EPROTO : 0;
}

/* One request on the connection (made if needed). Returns 0 with the HTTP status, or a
 * negative code when the exchange failed (connection closed; e->conn says why). */
static int post_once(otlp_exporter *e, const uint8_t *body, size_t len, uint64_t deadline_ns,
                     unsigned *status, unsigned *retry_after_s) {
  otlp_conn *c = &e->conn;
  if (c->fd < 0) {
    int rc = otlp_conn_open(c, e->host, e->port, e->tls, deadline_ns);
    if (rc) return rc;
  }
  bool v6 = strchr(e->host, ':');
  char head[1024];
  int hn = snprintf(head, sizeof(head),
                    "POST %s HTTP/1.1\r\nHost: %s%s%s:%s\r\n"
                    "Content-Type: application/x-protobuf\r\n"
                    "Content-Length: %zu\r\nUser-Agent: uringrpc-otlp\r\n",
                    e->path, v6 ? "[" : "", e->host, v6 ? "]" : "", e->port, len);
  if (hn < 0 || (size_t)hn >= sizeof(head)) return -EINVAL;
  struct iovec iov[4] = {{head, (size_t)hn},
                         {e->header_lines, strlen(e->header_lines)},
                         {"\r\n", 2},
                         {(void *)body, len}};
  int rc = otlp_conn_write(c, iov, 4, deadline_ns);
  reader r = {0};
  http_parser_init(&r.p, HTTP_RESPONSE);
  r.p.data = &r.a;
  while (!rc && !r.a.done) {
    int got = otlp_conn_read(c, on_bytes, &r, deadline_ns);
    if (got == 0) { /* the end of an answer that runs to the close, or a cut one */
      http_parser_execute(&r.p, &settings, NULL, 0);
      if (!r.a.done)
        rc = otlp_conn_failed(c, OTLP_FAIL_NET, -ECONNRESET,
                              "the collector closed the connection before it answered");
    } else if (got == -EPROTO && c->fail == OTLP_FAIL_NONE) {
      rc = otlp_conn_failed(c, OTLP_FAIL_HTTP, got, "the answer is not HTTP/1.1 (%s)",
                            http_errno_description(HTTP_PARSER_ERRNO(&r.p)));
    } else if (got < 0) {
      rc = got;
    }
  }
  if (rc || !http_should_keep_alive(&r.p)) otlp_conn_close(c);
  if (rc) return rc;
  *status = r.p.status_code;
  *retry_after_s = r.a.retry_after_s;
  return 0;
}

/* One line per kind of failure a minute, and one when exports work again. */
static void log_outcome(otlp_exporter *e, int rc) {
  if (!rc) {
    if (e->failing) LOG_INFO("OTLP export to %s works again", e->url);
    e->failing = false;
    memset(e->log_limit, 0, sizeof(e->log_limit));
    return;
  }
  e->failing = true;
  otlp_fail kind = e->conn.fail;
  if (kind == OTLP_FAIL_NONE)
    otlp_conn_failed(&e->conn, kind = OTLP_FAIL_NET, rc, "%s", strerror(-rc));
  unsigned long long held;
  if (!core_log_limit_pass(&e->log_limit[kind], core_now_ns() / 1000000, LOG_EVERY_MS, &held))
    return;
  char more[64] = "";
  if (held) snprintf(more, sizeof(more), " (and %llu more such failures)", held);
  LOG_WARN("OTLP export to %s failed, spans dropped: %s%s", e->url, e->conn.why, more);
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
    bool reused = e->conn.fd >= 0;
    e->conn.fail = OTLP_FAIL_NONE;
    rc = post_once(e, body, len, deadline, &status, &retry_after);
    if (rc && reused) /* the collector may have closed the idle connection: once more, anew */
      rc = post_once(e, body, len, deadline, &status, &retry_after);
    if (!rc && status >= 200 && status < 300) break;
    bool retry = rc || status == 429 || status == 502 || status == 503 || status == 504;
    if (!rc)
      rc = otlp_conn_failed(&e->conn, OTLP_FAIL_HTTP, -EPROTO, "the collector answered HTTP %u",
                            status);
    if (!retry || atomic_load_explicit(e->stop, memory_order_relaxed)) break;
    e->rng ^= e->rng << 13, e->rng ^= e->rng >> 7, e->rng ^= e->rng << 17;
    unsigned wait = retry_after ? retry_after * 1000 : backoff / 2 + (unsigned)(e->rng % backoff);
    uint64_t now = core_now_ns();
    if (now + wait * 1000000ull >= deadline) break;
    for (unsigned slept = 0; slept < wait && !atomic_load(e->stop); slept += 20)
      sleep_ms(wait - slept < 20 ? wait - slept : 20);
    if (backoff < BACKOFF_MAX_MS) backoff *= 2;
  }
  log_outcome(e, rc);
  return rc;
}
