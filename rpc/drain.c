/* Graceful shutdown, as grpc's servers do it (PROTOCOL-HTTP2.md, "GOAWAY"): every connection
 * first gets a GOAWAY naming the largest stream id, which tells the client to start nothing
 * new here while the streams it already sent still count, and a PING. The PING's ack proves
 * the client has seen that GOAWAY and that every stream it started before is in, so a second
 * GOAWAY can name the last stream actually taken. Calls in flight finish; each connection
 * closes when its last call has (rpc_conn_produce: nghttp2 then wants neither to read nor to
 * write). What is still open when the caller's grace period ends is cut by urpc_server_stop. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/rpc_impl.h"

static const uint8_t drain_ping[8] = {'u', 'r', 'p', 'c', 'd', 'r', 'a', 'i'};

/* A client that never answers the PING still gets the final GOAWAY after this (grpc: 20 s). */
#define DRAIN_PING_TIMEOUT_MS 20000

static void send_final_goaway(rpc_conn *conn) {
  conn->goaway_final = true;
  int32_t last = nghttp2_session_get_last_proc_stream_id(conn->h2);
  if (nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE, last, NGHTTP2_NO_ERROR, NULL, 0) != 0)
    conn->closing = true; /* nghttp2 has already said goodbye: close after what is queued */
}

void rpc_conn_drain(void *state) {
  rpc_conn *conn = state;
  if (conn->closing || conn->draining) return;
  rpc_conn_close_reason(conn, IO_CLOSED_SHUTDOWN); /* unless idleness or age said it first */
  conn->draining = true;
  conn->drain_ping_deadline_ms = conn->sh->timers->now_ms + DRAIN_PING_TIMEOUT_MS;
  /* The PING follows once the notice is on the wire (rpc_conn_goaway_sent): nghttp2 sends
   * PINGs ahead of GOAWAYs, and an ack that overtook the notice would prove nothing. */
  if (nghttp2_submit_shutdown_notice(conn->h2) != 0) send_final_goaway(conn);
  rpc_keepalive_rearm(conn); /* the PING's deadline */
  rpc_conn_want_flush(conn);
}

void rpc_conn_goaway_sent(rpc_conn *conn, const nghttp2_goaway *goaway) {
  if (!conn->draining || conn->goaway_final || conn->drain_ping_sent ||
      goaway->last_stream_id != INT32_MAX)
    return;
  conn->drain_ping_sent = true;
  if (nghttp2_submit_ping(conn->h2, NGHTTP2_FLAG_NONE, drain_ping) != 0) send_final_goaway(conn);
}

bool rpc_conn_ping_acked(rpc_conn *conn, const uint8_t opaque[8]) {
  if (memcmp(opaque, drain_ping, 8) != 0) return false;
  if (conn->draining && !conn->goaway_final) {
    send_final_goaway(conn);
    rpc_conn_want_flush(conn);
  }
  return true;
}

void rpc_conn_drain_ping_timeout(rpc_conn *conn) {
  if (!conn->draining || conn->goaway_final) return;
  LOG_DEBUG("draining: the client did not answer the PING; final GOAWAY anyway");
  send_final_goaway(conn);
  rpc_conn_want_flush(conn);
}

int urpc_server_drain(urpc_server *s, int timeout_ms) {
  if (!s->started) return 0;
  pthread_mutex_lock(&s->stop_mu);
  bool first = !s->draining && !s->stop_requested;
  s->draining = true;
  pthread_mutex_unlock(&s->stop_mu);
  if (first) {
    LOG_INFO("draining: listeners closed, connections told (GOAWAY)");
    rpc_health_all_not_serving(s);
    for (int i = 0; i < s->n_shards; i++)
      if (s->shards[i].io) io_shard_drain(s->shards[i].io);
  }
  uint64_t deadline = core_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
  for (int i = 0; i < s->n_shards; i++)
    if (s->shards[i].io && !io_shard_wait_drained(s->shards[i].io, deadline)) return -ETIMEDOUT;
  return 0;
}
