/* urpc_server_shard_stats: a shard's counters, io's and rpc's, read from any thread. Each is
 * one relaxed load (core/counter.h): a scrape never stops or slows the shard. */
#include <errno.h>
#include <string.h>

#include "rpc/rpc_impl.h"

_Static_assert((int)URPC_CLOSE_REASONS == (int)IO_CLOSED_REASONS, "close reasons");
_Static_assert((int)URPC_CLOSED_SHUTDOWN == (int)IO_CLOSED_SHUTDOWN, "close reasons");
_Static_assert((int)URPC_TLS_FAILURES == (int)IO_TLS_FAILS, "TLS failures");
_Static_assert((int)URPC_TLS_FAIL_CLIENT_CERT == (int)TLS_FAIL_PEER_CERT, "TLS failures");
_Static_assert((int)URPC_TLS_FAIL_EOF == (int)IO_TLS_FAIL_EOF, "TLS failures");
_Static_assert(URPC_H2_ERROR_CODES == NGHTTP2_HTTP_1_1_REQUIRED + 1, "HTTP/2 error codes");

static void read_all(uint64_t *out, const core_ctr *in, size_t n) {
  for (size_t i = 0; i < n; i++) out[i] = core_ctr_get(&in[i]);
}

#define READ_ARRAY(dst, src) read_all(dst, src, sizeof(src) / sizeof(src[0]))

static void read_io(const io_shard_counters *io, urpc_shard_stats *out) {
  out->connections = core_ctr_get(&io->accepted);
  out->connections_open = core_ctr_gauge(core_ctr_get(&io->open));
  READ_ARRAY(out->connections_closed, io->closed);
  out->bytes_in = core_ctr_get(&io->bytes_in);
  out->bytes_out = core_ctr_get(&io->bytes_out);
  out->recv_buffers_exhausted = core_ctr_get(&io->enobufs);
  out->tls_handshakes = core_ctr_get(&io->tls_ok);
  out->tls_resumed = core_ctr_get(&io->tls_resumed);
  READ_ARRAY(out->tls_failed, io->tls_failed);
  out->ring_submitted = core_ctr_get(&io->ring_submitted);
  out->ring_completed = core_ctr_get(&io->ring_completed);
}

static void read_rpc(const rpc_shard *sh, urpc_shard_stats *out) {
  const rpc_shard_counters *c = &sh->stats;
  out->calls = core_ctr_get(&c->calls);
  out->calls_ok = core_ctr_get(&c->calls_ok);
  out->calls_failed = core_ctr_get(&c->calls_failed);
  out->calls_cancelled = core_ctr_get(&c->calls_cancelled);
  out->live_calls = core_ctr_gauge(core_ctr_get(&c->live_calls));
  out->streams_open = core_ctr_gauge(core_ctr_get(&c->streams_open));
  READ_ARRAY(out->goaway_sent, c->goaway_sent);
  READ_ARRAY(out->rst_stream_sent, c->rst_stream_sent);
  out->ping_strikes = core_ctr_get(&c->ping_strikes);
  out->stream_window_stalls = core_ctr_get(&c->stream_window_stalls);
  out->conn_window_stalls = core_ctr_get(&c->conn_window_stalls);
  out->send_window_bytes = core_ctr_gauge(core_ctr_get(&c->send_window));
  out->recv_window_bytes = core_ctr_gauge(core_ctr_get(&c->recv_window));
  out->handler_queue = core_ctr_get(&c->handler_queue);
  out->deadlines_expired = core_ctr_get(&c->deadlines_expired);
  out->decompress_rejected = core_ctr_get(&c->decompress_rejected);
  READ_ARRAY(out->limits_hit, c->limits_hit);
  /* Both positions only grow, and each moves on its own: read the consumer's first. */
  size_t head = atomic_load_explicit(&sh->work_q.dequeue_pos, memory_order_relaxed);
  size_t tail = atomic_load_explicit(&sh->work_q.enqueue_pos, memory_order_relaxed);
  out->worker_queue = tail > head ? tail - head : 0;
}

int urpc_server_shard_stats(const urpc_server *s, int i, urpc_shard_stats *out) {
  if (i < 0 || i >= s->n_shards || !s->shards[i].io) return -EINVAL;
  memset(out, 0, sizeof(*out));
  read_io(io_shard_get_counters(s->shards[i].io), out);
  read_rpc(&s->shards[i], out);
  return 0;
}
