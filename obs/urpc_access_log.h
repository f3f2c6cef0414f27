/* uringrpc access log: one JSON line per gRPC call, appended to a file (or stdout) by one
 * writer thread. Public API, beside uringrpc.h.
 *
 * It is an interceptor (urpc_server_add_interceptor): off unless urpc_access_log_new is called,
 * and then a shard never blocks, locks, allocates or formats for it. At a call's end the shard
 * copies what the line needs into a fixed record from its own pool and hands it to the writer
 * through its own single-producer ring; the writer formats (JSON escaping, addresses, times)
 * and writes lines in batches. When a shard's pool is empty the line is dropped and counted.
 *
 * Each line is one JSON object with these keys, always all of them, in this order:
 *   time         the call's start, RFC 3339 UTC with microseconds: "2025-01-31T12:00:00.123456Z"
 *   peer         the client's address and port: "192.0.2.1:51234", "[2001:db8::1]:51234"
 *                (IPv4-mapped IPv6 addresses shown as IPv4), or null if unknown
 *   spiffe_id    the client certificate's SPIFFE ID (mTLS), or null
 *   authority    the :authority the client sent, or null
 *   method       the request path, "/package.Service/Method" (unknown paths as sent)
 *   status       the gRPC status code the client got, a number (CANCELLED if the stream was
 *                reset without one)
 *   code         its name: "OK", "CANCELLED", ..., "UNAUTHENTICATED"
 *   duration_us  from the request headers in to the call's end, microseconds
 *   bytes_in, bytes_out  DATA payload bytes received and sent
 *   msgs_in, msgs_out    request and response messages
 *   trace_id     the call's W3C trace id (32 lowercase hex digits) when tracing is on
 *                (urpc_trace.h), else null
 *   user_agent   the first user-agent request header, or null
 *   cancelled    true if the client reset the call, the connection was lost or the deadline
 *                passed
 * Strings from the network (spiffe_id, authority, method, user_agent) are cut at
 * URPC_ACCESS_LOG_FIELD_MAX bytes and escaped for JSON: quotes, backslashes and control
 * characters escaped, bytes that are not valid UTF-8 written as U+FFFD. Lines never exceed
 * URPC_ACCESS_LOG_LINE_MAX bytes. */
#ifndef URINGRPC_ACCESS_LOG_H
#define URINGRPC_ACCESS_LOG_H

#include <stdint.h>

#include "uringrpc.h"
#include "urpc_metrics.h"

#ifdef __cplusplus
extern "C" {
#endif

#define URPC_ACCESS_LOG_FIELD_MAX 256  /* bytes kept of each string from the network */
#define URPC_ACCESS_LOG_LINE_MAX  8192 /* a line's bound, newline included */

typedef struct urpc_access_log urpc_access_log;

typedef struct urpc_access_log_options {
  /* The file lines are appended to (opened O_APPEND, created with mode 0640 less the umask),
   * or "-" for standard output. Required. */
  const char *path;
  /* Log one in `sample` of the calls that end OK, per shard (each shard's 1st, N+1st, ...);
   * calls that end with any other status are always logged. Default 1: every call. */
  unsigned sample;
  /* Lines wait at most this long in the writer's buffer; default 100. */
  unsigned flush_interval_ms;
  /* Records each shard holds for the writer; beyond, lines are dropped and counted. Default
   * 1024 (about 1.1 KiB each, made at a shard's first call). */
  unsigned queue_size;
} urpc_access_log_options;

/* Defaults (above); `path` NULL. */
void urpc_access_log_options_init(urpc_access_log_options *o);

/* Logs the calls of `s` from now on: opens the file, adds an interceptor (so before
 * urpc_server_start; add it before interceptors that may end calls, such as authorization, or
 * the calls they refuse are not logged) and starts the writer thread. `m`, if not NULL, gets
 * uringrpc_access_log_lines_total, uringrpc_access_log_dropped_total and
 * uringrpc_access_log_write_errors_total. `o` is copied (its path too). The log must outlive
 * the server. Returns 0, -EINVAL, -ENOMEM, -EBUSY (started), the open(2) error as -errno, or a
 * pthread error as -errno. */
int urpc_access_log_new(urpc_server *s, const urpc_access_log_options *o, urpc_metrics *m,
                        urpc_access_log **out);
/* Asks the writer to reopen the file (after logrotate renamed it): it writes what it holds to
 * the old file, then opens the path anew; if that fails it keeps the old file and logs why.
 * Returns at once. Any thread, and async-signal-safe (it sets an atomic flag). Nothing for "-". */
void urpc_access_log_reopen(urpc_access_log *l);
/* Writes what the shards handed over so far, waiting at most `timeout_ms`. Any thread but a
 * shard's. Returns 0 or -ETIMEDOUT. */
int urpc_access_log_flush(urpc_access_log *l, unsigned timeout_ms);
/* After urpc_server_free: writes what is left, stops the writer, closes the file and frees. */
void urpc_access_log_free(urpc_access_log *l);

typedef struct urpc_access_log_stats {
  uint64_t lines;        /* lines written */
  uint64_t dropped;      /* lines lost: a shard's queue was full, or their write failed */
  uint64_t write_errors; /* writes that failed (e.g. ENOSPC); their lines count as dropped */
} urpc_access_log_stats;
/* Any thread. */
void urpc_access_log_get_stats(urpc_access_log *l, urpc_access_log_stats *out);

#ifdef __cplusplus
}
#endif
#endif
