/* Private to rpc/: the server, its shards, connections and calls, and how they refer to each
 * other. Ownership: the server owns its shards; a shard owns its connections (through io) and
 * its calls (through its pool); a call is reference counted, see urpc_call. */
#ifndef URPC_RPC_IMPL_H
#define URPC_RPC_IMPL_H

#include <nghttp2/nghttp2.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>

#include "core/arena.h"
#include "core/counter.h"
#include "core/log.h"
#include "core/mpmc.h"
#include "core/pool.h"
#include "core/slab.h"
#include "core/timer_wheel.h"
#include "core/token_bucket.h"
#include "io/shard.h"
#include "rpc/compress.h"
#include "rpc/grpc_frame.h"
#include "rpc/reflection_db.h"
#include "rpc/registry.h"
#include "rpc/uringrpc.h"

#define RPC_WORK_Q              4096 /* calls waiting for a worker thread */
#define RPC_ARENA_FIRST         768 /* bytes of arena inside each call: most unary calls need no more */
#define RPC_HEADER_LIST_MAX     (16 * 1024)
#define RPC_PEER_LOG_MS         10000
#define RPC_BUSY_MEMORY         "server busy: memory limit reached"
#define RPC_RESET_BURST_SECONDS 10 /* reset limits allow a burst of this many seconds' worth */

typedef struct rpc_shard rpc_shard;

/* What a shard's rpc side counts (urpc_shard_stats says what each is): written by the shard
 * thread only, read by any (core/counter.h). */
typedef struct rpc_shard_counters {
  core_ctr calls, calls_ok, calls_failed, calls_cancelled;
  core_ctr live_calls, streams_open; /* gauges */
  core_ctr goaway_sent[URPC_H2_ERROR_CODES], rst_stream_sent[URPC_H2_ERROR_CODES];
  core_ctr ping_strikes;
  core_ctr stream_window_stalls, conn_window_stalls;
  core_ctr send_window, recv_window; /* gauges: the sums of rpc_conn.send_window/recv_window */
  core_ctr handler_queue;            /* gauge */
  core_ctr deadlines_expired, decompress_rejected;
  core_ctr limits_hit[URPC_LIMITS];
} rpc_shard_counters;

/* Shard thread: counts a limit hit. */
#define RPC_LIMIT_HIT(sh, which) core_ctr_inc(&(sh)->stats.limits_hit[which])

typedef struct rpc_health_entry {
  char *service;
  urpc_health_status status;
} rpc_health_entry;

typedef struct rpc_health_table {
  rpc_health_entry *items;
  size_t n;
} rpc_health_table;

/* A Watch call waiting for changes of its service (in the call's arena). */
typedef struct rpc_health_watch {
  struct rpc_health_watch *next;
  urpc_call *call;
  const char *service;
  int last; /* the status last sent */
} rpc_health_watch;
typedef struct rpc_conn rpc_conn;

/* Metadata entries live in the call's arena. */
typedef struct rpc_md {
  const char *key; /* NUL-terminated */
  const uint8_t *value;
  size_t len; /* request: decoded bytes; response: wire bytes (base64 for -bin) */
} rpc_md;

typedef struct rpc_md_list {
  rpc_md *items;
  uint32_t n, cap;
} rpc_md_list;

/* One packed response message of a streaming call, queued until nghttp2 takes it. Freed when
 * the queue and every output segment pointing into it have let go. */
typedef struct rpc_sendbuf {
  io_msg msg; /* posts it to the shard when sent from another thread */
  urpc_call *call;
  struct rpc_sendbuf *next;
  uint32_t refs;
  uint32_t len, off; /* bytes in data; bytes already handed to nghttp2 */
  uint8_t data[];
} rpc_sendbuf;

typedef struct rpc_deferred rpc_deferred;

/* A call's references: the HTTP/2 stream (until it closes or the connection goes), the
 * handler (from dispatch until its finish is on the shard), each queued output segment that
 * points into the call's arena, each pending urpc_call_defer and a pending writable
 * notification. The call returns to its pool when the last one is dropped.
 *
 * A call counts against its connection's limits (calls, memory: budget.c) until it is
 * released, also after its stream is gone: a client that resets streams whose handlers are
 * still busy cannot make the server hold more calls than the limit. */
struct urpc_call {
  io_msg done_msg; /* posts the finish to the shard when finishing from another thread */
  rpc_shard *sh;
  rpc_conn *conn; /* the connection it counts against; NULL once the connection is gone (a
                     call whose stream is open always has it) */
  const rpc_method *method;
  urpc_call *prev, *next; /* the connection's calls */
  rpc_deferred *defers;   /* urpc_call_defer functions not yet run */
  size_t charged;         /* bytes counted against the connection's and shard's budgets */
  /* What interceptors' on_end reports (intercept.c): kept for every call, cheap to keep. */
  uint64_t bytes_in, bytes_out;
  uint32_t msgs_in, msgs_out;
  int8_t sent_status;       /* the grpc-status sent (or reset with), -1 while none */
  bool ic_msg_compressed;   /* during on_message: that message is compressed */
  const char *sent_msg;     /* the grpc-message sent with it (static or arena), or NULL */
  uint16_t ic_started;      /* interceptors whose on_start ran */
  void **ic_state;          /* their per-call pointers (arena) */
  const char *unknown_path; /* :path when no method answers it (arena) */
  const void *auth_ctx;     /* urpc_call_set_auth_context */
  uint64_t start_ns;        /* request headers in; taken only with interceptors */
  int32_t stream_id;
  uint16_t refs;
  uint8_t stream_open : 1;  /* holds the stream reference */
  uint8_t with_handler : 1; /* holds the handler reference */
  uint8_t answered : 1;     /* a response is decided; request bytes are ignored */
  uint8_t responded : 1;    /* the end of the response is submitted to the HTTP/2 session */
  uint8_t bad_method : 1, has_content_type : 1, bad_content_type : 1, bad_encoding : 1;
  uint8_t finished : 1;        /* streaming: the handler's finish reached the shard */
  uint8_t deferred : 1;        /* streaming: the data provider waits for messages */
  uint8_t half_closed : 1;     /* the client ended its side */
  uint8_t in_writable : 1;     /* in the shard's writable list */
  uint8_t recv_paused : 1;     /* urpc_call_pause_recv: keep the stream window */
  uint8_t over_budget : 1;     /* a request allocation found no room in the budgets */
  uint8_t handler_started : 1; /* on the shard thread: on_cancel may be delivered (call.c) */
  uint8_t n_msgs;
  /* Read by handler threads, so not in the shard's bit-fields (one memory location). */
  bool streaming_in, streaming_out; /* from the method's flags, set before any handler runs */
  _Atomic bool headers_sent;        /* response HEADERS submitted (shard writes) */
  _Atomic bool cancelled;
  _Atomic bool finish_called; /* reply, fail or finish was called (once, see call.c) */
  _Atomic bool want_writable; /* a send returned -EAGAIN */
  _Atomic size_t sq_bytes;    /* streaming: bytes sent by the handler, not yet taken by nghttp2 */
  rpc_sendbuf *sq_head, *sq_tail;
  size_t held_bytes; /* received while paused, window not yet given back */
  urpc_call *writable_next;
  urpc_call *run_next;  /* the shard's list of calls for its own handlers */
  uint16_t http_status; /* non-zero: answer with this HTTP status and no gRPC body */
  int64_t timeout_ns;   /* from grpc-timeout; -1 for none */
  uint64_t deadline_ns; /* monotonic (core_now_ns), 0 for none */
  core_timer deadline;
  uint32_t header_bytes;
  urpc_status_code status;
  const char *status_msg; /* static or arena; NULL for none */
  rpc_frame_reader reader;
  uint8_t *req; /* the request message (arena) */
  size_t req_len;
  uint8_t *resp; /* unary: prefix + packed response (arena) */
  size_t resp_len, resp_pos;
  rpc_md_list req_md, init_md, trail_md;
  void *user;            /* urpc_call_set_user */
  urpc_peer peer;        /* copied into the arena when the headers are in */
  const char *authority; /* :authority (arena), kept only when an interceptor reads it */
  uint8_t req_encoding;  /* rpc_encoding of the request (grpc-encoding) */
  uint8_t resp_encoding; /* rpc_encoding wanted for responses (urpc_call_set_compression) */
  uint8_t resp_encoded;  /* rpc_encoding announced in the response headers */
  uint8_t accept_mask;   /* grpc-accept-encoding of the client, 1u << rpc_encoding */
  bool req_compressed;   /* the last request message had the compressed flag */
  ProtobufCAllocator allocator;
  struct rpc_call_watch *watches;        /* rpc_ext.h: told of the cancel or the release */
  core_arena scratch;                    /* a client stream's message being received or handled */
  size_t arena_charged, scratch_charged; /* the arenas' heap bytes in `charged` */
  core_arena arena;
  _Alignas(max_align_t) uint8_t arena_first[RPC_ARENA_FIRST];
};

/* h2_scan.c: where the client's byte stream is, frame by frame, and what it says about the
 * client's streams. */
#define RPC_SCAN_SKIPPED 4
#define RPC_SCAN_RESETS  8
typedef struct rpc_h2_scan {
  uint8_t hdr[9];     /* a frame header split between two reads */
  uint8_t held;       /* bytes of it so far */
  uint8_t magic_left; /* bytes of the client preface still to come */
  uint8_t n_skipped;
  uint32_t skip;                        /* payload bytes of the current frame still to come */
  int32_t max_opened;                   /* the highest stream the client has opened */
  int32_t reset_in_chunk;               /* a stream the client reset in the chunk read now */
  int32_t skipped[RPC_SCAN_SKIPPED][2]; /* id ranges the client never opened */
  int32_t reset_ids[RPC_SCAN_RESETS];   /* streams we reset lately, and when (ms, mod 2^32) */
  uint32_t reset_at[RPC_SCAN_RESETS];
  int32_t overflow_floor; /* more resets than remembered: from this id up */
  uint32_t overflow_at;
  uint8_t reset_next;
} rpc_h2_scan;

struct rpc_conn {
  nghttp2_session *h2;
  io_conn *io;
  rpc_shard *sh;
  core_outq *out;   /* set while nghttp2 writes, inside conn_produce */
  urpc_call *calls; /* every call not yet released (stream open or handler still busy) */
  uint32_t n_calls; /* how many */
  uint32_t n_open;  /* of which with their stream open */
  size_t mem;       /* bytes its calls hold (budget.c) */
  core_token_bucket server_resets; /* RST_STREAMs the client made us send (budget.c) */
  uint8_t big_headers;             /* oversized header lists received */
  rpc_h2_scan scan;
  bool closing;         /* send what is queued (e.g. GOAWAY) and close */
  bool draining;        /* graceful shutdown: the first GOAWAY and its PING are out */
  bool goaway_final;    /* the GOAWAY with the last stream taken is submitted */
  bool drain_ping_sent; /* the PING that follows the first GOAWAY is submitted */
  bool aged;            /* max_connection_age reached: draining, then closed after the grace */
  bool got_preface;     /* the client's SETTINGS came (keepalive.c: preface timeout) */
  bool got_request;     /* a HEADERS came (keepalive.c: first-request timeout) */
  bool http1, http1_answered; /* the client spoke HTTP/1.x: answer that, then close */
  bool settings_patched;      /* our first SETTINGS went out (h2_conn.c on_send) */
  unsigned ping_strikes;
  int32_t send_window, recv_window; /* the connection windows last added to the shard's sums */
  core_timer life;                  /* keepalive.c: the next lifetime deadline */
  uint64_t last_read_ms, idle_since_ms, ka_ping_sent_ms, last_ping_recv_ms, age_deadline_ms;
  uint64_t drain_ping_deadline_ms; /* draining: the final GOAWAY goes out by then */
  uint64_t last_write_ms, opened_ms;
  void *trim_map, *trim_framebuf; /* idle_trim.c: nghttp2's scratch pages, while they live */
  bool trimmed;                   /* trimmed since the last read or write */
};

struct rpc_shard {
  struct urpc_server *server;
  io_shard *io;
  int index;
  core_pool call_pool, conn_pool;
  /* Calls for handlers on the shard thread: pushed while parsing, drained after the batch. */
  urpc_call *run_head, *run_tail; /* FIFO through urpc_call.run_next */
  /* Calls for worker threads (blocking methods). */
  core_mpmc work_q;
  core_mpmc_cell work_cells[RPC_WORK_Q];
  sem_t work_sem;
  pthread_t *workers;
  int n_workers;
  _Atomic bool workers_stop;
  core_timer_wheel *timers; /* the shard loop's (io_shard_timers), for deadlines */
  nghttp2_mem h2_mem;
  core_slab h2_slab; /* every nghttp2 allocation of this shard */
  _Alignas(CORE_CACHELINE) rpc_shard_counters stats;
  /* This shard's share of the server-wide limits (budget.c), and what its calls hold. */
  uint32_t max_calls;
  size_t max_mem, mem;
  /* budget.c: after a burst, memory malloc keeps goes back to the kernel. */
  size_t mem_high;       /* the most `mem` has been since the last trim */
  uint32_t closed_conns; /* connections closed since the last trim */
  core_timer trim;
  core_log_limit peer_log;    /* lines a client can cause: one per RPC_PEER_LOG_MS */
  urpc_call *writable;        /* calls whose on_writable is due */
  rpc_health_table health;    /* this shard's copy of the server's health table */
  rpc_health_watch *watchers; /* Health/Watch calls on this shard */
  /* idle_trim.c: the connection whose session nghttp2 is creating (its allocations are
   * recorded), and the one whose nghttp2 call is running (frees of its pages are noted). */
  rpc_conn *tracking, *cur_conn;
};

struct urpc_server {
  urpc_server_options opts;
  char *listen;
  char bound[96], tls_bound[96];
  io_backend_kind io;    /* resolved at start */
  char io_fallback[512]; /* why URPC_IO_AUTO chose epoll; "" when it did not */
  char *tls_listen, *tls_cert, *tls_key, *tls_client_ca; /* copies of the options' strings */
  tls_ctx *tls;
  rpc_registry registry;
  uint8_t resp_encoding; /* options.response_compression */
  rpc_refl_db *refl_db;  /* descriptors for reflection; read-only once serving */
  rpc_reflection reflection;
  nghttp2_session_callbacks *h2_callbacks; /* read-only after start, shared by every session */
  nghttp2_option *h2_option;
  rpc_shard *shards;
  int n_shards;
  bool started;
  pthread_mutex_t stop_mu; /* guards stop_requested and health */
  rpc_health_table health; /* the authoritative health table */
  pthread_cond_t stop_cv;
  bool stop_requested;
  bool draining;                  /* urpc_server_drain has begun (guarded by stop_mu) */
  urpc_interceptor *interceptors; /* the chain, in registration order; fixed once started */
  size_t n_interceptors;
  bool ic_on_message;              /* one of them asked for each message */
  bool ic_duration;                /* one of them reads urpc_call_end.duration_ns */
  bool ic_authority;               /* one of them reads urpc_call_authority */
  uint32_t max_conns;              /* options.max_connections, or what the file limit allows */
  bool idle_trim;                  /* idle_trim.c knows this nghttp2's allocations (1.52) */
  _Atomic uint32_t n_conns;        /* open, all shards (touched per connection, not per call) */
  _Atomic uint64_t refused_log_ms; /* the last "connection limit" line */
};

/* call.c */
urpc_call *rpc_call_new(rpc_conn *conn, int32_t stream_id);
/* The connection is going: the call no longer counts against it (it may outlive it). */
void rpc_call_detach(urpc_call *call);
/* A message for the client, formatted into the call's arena (`fallback` if that is full). */
/* A NUL-terminated copy of p[0..n) in the call's arena, or NULL. */
const char *rpc_call_strndup(urpc_call *call, const void *p, size_t n);
const char *rpc_call_printf(urpc_call *call, const char *fallback, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Shard thread: the call was cancelled; its pending urpc_call_defer functions run at the next
 * timer tick instead of at their time. */
void rpc_call_expedite_defers(urpc_call *call);
void rpc_call_unref(urpc_call *call);
void rpc_call_stream_closed(urpc_call *call);
/* Answers right away without a handler (bad method, unknown path, bad message...). */
void rpc_call_fail_now(urpc_call *call, urpc_status_code code, const char *msg);
void rpc_call_http_error(urpc_call *call, uint16_t http_status);
/* Ends a call the client can no longer complete (bad message mid-stream, deadline): the
 * handler sees it cancelled (on_cancel), the client gets `code` or, once messages went out, a
 * RST_STREAM. Shard thread. */
void rpc_call_abort(urpc_call *call, urpc_status_code code, const char *msg);
/* Packs `msg` as one length-prefixed message, compressed if the call asks for it and the
 * client accepts it, into the call's arena (`in_arena`) or malloc'd memory (with `extra` bytes
 * reserved in front). Returns the buffer (prefix at buf + extra) and its length without `extra`, or
 * NULL. */
uint8_t *rpc_call_pack(urpc_call *call, const ProtobufCMessage *msg, size_t extra, bool in_arena,
                       size_t *len);
/* Runs the handler on the current thread. */
void rpc_call_run(urpc_call *call);
/* The request is complete: run checks, hand the call to its handler queue. */
void rpc_call_dispatch(urpc_call *call);
void rpc_call_take_peer(urpc_call *call);
/* Headers are in and valid: starts the deadline clock if the client sent grpc-timeout. */
void rpc_call_start_deadline(urpc_call *call);

/* stream.c */
#define RPC_SEND_LIMIT (64 * 1024) /* streaming: queued bytes above which send says -EAGAIN */
/* Shard thread: the handler's finish of a streaming call. */
void rpc_stream_finish(urpc_call *call);
/* nghttp2 took `n` bytes of the head message (send_data callback); returns the bytes. */
const uint8_t *rpc_stream_take(urpc_call *call, size_t n, rpc_sendbuf **buf);
void rpc_sendbuf_unref(void *buf);
ssize_t rpc_stream_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                        uint32_t *data_flags, nghttp2_data_source *source, void *ud);
/* Frees the messages still queued (the call is going away). */
void rpc_stream_drop_queue(urpc_call *call);
/* Streaming requests: the call starts at its headers and gets each message as it comes. */
void rpc_stream_start(urpc_call *call);
void rpc_stream_message(urpc_call *call, const ProtobufCMessage *req);
void rpc_stream_half_close(urpc_call *call);
void rpc_stream_notify_writable(rpc_shard *sh);

/* intercept.c: the chain's hooks. Start: the request headers are in (shard thread). End: the
 * call is being released. */
void rpc_intercept_start(urpc_call *call);
void rpc_intercept_end(urpc_call *call);
void rpc_intercept_message_slow(urpc_call *call, bool received, size_t bytes, bool compressed);
/* A message in or out: to the interceptors that asked (nothing to do for the others). */
static inline void rpc_intercept_message(urpc_call *call, bool received, size_t bytes,
                                         bool compressed) {
  if (__builtin_expect(call->sh->server->ic_on_message, 0))
    rpc_intercept_message_slow(call, received, bytes, compressed);
}

/* request.c */
/* Received DATA of the call's stream. */
void rpc_request_feed(urpc_call *call, const uint8_t *data, size_t len);
/* The stream is gone: a client-stream message still being received is dropped now. */
void rpc_request_drop_partial(urpc_call *call);

/* budget.c: limits on what clients can make the server hold (see the file's comment). */
void rpc_budget_shard_init(rpc_shard *sh, const urpc_server_options *o, int n_shards);
void rpc_budget_conn_init(rpc_conn *conn);
static inline uint32_t rpc_budget_conn_max_calls(const rpc_conn *conn) {
  const urpc_server_options *o = &conn->sh->server->opts;
  return o->max_calls_per_connection ? o->max_calls_per_connection : o->max_concurrent_streams;
}
/* Whether `n` more bytes fit the call's connection and shard budgets. */
bool rpc_budget_fits(const urpc_call *call, size_t n);
void rpc_budget_charge(urpc_call *call, size_t n);
void rpc_budget_uncharge(urpc_call *call, size_t n);
/* Brings the call's charge for arena `a` (whose charged bytes are *charged) up to date. */
void rpc_budget_sync(urpc_call *call, const core_arena *a, size_t *charged);
/* The connection or its shard holds more than allowed: start no new call there. */
static inline bool rpc_budget_over(const rpc_conn *conn) {
  const rpc_shard *sh = conn->sh;
  return sh->mem > sh->max_mem || conn->mem > sh->server->opts.max_connection_memory;
}
/* The client made us send a RST_STREAM (stream error, refused stream). */
void rpc_budget_server_reset(rpc_conn *conn);
/* The client sent a header list over the limit. */
void rpc_budget_big_headers(rpc_conn *conn);
/* Memory was given back (a call released, a connection closed): after a burst, a trim. */
void rpc_budget_released(rpc_shard *sh);
void rpc_budget_shard_dispose(rpc_shard *sh);

/* metadata.c */
/* Request header that is metadata (not pseudo, not reserved): keep it. Returns 0 or -EINVAL
 * (bad -bin value). */
int rpc_md_capture(urpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                   size_t valuelen);
bool rpc_md_is_reserved(const uint8_t *name, size_t namelen);
/* Appends the list to `nv` (at most `max` entries in all); returns the new count. */
size_t rpc_md_to_nv(const rpc_md_list *l, nghttp2_nv *nv, size_t n, size_t max);

/* h2_scan.c: received bytes to nghttp2, through the checks described there. Returns 0 or a
 * negative nghttp2 error. */
void rpc_h2_scan_init(rpc_h2_scan *s);
int rpc_h2_scan_recv(rpc_conn *conn, const uint8_t *p, size_t n);
/* We sent RST_STREAM on `id`: the client's frames for it may still be on their way. */
void rpc_h2_scan_reset_sent(rpc_h2_scan *s, int32_t id, uint64_t now_ms);

/* not_grpc.c: answers for clients not speaking gRPC. */
/* A 405 or 415 with a line of text. Returns nghttp2_submit_response's result. */
int rpc_http_error_submit(nghttp2_session *h2, int32_t stream_id, uint16_t status);
/* Whether the first bytes of a connection are an HTTP/1.x request line. */
bool rpc_http1_request(const uint8_t *p, size_t n);
/* An HTTP/1.1 505 with a line of text. Returns 0 or -1 (out of memory). */
int rpc_http1_reply(core_outq *out);

/* h2_conn.c */
/* Why the connection is about to end (first reason named stands), for the stats. */
static inline void rpc_conn_close_reason(rpc_conn *conn, io_close_reason why) {
  if (conn->io) io_conn_set_close_reason(conn->io, why);
}
/* Submits the trailers of a call (from the data provider at its end). Returns 0, or a value
 * for the data provider to return (nghttp2 then resets the stream). */
int rpc_conn_submit_trailers(nghttp2_session *session, urpc_call *call);
/* A data provider had more of the call's response than nghttp2 asked for (`length`): if a send
 * window was the cause, that window stalls the response (counted). */
void rpc_conn_note_window_cut(nghttp2_session *session, urpc_call *call, size_t length);
/* Data was just queued for the call's stream: a window already shut holds it back before any
 * read callback could see the cut (nghttp2 defers the stream silently): counted here. */
void rpc_conn_note_window_shut(urpc_call *call);
/* Resets the stream; if even that cannot be submitted (out of memory), closes the connection. */
void rpc_conn_reset_stream(rpc_conn *conn, int32_t stream_id, uint32_t code);
/* Submits a streaming call's response HEADERS with its data provider. */
int rpc_conn_submit_stream_headers(urpc_call *call);
void rpc_conn_want_flush(rpc_conn *conn);
int rpc_h2_callbacks_new(nghttp2_session_callbacks **out);
int rpc_h2_option_new(const urpc_server_options *o, nghttp2_option **out);
void *rpc_conn_open(void *ctx, io_conn *io);
int rpc_conn_recv(void *state, const uint8_t *p, size_t n);
int rpc_conn_produce(void *state, core_outq *out);
void rpc_conn_closed(void *state);
/* Submits the call's response on its stream; shard thread only. */
void rpc_conn_respond(urpc_call *call);
/* Submits a Trailers-Only status without reading the call's response fields or using its arena
 * unless `msg` needs percent-encoding. */
void rpc_conn_respond_status(urpc_call *call, urpc_status_code code, const char *msg);

/* shard.c */
int rpc_shard_init(rpc_shard *sh, struct urpc_server *server, int index);
void rpc_shard_dispose(rpc_shard *sh);
int rpc_shard_start_workers(rpc_shard *sh);
void rpc_shard_stop_workers(rpc_shard *sh);
void rpc_shard_after_batch(void *ctx);
void rpc_shard_enqueue(rpc_shard *sh, urpc_call *call);

/* drain.c */
void rpc_conn_drain(void *state);
/* A GOAWAY went out: after the first of a drain, its PING. */
void rpc_conn_goaway_sent(rpc_conn *conn, const nghttp2_goaway *goaway);
/* A PING ack arrived: the drain's is the cue for the final GOAWAY. Returns whether it was the
 * drain's (any other ack is the keepalive's). */
bool rpc_conn_ping_acked(rpc_conn *conn, const uint8_t opaque[8]);
/* The drain's PING went unanswered too long: the final GOAWAY all the same. */
void rpc_conn_drain_ping_timeout(rpc_conn *conn);

/* keepalive.c: connection lifetime (keepalive, ping policy, max idle and age). */
void rpc_keepalive_start(rpc_conn *conn);
void rpc_keepalive_stop(rpc_conn *conn);
/* A deadline moved earlier (the drain began): re-arm the connection's timer. */
void rpc_keepalive_rearm(rpc_conn *conn);
void rpc_keepalive_ping_acked(rpc_conn *conn);
void rpc_keepalive_calls_ended(rpc_conn *conn);
/* A client PING arrived: true if that was one too many (GOAWAY queued, connection closing). */
bool rpc_keepalive_ping_abuse(rpc_conn *conn);
/* HEADERS or DATA went out: the client's ping strikes are forgiven. */
void rpc_keepalive_sent_data(rpc_conn *conn);

/* idle_trim.c: nghttp2 1.52's stream map table (256 buckets of 16 bytes) and frame buffer
 * chunk (NGHTTP2_FRAMEBUF_CHUNKLEN); other sizes are simply not tracked. */
#define RPC_TRIM_MAP_BYTES      4096u
#define RPC_TRIM_FRAMEBUF_BYTES (9u + 1u + 16384u)
#define RPC_IDLE_TRIM_MS        1000u
void rpc_idle_trim_track(rpc_shard *sh, void *p, size_t size);
void rpc_idle_trim_forget(rpc_shard *sh, const void *p);
/* When the connection may next be trimmed (0: nothing to trim). */
uint64_t rpc_idle_trim_deadline(const rpc_conn *conn);
void rpc_idle_trim(rpc_conn *conn);
void rpc_idle_trim_woke(rpc_conn *conn);

/* health.c */
int rpc_health_register(struct urpc_server *s);
void rpc_health_all_not_serving(urpc_server *s);
int rpc_health_copy_to_shard(struct urpc_server *s, rpc_shard *sh);
/* Shard thread: a status change reaches this shard; its Watch calls of `service` are told. */
void rpc_health_apply(rpc_shard *sh, const char *service, urpc_health_status status);
void rpc_health_table_dispose(rpc_health_table *t);

#endif
