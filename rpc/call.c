/* A call from HEADERS to its last sent byte: creation, checks at end of request, the handler
 * run, the reply (from any thread), and release by reference count on the shard thread. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/rpc_ext.h"
#include "rpc/rpc_impl.h"

const char *rpc_call_printf(urpc_call *call, const char *fallback, const char *fmt, ...) {
  char *buf = core_arena_alloc(&call->arena, 256);
  if (!buf) return fallback;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, 256, fmt, ap);
  va_end(ap);
  return buf;
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
  call->sent_status = -1;
  call->resp_encoding = sh->server->resp_encoding;
  call->allocator = (ProtobufCAllocator){core_arena_alloc_cb, arena_free_cb, &call->arena};
  atomic_init(&call->sq_bytes, 0);
  core_arena_init(&call->arena, call->arena_first, sizeof(call->arena_first));
  rpc_frame_reader_init(&call->reader, (uint32_t)sh->server->opts.max_recv_message);
  call->next = conn->calls;
  if (conn->calls) conn->calls->prev = call;
  conn->calls = call;
  conn->n_calls++;
  conn->n_open++;
  core_ctr_inc(&sh->stats.calls);
  core_ctr_inc(&sh->stats.live_calls);
  core_ctr_inc(&sh->stats.streams_open);
  return call;
}

void rpc_call_detach(urpc_call *call) {
  rpc_conn *conn = call->conn;
  if (!conn) return;
  if (call->prev)
    call->prev->next = call->next;
  else
    conn->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  call->prev = call->next = NULL;
  conn->n_calls--;
  conn->mem -= call->charged;
  call->conn = NULL;
}

static void tell_watches(urpc_call *call, bool released) {
  while (call->watches) {
    rpc_call_watch *w = call->watches;
    rpc_call_watch_remove(call, w);
    w->fn(w, released);
  }
}

int rpc_call_watch_add(urpc_call *call, rpc_call_watch *w) {
  if (atomic_load_explicit(&call->cancelled, memory_order_relaxed)) return -ECANCELED;
  w->prev = NULL;
  w->next = call->watches;
  if (w->next) w->next->prev = w;
  call->watches = w;
  return 0;
}

void rpc_call_watch_remove(urpc_call *call, rpc_call_watch *w) {
  if (w->prev)
    w->prev->next = w->next;
  else
    call->watches = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

io_shard *rpc_call_shard_io(const urpc_call *call) {
  return call->sh->io;
}

void rpc_call_unref(urpc_call *call) {
  if (--call->refs) return;
  rpc_shard *sh = call->sh;
  tell_watches(call, true);
  rpc_stream_drop_queue(call);
  if (call->ic_started) rpc_intercept_end(call);
  if (call->streaming_in) core_arena_reset(&call->scratch);
  core_arena_reset(&call->arena);
  bool held = call->charged != 0;
  rpc_budget_uncharge(call, call->charged);
  rpc_call_detach(call);
  core_pool_put(&sh->call_pool, call);
  core_ctr_sub(&sh->stats.live_calls, 1);
  if (held) rpc_budget_released(sh);
}

/* The client will not get an answer: the handler learns it (urpc_call_cancelled, on_cancel)
 * and what it deferred runs now rather than at its time, so the call can end. */
static void mark_cancelled(urpc_call *call) {
  atomic_store_explicit(&call->cancelled, true, memory_order_relaxed);
  rpc_call_expedite_defers(call);
  tell_watches(call, false);
}

/* on_cancel goes only to a handler that has started on the shard thread. A call still queued
 * for its handler is not run at all (rpc_call_run sees it cancelled); were on_cancel to finish
 * it meanwhile, the queue would hold a call already released. A blocking method's handler,
 * on a worker, sees urpc_call_cancelled and -ECANCELED instead. */
static void tell_cancel(urpc_call *call) {
  const urpc_stream_handler *ops = call->method ? call->method->stream : NULL;
  if (call->with_handler && call->handler_started && ops && ops->on_cancel)
    ops->on_cancel(call, call->method->user);
}

void rpc_call_stream_closed(urpc_call *call) {
  if (!call->stream_open) return;
  call->stream_open = 0;
  if (core_timer_armed(&call->deadline)) core_timer_cancel(call->sh->timers, &call->deadline);
  rpc_conn *conn = call->conn;
  core_ctr_sub(&call->sh->stats.streams_open, 1);
  if (conn && --conn->n_open == 0) rpc_keepalive_calls_ended(conn);
  if (!call->responded) { /* reset by the client, or by nghttp2 for a malformed request */
    mark_cancelled(call);
    core_ctr_inc(&call->sh->stats.calls_cancelled);
    tell_cancel(call);
  }
  rpc_stream_drop_queue(call); /* nothing more goes out on this stream */
  /* A request message still being received goes now, not when the handler lets go. */
  rpc_request_drop_partial(call);
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

void rpc_call_abort(urpc_call *call, urpc_status_code code, const char *msg) {
  if (atomic_load_explicit(&call->cancelled, memory_order_relaxed)) return;
  mark_cancelled(call);
  call->answered = 1;
  /* Answer first: a handler finishing from on_cancel must find the response decided. */
  if (!call->responded && call->stream_open) {
    if (call->headers_sent) {
      /* Messages went out already: only a reset can end the stream now. */
      call->responded = 1;
      call->sent_status = (int8_t)code;
      core_ctr_inc(&call->sh->stats.calls_failed);
      rpc_stream_drop_queue(call);
      rpc_conn_reset_stream(call->conn, call->stream_id,
                            code == URPC_STATUS_DEADLINE_EXCEEDED ? NGHTTP2_CANCEL
                                                                  : NGHTTP2_INTERNAL_ERROR);
    } else {
      /* A handler may own the call's status fields and arena right now: touch neither. */
      rpc_conn_respond_status(call, code, msg);
    }
  }
  tell_cancel(call);
}

void rpc_call_dispatch(urpc_call *call) {
  if (call->streaming_in) {
    if (!call->with_handler || call->half_closed || call->answered) return;
    if (rpc_frame_partial(&call->reader))
      rpc_call_abort(call, URPC_STATUS_INTERNAL, "request ended inside a message");
    else
      rpc_stream_half_close(call);
    return;
  }
  if (call->answered) return;
  if (rpc_frame_partial(&call->reader)) {
    rpc_call_fail_now(call, URPC_STATUS_INTERNAL, "request ended inside a message");
  } else if (call->n_msgs != 1) {
    rpc_call_fail_now(call, URPC_STATUS_UNIMPLEMENTED,
                      "method needs exactly one request message, got none");
  } else if (rpc_budget_over(call->conn)) {
    RPC_LIMIT_HIT(call->sh, URPC_LIMIT_MEMORY);
    rpc_call_fail_now(call, URPC_STATUS_RESOURCE_EXHAUSTED, RPC_BUSY_MEMORY);
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
  if (call->arena.heap != call->arena_charged) /* the response, if unary */
    rpc_budget_sync(call, &call->arena, &call->arena_charged);
  if (call->stream_open && !call->responded) {
    if (call->streaming_out)
      rpc_stream_finish(call);
    else
      rpc_conn_respond(call);
  }
  rpc_call_unref(call);
}

/* The deadline passed before a response went out: the handler sees the call cancelled, the
 * client gets DEADLINE_EXCEEDED, and a client still sending gets RST_STREAM (see
 * on_frame_send). */
static void on_deadline(core_timer *t, void *arg) {
  (void)t;
  urpc_call *call = arg;
  if (call->responded || !call->stream_open || !call->conn) return;
  core_ctr_inc(&call->sh->stats.deadlines_expired);
  rpc_call_abort(call, URPC_STATUS_DEADLINE_EXCEEDED, "Deadline Exceeded");
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
  /* A client may compress only what it declared (grpc-encoding); decompressed on arrival. */
  if (!req) {
    urpc_call_fail(call, URPC_STATUS_INTERNAL, "cannot parse the request message");
    return;
  }
  m->handler(call, req, m->user);
}

/* The encoding the next response message gets: what the handler asked for, if the client
 * accepts it, and (after the headers) only the one the headers announced. */
static rpc_encoding send_encoding(const urpc_call *call) {
  rpc_encoding e = (rpc_encoding)call->resp_encoding;
  if (e == RPC_ENC_IDENTITY || !(call->accept_mask & (1u << e))) return RPC_ENC_IDENTITY;
  if (call->headers_sent && call->resp_encoded != e) return RPC_ENC_IDENTITY;
  return e;
}

/* The call's arena for a unary response (it lives as long as the call), malloc for a streamed
 * message (freed once sent). */
static void *pack_alloc(urpc_call *call, bool in_arena, size_t size) {
  return in_arena ? core_arena_alloc(&call->arena, size) : malloc(size);
}

uint8_t *rpc_call_pack(urpc_call *call, const ProtobufCMessage *msg, size_t extra, bool in_arena,
                       size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(msg);
  if (n > UINT32_MAX - RPC_FRAME_PREFIX - extra) return NULL;
  rpc_encoding e = send_encoding(call);
  if (e != RPC_ENC_IDENTITY) {
    /* Pack and compress in a scratch arena, then copy behind the prefix. */
    core_arena tmp;
    core_arena_init(&tmp, NULL, 0);
    uint8_t *plain = core_arena_alloc(&tmp, n), *z;
    size_t zlen;
    uint8_t *buf = NULL;
    if (plain) protobuf_c_message_pack(msg, plain);
    if (plain && rpc_compress(e, plain, n, core_arena_alloc_cb, &tmp, &z, &zlen) == 0 &&
        zlen <= UINT32_MAX && (buf = pack_alloc(call, in_arena, extra + RPC_FRAME_PREFIX + zlen))) {
      rpc_frame_prefix(buf + extra, true, (uint32_t)zlen);
      memcpy(buf + extra + RPC_FRAME_PREFIX, z, zlen);
      *len = RPC_FRAME_PREFIX + zlen;
    }
    core_arena_dispose(&tmp);
    if (buf && !call->headers_sent) call->resp_encoded = (uint8_t)e;
    return buf;
  }
  uint8_t *buf = pack_alloc(call, in_arena, extra + RPC_FRAME_PREFIX + n);
  if (!buf) return NULL;
  rpc_frame_prefix(buf + extra, false, (uint32_t)n);
  protobuf_c_message_pack(msg, buf + extra + RPC_FRAME_PREFIX);
  *len = RPC_FRAME_PREFIX + n;
  return buf;
}

int urpc_call_set_compression(urpc_call *call, const char *encoding) {
  rpc_encoding e = encoding ? rpc_encoding_parse(encoding, strlen(encoding)) : RPC_ENC_UNKNOWN;
  if (e == RPC_ENC_UNKNOWN) return -EINVAL;
  call->resp_encoding = (uint8_t)e;
  return 0;
}

/* A call is finished once (reply, fail or finish). A second finish — say from on_cancel and
 * from the thread that was working on the call — is the application's bug: said once, and
 * ignored (while the call is still held; after its release the memory may be another call's). */
static bool first_finish(urpc_call *call) {
  /* A load and a store, not an exchange: no read-modify-write per call for the benefit of a
   * misuse, which two threads racing to finish could still slip past. */
  if (!atomic_load_explicit(&call->finish_called, memory_order_relaxed)) {
    atomic_store_explicit(&call->finish_called, true, memory_order_relaxed);
    return true;
  }
  static _Atomic bool said;
  if (!atomic_exchange_explicit(&said, true, memory_order_relaxed))
    LOG_ERROR("%s: a call was finished twice (reply/fail/finish); the second is ignored",
              urpc_call_path(call));
  return false;
}

static void finish_with_status(urpc_call *call, urpc_status_code code, const char *message) {
  /* Codes beyond grpc's are the application's mistake: the client gets UNKNOWN. */
  if ((unsigned)code > URPC_STATUS_UNAUTHENTICATED) code = URPC_STATUS_UNKNOWN;
  /* A unary OK needs a response message; a stream may end OK after any number of them. */
  if (code == URPC_STATUS_OK && !call->streaming_out) code = URPC_STATUS_UNKNOWN;
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

int urpc_call_reply(urpc_call *call, const ProtobufCMessage *response) {
  if (call->streaming_out) { /* streaming: one message, then OK */
    int rc = urpc_call_send(call, response);
    urpc_call_finish(call, URPC_STATUS_OK, NULL);
    return rc == -EAGAIN ? 0 : rc;
  }
  if (!first_finish(call)) return -EALREADY;
  size_t len;
  uint8_t *buf = rpc_call_pack(call, response, 0, true, &len);
  if (!buf) {
    finish_with_status(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the response");
    return -ENOMEM;
  }
  call->resp = buf;
  call->resp_len = len;
  call->resp_pos = 0;
  call->status = URPC_STATUS_OK;
  call->status_msg = NULL;
  complete(call);
  return 0;
}

void urpc_call_fail(urpc_call *call, urpc_status_code code, const char *message) {
  if (first_finish(call)) finish_with_status(call, code, message);
}

void urpc_call_finish(urpc_call *call, urpc_status_code code, const char *message) {
  urpc_call_fail(call, code, message);
}

/* urpc_call_defer's timer: holds a call reference until it has run. Listed on the call so that
 * a cancellation can bring it forward: a handler waiting for a timer finishes as soon as its
 * client is gone, instead of pinning the call until the timer's time. */
struct rpc_deferred {
  core_timer timer;
  urpc_call *call;
  rpc_deferred *next;
  void (*fn)(urpc_call *call, void *arg);
  void *arg;
};

static void on_deferred(core_timer *t, void *arg) {
  (void)t;
  rpc_deferred *d = arg;
  urpc_call *call = d->call;
  rpc_deferred **pp = &call->defers;
  while (*pp != d) pp = &(*pp)->next;
  *pp = d->next;
  d->fn(call, d->arg);
  free(d);
  rpc_call_unref(call);
}

void rpc_call_expedite_defers(urpc_call *call) {
  for (rpc_deferred *d = call->defers; d; d = d->next)
    core_timer_arm(call->sh->timers, &d->timer, call->sh->timers->now_ms);
}

int urpc_call_defer(urpc_call *call, uint64_t delay_ns, void (*fn)(urpc_call *call, void *arg),
                    void *arg) {
  rpc_deferred *d = malloc(sizeof(*d));
  if (!d) return -ENOMEM;
  d->call = call;
  d->fn = fn;
  d->arg = arg;
  d->next = call->defers;
  call->defers = d;
  call->refs++;
  core_timer_init(&d->timer, on_deferred, d);
  uint64_t now_ms = core_now_ns() / 1000000u; /* the wheel's clock may be a loop turn behind */
  uint64_t delay_ms = delay_ns / 1000000u + (delay_ns % 1000000u != 0);
  /* A cancelled call's handler is not kept waiting (see rpc_call_expedite_defers). */
  if (urpc_call_cancelled(call)) delay_ms = 0;
  core_timer_arm(call->sh->timers, &d->timer, now_ms + delay_ms);
  return 0;
}

void *urpc_call_alloc(urpc_call *call, size_t size) {
  return core_arena_alloc(&call->arena, size);
}
ProtobufCAllocator *urpc_call_allocator(urpc_call *call) {
  return &call->allocator;
}
const char *urpc_call_path(const urpc_call *call) {
  return call->method ? call->method->path : call->unknown_path ? call->unknown_path : "";
}
int64_t urpc_call_deadline(const urpc_call *call) {
  return call->deadline_ns && call->deadline_ns <= INT64_MAX ? (int64_t)call->deadline_ns : 0;
}
bool urpc_call_cancelled(const urpc_call *call) {
  return atomic_load_explicit(&call->cancelled, memory_order_relaxed);
}

bool urpc_call_request_compressed(const urpc_call *call) {
  return call->req_compressed;
}
void urpc_call_set_user(urpc_call *call, void *user) {
  call->user = user;
}
void *urpc_call_user(const urpc_call *call) {
  return call->user;
}
int urpc_call_on_end(urpc_call *call, void (*fn)(void *arg), void *arg) {
  return core_arena_defer(&call->arena, fn, arg);
}

const char *rpc_call_strndup(urpc_call *call, const void *p, size_t n) {
  char *d = core_arena_alloc(&call->arena, n + 1);
  if (!d) return NULL;
  memcpy(d, p, n);
  d[n] = '\0';
  return d;
}

static const char *call_strdup(urpc_call *call, const char *s) {
  return s ? rpc_call_strndup(call, s, strlen(s)) : NULL;
}

/* Shard thread, once the headers are in: the connection's identity, copied so that the call
 * keeps it after its connection is gone. */
void rpc_call_take_peer(urpc_call *call) {
  const tls_peer *p = call->conn && call->conn->io ? io_conn_tls_peer(call->conn->io) : NULL;
  if (!p) return;
  call->peer.tls = true;
  call->peer.verified = p->verified;
  call->peer.spiffe_id = call_strdup(call, p->spiffe_id);
  call->peer.subject = call_strdup(call, p->subject);
  call->peer.dns_name = call_strdup(call, p->dns);
  call->peer.server_name = call_strdup(call, p->sni);
}

void urpc_call_peer(const urpc_call *call, urpc_peer *out) {
  *out = call->peer;
}

int urpc_call_peer_address(const urpc_call *call, struct sockaddr_storage *out, socklen_t *len) {
  if (!call->conn || !call->conn->io) return -ENOTCONN;
  return io_conn_peer_addr(call->conn->io, out, len);
}

const char *urpc_call_authority(const urpc_call *call) {
  return call->authority;
}
