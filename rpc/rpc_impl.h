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
#include "core/mpmc.h"
#include "core/pool.h"
#include "core/slab.h"
#include "core/spsc.h"
#include "core/timer_wheel.h"
#include "io/shard.h"
#include "rpc/grpc_frame.h"
#include "rpc/registry.h"
#include "rpc/uringrpc.h"

#define RPC_INLINE_Q        4096 /* calls handed to the shard's own handlers per batch */
#define RPC_WORK_Q          4096 /* calls waiting for a worker thread */
#define RPC_ARENA_FIRST     768 /* bytes of arena inside each call: most unary calls need no more */
#define RPC_HEADER_LIST_MAX (16 * 1024)

typedef struct rpc_shard rpc_shard;
typedef struct rpc_conn rpc_conn;

/* A call's references: the HTTP/2 stream (until it closes or the connection goes), the
 * handler (from dispatch until its reply is on the shard), and each queued output segment that
 * points into the call's arena. The call returns to its pool when the last one is dropped. */
struct urpc_call {
  io_msg done_msg; /* posts the finish to the shard when replying from another thread */
  rpc_shard *sh;
  rpc_conn *conn; /* NULL once the connection is gone */
  const rpc_method *method;
  urpc_call *prev, *next; /* the connection's live calls */
  int32_t stream_id;
  uint16_t refs;
  uint8_t stream_open : 1;  /* holds the stream reference */
  uint8_t with_handler : 1; /* holds the handler reference */
  uint8_t answered : 1;     /* a response is decided; request bytes are ignored */
  uint8_t responded : 1;    /* the response is submitted to the HTTP/2 session */
  uint8_t bad_method : 1, has_content_type : 1, bad_content_type : 1, bad_encoding : 1;
  uint8_t n_msgs;
  _Atomic bool cancelled;
  uint16_t http_status; /* non-zero: answer with this HTTP status and no gRPC body */
  int64_t timeout_ns;   /* from grpc-timeout; -1 for none */
  uint64_t deadline_ns; /* monotonic (core_now_ns), 0 for none */
  core_timer deadline;
  uint32_t header_bytes;
  urpc_status_code status;
  const char *status_msg; /* static or arena; NULL for none */
  const char *path;       /* arena copy for unknown methods, else method->path */
  size_t path_len;
  rpc_frame_reader reader;
  uint8_t *req; /* the request message (arena) */
  size_t req_len;
  uint8_t *resp; /* prefix + packed response (arena) */
  size_t resp_len, resp_pos;
  ProtobufCAllocator allocator;
  core_arena arena;
  _Alignas(max_align_t) uint8_t arena_first[RPC_ARENA_FIRST];
};

struct rpc_conn {
  nghttp2_session *h2;
  io_conn *io;
  rpc_shard *sh;
  core_outq *out; /* set while nghttp2 writes, inside conn_produce */
  urpc_call *calls;
  bool closing; /* send what is queued (e.g. GOAWAY) and close */
};

struct rpc_shard {
  struct urpc_server *server;
  io_shard *io;
  int index;
  core_pool call_pool, conn_pool;
  /* Calls for handlers on the shard thread: pushed while parsing, drained after the batch. */
  core_spsc inline_q;
  void *inline_slots[RPC_INLINE_Q];
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
  urpc_shard_stats stats;
  uint64_t live_calls;
};

struct urpc_server {
  urpc_server_options opts;
  char *listen;
  char bound[96];
  rpc_registry registry;
  nghttp2_session_callbacks *h2_callbacks; /* read-only after start, shared by every session */
  nghttp2_option *h2_option;
  rpc_shard *shards;
  int n_shards;
  bool started;
  pthread_mutex_t stop_mu; /* guards stop_requested, for urpc_server_wait */
  pthread_cond_t stop_cv;
  bool stop_requested;
};

/* call.c */
urpc_call *rpc_call_new(rpc_conn *conn, int32_t stream_id);
void rpc_call_unref(urpc_call *call);
void rpc_call_stream_closed(urpc_call *call);
/* Answers right away without a handler (bad method, unknown path, bad message...). */
void rpc_call_fail_now(urpc_call *call, urpc_status_code code, const char *msg);
void rpc_call_http_error(urpc_call *call, uint16_t http_status);
/* Runs the handler on the current thread. */
void rpc_call_run(urpc_call *call);
/* The request is complete: run checks, hand the call to its handler queue. */
void rpc_call_dispatch(urpc_call *call);
/* Headers are in and valid: starts the deadline clock if the client sent grpc-timeout. */
void rpc_call_start_deadline(urpc_call *call);

/* h2_conn.c */
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

/* health.c */
int rpc_health_register(struct urpc_server *s);

#endif
