/* Connection lifetime, with grpc's server settings and defaults (doc/keepalive.md; grpc's
 * GRPC_ARG_KEEPALIVE_TIME_MS/_TIMEOUT_MS, GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
 * GRPC_ARG_HTTP2_MAX_PING_STRIKES, GRPC_ARG_MAX_CONNECTION_IDLE_MS/_AGE_MS/_AGE_GRACE_MS):
 *
 *  - keepalive: nothing read for keepalive_time → PING the client; no ack within
 *    keepalive_timeout → the connection is dead: close it.
 *  - ping policy: a client PING sooner than the allowed interval after its previous one is a
 *    strike (min_ping_interval with calls open; two hours on a connection without calls unless
 *    permit_keepalive_without_calls); sending HEADERS or DATA forgives them all; one strike more
 *    than max_ping_strikes → GOAWAY(ENHANCE_YOUR_CALM, "too_many_pings") and close.
 *  - max_connection_idle: no call for that long → graceful GOAWAY (rpc_conn_drain).
 *  - max_connection_age (±10 % jitter, so connections made together do not all leave
 *    together) → graceful GOAWAY, so clients re-resolve and spread over new replicas;
 *    max_connection_age_grace later, whatever is left is closed.
 *  - a connection that has not sent the HTTP/2 preface (its SETTINGS) within preface_timeout,
 *    or its first request within first_request_timeout, is closed (the second with a GOAWAY
 *    naming no stream, so a client that was about to start one knows to retry it elsewhere):
 *    connections that never start cannot pile up.
 *
 * One timer per connection, armed for the earliest of these deadlines. Deadlines that move
 * with traffic (the last read) are only checked when the timer fires: reading costs a store. */
#include <stdlib.h>

#include "core/log.h"
#include "rpc/rpc_impl.h"

#define IDLE_PING_INTERVAL_MS (2ull * 3600 * 1000) /* grpc's, without permit_without_calls */

static const urpc_server_options *opts_of(const rpc_conn *conn) {
  return &conn->sh->server->opts;
}

static uint64_t now_ms(const rpc_conn *conn) {
  return conn->sh->timers->now_ms;
}

static uint64_t earliest(uint64_t a, uint64_t b) {
  return a && (!b || a < b) ? a : b;
}

/* When a connection that has not started yet is given up; 0 for never. */
static uint64_t start_deadline(const rpc_conn *conn) {
  const urpc_server_options *o = opts_of(conn);
  if (!conn->got_preface && o->preface_timeout_ms) return conn->opened_ms + o->preface_timeout_ms;
  if (!conn->got_request && o->first_request_timeout_ms)
    return conn->opened_ms + o->first_request_timeout_ms;
  return 0;
}

/* The next moment something may be due; 0 for never. */
static uint64_t next_deadline(const rpc_conn *conn) {
  const urpc_server_options *o = opts_of(conn);
  uint64_t at = 0;
  if (o->keepalive_time_ms)
    at = conn->ka_ping_sent_ms ? conn->ka_ping_sent_ms + o->keepalive_timeout_ms
                               : conn->last_read_ms + o->keepalive_time_ms;
  if (o->max_connection_idle_ms && !conn->n_open && !conn->draining)
    at = earliest(at, conn->idle_since_ms + o->max_connection_idle_ms);
  if (conn->age_deadline_ms) at = earliest(at, conn->age_deadline_ms);
  at = earliest(at, start_deadline(conn));
  if (conn->draining && !conn->goaway_final) at = earliest(at, conn->drain_ping_deadline_ms);
  return earliest(at, rpc_idle_trim_deadline(conn));
}

static void arm(rpc_conn *conn) {
  uint64_t at = next_deadline(conn);
  if (at && !conn->closing) core_timer_arm(conn->sh->timers, &conn->life, at);
}

static void close_now(rpc_conn *conn, const char *why) {
  LOG_DEBUG("closing connection: %s", why);
  conn->closing = true;
  rpc_conn_want_flush(conn);
}

/* Age: first the graceful GOAWAY; after the grace period, the end. */
static void on_age(rpc_conn *conn) {
  const urpc_server_options *o = opts_of(conn);
  if (conn->aged) {
    close_now(conn, "max connection age grace period over");
    return;
  }
  conn->aged = true;
  rpc_conn_close_reason(conn, IO_CLOSED_AGE);
  rpc_conn_drain(conn); /* nothing new if the connection is draining already */
  conn->age_deadline_ms =
      o->max_connection_age_grace_ms ? now_ms(conn) + o->max_connection_age_grace_ms : 0;
}

static void on_timer(core_timer *t, void *arg) {
  (void)t;
  rpc_conn *conn = arg;
  const urpc_server_options *o = opts_of(conn);
  uint64_t now = now_ms(conn);
  if (conn->closing) return;
  if (o->keepalive_time_ms && conn->ka_ping_sent_ms &&
      now >= conn->ka_ping_sent_ms + o->keepalive_timeout_ms) {
    rpc_conn_close_reason(conn, IO_CLOSED_KEEPALIVE);
    close_now(conn, "keepalive PING not answered");
    return;
  }
  if (o->keepalive_time_ms && !conn->ka_ping_sent_ms &&
      now >= conn->last_read_ms + o->keepalive_time_ms) {
    static const uint8_t ka_ping[8] = {'u', 'r', 'p', 'c', 'k', 'a', 'l', 'v'};
    if (nghttp2_submit_ping(conn->h2, NGHTTP2_FLAG_NONE, ka_ping) == 0) {
      conn->ka_ping_sent_ms = now;
      rpc_conn_want_flush(conn);
    }
  }
  if (o->max_connection_idle_ms && !conn->n_open && !conn->draining &&
      now >= conn->idle_since_ms + o->max_connection_idle_ms) {
    rpc_conn_close_reason(conn, IO_CLOSED_IDLE);
    rpc_conn_drain(conn);
  }
  uint64_t start_at = start_deadline(conn);
  if (start_at && now >= start_at) {
    rpc_conn_close_reason(conn, IO_CLOSED_IDLE);
    if (conn->got_preface) /* no stream: nothing is lost, and the client may retry elsewhere */
      nghttp2_session_terminate_session(conn->h2, NGHTTP2_NO_ERROR);
    close_now(conn, conn->got_preface ? "no request in time" : "no HTTP/2 preface in time");
    return;
  }
  if (conn->age_deadline_ms && now >= conn->age_deadline_ms) on_age(conn);
  if (conn->draining && !conn->goaway_final && now >= conn->drain_ping_deadline_ms)
    rpc_conn_drain_ping_timeout(conn);
  uint64_t trim_at = rpc_idle_trim_deadline(conn);
  if (trim_at && now >= trim_at) rpc_idle_trim(conn);
  arm(conn);
}

void rpc_keepalive_start(rpc_conn *conn) {
  const urpc_server_options *o = opts_of(conn);
  uint64_t now = now_ms(conn);
  core_timer_init(&conn->life, on_timer, conn);
  conn->last_read_ms = conn->last_write_ms = conn->idle_since_ms = conn->opened_ms = now;
  if (o->max_connection_age_ms) {
    /* +-10 %: uniform over [0.9, 1.1] x age; rand() is enough to spread connections. */
    uint64_t span = o->max_connection_age_ms / 5;
    uint64_t jitter = span ? (uint64_t)rand() % (span + 1) : 0;
    conn->age_deadline_ms = now + o->max_connection_age_ms - span / 2 + jitter;
  }
  arm(conn);
}

void rpc_keepalive_stop(rpc_conn *conn) {
  if (core_timer_armed(&conn->life)) core_timer_cancel(conn->sh->timers, &conn->life);
}

void rpc_keepalive_rearm(rpc_conn *conn) {
  arm(conn);
}

void rpc_keepalive_ping_acked(rpc_conn *conn) {
  conn->ka_ping_sent_ms = 0;
}

void rpc_keepalive_calls_ended(rpc_conn *conn) {
  conn->idle_since_ms = now_ms(conn);
  if (opts_of(conn)->max_connection_idle_ms) arm(conn); /* may now be the earliest deadline */
}

bool rpc_keepalive_ping_abuse(rpc_conn *conn) {
  const urpc_server_options *o = opts_of(conn);
  uint64_t now = now_ms(conn);
  uint64_t interval = conn->n_open || o->permit_keepalive_without_calls ? o->min_ping_interval_ms
                                                                        : IDLE_PING_INTERVAL_MS;
  bool too_soon = conn->last_ping_recv_ms && now < conn->last_ping_recv_ms + interval;
  conn->last_ping_recv_ms = now;
  if (!too_soon) return false;
  conn->ping_strikes++;
  core_ctr_inc(&conn->sh->stats.ping_strikes);
  if (conn->ping_strikes <= o->max_ping_strikes || o->max_ping_strikes == 0) return false;
  RPC_LIMIT_HIT(conn->sh, URPC_LIMIT_PINGS);
  rpc_conn_close_reason(conn, IO_CLOSED_LIMIT);
  static const char why[] = "too_many_pings";
  nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE,
                        nghttp2_session_get_last_proc_stream_id(conn->h2),
                        NGHTTP2_ENHANCE_YOUR_CALM, (const uint8_t *)why, sizeof(why) - 1);
  unsigned long long held;
  if (core_log_limit_pass(&conn->sh->peer_log, now, RPC_PEER_LOG_MS, &held))
    LOG_INFO("client sent too many PINGs: GOAWAY(ENHANCE_YOUR_CALM, too_many_pings) (%llu more "
             "such lines held back)",
             held);
  close_now(conn, "too many pings");
  return true;
}

void rpc_keepalive_sent_data(rpc_conn *conn) {
  conn->ping_strikes = 0;
  conn->last_ping_recv_ms = 0;
}
