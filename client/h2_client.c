/* The client side of a gRPC HTTP/2 connection, sans-IO (h2_client.h): nghttp2's client session
 * for the HTTP/2, rpc/'s framing (grpc_frame.h), grpc-timeout, percent and base64 code for the
 * gRPC carried in it — the same code the server side uses.
 *
 * How a response ends, as grpc's PROTOCOL-HTTP2.md and http-grpc-status-mapping.md say: the
 * grpc-status of the trailers (or of a Trailers-Only answer); a non-200 :status maps to a
 * code; a stream reset maps from its error code; a response without grpc-status is INTERNAL. */
#include "client/h2_client.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/alloc.h"
#include "core/arena.h"
#include "rpc/base64.h"
#include "rpc/compress.h"
#include "rpc/grpc_frame.h"
#include "rpc/percent.h"
#include "rpc/timeout.h"

#define DEFAULT_MAX_RECV    (4u << 20)
#define DEFAULT_SEND_BUFFER (64u << 10)
#define STATUS_MSG_MAX      512
#define MAX_REQUEST_MD      64 /* request metadata entries a call may carry */

typedef struct cli_msg {
  struct cli_msg *next;
  size_t len, sent; /* framed bytes, of which nghttp2 took `sent` */
  uint8_t bytes[];  /* prefix + message */
} cli_msg;

struct cli_call {
  cli_conn *conn;
  cli_call *prev, *next; /* the connection's live calls */
  int32_t stream_id;
  cli_call_handlers h;
  void *user;
  cli_msg *sq, *sq_tail; /* request messages not yet all taken by nghttp2 */
  size_t queued;         /* bytes in sq not yet taken */
  bool want_writable;    /* cli_call_send said -EAGAIN: on_writable when there is room */
  bool on_writable_list; /* on the connection's `writable` list */
  cli_call *writable_next;
  bool send_closed;             /* cli_call_close_send: END_STREAM after the queue */
  bool deferred;                /* the data provider said DEFERRED: resume on the next send */
  bool closed;                  /* on_close ran (or runs) */
  bool got_headers;             /* the response HEADERS came */
  bool http_ok;                 /* :status 200 */
  bool grpc_content;            /* content-type application/grpc... */
  int http_status;              /* :status, 0 until it came */
  int grpc_status;              /* from grpc-status, -1 until it came */
  char message[STATUS_MSG_MAX]; /* grpc-message, percent-decoded */
  rpc_frame_reader reader;
  rpc_encoding req_enc;  /* request messages compressed with it, or identity */
  rpc_encoding resp_enc; /* the response's grpc-encoding (identity until it says) */
  core_arena scratch;    /* a compressed message's decompression or compression, reset after */
  const char *fail_msg;  /* a failure this side decided (response too large, compressed) */
  urpc_status_code fail_code;
  uint32_t header_bytes; /* response headers and trailers so far, as RFC 9113 counts them */
  bool msg_compressed;   /* the response message being delivered came compressed */
};

struct cli_conn {
  nghttp2_session *h2;
  core_slab *slab; /* this thread's (alloc.h): the session's memory and the calls' */
  nghttp2_mem h2_mem;
  core_outq *out; /* set while nghttp2 writes, inside produce */
  cli_conn_config cfg;
  char *authority, *user_agent;
  cli_call *calls;
  cli_call *writable;   /* calls whose buffer has room again, told after nghttp2_session_send */
  uint32_t n_calls;     /* on `calls`: their streams are not closed yet */
  bool goaway;          /* the server sent GOAWAY: no new streams */
  bool idle_close;      /* cli_conn_close_when_idle: done once no call is left */
  uint64_t pings_acked; /* PING ACKs from the server (keepalive) */
  bool done;            /* produce said so: no new streams */
  bool settings;        /* the server's first SETTINGS came */
};

/* ---- ending calls ---- */

static void unlink_call(cli_call *call) {
  cli_conn *c = call->conn;
  c->n_calls--;
  if (call->on_writable_list)
    for (cli_call **p = &c->writable; *p; p = &(*p)->writable_next)
      if (*p == call) {
        *p = call->writable_next;
        break;
      }
  if (call->prev)
    call->prev->next = call->next;
  else if (c->calls == call)
    c->calls = call->next;
  if (call->next) call->next->prev = call->prev;
  call->prev = call->next = NULL;
}

static void free_call(cli_call *call) {
  core_slab *slab = call->conn->slab;
  for (cli_msg *m = call->sq, *next; m; m = next) {
    next = m->next;
    cli_free(slab, m);
  }
  cli_free(slab, rpc_frame_reader_release(&call->reader));
  core_arena_dispose(&call->scratch);
  cli_free(slab, call);
}

/* Runs on_close, once. The call's memory stays until its stream is gone (release): nghttp2
 * may still hold the stream's data provider, which points at it. */
static void finish(cli_call *call, urpc_status_code code, const char *msg) {
  if (call->closed) return;
  call->closed = true;
  if (call->h.on_close) call->h.on_close(call, code, msg ? msg : "", call->user);
}

static void release(cli_call *call) {
  unlink_call(call);
  free_call(call);
}

/* grpc's http-grpc-status-mapping.md: an HTTP status without a grpc-status. */
static urpc_status_code from_http(int status) {
  switch (status) {
  case 400:
    return URPC_STATUS_INTERNAL;
  case 401:
    return URPC_STATUS_UNAUTHENTICATED;
  case 403:
    return URPC_STATUS_PERMISSION_DENIED;
  case 404:
    return URPC_STATUS_UNIMPLEMENTED;
  case 429:
  case 502:
  case 503:
  case 504:
    return URPC_STATUS_UNAVAILABLE;
  default:
    return URPC_STATUS_UNKNOWN;
  }
}

/* A stream reset without a status (PROTOCOL-HTTP2.md, "Errors"). */
static urpc_status_code from_reset(uint32_t code) {
  switch (code) {
  case NGHTTP2_REFUSED_STREAM:
    return URPC_STATUS_UNAVAILABLE;
  case NGHTTP2_CANCEL:
    return URPC_STATUS_CANCELLED;
  case NGHTTP2_ENHANCE_YOUR_CALM:
    return URPC_STATUS_RESOURCE_EXHAUSTED;
  case NGHTTP2_INADEQUATE_SECURITY:
    return URPC_STATUS_PERMISSION_DENIED;
  default:
    return URPC_STATUS_INTERNAL;
  }
}

/* The stream is over: the status it carried, or the one its end implies. */
static void stream_ended(cli_call *call, uint32_t error_code) {
  char why[96];
  if (call->fail_msg) {
    finish(call, call->fail_code, call->fail_msg);
  } else if (call->grpc_status >= 0) {
    urpc_status_code code = call->grpc_status <= URPC_STATUS_UNAUTHENTICATED
                                ? (urpc_status_code)call->grpc_status
                                : URPC_STATUS_UNKNOWN;
    finish(call, code, call->message);
  } else if (call->got_headers && !call->http_ok) {
    snprintf(why, sizeof(why), "HTTP status %d", call->http_status);
    finish(call, from_http(call->http_status), why);
  } else if (error_code != NGHTTP2_NO_ERROR) {
    snprintf(why, sizeof(why), "stream reset: %s", nghttp2_http2_strerror(error_code));
    finish(call, from_reset(error_code), why);
  } else if (call->got_headers && !call->grpc_content) {
    finish(call, URPC_STATUS_UNKNOWN, "the response is not application/grpc");
  } else {
    finish(call, URPC_STATUS_INTERNAL, "the response ended without grpc-status");
  }
}

/* A failure this side decided mid-stream: reset it; the status is the one given. */
static void fail_stream(cli_call *call, urpc_status_code code, const char *msg) {
  if (call->fail_msg) return;
  call->fail_code = code;
  call->fail_msg = msg;
  nghttp2_submit_rst_stream(call->conn->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
}

/* ---- nghttp2 callbacks ---- */

static bool is(const uint8_t *p, size_t n, const char *lit) {
  return strlen(lit) == n && !memcmp(p, lit, n);
}

static void response_metadata(cli_call *call, const uint8_t *name, size_t namelen,
                              const uint8_t *value, size_t valuelen, bool trailer) {
  if (!call->h.on_metadata || !namelen || name[0] == ':' || is(name, namelen, "content-type") ||
      (namelen >= 5 && !memcmp(name, "grpc-", 5) && !is(name, namelen, "grpc-status-details-bin")))
    return;
  char key[256];
  if (namelen >= sizeof(key)) return;
  memcpy(key, name, namelen);
  key[namelen] = '\0';
  if (namelen > 4 && !memcmp(name + namelen - 4, "-bin", 4)) {
    uint8_t *bin = malloc(rpc_base64_decoded_max(valuelen) + 1);
    long n = bin ? rpc_base64_decode((const char *)value, valuelen, bin) : -1;
    if (n >= 0) call->h.on_metadata(call, key, bin, (size_t)n, trailer, call->user);
    free(bin);
    return;
  }
  call->h.on_metadata(call, key, value, valuelen, trailer, call->user);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  (void)ud, (void)flags;
  cli_call *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (!call || frame->hd.type != NGHTTP2_HEADERS || call->fail_msg) return 0;
  /* A server could otherwise make the client hold (and the handlers see) any amount. */
  call->header_bytes += (uint32_t)(namelen + valuelen + 32);
  if (call->header_bytes > CLI_MAX_RESPONSE_HEADERS) {
    fail_stream(call, URPC_STATUS_RESOURCE_EXHAUSTED,
                "response metadata over 16 KiB (the client's limit)");
    return 0;
  }
  bool trailer = frame->headers.cat == NGHTTP2_HCAT_HEADERS;
  if (!trailer && is(name, namelen, ":status")) {
    int st = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++) st = st * 10 + (value[i] - '0');
    call->http_status = st;
    call->http_ok = st == 200;
  } else if (!trailer && is(name, namelen, "content-type")) {
    call->grpc_content = valuelen >= 16 && !memcmp(value, "application/grpc", 16) &&
                         (valuelen == 16 || value[16] == '+' || value[16] == ';');
  } else if (is(name, namelen, "grpc-status")) {
    int st = 0;
    bool ok = valuelen > 0 && valuelen <= 3;
    for (size_t i = 0; ok && i < valuelen; i++) {
      ok = value[i] >= '0' && value[i] <= '9';
      st = st * 10 + (value[i] - '0');
    }
    call->grpc_status = ok ? st : URPC_STATUS_UNKNOWN;
  } else if (!trailer && is(name, namelen, "grpc-encoding")) {
    call->resp_enc = rpc_encoding_parse((const char *)value, valuelen);
  } else if (is(name, namelen, "grpc-message")) {
    size_t n = valuelen < STATUS_MSG_MAX - 1 ? valuelen : STATUS_MSG_MAX - 1;
    n = rpc_percent_decode((const char *)value, n, call->message);
    call->message[n] = '\0';
  } else {
    response_metadata(call, name, namelen, value, valuelen, trailer);
  }
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
  cli_conn *c = ud;
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    c->goaway = true;
    return 0;
  }
  if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
    c->settings = true;
  if (frame->hd.type == NGHTTP2_PING && (frame->hd.flags & NGHTTP2_FLAG_ACK)) c->pings_acked++;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  cli_call *call = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (call && frame->headers.cat == NGHTTP2_HCAT_RESPONSE) call->got_headers = true;
  return 0;
}

static void *msg_alloc(void *ud, size_t size) {
  cli_call *call = ud;
  return cli_alloc(call->conn->slab, size);
}

/* A compressed response message, decompressed within the receive limit (grpc's clients answer
 * an encoding they did not offer with INTERNAL, a message too large once inflated with
 * RESOURCE_EXHAUSTED). Returns 0, or -1 after failing the stream. */
static int inflate_message(cli_call *call, uint8_t **msg, size_t *len) {
  int rc = rpc_decompress(call->resp_enc, *msg, *len, call->conn->cfg.max_recv_message,
                          core_arena_alloc_cb, &call->scratch, msg, len);
  if (rc == 0) return 0;
  fail_stream(call, rc == -E2BIG ? URPC_STATUS_RESOURCE_EXHAUSTED : URPC_STATUS_INTERNAL,
              rc == -E2BIG     ? "a response message over the limit once decompressed"
              : rc == -ENOTSUP ? "a compressed response in an encoding this client does not know"
                               : "a compressed response message that does not decompress");
  return -1;
}

static int msg_done(void *ud, uint8_t *msg, size_t len, bool compressed) {
  cli_call *call = ud;
  uint8_t *body = msg;
  core_slab *slab = call->conn->slab;
  if (compressed && inflate_message(call, &body, &len) < 0) {
    cli_free(slab, msg);
    return -1;
  }
  call->msg_compressed = compressed;
  if (call->h.on_message) call->h.on_message(call, body, len, call->user);
  cli_free(slab, msg);
  core_arena_reset(&call->scratch);
  return call->closed || call->fail_msg ? -1 : 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *ud) {
  (void)flags, (void)ud;
  cli_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
  if (!call || call->fail_msg || call->closed) return 0;
  if (!call->http_ok || !call->grpc_content) return 0; /* the status says what went wrong */
  int rc = rpc_frame_feed(&call->reader, data, len, msg_alloc, msg_done, call);
  if (rc == RPC_FRAME_ABORTED) return 0; /* the call failed or was cancelled meanwhile */
  if (rc == RPC_FRAME_TOO_LARGE)
    fail_stream(call, URPC_STATUS_RESOURCE_EXHAUSTED, "a response message over the limit");
  else if (rc == RPC_FRAME_NOMEM)
    fail_stream(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for a response message");
  else if (rc < 0)
    fail_stream(call, URPC_STATUS_INTERNAL, "a malformed response message");
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t error_code, void *ud) {
  (void)ud;
  cli_call *call = nghttp2_session_get_stream_user_data(s, stream_id);
  if (!call) return 0;
  if (!call->closed) stream_ended(call, error_code);
  release(call);
  return 0;
}

static ssize_t on_send(nghttp2_session *s, const uint8_t *data, size_t len, int flags, void *ud) {
  (void)s, (void)flags;
  cli_conn *c = ud;
  if (!c->out) return NGHTTP2_ERR_WOULDBLOCK;
  return core_outq_copy(c->out, data, len) < 0 ? NGHTTP2_ERR_CALLBACK_FAILURE : (ssize_t)len;
}

/* The request body: queued framed messages, END_STREAM once closed and drained. */
static ssize_t read_request(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t length,
                            uint32_t *flags, nghttp2_data_source *src, void *ud) {
  (void)s, (void)stream_id, (void)ud;
  cli_call *call = src->ptr;
  if (call->closed) return NGHTTP2_ERR_DEFERRED; /* cancelled: its RST_STREAM goes first */
  size_t n = 0;
  while (call->sq && n < length) {
    cli_msg *m = call->sq;
    size_t take = m->len - m->sent < length - n ? m->len - m->sent : length - n;
    memcpy(buf + n, m->bytes + m->sent, take);
    m->sent += take;
    call->queued -= take;
    n += take;
    if (m->sent == m->len) {
      call->sq = m->next;
      if (!call->sq) call->sq_tail = NULL;
      cli_free(call->conn->slab, m);
    }
  }
  if (call->want_writable && call->queued < call->conn->cfg.send_buffer &&
      !call->on_writable_list) {
    call->want_writable = false;
    call->on_writable_list = true;
    call->writable_next = call->conn->writable;
    call->conn->writable = call;
  }
  if (!call->sq && call->send_closed) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  } else if (!n) {
    call->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  return (ssize_t)n;
}

/* ---- the connection ---- */

int cli_conn_new(const cli_conn_config *cfg, cli_conn **out) {
  if (!cfg->authority || !*cfg->authority) return -EINVAL;
  cli_conn *c = calloc(1, sizeof(*c));
  if (!c) return -ENOMEM;
  c->cfg = *cfg;
  if (!c->cfg.max_recv_message) c->cfg.max_recv_message = DEFAULT_MAX_RECV;
  if (!c->cfg.send_buffer) c->cfg.send_buffer = DEFAULT_SEND_BUFFER;
  c->authority = strdup(cfg->authority);
  c->user_agent = strdup(cfg->user_agent ? cfg->user_agent : "uringrpc-client");
  nghttp2_session_callbacks *cb = NULL;
  int rc = c->authority && c->user_agent && !nghttp2_session_callbacks_new(&cb) ? 0 : -ENOMEM;
  if (!rc) {
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_session_callbacks_set_send_callback(cb, on_send);
    c->slab = cli_thread_slab();
    cli_h2_mem(c->slab, &c->h2_mem);
    rc = c->slab && !nghttp2_session_client_new3(&c->h2, cb, c, NULL, &c->h2_mem) ? 0 : -ENOMEM;
    nghttp2_session_callbacks_del(cb);
  }
  if (!rc) {
    /* no server push; the response window as grpc's clients open it */
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1u << 20},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, CLI_MAX_RESPONSE_HEADERS}};
    rc = nghttp2_submit_settings(c->h2, NGHTTP2_FLAG_NONE, iv, 3) ? -ENOMEM : 0;
  }
  if (!rc)
    rc =
        nghttp2_session_set_local_window_size(c->h2, NGHTTP2_FLAG_NONE, 0, 16u << 20) ? -ENOMEM : 0;
  if (rc) {
    cli_conn_free(c);
    return rc;
  }
  *out = c;
  return 0;
}

void cli_conn_free(cli_conn *c) {
  if (!c) return;
  while (c->calls) {
    cli_call *call = c->calls;
    finish(call, URPC_STATUS_UNAVAILABLE, "connection closed");
    release(call);
  }
  nghttp2_session_del(c->h2);
  free(c->authority);
  free(c->user_agent);
  free(c);
}

int cli_conn_recv(cli_conn *c, const uint8_t *p, size_t n) {
  ssize_t rv = nghttp2_session_mem_recv(c->h2, p, n);
  return rv < 0 ? (int)rv : 0;
}

int cli_conn_produce(cli_conn *c, core_outq *out) {
  c->out = out;
  int rv = nghttp2_session_send(c->h2);
  c->out = NULL;
  if (rv) return -EIO;
  /* outside nghttp2's callbacks: a handler may send from on_writable */
  while (c->writable) {
    cli_call *call = c->writable;
    c->writable = call->writable_next;
    call->on_writable_list = false;
    if (!call->closed && call->h.on_writable) call->h.on_writable(call, call->user);
  }
  if ((c->goaway || c->idle_close) && !c->calls) {
    c->done = true;
    return 1;
  }
  return 0;
}

int cli_conn_ping(cli_conn *c) {
  return nghttp2_submit_ping(c->h2, NGHTTP2_FLAG_NONE, NULL) ? -ENOMEM : 0;
}

uint64_t cli_conn_pings_acked(const cli_conn *c) {
  return c->pings_acked;
}

bool cli_conn_has_calls(const cli_conn *c) {
  return c->calls != NULL;
}

void cli_conn_close_when_idle(cli_conn *c) {
  c->idle_close = true;
}

bool cli_conn_want_write(const cli_conn *c) {
  return nghttp2_session_want_write(c->h2);
}

/* Until the server's SETTINGS say its limit, nghttp2 assumes none; RFC 9113 5.1.2 recommends
 * servers allow at least 100, so more than that before they speak would be refused. */
#define MCS_BEFORE_SETTINGS 100u

bool cli_conn_can_start(const cli_conn *c) {
  uint32_t mcs =
      c->settings
          ? nghttp2_session_get_remote_settings(c->h2, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS)
          : MCS_BEFORE_SETTINGS;
  return !c->goaway && !c->done && mcs > c->n_calls;
}

bool cli_conn_goaway(const cli_conn *c) {
  return c->goaway;
}

/* ---- calls ---- */

/* nghttp2_submit_request copies names and values (no NO_COPY flags): nothing here needs to
 * outlive the call to it. */
#define NV(n, v, len)                                                                              \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (len), NGHTTP2_NV_FLAG_NONE }

static bool valid_key(const char *k) {
  size_t n = strlen(k);
  if (!n || (n >= 5 && !memcmp(k, "grpc-", 5))) return false;
  for (size_t i = 0; i < n; i++)
    if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9') || k[i] == '-' ||
          k[i] == '_' || k[i] == '.'))
      return false;
  return true;
}

static bool is_bin(const char *k) {
  size_t n = strlen(k);
  return n > 4 && !memcmp(k + n - 4, "-bin", 4);
}

/* The request's headers. Metadata values: "-bin" ones base64 (into `bufs`, freed by the
 * caller), others must be printable ASCII. */
static int request_headers(cli_conn *c, const char *path, int64_t timeout_ns,
                           const cli_metadata *md, size_t n_md, rpc_encoding enc, nghttp2_nv *nv,
                           char **bufs, char *timeout) {
  size_t n = 0;
  nv[n++] = (nghttp2_nv)NV(":method", "POST", 4);
  nv[n++] = (nghttp2_nv)NV(":scheme", c->cfg.tls ? "https" : "http", c->cfg.tls ? 5 : 4);
  nv[n++] = (nghttp2_nv)NV(":path", path, strlen(path));
  nv[n++] = (nghttp2_nv)NV(":authority", c->authority, strlen(c->authority));
  nv[n++] = (nghttp2_nv)NV("te", "trailers", 8);
  nv[n++] = (nghttp2_nv)NV("content-type", "application/grpc", 16);
  nv[n++] = (nghttp2_nv)NV("user-agent", c->user_agent, strlen(c->user_agent));
  nv[n++] =
      (nghttp2_nv)NV("grpc-accept-encoding", RPC_ACCEPT_ENCODING, sizeof(RPC_ACCEPT_ENCODING) - 1);
  if (enc != RPC_ENC_IDENTITY) {
    const char *name = rpc_encoding_name(enc);
    nv[n++] = (nghttp2_nv)NV("grpc-encoding", name, strlen(name));
  }
  if (timeout_ns > 0) nv[n++] = (nghttp2_nv)NV("grpc-timeout", timeout, 0);
  if (timeout_ns > 0) nv[n - 1].valuelen = rpc_timeout_format(timeout_ns, timeout);
  for (size_t i = 0; i < n_md; i++) {
    if (!md[i].key || !valid_key(md[i].key)) return -EINVAL;
    const char *v = md[i].value;
    size_t len = md[i].len;
    if (is_bin(md[i].key)) {
      bufs[i] = malloc(rpc_base64_encoded_len(len) + 1);
      if (!bufs[i]) return -ENOMEM;
      len = rpc_base64_encode(md[i].value, len, bufs[i]);
      v = bufs[i];
    } else {
      for (size_t k = 0; k < len; k++)
        if (v[k] < 0x20 || v[k] > 0x7e) return -EINVAL;
    }
    nv[n++] = (nghttp2_nv){(uint8_t *)md[i].key, (uint8_t *)v, strlen(md[i].key), len,
                           NGHTTP2_NV_FLAG_NONE};
  }
  return (int)n;
}

cli_call *cli_call_start(cli_conn *c, const char *path, const cli_call_opts *o,
                         const cli_call_handlers *h, void *user, int *err) {
  static const cli_call_opts none;
  if (!o) o = &none;
  rpc_encoding enc =
      o->encoding ? rpc_encoding_parse(o->encoding, strlen(o->encoding)) : RPC_ENC_IDENTITY;
  *err = -EINVAL;
  if (!path || path[0] != '/' || o->n_md > MAX_REQUEST_MD || enc == RPC_ENC_UNKNOWN) return NULL;
  *err = -EAGAIN;
  if (!cli_conn_can_start(c)) return NULL;
  *err = -ENOMEM;
  cli_call *call = cli_calloc(c->slab, sizeof(*call));
  nghttp2_nv nv[10 + MAX_REQUEST_MD]; /* nghttp2 copies them */
  char *bufs[MAX_REQUEST_MD + 1] = {0};
  char timeout[RPC_TIMEOUT_MAX_LEN];
  int n = call ? request_headers(c, path, o->timeout_ns, o->md, o->n_md, enc, nv, bufs, timeout)
               : -ENOMEM;
  if (n >= 0) {
    call->conn = c;
    call->h = *h;
    call->user = user;
    call->grpc_status = -1;
    call->req_enc = enc;
    call->resp_enc = RPC_ENC_IDENTITY;
    core_arena_init(&call->scratch, NULL, 0);
    rpc_frame_reader_init(&call->reader, c->cfg.max_recv_message);
    nghttp2_data_provider prd = {.source.ptr = call, .read_callback = read_request};
    call->stream_id = nghttp2_submit_request(c->h2, NULL, nv, (size_t)n, &prd, call);
    if (call->stream_id < 0) n = -ENOMEM;
  }
  for (size_t i = 0; i < o->n_md; i++) free(bufs[i]);
  if (n < 0) {
    cli_free(c->slab, call);
    *err = n;
    return NULL;
  }
  call->next = c->calls;
  if (c->calls) c->calls->prev = call;
  c->calls = call;
  c->n_calls++;
  *err = 0;
  return call;
}

static void resume(cli_call *call) {
  if (!call->deferred) return;
  call->deferred = false;
  nghttp2_session_resume_data(call->conn->h2, call->stream_id);
}

int cli_call_send(cli_call *call, const uint8_t *msg, size_t len, unsigned flags) {
  if (call->send_closed || call->fail_msg || call->closed) return -EPIPE;
  if (call->queued >= call->conn->cfg.send_buffer) {
    call->want_writable = true;
    return -EAGAIN;
  }
  bool compressed = call->req_enc != RPC_ENC_IDENTITY && !(flags & CLI_SEND_NO_COMPRESS);
  if (compressed) {
    int rc = rpc_compress(call->req_enc, msg, len, core_arena_alloc_cb, &call->scratch,
                          (uint8_t **)&msg, &len);
    if (rc) return rc == -ENOMEM ? -ENOMEM : -EIO;
  }
  int rc = 0;
  cli_msg *m =
      len > UINT32_MAX ? NULL : cli_alloc(call->conn->slab, sizeof(*m) + RPC_FRAME_PREFIX + len);
  if (!m) {
    rc = len > UINT32_MAX ? -EMSGSIZE : -ENOMEM;
  } else {
    m->next = NULL;
    m->len = RPC_FRAME_PREFIX + len;
    m->sent = 0;
    rpc_frame_prefix(m->bytes, compressed, (uint32_t)len);
    if (len) memcpy(m->bytes + RPC_FRAME_PREFIX, msg, len);
    if (call->sq_tail)
      call->sq_tail->next = m;
    else
      call->sq = m;
    call->sq_tail = m;
    call->queued += m->len;
    resume(call);
  }
  core_arena_reset(&call->scratch);
  return rc;
}

bool cli_call_message_compressed(const cli_call *call) {
  return call->msg_compressed;
}

int cli_call_close_send(cli_call *call) {
  if (call->send_closed) return 0;
  call->send_closed = true;
  resume(call);
  return 0;
}

void cli_call_cancel(cli_call *call) {
  if (call->closed) return;
  nghttp2_submit_rst_stream(call->conn->h2, NGHTTP2_FLAG_NONE, call->stream_id, NGHTTP2_CANCEL);
  finish(call, URPC_STATUS_CANCELLED, "cancelled by the client");
}
