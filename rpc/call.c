/* A call from HEADERS to its last sent byte: creation, checks at end of request, the handler
 * run, the reply (from any thread), and release by reference count on the shard thread. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/rpc_impl.h"

static void *arena_alloc_cb(void *ud, size_t size) {
  return core_arena_alloc(ud, size);
}
static void arena_free_cb(void *ud, void *p) {
  (void)ud, (void)p; /* freed with the arena */
}

urpc_call *rpc_call_new(rpc_conn *conn, int32_t stream_id) {
  rpc_shard *sh = conn->sh;
  urpc_call *call = core_pool_get(&sh->call_pool);
  if (!call) return NULL;
  /* Only the header part is cleared: the arena's first block needs no zeroing. */
  memset(call, 0, offsetof(urpc_call, arena_first));
  call->sh = sh;
  call->conn = conn;
  call->stream_id = stream_id;
  call->refs = 1;
  call->stream_open = 1;
  call->timeout_ns = -1;
  call->allocator = (ProtobufCAllocator){arena_alloc_cb, arena_free_cb, &call->arena};
  core_arena_init(&call->arena, call->arena_first, sizeof(call->arena_first));
  rpc_frame_reader_init(&call->reader, (uint32_t)sh->server->opts.max_recv_message);
  call->next = conn->calls;
  if (conn->calls) conn->calls->prev = call;
  conn->calls = call;
  sh->live_calls++;
  sh->stats.calls++;
  return call;
}

void rpc_call_unref(urpc_call *call) {
  if (--call->refs) return;
  rpc_shard *sh = call->sh;
  core_arena_reset(&call->arena);
  sh->live_calls--;
  core_pool_put(&sh->call_pool, call);
}

static void unlink_from_conn(urpc_call *call) {
  rpc_conn *conn = call->conn;
  if (!conn) return;
  if (call->prev)
    call->prev->next = call->next;
  else
    conn->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  call->prev = call->next = NULL;
  call->conn = NULL;
}

void rpc_call_stream_closed(urpc_call *call) {
  if (!call->stream_open) return;
  call->stream_open = 0;
  if (core_timer_armed(&call->deadline)) core_timer_cancel(call->sh->timers, &call->deadline);
  unlink_from_conn(call);
  if (!call->responded) { /* reset by the client, or by nghttp2 for a malformed request */
    atomic_store_explicit(&call->cancelled, true, memory_order_relaxed);
    call->sh->stats.calls_cancelled++;
  }
  rpc_call_unref(call);
}

void rpc_call_fail_now(urpc_call *call, urpc_status_code code, const char *msg) {
  if (call->answered) return;
  call->answered = 1;
  call->status = code;
  call->status_msg = msg;
  call->resp = NULL;
  rpc_conn_respond(call);
}

void rpc_call_http_error(urpc_call *call, uint16_t http_status) {
  if (call->answered) return;
  call->answered = 1;
  call->http_status = http_status;
  rpc_conn_respond(call);
}

void rpc_call_dispatch(urpc_call *call) {
  if (call->answered) return;
  if (rpc_frame_partial(&call->reader)) {
    rpc_call_fail_now(call, URPC_STATUS_INTERNAL, "request ended inside a message");
  } else if (call->n_msgs != 1) {
    rpc_call_fail_now(call, URPC_STATUS_UNIMPLEMENTED,
                      "unary method needs exactly one request message, got none");
  } else {
    call->answered = 1;
    call->with_handler = 1;
    call->refs++;
    rpc_shard_enqueue(call->sh, call);
  }
}

/* Shard thread: the handler's verdict arrived. After a deadline it is dropped: the client was
 * already told DEADLINE_EXCEEDED. */
static void finish_on_shard(urpc_call *call) {
  call->with_handler = 0;
  if (call->stream_open && call->conn && !call->responded) rpc_conn_respond(call);
  rpc_call_unref(call);
}

/* The deadline passed before a response went out: the handler sees the call cancelled, the
 * client gets DEADLINE_EXCEEDED, and a client still sending gets RST_STREAM (see
 * on_frame_send). */
static void on_deadline(core_timer *t, void *arg) {
  (void)t;
  urpc_call *call = arg;
  if (call->responded || !call->stream_open || !call->conn) return;
  atomic_store_explicit(&call->cancelled, true, memory_order_relaxed);
  call->answered = 1;
  /* A handler may own the call's status fields and arena right now: touch neither. */
  rpc_conn_respond_status(call, URPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded");
}

void rpc_call_start_deadline(urpc_call *call) {
  if (call->timeout_ns < 0) return;
  uint64_t now = core_now_ns();
  call->deadline_ns = now + (uint64_t)call->timeout_ns;
  if (call->deadline_ns < now) call->deadline_ns = UINT64_MAX; /* saturate */
  uint64_t ms = (uint64_t)call->timeout_ns / 1000000u + 1;     /* never fire early */
  core_timer_init(&call->deadline, on_deadline, call);
  core_timer_arm(call->sh->timers, &call->deadline, now / 1000000u + ms);
}

static void on_done_msg(io_msg *m) {
  finish_on_shard((urpc_call *)m);
}

static void complete(urpc_call *call) {
  if (io_shard_current() == call->sh->io) {
    finish_on_shard(call);
  } else {
    call->done_msg.fn = on_done_msg;
    io_shard_post(call->sh->io, &call->done_msg);
  }
}

void rpc_call_run(urpc_call *call) {
  if (atomic_load_explicit(&call->cancelled, memory_order_relaxed)) {
    complete(call); /* nobody is waiting for the answer: skip the handler */
    return;
  }
  const rpc_method *m = call->method;
  ProtobufCMessage *req =
      protobuf_c_message_unpack(m->desc->input, &call->allocator, call->req_len, call->req);
  if (!req) {
    urpc_call_fail(call, URPC_STATUS_INTERNAL, "cannot parse the request message");
    return;
  }
  m->handler(call, req, m->user);
}

int urpc_call_reply(urpc_call *call, const ProtobufCMessage *response) {
  size_t n = protobuf_c_message_get_packed_size(response);
  uint8_t *buf = n <= UINT32_MAX ? core_arena_alloc(&call->arena, RPC_FRAME_PREFIX + n) : NULL;
  if (!buf) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the response");
    return -ENOMEM;
  }
  rpc_frame_prefix(buf, false, (uint32_t)n);
  protobuf_c_message_pack(response, buf + RPC_FRAME_PREFIX);
  call->resp = buf;
  call->resp_len = RPC_FRAME_PREFIX + n;
  call->resp_pos = 0;
  call->status = URPC_STATUS_OK;
  call->status_msg = NULL;
  complete(call);
  return 0;
}

void urpc_call_fail(urpc_call *call, urpc_status_code code, const char *message) {
  if (code == URPC_STATUS_OK) code = URPC_STATUS_UNKNOWN; /* OK needs a response message */
  call->resp = NULL;
  call->status = code;
  call->status_msg = NULL;
  if (message) {
    size_t len = strlen(message);
    char *copy = core_arena_alloc(&call->arena, len + 1);
    if (copy) call->status_msg = memcpy(copy, message, len + 1);
  }
  complete(call);
}

void *urpc_call_alloc(urpc_call *call, size_t size) {
  return core_arena_alloc(&call->arena, size);
}
ProtobufCAllocator *urpc_call_allocator(urpc_call *call) {
  return &call->allocator;
}
const char *urpc_call_path(const urpc_call *call) {
  return call->method ? call->method->path : "";
}
int64_t urpc_call_deadline(const urpc_call *call) {
  return call->deadline_ns && call->deadline_ns <= INT64_MAX ? (int64_t)call->deadline_ns : 0;
}
bool urpc_call_cancelled(const urpc_call *call) {
  return atomic_load_explicit(&call->cancelled, memory_order_relaxed);
}
