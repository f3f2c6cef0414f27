/* The server's own series, uringrpc_*, from every shard's urpc_server_shard_stats: summed over
 * the shards, except where a per-shard view helps (queue depths, io_uring), which carry a
 * `shard` label. Label values come from fixed tables, so the series are the same few hundred
 * whatever clients do. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/metrics_impl.h"

static const char *const close_reasons[URPC_CLOSE_REASONS] = {
    "peer", "goaway", "idle", "age", "keepalive_timeout", "error", "limit", "shutdown"};

static const char *const tls_failures[URPC_TLS_FAILURES] = {
    NULL, "protocol", "alpn", "client_certificate", "timeout", "eof"};

static const char *const limits[URPC_LIMITS] = {
    "connections", "streams",       "calls",       "memory", "worker_queue", "message_size",
    "header_list", "stream_resets", "big_headers", "pings",  "flood"};

/* RFC 9113 section 7. */
static const char *const h2_codes[URPC_H2_ERROR_CODES] = {"NO_ERROR",
                                                          "PROTOCOL_ERROR",
                                                          "INTERNAL_ERROR",
                                                          "FLOW_CONTROL_ERROR",
                                                          "SETTINGS_TIMEOUT",
                                                          "STREAM_CLOSED",
                                                          "FRAME_SIZE_ERROR",
                                                          "REFUSED_STREAM",
                                                          "CANCEL",
                                                          "COMPRESSION_ERROR",
                                                          "CONNECT_ERROR",
                                                          "ENHANCE_YOUR_CALM",
                                                          "INADEQUATE_SECURITY",
                                                          "HTTP_1_1_REQUIRED"};

#define FIELD(f) offsetof(urpc_shard_stats, f)

static uint64_t field(const urpc_shard_stats *st, size_t offset) {
  uint64_t v;
  memcpy(&v, (const char *)st + offset, sizeof(v));
  return v;
}

/* A family whose value is the sum over the shards of one field. */
typedef struct summed {
  const char *name, *type, *help;
  size_t offset;
} summed;

static const summed summed_families[] = {
    {"uringrpc_connections_accepted_total", "counter", "Connections accepted.", FIELD(connections)},
    {"uringrpc_connections_open", "gauge", "Connections open now.", FIELD(connections_open)},
    {"uringrpc_streams_open", "gauge", "HTTP/2 streams of calls open now.", FIELD(streams_open)},
    {"uringrpc_calls_live", "gauge",
     "Calls the server holds now (streams open, or handlers still busy).", FIELD(live_calls)},
    {"uringrpc_received_bytes_total", "counter",
     "Bytes received on connections (TLS records included).", FIELD(bytes_in)},
    {"uringrpc_sent_bytes_total", "counter", "Bytes sent on connections (TLS records included).",
     FIELD(bytes_out)},
    {"uringrpc_tls_handshakes_total", "counter", "TLS handshakes completed.",
     FIELD(tls_handshakes)},
    {"uringrpc_tls_handshakes_resumed_total", "counter",
     "TLS handshakes completed by resuming a session (a ticket).", FIELD(tls_resumed)},
    {"uringrpc_http2_ping_strikes_total", "counter",
     "Client PINGs sooner than the ping policy allows.", FIELD(ping_strikes)},
    {"uringrpc_deadlines_expired_total", "counter",
     "Calls whose deadline passed before their response was complete.", FIELD(deadlines_expired)},
    {"uringrpc_decompression_rejected_total", "counter",
     "Compressed request messages refused: corrupt, or larger than the receive limit once "
     "decompressed.",
     FIELD(decompress_rejected)},
};

/* A family with one series per shard. */
static const summed per_shard_families[] = {
    {"uringrpc_handler_queue_depth", "gauge",
     "Calls the shard's handlers ran in its last loop turn.", FIELD(handler_queue)},
    {"uringrpc_worker_queue_depth", "gauge", "Calls of blocking methods waiting for a worker.",
     FIELD(worker_queue)},
    {"uringrpc_io_uring_submitted_total", "counter", "io_uring submission queue entries submitted.",
     FIELD(ring_submitted)},
    {"uringrpc_io_uring_completed_total", "counter", "io_uring completions reaped.",
     FIELD(ring_completed)},
    {"uringrpc_recv_buffers_exhausted_total", "counter",
     "Receives re-armed because the shard's buffer ring ran dry.", FIELD(recv_buffers_exhausted)},
};

/* A family with one series per value of a label, each summed over the shards: element i of an
 * array field. NULL names are skipped. */
typedef struct labelled {
  const char *name, *type, *help, *label;
  size_t offset;
  const char *const *values;
  size_t n;
} labelled;

#define ARRAY(f, names) FIELD(f), names, sizeof(names) / sizeof(names[0])

static const labelled labelled_families[] = {
    {"uringrpc_connections_closed_total", "counter", "Connections closed, by reason.", "reason",
     ARRAY(connections_closed, close_reasons)},
    {"uringrpc_tls_handshake_failures_total", "counter", "TLS handshakes failed, by reason.",
     "reason", ARRAY(tls_failed, tls_failures)},
    {"uringrpc_http2_goaway_sent_total", "counter", "HTTP/2 GOAWAY frames sent, by error code.",
     "code", ARRAY(goaway_sent, h2_codes)},
    {"uringrpc_http2_rst_stream_sent_total", "counter",
     "HTTP/2 RST_STREAM frames sent, by error code.", "code", ARRAY(rst_stream_sent, h2_codes)},
    {"uringrpc_limit_hits_total", "counter",
     "Times a server limit turned a client's connection, stream, call or message away.", "limit",
     ARRAY(limits_hit, limits)},
};

static int write_summed(obs_out *o, const urpc_shard_stats *st, int n, const summed *f) {
  uint64_t sum = 0;
  for (int i = 0; i < n; i++) sum += field(&st[i], f->offset);
  return obs_family(o, f->name, f->type, f->help) < 0 ? -1 : obs_sample_u64(o, f->name, "", sum);
}

static int write_per_shard(obs_out *o, const urpc_shard_stats *st, int n, const summed *f) {
  if (obs_family(o, f->name, f->type, f->help) < 0) return -1;
  for (int i = 0; i < n; i++) {
    char shard[16], labels[32] = "";
    snprintf(shard, sizeof(shard), "%d", i);
    if (obs_label(labels, sizeof(labels), "shard", shard) < 0 ||
        obs_sample_u64(o, f->name, labels, field(&st[i], f->offset)) < 0)
      return -1;
  }
  return 0;
}

static int write_labelled(obs_out *o, const urpc_shard_stats *st, int n, const labelled *f) {
  if (obs_family(o, f->name, f->type, f->help) < 0) return -1;
  for (size_t v = 0; v < f->n; v++) {
    if (!f->values[v]) continue;
    uint64_t sum = 0;
    for (int i = 0; i < n; i++) sum += field(&st[i], f->offset + v * sizeof(uint64_t));
    char labels[96] = "";
    if (obs_label(labels, sizeof(labels), f->label, f->values[v]) < 0 ||
        obs_sample_u64(o, f->name, labels, sum) < 0)
      return -1;
  }
  return 0;
}

/* Flow control: stalls by window, and the windows' current sums by direction. */
static int write_flow_control(obs_out *o, const urpc_shard_stats *st, int n) {
  uint64_t stalls[2] = {0, 0}, windows[2] = {0, 0};
  for (int i = 0; i < n; i++) {
    stalls[0] += st[i].stream_window_stalls;
    stalls[1] += st[i].conn_window_stalls;
    windows[0] += st[i].send_window_bytes;
    windows[1] += st[i].recv_window_bytes;
  }
  static const char stalls_name[] = "uringrpc_flow_control_stalls_total",
                    windows_name[] = "uringrpc_flow_control_window_bytes";
  if (obs_family(o, stalls_name, "counter",
                 "Times a send window (a stream's or the connection's) cut a response short: "
                 "the rest waited for the client's WINDOW_UPDATE.") < 0 ||
      obs_sample_u64(o, stalls_name, "window=\"stream\"", stalls[0]) < 0 ||
      obs_sample_u64(o, stalls_name, "window=\"connection\"", stalls[1]) < 0 ||
      obs_family(o, windows_name, "gauge",
                 "Connection flow-control windows summed: send, what the server may still "
                 "send; receive, what clients may still send it.") < 0 ||
      obs_sample_u64(o, windows_name, "direction=\"send\"", windows[0]) < 0 ||
      obs_sample_u64(o, windows_name, "direction=\"receive\"", windows[1]) < 0)
    return -1;
  return 0;
}

/* Which kernel interface the shards run (the io_uring_* series stay 0 on epoll). */
static int write_io_backend(urpc_server *s, obs_out *o) {
  char labels[64] = "";
  obs_label(labels, sizeof(labels), "backend", urpc_server_io_backend(s, NULL));
  return obs_family(o, "uringrpc_io_backend_info", "gauge",
                    "The shards' I/O backend (io_uring, or epoll where io_uring cannot be "
                    "had), as a label; the value is always 1.") < 0
             ? -1
             : obs_sample_u64(o, "uringrpc_io_backend_info", labels, 1);
}

int obs_server_write(urpc_server *s, obs_out *o) {
  int n = urpc_server_shard_count(s);
  urpc_shard_stats *st = calloc(n > 0 ? (size_t)n : 1, sizeof(*st));
  if (!st) return -1;
  int shards = 0;
  while (shards < n && urpc_server_shard_stats(s, shards, &st[shards]) == 0) shards++;
  int rc = 0;
  for (size_t k = 0; rc == 0 && k < sizeof(summed_families) / sizeof(summed); k++)
    rc = write_summed(o, st, shards, &summed_families[k]);
  for (size_t k = 0; rc == 0 && k < sizeof(labelled_families) / sizeof(labelled); k++)
    rc = write_labelled(o, st, shards, &labelled_families[k]);
  if (rc == 0) rc = write_flow_control(o, st, shards);
  for (size_t k = 0; rc == 0 && k < sizeof(per_shard_families) / sizeof(summed); k++)
    rc = write_per_shard(o, st, shards, &per_shard_families[k]);
  free(st);
  if (rc == 0) rc = write_io_backend(s, o);
  return rc;
}
