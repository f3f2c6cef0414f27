/* h2c on the admin endpoint: an nghttp2 server session per client that sent the HTTP/2 preface
 * (prior knowledge) or upgraded from HTTP/1.1 (Upgrade: h2c), answering the same routes as
 * HTTP/1.1 (admin_routes.c). Bytes in and out go through the client's buffers (mem_recv,
 * mem_send); the body of each answer is held by its stream and read by a data provider.
 *
 * Bounds: SETTINGS_MAX_CONCURRENT_STREAMS is ADMIN_H2_STREAMS, and nghttp2 refuses streams over
 * it (RST_STREAM), so a session holds at most that many answers, one per slot of a fixed
 * array; request headers over ADMIN_H2_HEADERS_MAX (names + values + 32 per field, as
 * SETTINGS_MAX_HEADER_LIST_SIZE counts) get 431; output is pulled from the session only while
 * the client's unsent output is at most ADMIN_OUT_CAP, and admin.c reads nothing more until it
 * drains. nghttp2 itself bounds queued PING/SETTINGS ACKs, RST_STREAM floods and
 * CONTINUATION frames (its defaults). */
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "obs/admin_impl.h"

typedef struct h2_stream {
  bool used;
  bool complete; /* the request ended (END_STREAM): answered */
  size_t header_bytes;
  admin_request rq;
  admin_response resp;
  size_t sent; /* body bytes given to nghttp2 */
} h2_stream;

struct admin_h2 {
  nghttp2_session *session;
  admin_client *c;
  unsigned incomplete; /* streams whose request has not ended: c->req_ms runs while > 0 */
  h2_stream *upgraded; /* stream 1 of an upgrade, answered once the client's SETTINGS are in */
  h2_stream streams[ADMIN_H2_STREAMS];
};

static h2_stream *stream_new(admin_h2 *h) {
  for (size_t i = 0; i < ADMIN_H2_STREAMS; i++) {
    h2_stream *st = &h->streams[i];
    if (!st->used) {
      memset(st, 0, sizeof(*st));
      st->used = true;
      return st;
    }
  }
  return NULL;
}

static void request_begins(admin_h2 *h) {
  if (h->incomplete++ == 0) h->c->req_ms = admin_now_ms();
}

static void request_ends(admin_h2 *h) {
  if (--h->incomplete == 0) h->c->req_ms = 0;
}

static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length,
                         uint32_t *flags, nghttp2_data_source *source, void *user) {
  (void)s, (void)id, (void)user;
  h2_stream *st = source->ptr;
  size_t n = st->resp.len - st->sent;
  if (n > length) n = length;
  memcpy(buf, st->resp.body + st->sent, n);
  st->sent += n;
  if (st->sent == st->resp.len) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

#define NV(n, v, vl)                                                                               \
  { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vl), NGHTTP2_NV_FLAG_NO_COPY_NAME }

/* Submits `st->resp` on stream `id`. Returns 0 or a fatal nghttp2 code. */
static int respond(admin_h2 *h, int32_t id, h2_stream *st) {
  char status[4], length[24];
  snprintf(status, sizeof(status), "%03d", st->resp.status);
  int ll = snprintf(length, sizeof(length), "%zu", st->resp.len);
  nghttp2_nv nv[] = {
      NV(":status", status, 3),
      NV("content-type", st->resp.type, strlen(st->resp.type)),
      NV("content-length", length, (size_t)ll),
      NV("allow", "GET, HEAD", 9),
  };
  nghttp2_data_provider body = {.source.ptr = st, .read_callback = read_body};
  int rv = nghttp2_submit_response(h->session, id, nv, st->resp.allow_get ? 4 : 3,
                                   st->rq.head ? NULL : &body);
  if (rv == 0)
    h->c->last_ms = admin_now_ms();
  else if (!nghttp2_is_fatal(rv))
    rv = nghttp2_submit_rst_stream(h->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_INTERNAL_ERROR);
  return nghttp2_is_fatal(rv) ? rv : 0;
}

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  admin_h2 *h = user;
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  h2_stream *st = stream_new(h); /* nghttp2 refused the streams over the limit already */
  if (!st) return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  if (nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st) != 0) {
    st->used = false;
    return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
  }
  request_begins(h);
  return 0;
}

static bool name_is(const uint8_t *name, size_t len, const char *want) {
  return len == strlen(want) && !memcmp(name, want, len);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *user) {
  (void)flags, (void)user;
  h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!st || st->complete) return 0;
  if (st->header_bytes > ADMIN_H2_HEADERS_MAX) return 0; /* answered with 431 */
  st->header_bytes += namelen + valuelen + 32;
  if (f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0; /* trailers: counted only */
  const char *v = (const char *)value;
  if (name_is(name, namelen, ":method")) {
    st->rq.head = valuelen == 4 && !memcmp(v, "HEAD", 4);
    st->rq.get = st->rq.head || (valuelen == 3 && !memcmp(v, "GET", 3));
  } else if (name_is(name, namelen, ":path"))
    admin_request_add_path(&st->rq, v, valuelen);
  else if (name_is(name, namelen, "accept"))
    admin_request_accept(&st->rq, v, valuelen);
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user) {
  admin_h2 *h = user;
  if (f->hd.type == NGHTTP2_SETTINGS && h->upgraded) {
    h2_stream *st = h->upgraded;
    h->upgraded = NULL;
    return respond(h, 1, st) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
  }
  if ((f->hd.type != NGHTTP2_HEADERS && f->hd.type != NGHTTP2_DATA) ||
      !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
    return 0;
  h2_stream *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
  if (!st || st->complete) return 0;
  st->complete = true;
  request_ends(h);
  if (st->header_bytes > ADMIN_H2_HEADERS_MAX)
    admin_response_text(&st->resp, 431, "Request Header Fields Too Large",
                        "request headers too large\n");
  else
    admin_route(h->c->admin, &st->rq, &st->resp);
  admin_response_own(&st->resp); /* sent as the window allows, after other scrapes maybe */
  return respond(h, f->hd.stream_id, st) ? NGHTTP2_ERR_CALLBACK_FAILURE : 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t code, void *user) {
  (void)code;
  admin_h2 *h = user;
  h2_stream *st = nghttp2_session_get_stream_user_data(s, id);
  if (!st) return 0;
  if (!st->complete) request_ends(h);
  if (h->upgraded == st) h->upgraded = NULL;
  admin_response_dispose(&st->resp);
  st->used = false;
  return 0;
}

static int session_new(admin_client *c) {
  admin_h2 *h = calloc(1, sizeof(*h));
  nghttp2_session_callbacks *cb = NULL;
  nghttp2_option *opt = NULL;
  int rv = h ? nghttp2_session_callbacks_new(&cb) : NGHTTP2_ERR_NOMEM;
  if (rv == 0) rv = nghttp2_option_new(&opt);
  if (rv == 0) {
    nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    nghttp2_option_set_no_closed_streams(opt, 1); /* nothing kept for the priority tree */
    rv = nghttp2_session_server_new2(&h->session, cb, h, opt);
  }
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, ADMIN_H2_STREAMS},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, ADMIN_H2_HEADERS_MAX},
  };
  if (rv == 0) rv = nghttp2_submit_settings(h->session, NGHTTP2_FLAG_NONE, iv, 2);
  nghttp2_session_callbacks_del(cb);
  nghttp2_option_del(opt);
  if (rv != 0) {
    if (h) nghttp2_session_del(h->session);
    free(h);
    return -ENOMEM; /* the only way these fail with constant arguments */
  }
  h->c = c;
  c->h2 = h;
  c->proto = ADMIN_PROTO_H2;
  return 0;
}

int admin_h2_start(admin_client *c) {
  c->req_ms = 0; /* the preface is in: from now on streams count as requests */
  return session_new(c);
}

/* Stream 1's answer waits for the client's preface: curl 7.88 cannot take more than 32 KiB
 * after the 101 before it has sent its own (and nothing requires answering sooner). */
int admin_h2_upgrade(admin_client *c, const uint8_t *settings, size_t n, admin_response *r) {
  int rv = session_new(c);
  if (rv < 0) return rv;
  admin_h2 *h = c->h2;
  h2_stream *st = stream_new(h);
  rv = nghttp2_session_upgrade2(h->session, settings, n, 0, NULL);
  if (rv == 0) rv = nghttp2_session_set_stream_user_data(h->session, 1, st);
  if (rv != 0) {
    admin_h2_free(c);
    c->proto = ADMIN_PROTO_HTTP1;
    return rv == NGHTTP2_ERR_NOMEM ? -ENOMEM : -EINVAL;
  }
  st->complete = true;
  st->resp = *r;
  admin_response_own(&st->resp); /* sent once the client's preface is in */
  h->upgraded = st;
  return 0;
}

/* Pulls frames while the client's unsent output is at most ADMIN_OUT_CAP. */
static void pump_output(admin_client *c) {
  while (!c->dead && admin_out_pending(c) <= ADMIN_OUT_CAP) {
    const uint8_t *data;
    ssize_t n = nghttp2_session_mem_send(c->h2->session, &data);
    if (n < 0) c->dead = true; /* fatal: nothing sensible can be sent any more */
    if (n <= 0) return;
    admin_out_append(c, data, (size_t)n);
  }
}

void admin_h2_process(admin_client *c) {
  nghttp2_session *s = c->h2->session;
  if (c->in_off < c->in_len && !c->dead) {
    ssize_t n =
        nghttp2_session_mem_recv(s, (const uint8_t *)c->in + c->in_off, c->in_len - c->in_off);
    if (n < 0) { /* flooded, a callback failed, out of memory: nghttp2 says close */
      c->dead = true;
      return;
    }
    c->in_off += (size_t)n;
  }
  pump_output(c);
}

bool admin_h2_done(const admin_client *c) {
  nghttp2_session *s = c->h2->session;
  return !nghttp2_session_want_read(s) && !nghttp2_session_want_write(s);
}

void admin_h2_free(admin_client *c) {
  admin_h2 *h = c->h2;
  if (!h) return;
  nghttp2_session_del(h->session); /* calls no stream-close callback: the slots are freed here */
  for (size_t i = 0; i < ADMIN_H2_STREAMS; i++)
    if (h->streams[i].used) admin_response_dispose(&h->streams[i].resp);
  free(h);
  c->h2 = NULL;
}
