/* uringrpc's admin endpoint: GET /metrics (Prometheus text format 0.0.4, OpenMetrics when the
 * scraper asks for it in Accept), /healthz (200 while the process runs) and /readyz (200 while
 * the server serves, 503 once it drains), over HTTP/1.1 with keep-alive and over h2c (HTTP/2
 * without TLS: prior knowledge, or Upgrade: h2c). Public API, beside
 * uringrpc.h and urpc_metrics.h. It runs on a thread of its own, so a scrape never takes a
 * shard's time; keep it off the traffic port (it has no TLS and no authentication). */
#ifndef URINGRPC_ADMIN_H
#define URINGRPC_ADMIN_H

#include "urpc_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urpc_admin urpc_admin;

/* Listens on `listen` ("HOST:PORT", port 0 picks one) and serves `m` and `s`'s readiness until
 * urpc_admin_stop. Returns 0, or -errno with one line in `why`. */
int urpc_admin_start(urpc_server *s, urpc_metrics *m, const char *listen, char *why, size_t why_len,
                     urpc_admin **out);
/* The bound address, e.g. "127.0.0.1:9090". */
const char *urpc_admin_address(const urpc_admin *a);
/* Stops the thread, closes every connection, frees `a` (NULL is fine). */
void urpc_admin_stop(urpc_admin *a);

#ifdef __cplusplus
}
#endif
#endif
