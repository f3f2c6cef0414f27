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

static void metrics(urpc_admin *a, bool openmetrics, admin_response *r) {
  char *body = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&body, &len);
  int rc = f ? urpc_metrics_write(a->metrics, f, openmetrics) : -ENOMEM;
  if (f) fclose(f);
  if (rc < 0 || !body) {
    free(body);
    admin_response_text(r, 500, "Internal Server Error", "cannot write the metrics\n");
    return;
  }
  *r = (admin_response){.status = 200,
                        .reason = "OK",
                        .type = openmetrics
                                    ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                                    : "text/plain; version=0.0.4; charset=utf-8",
                        .body = body,
                        .len = len,
                        .heap = body};
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
