/* What clients can make the server hold, and the protocol's answer at each bound. Every
 * counter here belongs to one shard thread: the server-wide limits are split evenly over the
 * shards, so nothing is shared on the call path.
 *
 *  - Calls per connection, counted from HEADERS until the call is released, so a stream the
 *    client (or the server, for a client's stream error) reset whose handler is still busy
 *    still counts: beyond max_calls_per_connection a new stream is refused (REFUSED_STREAM,
 *    which clients retry elsewhere). Calls per shard: beyond its share of max_calls, a new
 *    call is answered RESOURCE_EXHAUSTED without running a handler.
 *  - Bytes calls hold — request messages (decompressed ones too), the memory of their arenas,
 *    responses not yet taken by HTTP/2 — per connection and per shard: a request message that
 *    does not fit fails its call with RESOURCE_EXHAUSTED, and no new call starts on a
 *    connection or shard that is over (responses are counted when they exist, so a client that
 *    does not read stops getting new calls served; its calls end when it reads or goes).
 *  - RST_STREAMs the client makes the server send (its stream errors, refused streams: the
 *    "MadeYouReset" pattern, CVE-2025-8671, which nghttp2 1.52 does not limit), and oversized
 *    header lists: a client that keeps at it gets GOAWAY(ENHANCE_YOUR_CALM). */
#include "core/heap.h"
#include "core/log.h"
#include "rpc/rpc_impl.h"

/* After a burst — this much memory let go by calls, or this many connections closed — the
 * shard waits for it to end, then has malloc give its free pages back (core_heap_trim). */
#define TRIM_BYTES    (8u << 20)
#define TRIM_CONNS    256
#define TRIM_DELAY_MS 1000

#define BIG_HEADERS_MAX 8 /* oversized header lists before GOAWAY */

static void on_trim(core_timer *t, void *arg) {
  (void)t;
  rpc_shard *sh = arg;
  core_heap_trim();
  sh->mem_high = sh->mem;
  sh->closed_conns = 0;
}

void rpc_budget_shard_init(rpc_shard *sh, const urpc_server_options *o, int n_shards) {
  uint32_t n = n_shards > 0 ? (uint32_t)n_shards : 1;
  sh->max_calls = o->max_calls / n ? o->max_calls / n : 1;
  sh->max_mem = o->max_memory / n;
  core_timer_init(&sh->trim, on_trim, sh);
}

void rpc_budget_shard_dispose(rpc_shard *sh) {
  if (sh->timers && core_timer_armed(&sh->trim)) core_timer_cancel(sh->timers, &sh->trim);
}

void rpc_budget_released(rpc_shard *sh) {
  if (core_timer_armed(&sh->trim) || !sh->timers) return;
  if (sh->mem_high - sh->mem >= TRIM_BYTES || sh->closed_conns >= TRIM_CONNS)
    core_timer_arm(sh->timers, &sh->trim, sh->timers->now_ms + TRIM_DELAY_MS);
}

bool rpc_budget_fits(const urpc_call *call, size_t n) {
  const rpc_shard *sh = call->sh;
  if (n > sh->max_mem - sh->mem || sh->mem > sh->max_mem) return false;
  const rpc_conn *conn = call->conn;
  size_t conn_max = sh->server->opts.max_connection_memory;
  return !conn || (conn->mem <= conn_max && n <= conn_max - conn->mem);
}

void rpc_budget_charge(urpc_call *call, size_t n) {
  rpc_shard *sh = call->sh;
  call->charged += n;
  sh->mem += n;
  if (sh->mem > sh->mem_high) sh->mem_high = sh->mem;
  if (call->conn) call->conn->mem += n;
}

void rpc_budget_uncharge(urpc_call *call, size_t n) {
  call->charged -= n;
  call->sh->mem -= n;
  if (call->conn) call->conn->mem -= n;
}

void rpc_budget_sync(urpc_call *call, const core_arena *a, size_t *charged) {
  if (a->heap > *charged)
    rpc_budget_charge(call, a->heap - *charged);
  else
    rpc_budget_uncharge(call, *charged - a->heap);
  *charged = a->heap;
}

void rpc_budget_conn_init(rpc_conn *conn) {
  uint32_t rate = conn->sh->server->opts.stream_reset_rate;
  core_token_bucket_init(&conn->server_resets, rate * RPC_RESET_BURST_SECONDS,
                         conn->sh->timers->now_ms);
}

static void calm_down(rpc_conn *conn, urpc_limit limit, const char *why) {
  if (conn->closing) return;
  RPC_LIMIT_HIT(conn->sh, limit);
  rpc_conn_close_reason(conn, IO_CLOSED_LIMIT);
  unsigned long long held;
  if (core_log_limit_pass(&conn->sh->peer_log, conn->sh->timers->now_ms, RPC_PEER_LOG_MS, &held))
    LOG_INFO("GOAWAY(ENHANCE_YOUR_CALM): %s (%llu more such lines held back)", why, held);
  nghttp2_session_terminate_session(conn->h2, NGHTTP2_ENHANCE_YOUR_CALM);
  conn->closing = true;
  rpc_conn_want_flush(conn);
}

void rpc_budget_server_reset(rpc_conn *conn) {
  uint32_t rate = conn->sh->server->opts.stream_reset_rate;
  if (!core_token_bucket_take(&conn->server_resets, rate * RPC_RESET_BURST_SECONDS, rate,
                              conn->sh->timers->now_ms))
    calm_down(conn, URPC_LIMIT_RESETS, "the client keeps making the server reset streams");
}

void rpc_budget_big_headers(rpc_conn *conn) {
  if (++conn->big_headers > BIG_HEADERS_MAX)
    calm_down(conn, URPC_LIMIT_BIG_HEADERS, "the client keeps sending oversized header lists");
}
