/* HTTP/2 for one connection: an nghttp2 server session fed with received bytes
 * (nghttp2_session_mem_recv) and drained into the connection's output queue at flush time.
 * Sans-IO: the only contact with io/ is the io_conn handle used to ask for a flush.
 *
 * gRPC request rules (path, method, content-type, grpc-timeout, grpc-encoding, message
 * framing) are checked as the headers and DATA arrive; the response is HEADERS, one DATA frame
 * per message (payload by reference when large), and trailers, or a Trailers-Only HEADERS. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "rpc/percent.h"
#include "rpc/rpc_impl.h"
#include "rpc/timeout.h"

#define COPY_PAYLOAD_MAX 1024 /* smaller DATA payloads are copied: cheaper than a reference */

#define NV(n, v, flags)                                                                            \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, (flags) }
#define NOCOPY (NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE)

static const char *const status_text[] = {"0", "1",  "2",  "3",  "4",  "5",  "6",  "7", "8",
                                          "9", "10", "11", "12", "13", "14", "15", "16"};

static bool name_is(const uint8_t *name, size_t len, const char *lit) {
  return strlen(lit) == len && memcmp(name, lit, len) == 0;
}

/* "application/grpc" exactly, or followed by '+' (e.g. +proto) or ';' (parameters). */
static bool grpc_content_type(const uint8_t *v, size_t n) {
  static const char ct[] = "application/grpc";
  size_t l = sizeof(ct) - 1;
  if (n < l || memcmp(v, ct, l) != 0) return false;
  return n == l || v[l] == '+' || v[l] == ';';
}

/* Remembers the first problem found in the headers; answered once they are complete. */
static void header_error(urpc_call *call, urpc_status_code code, const char *msg) {
  if (call->status) return;
  call->status = code;
  call->status_msg = msg;
}

void rpc_conn_reset_stream(rpc_conn *conn, int32_t stream_id, uint32_t code) {
  if (nghttp2_submit_rst_stream(conn->h2, NGHTTP2_FLAG_NONE, stream_id, code) != 0) {
    LOG_DEBUG("stream %d: cannot reset it: closing the connection", stream_id);
    conn->closing = true; /* out of memory: the stream cannot end any other way */
  }
  rpc_conn_want_flush(conn);
}

/* A stream over the connection's call limit is refused (RFC 9113 5.1.2: the client may retry
 * it); the calls in flight go on. */
static void refuse_stream(rpc_conn *conn, int32_t stream_id) {
  rpc_conn_reset_stream(conn, stream_id, NGHTTP2_REFUSED_STREAM);
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  rpc_conn *conn = ud;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  conn->got_request = true;
  if (conn->n_open >= conn->sh->server->opts.max_concurrent_streams ||
      conn->n_calls >= rpc_budget_conn_max_calls(conn)) {
    RPC_LIMIT_HIT(conn->sh, URPC_LIMIT_STREAMS);
    refuse_stream(conn, frame->hd.stream_id);
    return 0;
  }
  urpc_call *call = rpc_call_new(conn, frame->hd.stream_id);
  if (!call) {
    refuse_stream(conn, frame->hd.stream_id); /* out of memory */
    return 0;
  }
  /* The loop turn's clock: the request came in with this turn's events (one clock read less
   * per call; a sans-IO shard, without a loop, reads the clock). */
  if (conn->sh->server->n_interceptors)
    call->start_ns = conn->sh->io ? io_shard_turn_ns(conn->sh->io) : core_now_ns();
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
  if (conn->sh->call_pool.live > conn->sh->max_calls) {
    RPC_LIMIT_HIT(conn->sh, URPC_LIMIT_CALLS);
    header_error(call, URPC_STATUS_RESOURCE_EXHAUSTED, "server busy: too many calls");
  }
  return 0;
}

static void on_path(urpc_call *call, const uint8_t *v, size_t n) {
  call->method = rpc_registry_find(&call->sh->server->registry, (const char *)v, n);
  if (call->method) {
    call->streaming_in = (call->method->flags & URPC_METHOD_CLIENT_STREAMING) != 0;
    call->streaming_out = (call->method->flags & URPC_METHOD_SERVER_STREAMING) != 0;
    return;
  }
  /* Kept for urpc_call_path (interceptors, logs): the header cap bounds it. */
  char *path = core_arena_alloc(&call->arena, n + 1);
  if (path) {
    memcpy(path, v, n);
    path[n] = 0;
    call->unknown_path = path;
  }
  header_error(call, URPC_STATUS_UNIMPLEMENTED,
               rpc_call_printf(call, "unknown method", "unknown method %.*s",
                               (int)(n > 200 ? 200 : n), (const char *)v));
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  (void)flags, (void)ud;
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  urpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!call) return 0;
  /* nghttp2 1.52 has no cap on a received header list: enforce ours (RFC 9113 sizing). Past
   * it, reset the stream with ENHANCE_YOUR_CALM (grpc clients report RESOURCE_EXHAUSTED) and
   * make nghttp2 stop: it then only decodes the rest of the block for the HPACK state, without
   * validating each field or calling us (an HPACK bomb — one big table entry referenced
   * thousands of times — would otherwise cost milliseconds per block). A response cannot go
   * out instead: the reset nghttp2 queues for the failure closes the stream at once. */
  call->header_bytes += (uint32_t)(namelen + valuelen + 32);
  if (call->header_bytes > RPC_HEADER_LIST_MAX) {
    call->answered = 1;
    RPC_LIMIT_HIT(call->sh, URPC_LIMIT_HEADER_LIST);
    rpc_conn_reset_stream(call->conn, call->stream_id, NGHTTP2_ENHANCE_YOUR_CALM);
    rpc_budget_big_headers(call->conn);
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  if (name_is(name, namelen, ":path")) {
    on_path(call, value, valuelen);
  } else if (name_is(name, namelen, ":method")) {
    call->bad_method = !name_is(value, valuelen, "POST");
  } else if (name_is(name, namelen, "content-type")) {
    call->has_content_type = 1;
    call->bad_content_type = !grpc_content_type(value, valuelen);
  } else if (name_is(name, namelen, "grpc-timeout")) {
    if (rpc_timeout_parse((const char *)value, valuelen, &call->timeout_ns) < 0) {
      call->timeout_ns = -1;
      header_error(call, URPC_STATUS_INTERNAL, "malformed grpc-timeout");
    }
  } else if (name_is(name, namelen, "grpc-encoding")) {
    rpc_encoding e = rpc_encoding_parse((const char *)value, valuelen);
    call->bad_encoding = e == RPC_ENC_UNKNOWN;
    if (call->bad_encoding)
      header_error(call, URPC_STATUS_UNIMPLEMENTED,
                   rpc_call_printf(call, "unsupported grpc-encoding",
                                   "grpc-encoding %.*s is not supported (" RPC_ACCEPT_ENCODING ")",
                                   (int)(valuelen > 64 ? 64 : valuelen), (const char *)value));
    else
      call->req_encoding = (uint8_t)e;
  } else if (name_is(name, namelen, ":authority")) {
    if (call->sh->server->ic_authority) call->authority = rpc_call_strndup(call, value, valuelen);
  } else if (name_is(name, namelen, "grpc-accept-encoding")) {
    call->accept_mask = (uint8_t)rpc_accept_encoding_parse((const char *)value, valuelen);
  } else if (!rpc_md_is_reserved(name, namelen)) {
    if (rpc_md_capture(call, name, namelen, value, valuelen) < 0)
      header_error(call, URPC_STATUS_INTERNAL, "malformed binary metadata");
  }
  return 0;
}

/* Headers complete: answer now anything that needs no handler. */
static void on_request_headers(urpc_call *call) {
  if (call->bad_method) {
    rpc_call_http_error(call, 405); /* not gRPC: no interceptor sees it */
    return;
  }
  if (call->bad_content_type || !call->has_content_type) {
    rpc_call_http_error(call, 415);
    return;
  }
  rpc_call_take_peer(call);
  rpc_call_start_deadline(call);
  if (call->sh->server->n_interceptors) {
    rpc_intercept_start(call);
    if (call->answered) return; /* an interceptor ended it */
  }
  if (call->status) {
    urpc_status_code code = call->status;
    call->status = URPC_STATUS_OK;
    rpc_call_fail_now(call, code, call->status_msg);
  } else if (!call->method) {
    rpc_call_fail_now(call, URPC_STATUS_UNIMPLEMENTED, "missing :path");
  } else if (call->streaming_in && rpc_budget_over(call->conn)) {
    RPC_LIMIT_HIT(call->sh, URPC_LIMIT_MEMORY);
    rpc_call_fail_now(call, URPC_STATUS_RESOURCE_EXHAUSTED, RPC_BUSY_MEMORY);
  } else if (call->streaming_in) {
    rpc_stream_start(call);
  }
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  rpc_conn *conn = ud;
  if (frame->hd.type == NGHTTP2_SETTINGS) conn->got_preface = true;
  if (frame->hd.type == NGHTTP2_GOAWAY) rpc_conn_close_reason(conn, IO_CLOSED_GOAWAY);
  if (frame->hd.type == NGHTTP2_PING && !conn->closing) {
    if (!(frame->hd.flags & NGHTTP2_FLAG_ACK))
      rpc_keepalive_ping_abuse(conn);
    else if (!rpc_conn_ping_acked(conn, frame->ping.opaque_data))
      rpc_keepalive_ping_acked(conn);
  }
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  urpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
  if (!call) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
    on_request_headers(call);
  if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) rpc_call_dispatch(call);
  return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                         const uint8_t *data, size_t len, void *ud) {
  (void)flags, (void)ud;
  urpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
  if (call) {
    call->bytes_in += len;
    rpc_request_feed(call, data, len);
  }
  /* The window comes back only now: for a stream, after the handler has seen the messages in
   * this chunk (or when it resumes, if it paused); for a unary call, once its bytes are in the
   * call's buffer. The connection's window always comes back: one paused stream must not
   * stall the others. */
  if (call && call->recv_paused && call->stream_open) {
    nghttp2_session_consume_connection(session, len);
    call->held_bytes += len;
  } else {
    nghttp2_session_consume(session, stream_id, len);
  }
  return 0;
}

static int on_stream_close(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                           void *ud) {
  (void)error_code, (void)ud;
  urpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);
  if (call) rpc_call_stream_closed(call);
  return 0;
}

/* A RST_STREAM went out. NO_ERROR ends a stream we answered while the client was still
 * sending, CANCEL a deadline; every other code answers something the client did. */
static void reset_sent(rpc_conn *conn, int32_t stream_id, uint32_t code) {
  rpc_h2_scan_reset_sent(&conn->scan, stream_id, conn->sh->timers->now_ms);
  if (code != NGHTTP2_NO_ERROR && code != NGHTTP2_CANCEL) rpc_budget_server_reset(conn);
}

/* Counted by HTTP/2 error code; codes past the known ones as INTERNAL_ERROR. */
static void count_code(core_ctr *by_code, uint32_t code) {
  core_ctr_inc(&by_code[code < URPC_H2_ERROR_CODES ? code : NGHTTP2_INTERNAL_ERROR]);
}

static void goaway_sent(rpc_conn *conn, const nghttp2_goaway *goaway) {
  count_code(conn->sh->stats.goaway_sent, goaway->error_code);
  if (goaway->error_code == NGHTTP2_ENHANCE_YOUR_CALM)
    rpc_conn_close_reason(conn, IO_CLOSED_LIMIT);
  else if (goaway->error_code != NGHTTP2_NO_ERROR)
    rpc_conn_close_reason(conn, IO_CLOSED_ERROR);
  rpc_conn_goaway_sent(conn, goaway);
}

static int on_frame_send(nghttp2_session *session, const nghttp2_frame *frame, void *ud) {
  rpc_conn *conn = ud;
  uint8_t type = frame->hd.type;
  if (type == NGHTTP2_HEADERS || type == NGHTTP2_DATA) {
    rpc_keepalive_sent_data(conn);
  } else if (type == NGHTTP2_GOAWAY) {
    goaway_sent(conn, &frame->goaway);
  } else if (type == NGHTTP2_RST_STREAM) {
    count_code(conn->sh->stats.rst_stream_sent, frame->rst_stream.error_code);
    reset_sent(conn, frame->hd.stream_id, frame->rst_stream.error_code);
  }
  /* Our side ended the stream while the client still sends: tell it to stop (RFC 9113 8.1). */
  if (type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
      nghttp2_session_get_stream_remote_close(session, frame->hd.stream_id) == 0)
    rpc_conn_reset_stream(conn, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  return 0;
}

/* nghttp2 1.52 ends the whole connection when a client opens more streams than it was told
 * (MAX_CONCURRENT_STREAMS); RFC 9113 5.1.2 lets the server refuse just the extra stream, and
 * grpc clients then retry it. So nghttp2 is given a larger limit (NGHTTP2_MCS_FACTOR times)
 * than the client: the value goes out patched in our first SETTINGS frame, and
 * on_begin_headers refuses (REFUSED_STREAM) the streams over the advertised one. */
#define NGHTTP2_MCS_FACTOR 4

static uint32_t nghttp2_mcs(uint32_t advertised) {
  return advertised > UINT32_MAX / NGHTTP2_MCS_FACTOR ? UINT32_MAX
                                                      : advertised * NGHTTP2_MCS_FACTOR;
}

static int send_patched_settings(rpc_conn *conn, const uint8_t *data, size_t len) {
  uint8_t f[9 + 6 * 8];
  memcpy(f, data, len);
  uint32_t mcs = conn->sh->server->opts.max_concurrent_streams;
  for (size_t i = 9; i + 6 <= len; i += 6) {
    if (f[i] != 0 || f[i + 1] != NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS) continue;
    f[i + 2] = (uint8_t)(mcs >> 24), f[i + 3] = (uint8_t)(mcs >> 16);
    f[i + 4] = (uint8_t)(mcs >> 8), f[i + 5] = (uint8_t)mcs;
  }
  conn->settings_patched = true;
  return core_outq_copy(conn->out, f, len);
}

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
                       void *ud) {
  (void)session, (void)flags;
  rpc_conn *conn = ud;
  int rc;
  if (!conn->settings_patched && len >= 9 && len <= 9 + 6 * 8 && data[3] == NGHTTP2_SETTINGS &&
      !(data[4] & NGHTTP2_FLAG_ACK))
    rc = send_patched_settings(conn, data, len);
  else
    rc = core_outq_copy(conn->out, data, len);
  return rc < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

static void release_call_ref(void *arg) {
  rpc_call_unref(arg);
}

static int on_send_data(nghttp2_session *session, nghttp2_frame *frame, const uint8_t *framehd,
                        size_t length, nghttp2_data_source *source, void *ud) {
  (void)session, (void)frame;
  rpc_conn *conn = ud;
  urpc_call *call = source->ptr;
  call->bytes_out += length;
  if (core_outq_copy(conn->out, framehd, 9) < 0) return NGHTTP2_ERR_CALLBACK_FAILURE;
  if (call->streaming_out) {
    rpc_sendbuf *b;
    const uint8_t *p = rpc_stream_take(call, length, &b);
    if (length <= COPY_PAYLOAD_MAX) {
      int rc = core_outq_copy(conn->out, p, length);
      rpc_sendbuf_unref(b);
      return rc < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
    }
    return core_outq_ref(conn->out, p, length, rpc_sendbuf_unref, b) < 0
               ? NGHTTP2_ERR_CALLBACK_FAILURE
               : 0;
  }
  const uint8_t *p = call->resp + call->resp_pos;
  call->resp_pos += length;
  if (length <= COPY_PAYLOAD_MAX)
    return core_outq_copy(conn->out, p, length) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
  call->refs++; /* the arena holding the payload lives until the bytes are on the socket */
  return core_outq_ref(conn->out, p, length, release_call_ref, call) < 0
             ? NGHTTP2_ERR_CALLBACK_FAILURE
             : 0;
}

int rpc_h2_callbacks_new(nghttp2_session_callbacks **out) {
  nghttp2_session_callbacks *cb;
  if (nghttp2_session_callbacks_new(&cb) != 0) return -ENOMEM;
  nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
  nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
  nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
  nghttp2_session_callbacks_set_send_callback(cb, on_send);
  nghttp2_session_callbacks_set_send_data_callback(cb, on_send_data);
  *out = cb;
  return 0;
}

int rpc_h2_option_new(const urpc_server_options *o, nghttp2_option **out) {
  nghttp2_option *opt;
  if (nghttp2_option_new(&opt) != 0) return -ENOMEM;
  /* Rapid reset (CVE-2023-44487): the real bound is on calls a connection holds (budget.c), so
   * the rate of RST_STREAMs a client sends is limited only against floods. nghttp2's default
   * (1,000, then 33/s) cut off grpc-go's interop stress client, which cancels calls as a matter
   * of course; 0 = no limit. The CONTINUATION-flood limit is nghttp2's default. */
  uint64_t rate = o->stream_reset_rate ? o->stream_reset_rate : UINT64_MAX / 16;
  nghttp2_option_set_stream_reset_rate_limit(opt, rate * RPC_RESET_BURST_SECONDS, rate);
  /* Windows are given back as handlers consume (nghttp2_session_consume in on_data_chunk). */
  nghttp2_option_set_no_auto_window_update(opt, 1);
  *out = opt;
  return 0;
}

/* Sans-IO: a connection made without an io_conn (unit tests) is flushed by its driver. */
void rpc_conn_want_flush(rpc_conn *conn) {
  if (conn->io) io_conn_flush(conn->io);
}

/* ---- response ---- */

#define NV_STACK 8

/* Room for `need` header fields: the caller's stack array, or the call's arena for long
 * metadata lists (NULL if that fails: the caller then sends without its metadata). */
static nghttp2_nv *nv_room(urpc_call *call, nghttp2_nv *stack, size_t need, bool use_arena) {
  if (need <= NV_STACK) return stack;
  return use_arena ? core_arena_alloc(&call->arena, need * sizeof(nghttp2_nv)) : NULL;
}

/* grpc-message value: percent-encoded, in the arena when encoding changes it. */
static size_t add_message(urpc_call *call, nghttp2_nv *nv, size_t n, const char *msg) {
  if (!msg || !*msg) return n;
  size_t len = strlen(msg);
  size_t enc = rpc_percent_encoded_len(msg, len);
  char *out = enc == len ? (char *)msg : core_arena_alloc(&call->arena, enc);
  if (!out) return n;
  if (out != msg) rpc_percent_encode(msg, len, out);
  nv[n] = (nghttp2_nv)NV("grpc-message", "", NOCOPY);
  nv[n].value = (uint8_t *)out;
  nv[n].valuelen = enc;
  return n + 1;
}

static size_t add_status(nghttp2_nv *nv, size_t n, urpc_status_code code) {
  nv[n] = (nghttp2_nv)NV("grpc-status", "0", NOCOPY);
  nv[n].value = (uint8_t *)status_text[code];
  nv[n].valuelen = strlen(status_text[code]);
  return n + 1;
}

int rpc_conn_submit_trailers(nghttp2_session *session, urpc_call *call) {
  nghttp2_nv stack[NV_STACK], *nv = nv_room(call, stack, 2 + call->trail_md.n, true);
  size_t cap = nv == stack ? NV_STACK : 2 + call->trail_md.n;
  if (!nv) nv = stack;
  size_t n = add_status(nv, 0, call->status);
  call->sent_status = (int8_t)call->status;
  call->sent_msg = call->status_msg;
  n = add_message(call, nv, n, call->status_msg);
  n = rpc_md_to_nv(&call->trail_md, nv, n, cap);
  /* Failing (out of memory), the data provider makes nghttp2 reset the stream. */
  return nghttp2_submit_trailer(session, call->stream_id, nv, n) == 0
             ? 0
             : NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
}

void rpc_conn_note_window_cut(nghttp2_session *session, urpc_call *call, size_t length) {
  rpc_shard_counters *st = &call->sh->stats;
  if ((int64_t)length >= nghttp2_session_get_stream_remote_window_size(session, call->stream_id))
    core_ctr_inc(&st->stream_window_stalls);
  if ((int64_t)length >= nghttp2_session_get_remote_window_size(session))
    core_ctr_inc(&st->conn_window_stalls);
}

void rpc_conn_note_window_shut(urpc_call *call) {
  nghttp2_session *session = call->conn->h2;
  rpc_shard_counters *st = &call->sh->stats;
  if (nghttp2_session_get_stream_remote_window_size(session, call->stream_id) <= 0)
    core_ctr_inc(&st->stream_window_stalls);
  if (nghttp2_session_get_remote_window_size(session) <= 0) core_ctr_inc(&st->conn_window_stalls);
}

static ssize_t read_response(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                             size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                             void *ud) {
  (void)stream_id, (void)buf, (void)ud;
  urpc_call *call = source->ptr;
  size_t left = call->resp_len - call->resp_pos;
  size_t n = left < length ? left : length;
  *data_flags |= NGHTTP2_DATA_FLAG_NO_COPY;
  if (n < left) rpc_conn_note_window_cut(session, call, n);
  if (n == left) {
    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    int rv = rpc_conn_submit_trailers(session, call);
    if (rv != 0) return rv;
  }
  return (ssize_t)n;
}

/* Response HEADERS with the handler's initial metadata and a data provider. */
static int submit_headers(urpc_call *call, nghttp2_data_source_read_callback read) {
  nghttp2_nv stack[NV_STACK], *nv = nv_room(call, stack, 3 + call->init_md.n, true);
  size_t cap = nv == stack ? NV_STACK : 3 + call->init_md.n;
  if (!nv) nv = stack;
  nv[0] = (nghttp2_nv)NV(":status", "200", NOCOPY);
  nv[1] = (nghttp2_nv)NV("content-type", "application/grpc", NOCOPY);
  size_t n = 2;
  if (call->resp_encoded != RPC_ENC_IDENTITY) {
    const char *name = rpc_encoding_name((rpc_encoding)call->resp_encoded);
    nv[n++] = (nghttp2_nv){(uint8_t *)"grpc-encoding", (uint8_t *)name, 13, strlen(name), NOCOPY};
  }
  n = rpc_md_to_nv(&call->init_md, nv, n, cap);
  nghttp2_data_provider prd = {.source.ptr = call, .read_callback = read};
  return nghttp2_submit_response(call->conn->h2, call->stream_id, nv, n, &prd);
}

int rpc_conn_submit_stream_headers(urpc_call *call) {
  int rv = submit_headers(call, rpc_stream_read);
  if (rv == 0) call->headers_sent = 1;
  return rv;
}

/* The response could not be submitted (out of memory): the stream must still end. */
static void submit_failed(urpc_call *call, int rv) {
  LOG_DEBUG("stream %d: cannot respond: %s", call->stream_id, nghttp2_strerror(rv));
  rpc_conn_reset_stream(call->conn, call->stream_id, NGHTTP2_INTERNAL_ERROR);
}

/* Trailers-Only. `with_md`: the handler is done with the call, so its metadata (and the
 * arena) may be used; not so when a deadline answers for a handler still running. */
static int respond_trailers_only(urpc_call *call, urpc_status_code code, const char *msg,
                                 bool with_md) {
  size_t md = with_md ? call->init_md.n + call->trail_md.n : 0;
  nghttp2_nv stack[NV_STACK], *nv = nv_room(call, stack, 5 + md, with_md);
  size_t cap = nv == stack ? NV_STACK : 5 + md;
  if (!nv) nv = stack;
  nv[0] = (nghttp2_nv)NV(":status", "200", NOCOPY);
  nv[1] = (nghttp2_nv)NV("content-type", "application/grpc", NOCOPY);
  size_t n = add_status(nv, 2, code);
  call->sent_status = (int8_t)code;
  call->sent_msg = msg;
  n = add_message(call, nv, n, msg);
  if (call->bad_encoding) /* tell the client what it may use instead */
    nv[n++] = (nghttp2_nv)NV("grpc-accept-encoding", RPC_ACCEPT_ENCODING, NOCOPY);
  if (with_md) {
    n = rpc_md_to_nv(&call->init_md, nv, n, cap);
    n = rpc_md_to_nv(&call->trail_md, nv, n, cap);
  }
  return nghttp2_submit_response(call->conn->h2, call->stream_id, nv, n, NULL);
}

static void respond_status(urpc_call *call, urpc_status_code code, const char *msg, bool with_md) {
  call->responded = 1;
  int rv = respond_trailers_only(call, code, msg, with_md);
  core_ctr_inc(code == URPC_STATUS_OK ? &call->sh->stats.calls_ok : &call->sh->stats.calls_failed);
  if (rv != 0) submit_failed(call, rv);
  rpc_conn_want_flush(call->conn);
}

void rpc_conn_respond_status(urpc_call *call, urpc_status_code code, const char *msg) {
  respond_status(call, code, msg, false);
}

void rpc_conn_respond(urpc_call *call) {
  int rv;
  if (call->http_status) {
    call->responded = 1;
    rv = rpc_http_error_submit(call->conn->h2, call->stream_id, call->http_status);
    core_ctr_inc(&call->sh->stats.calls_failed);
  } else if (!call->resp) {
    respond_status(call, call->status, call->status_msg, true);
    return;
  } else {
    call->responded = 1;
    call->msgs_out = 1;
    rpc_intercept_message(call, false, call->resp_len - RPC_FRAME_PREFIX, call->resp[0] != 0);
    rv = submit_headers(call, read_response);
    if (rv == 0) rpc_conn_note_window_shut(call);
    core_ctr_inc(&call->sh->stats.calls_ok);
  }
  if (rv != 0) submit_failed(call, rv);
  rpc_conn_want_flush(call->conn);
}

/* ---- connection glue (io_handler) ---- */

/* The shard's sums of connection windows follow this connection's: a few loads and stores per
 * read or write. Send: what nghttp2 may still send on the connection; receive: what the
 * client may still send us. */
static void sync_windows(rpc_conn *conn) {
  int32_t send = nghttp2_session_get_remote_window_size(conn->h2);
  int32_t recv = nghttp2_session_get_local_window_size(conn->h2);
  rpc_shard_counters *st = &conn->sh->stats;
  if (send != conn->send_window) {
    core_ctr_add(&st->send_window, (uint64_t)((int64_t)send - conn->send_window));
    conn->send_window = send;
  }
  if (recv != conn->recv_window) {
    core_ctr_add(&st->recv_window, (uint64_t)((int64_t)recv - conn->recv_window));
    conn->recv_window = recv;
  }
}

/* Over max_connections: a TLS connection is closed before its handshake costs anything, a
 * plaintext one gets a GOAWAY (grpc clients then go elsewhere) and is closed. One line per ten
 * seconds says so. */
static bool over_connection_limit(urpc_server *srv) {
  uint32_t n = atomic_fetch_add_explicit(&srv->n_conns, 1, memory_order_relaxed);
  if (n < srv->max_conns) return false;
  uint64_t now = core_now_ms(),
           last = atomic_load_explicit(&srv->refused_log_ms, memory_order_relaxed);
  if (now >= last + 10000 &&
      atomic_compare_exchange_strong_explicit(&srv->refused_log_ms, &last, now,
                                              memory_order_relaxed, memory_order_relaxed))
    LOG_WARN("connection limit (%u) reached: refusing new connections (--max-connections)",
             srv->max_conns);
  return true;
}

static void conn_count_drop(urpc_server *srv) {
  atomic_fetch_sub_explicit(&srv->n_conns, 1, memory_order_relaxed);
}

void *rpc_conn_open(void *ctx, io_conn *io) {
  rpc_shard *sh = ctx;
  urpc_server *srv = sh->server;
  bool over = over_connection_limit(srv);
  if (over) RPC_LIMIT_HIT(sh, URPC_LIMIT_CONNECTIONS);
  rpc_conn *conn = over && io && io_conn_is_tls(io) ? NULL : core_pool_get(&sh->conn_pool);
  if (!conn) {
    if (io && !over) io_conn_set_close_reason(io, IO_CLOSED_ERROR); /* out of memory */
    conn_count_drop(srv);
    return NULL;
  }
  memset(conn, 0, sizeof(*conn));
  conn->io = io;
  conn->sh = sh;
  rpc_h2_scan_init(&conn->scan);
  sh->tracking = srv->idle_trim ? conn : NULL; /* idle_trim.c: note the scratch pages */
  int rv =
      nghttp2_session_server_new3(&conn->h2, srv->h2_callbacks, conn, srv->h2_option, &sh->h2_mem);
  sh->tracking = NULL;
  if (rv != 0) {
    if (io) io_conn_set_close_reason(io, IO_CLOSED_ERROR);
    core_pool_put(&sh->conn_pool, conn);
    conn_count_drop(srv);
    return NULL;
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, nghttp2_mcs(srv->opts.max_concurrent_streams)},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, RPC_HEADER_LIST_MAX},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, srv->opts.initial_stream_window},
      /* gRPC clients do not use RFC 7540 priorities: nghttp2 then keeps no priority tree. */
      {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},
  };
  if (nghttp2_submit_settings(conn->h2, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) != 0 ||
      nghttp2_session_set_local_window_size(conn->h2, NGHTTP2_FLAG_NONE, 0,
                                            (int32_t)srv->opts.initial_conn_window) != 0) {
    sh->cur_conn = conn; /* idle_trim.c sees its pages go */
    nghttp2_session_del(conn->h2);
    sh->cur_conn = NULL;
    if (io) io_conn_set_close_reason(io, IO_CLOSED_ERROR);
    core_pool_put(&sh->conn_pool, conn);
    conn_count_drop(srv);
    return NULL;
  }
  rpc_keepalive_start(conn);
  rpc_budget_conn_init(conn);
  sync_windows(conn);
  if (over) {
    rpc_conn_close_reason(conn, IO_CLOSED_LIMIT);
    static const char why[] = "connection limit reached";
    nghttp2_submit_goaway(conn->h2, NGHTTP2_FLAG_NONE, 0, NGHTTP2_NO_ERROR, (const uint8_t *)why,
                          sizeof(why) - 1);
    conn->closing = true;
  }
  return conn;
}

/* Around nghttp2's reading and writing: the activity the lifetime timer watches, and the
 * connection whose frees idle_trim.c must see (mem_recv may grow the stream map, send may grow
 * the frame buffer). Returns the connection displaced, for leave_session. */
static rpc_conn *enter_session(rpc_conn *conn, uint64_t *activity_ms) {
  *activity_ms = conn->sh->timers->now_ms;
  if (conn->trimmed) rpc_idle_trim_woke(conn);
  rpc_conn *outer = conn->sh->cur_conn;
  conn->sh->cur_conn = conn;
  return outer;
}

static void leave_session(rpc_conn *conn, rpc_conn *outer) {
  conn->sh->cur_conn = outer;
}

int rpc_conn_recv(void *state, const uint8_t *p, size_t n) {
  rpc_conn *conn = state;
  if (conn->closing) return 0;
  bool first = conn->scan.magic_left == sizeof(NGHTTP2_CLIENT_MAGIC) - 1;
  rpc_conn *outer = enter_session(conn, &conn->last_read_ms);
  int rv = rpc_h2_scan_recv(conn, p, n);
  leave_session(conn, outer);
  if (rv < 0) {
    /* nghttp2 has queued a GOAWAY where the protocol calls for one: send it, then close. */
    LOG_DEBUG("closing connection: %s", nghttp2_strerror(rv));
    if (rv == NGHTTP2_ERR_FLOODED) RPC_LIMIT_HIT(conn->sh, URPC_LIMIT_FLOOD);
    rpc_conn_close_reason(conn, rv == NGHTTP2_ERR_FLOODED ? IO_CLOSED_LIMIT : IO_CLOSED_ERROR);
    if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC && first && rpc_http1_request(p, n))
      conn->http1 = true;
    else if (rv == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
      nghttp2_session_terminate_session(conn->h2, NGHTTP2_PROTOCOL_ERROR);
    conn->closing = true;
    rpc_conn_want_flush(conn);
    return 0;
  }
  sync_windows(conn);
  /* Draining, a stream the client resets may be the last; after the client's GOAWAY, the
   * last one may have ended: produce decides on closing. */
  if (nghttp2_session_want_write(conn->h2) || conn->draining ||
      !nghttp2_session_want_read(conn->h2))
    rpc_conn_want_flush(conn);
  return 0;
}

int rpc_conn_produce(void *state, core_outq *out) {
  rpc_conn *conn = state;
  if (conn->http1) { /* not HTTP/2: a readable answer, once, and nothing of nghttp2's */
    if (!conn->http1_answered && rpc_http1_reply(out) < 0) return -1;
    conn->http1_answered = true;
    return IO_CLOSE_AFTER_SEND;
  }
  /* Our SETTINGS wait for the client's first bytes: an HTTP/1.x client must not get HTTP/2
   * frames it cannot read (clients with prior knowledge send their preface without waiting). */
  if (!conn->closing && conn->scan.magic_left == sizeof(NGHTTP2_CLIENT_MAGIC) - 1) return 0;
  conn->out = out;
  rpc_conn *outer = enter_session(conn, &conn->last_write_ms);
  int rv = nghttp2_session_send(conn->h2);
  leave_session(conn, outer);
  conn->out = NULL;
  if (rv != 0) return -1;
  sync_windows(conn);
  if (conn->closing ||
      (!nghttp2_session_want_read(conn->h2) && !nghttp2_session_want_write(conn->h2)))
    return IO_CLOSE_AFTER_SEND;
  return 0;
}

void rpc_conn_closed(void *state) {
  rpc_conn *conn = state;
  /* Calls still open lose their stream (their handlers see them cancelled); calls whose
   * handlers are still busy outlive the connection, counted by their shard only. */
  while (conn->calls) {
    urpc_call *call = conn->calls;
    rpc_call_detach(call);
    rpc_call_stream_closed(call);
  }
  rpc_keepalive_stop(conn);
  rpc_shard_counters *st = &conn->sh->stats;
  core_ctr_sub(&st->send_window, (uint64_t)(int64_t)conn->send_window);
  core_ctr_sub(&st->recv_window, (uint64_t)(int64_t)conn->recv_window);
  conn->trim_map = conn->trim_framebuf = NULL;
  nghttp2_session_del(conn->h2);
  rpc_shard *sh = conn->sh;
  core_pool_put(&sh->conn_pool, conn);
  conn_count_drop(sh->server);
  sh->closed_conns++;
  rpc_budget_released(sh);
}
