/* The admin endpoint's routes, answered the same over HTTP/1.1 and HTTP/2: what a request asks
 * (path, method, Accept) in, status, content type and body out. No I/O and no protocol here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/admin_impl.h"

void admin_request_reset(admin_request *rq) {
  memset(rq, 0, sizeof(*rq));
}

void admin_request_add_path(admin_request *rq, const char *at, size_t n) {
  if (rq->path_len + n >= ADMIN_URL_MAX) n = ADMIN_URL_MAX - 1 - rq->path_len;
  memcpy(rq->path + rq->path_len, at, n);
  rq->path_len += n;
  rq->path[rq->path_len] = 0;
}

void admin_request_accept(admin_request *rq, const char *v, size_t n) {
  static const char om[] = "application/openmetrics-text";
  if (memmem(v, n, om, sizeof(om) - 1)) rq->openmetrics = true;
}

void admin_response_text(admin_response *r, int status, const char *reason, const char *text) {
  *r = (admin_response){.status = status,
                        .reason = reason,
                        .type = "text/plain; charset=utf-8",
                        .body = text,
                        .len = strlen(text)};
}

void admin_response_dispose(admin_response *r) {
  free(r->heap);
  r->heap = NULL;
}

int admin_response_own(admin_response *r) {
  if (!r->borrowed) return 0;
  char *copy = malloc(r->len ? r->len : 1);
  if (!copy) {
    admin_response_text(r, 500, "Internal Server Error", "out of memory\n");
    return -ENOMEM;
  }
  memcpy(copy, r->body, r->len);
  r->body = r->heap = copy;
  r->borrowed = false;
  return 0;
}

/* fopencookie's write: appends to the admin's scrape buffer, doubling it when full. */
static ssize_t scrape_write(void *cookie, const char *p, size_t n) {
  urpc_admin *a = cookie;
  if (n > a->scrape_cap - a->scrape_len) {
    size_t cap = a->scrape_cap ? a->scrape_cap : 65536;
    while (cap - a->scrape_len < n) cap *= 2;
    char *s = realloc(a->scrape, cap);
    if (!s) return -1;
    a->scrape = s;
    a->scrape_cap = cap;
  }
  memcpy(a->scrape + a->scrape_len, p, n);
  a->scrape_len += n;
  return (ssize_t)n;
}

static void metrics(urpc_admin *a, bool openmetrics, admin_response *r) {
  a->scrape_len = 0;
  FILE *f = fopencookie(a, "w", (cookie_io_functions_t){.write = scrape_write});
  int rc = f ? urpc_metrics_write(a->metrics, f, openmetrics) : -ENOMEM;
  if (f && fclose(f) != 0) rc = -EIO;
  if (rc < 0) {
    admin_response_text(r, 500, "Internal Server Error", "cannot write the metrics\n");
    return;
  }
  *r = (admin_response){.status = 200,
                        .reason = "OK",
                        .type = openmetrics
                                    ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                    : "text/plain; version=0.0.4; charset=utf-8",
                        .body = a->scrape,
                        .len = a->scrape_len,
                        .borrowed = true};
}

static bool is(const char *path, size_t len, const char *route) {
  return len == strlen(route) && !memcmp(path, route, len);
}

void admin_route(urpc_admin *a, const admin_request *rq, admin_response *r) {
  size_t len = strcspn(rq->path, "?");
  const char *p = rq->path;
  bool known = is(p, len, "/metrics") || is(p, len, "/healthz") || is(p, len, "/readyz");
  if (!known) {
    admin_response_text(r, 404, "Not Found", "try /metrics, /healthz or /readyz\n");
  } else if (!rq->get) {
    admin_response_text(r, 405, "Method Not Allowed", "GET and HEAD only\n");
    r->allow_get = true;
  } else if (is(p, len, "/metrics")) {
    metrics(a, rq->openmetrics, r);
  } else if (is(p, len, "/healthz")) {
    admin_response_text(r, 200, "OK", "ok\n");
  } else if (urpc_server_serving(a->server)) {
    admin_response_text(r, 200, "OK", "ready\n");
  } else {
    admin_response_text(r, 503, "Service Unavailable", "draining\n");
  }
}
