/* The OTLP exporter's connection to its collector (private to obs/): a non-blocking TCP socket,
 * with a TLS client session (tls/) inside for https endpoints, every wait bounded by the
 * export's deadline. Bytes only; the HTTP is otlp_http.c's. Exporter thread only. */
#ifndef URPC_OBS_OTLP_CONN_H
#define URPC_OBS_OTLP_CONN_H

#include <stdint.h>
#include <sys/uio.h>

#include "core/outq.h"
#include "core/pool.h"
#include "tls/tls.h"

/* What went wrong, for the exporter's log lines (one per kind, not one per export). */
typedef enum otlp_fail {
  OTLP_FAIL_NONE,
  OTLP_FAIL_NET,     /* name resolution, connect, reset, closed */
  OTLP_FAIL_TIMEOUT, /* the export timeout ran out */
  OTLP_FAIL_TLS,     /* handshake or records: certificate, name, alert */
  OTLP_FAIL_HTTP,    /* an answer that is not 2xx, or not HTTP */
  OTLP_FAILS
} otlp_fail;

typedef struct otlp_conn {
  int fd;           /* -1: closed */
  tls_conn *tls;    /* https: the session on fd, else NULL */
  core_pool blocks; /* for `out` */
  core_outq out;    /* bytes for the socket (ciphertext with TLS), not yet written */
  otlp_fail fail;   /* the last failure over this connection, and in words: */
  char why[384];
} otlp_conn;

void otlp_conn_init(otlp_conn *c);
/* Connects to host:port, and with `tls` (a client context) completes the handshake, naming
 * `host` as the server. Returns 0, or a negative code with fail/why set (closed). */
int otlp_conn_open(otlp_conn *c, const char *host, const char *port, tls_ctx *tls,
                   uint64_t deadline_ns);
/* Writes all of iov (its bytes are not kept past the call). 0 or a negative code (why set). */
int otlp_conn_write(otlp_conn *c, const struct iovec *iov, int n, uint64_t deadline_ns);
/* Waits for bytes and hands them, decrypted, to on_data (a negative return is returned).
 * Returns 1 when some came, 0 when the peer closed, or a negative code (why set). */
int otlp_conn_read(otlp_conn *c, int (*on_data)(void *ud, const uint8_t *p, size_t n), void *ud,
                   uint64_t deadline_ns);
/* Records a failure in words. Returns `rc`. */
int otlp_conn_failed(otlp_conn *c, otlp_fail kind, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void otlp_conn_close(otlp_conn *c);
/* Closes, and frees what init made. */
void otlp_conn_dispose(otlp_conn *c);

#endif
