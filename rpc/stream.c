/* Streaming calls. Responses: each urpc_call_send packs one message into its own buffer, queued
 * on the call; nghttp2 pulls from the queue through a data provider (deferred while empty) as
 * HTTP/2 flow control allows, and payloads go to the socket by reference. The queue's byte
 * count, not yet taken by nghttp2, is the call's backpressure signal (-EAGAIN, on_writable).
 * Requests: each message is handed to on_message as it completes and its HTTP/2 window is
 * given back after the callback, so the client's rate follows the handler's. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/rpc_impl.h"

void rpc_sendbuf_unref(void *arg) {
  rpc_sendbuf *b = arg;
  if (--b->refs == 0) free(b);
}

void rpc_stream_drop_queue(urpc_call *call) {
  while (call->sq_head) {
    rpc_sendbuf *b = call->sq_head;
    call->sq_head = b->next;
    atomic_fetch_sub_explicit(&call->sq_bytes, b->len - b->off, memory_order_relaxed);
    rpc_budget_uncharge(call, b->len - b->off);
    rpc_sendbuf_unref(b);
  }
  call->sq_tail = NULL;
}

/* Shard thread: a message joins the call's queue; the first one brings the HEADERS. */
static void enqueue(urpc_call *call, rpc_sendbuf *b) {
  if (!call->stream_open || call->responded) {
    atomic_fetch_sub_explicit(&call->sq_bytes, b->len, memory_order_relaxed);
    free(b);
    return;
  }
  b->refs = 1;
  b->next = NULL;
  rpc_budget_charge(call, b->len); /* until nghttp2 takes it (rpc_stream_take) */
  call->msgs_out++;
  rpc_intercept_message(call, false, b->len - RPC_FRAME_PREFIX, b->data[0] != 0);
  if (call->sq_tail)
    call->sq_tail->next = b;
  else
    call->sq_head = b;
  call->sq_tail = b;
  if (!call->headers_sent) {
    if (rpc_conn_submit_stream_headers(call) != 0) {
      rpc_stream_drop_queue(call);
      rpc_conn_reset_stream(call->conn, call->stream_id, NGHTTP2_INTERNAL_ERROR);
      return;
    }
    rpc_conn_note_window_shut(call);
  } else if (call->deferred) {
    call->deferred = 0;
    nghttp2_session_resume_data(call->conn->h2, call->stream_id);
    rpc_conn_note_window_shut(call);
  }
  rpc_conn_want_flush(call->conn);
}

/* The call is alive here without a reference of its own: the handler's reference lasts until
 * its finish reaches the shard, and the finish is posted after this message (FIFO). */
static void on_send_msg(io_msg *m) {
  rpc_sendbuf *b = (rpc_sendbuf *)m;
  enqueue(b->call, b);
}

int urpc_call_send(urpc_call *call, const ProtobufCMessage *message) {
  if (atomic_load_explicit(&call->cancelled, memory_order_relaxed)) return -ECANCELED;
  size_t len;
  rpc_sendbuf *b =
      (rpc_sendbuf *)rpc_call_pack(call, message, offsetof(rpc_sendbuf, data), false, &len);
  if (!b) return -ENOMEM;
  b->call = call;
  b->off = 0;
  b->len = (uint32_t)len;
  size_t queued = atomic_fetch_add_explicit(&call->sq_bytes, b->len, memory_order_relaxed) + b->len;
  bool full = queued > RPC_SEND_LIMIT;
  /* Published before the message: the shard may take every byte as soon as it has it, and
   * must then see that on_writable is wanted (the post's push orders this store before it). */
  if (full) atomic_store_explicit(&call->want_writable, true, memory_order_relaxed);
  if (io_shard_current() == call->sh->io) {
    enqueue(call, b);
  } else {
    b->msg.fn = on_send_msg;
    io_shard_post(call->sh->io, &b->msg);
  }
  return full ? -EAGAIN : 0;
}

/* Shard thread, from the data provider's send callback: `n` bytes of the head message go out. */
const uint8_t *rpc_stream_take(urpc_call *call, size_t n, rpc_sendbuf **buf) {
  rpc_sendbuf *b = call->sq_head;
  const uint8_t *p = b->data + b->off;
  b->off += (uint32_t)n;
  *buf = b;
  rpc_budget_uncharge(call, n);
  size_t left = atomic_fetch_sub_explicit(&call->sq_bytes, n, memory_order_relaxed) - n;
  if (b->off == b->len) {
    call->sq_head = b->next;
    if (!call->sq_head) call->sq_tail = NULL;
    b->refs++;            /* the caller's reference, released with the output segment or at once */
    rpc_sendbuf_unref(b); /* the queue's */
  } else {
    b->refs++;
  }
  if (left <= RPC_SEND_LIMIT / 2 && !call->in_writable &&
      atomic_load_explicit(&call->want_writable, memory_order_relaxed)) {
    call->in_writable = 1;
    call->refs++;
    call->writable_next = call->sh->writable;
    call->sh->writable = call;
  }
  return p;
}

ssize_t rpc_stream_read(nghttp2_session *session, int32_t stream_id, uint8_t *buf, size_t length,
                        uint32_t *data_flags, nghttp2_data_source *source, void *ud) {
  (void)stream_id, (void)buf, (void)ud;
  urpc_call *call = source->ptr;
  rpc_sendbuf *b = call->sq_head;
  if (!b) {
    if (!call->finished) {
      call->deferred = 1;
      return NGHTTP2_ERR_DEFERRED;
    }
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    return rpc_conn_submit_trailers(session, call);
  }
  size_t left = b->len - b->off;
  size_t n = left < length ? left : length;
  *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n < left) rpc_conn_note_window_cut(session, call, n);
  if (n == left && !b->next && call->finished) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    int rv = rpc_conn_submit_trailers(session, call);
    if (rv != 0) return rv;
  }
  return (ssize_t)n;
}

void rpc_stream_notify_writable(rpc_shard *sh) {
  while (sh->writable) {
    urpc_call *call = sh->writable;
    sh->writable = call->writable_next;
    call->in_writable = 0;
    atomic_store_explicit(&call->want_writable, false, memory_order_relaxed);
    const urpc_stream_handler *ops = call->method->stream;
    if (call->with_handler && call->stream_open && !call->finished && ops && ops->on_writable)
      ops->on_writable(call, call->method->user);
    rpc_call_unref(call);
  }
}

/* Shard thread: the handler finished a streaming call. */
void rpc_stream_finish(urpc_call *call) {
  call->finished = 1;
  if (!call->headers_sent) {
    /* Nothing was sent: Trailers-Only. */
    call->resp = NULL;
    rpc_conn_respond(call);
    return;
  }
  call->responded = 1;
  core_ctr_inc(call->status == URPC_STATUS_OK ? &call->sh->stats.calls_ok
                                              : &call->sh->stats.calls_failed);
  if (call->deferred) {
    call->deferred = 0;
    nghttp2_session_resume_data(call->conn->h2, call->stream_id);
    rpc_conn_note_window_shut(call);
  }
  rpc_conn_want_flush(call->conn);
}

/* ---- requests ---- */

void rpc_stream_start(urpc_call *call) {
  core_arena_init(&call->scratch, NULL, 0); /* for its messages (request.c) */
  call->with_handler = 1;
  call->handler_started = 1;
  call->refs++;
  const urpc_stream_handler *ops = call->method->stream;
  if (ops && ops->on_start) ops->on_start(call, call->method->user);
}

void rpc_stream_message(urpc_call *call, const ProtobufCMessage *req) {
  const rpc_method *m = call->method;
  if (m->stream && m->stream->on_message && !call->finished)
    m->stream->on_message(call, req, m->user);
}

void rpc_stream_half_close(urpc_call *call) {
  call->half_closed = 1;
  const urpc_stream_handler *ops = call->method->stream;
  if (ops && ops->on_half_close && !call->finished) ops->on_half_close(call, call->method->user);
}

void urpc_call_pause_recv(urpc_call *call) {
  call->recv_paused = 1;
}

void urpc_call_resume_recv(urpc_call *call) {
  call->recv_paused = 0;
  if (call->held_bytes && call->stream_open) {
    nghttp2_session_consume_stream(call->conn->h2, call->stream_id, call->held_bytes);
    rpc_conn_want_flush(call->conn); /* the WINDOW_UPDATE */
  }
  call->held_bytes = 0;
}
