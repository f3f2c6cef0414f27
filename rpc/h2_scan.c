/* The client's bytes on their way to nghttp2, looked at frame header by frame header (payloads
 * are skipped, not read) for what nghttp2 1.52 would answer differently from grpc's servers:
 *
 *  - RST_STREAM for a stream the client never opened. grpc core clients (C++, Python, Ruby…)
 *    send one when a call is cancelled right after it was given a stream id and before its
 *    HEADERS went out (grpc/grpc#19655). nghttp2 takes it as a connection error (RST_STREAM on
 *    an idle stream) and every call of the connection fails with UNAVAILABLE; grpc's servers
 *    ignore it. Here its header goes to nghttp2 with an unknown frame type, which it ignores.
 *
 * Most chunks go to nghttp2_session_mem_recv whole; a chunk is cut only around a header that
 * must change, or one split between two chunks (held back until it is complete). */
#include <string.h>

#include "rpc/rpc_impl.h"

#define FRAME_HD        9
#define TYPE_IGNORED    0xfe /* an extension frame type nobody defines: ignored (RFC 9113 4.1) */
#define CLIENT_MAGIC_SZ (sizeof(NGHTTP2_CLIENT_MAGIC) - 1)

static uint32_t be24(const uint8_t *p) {
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static int32_t stream_id(const uint8_t *h) {
  return (int32_t)(((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
                   0x7fffffffu);
}

static int feed(rpc_conn *conn, const uint8_t *p, size_t n) {
  if (!n) return 0;
  ssize_t rv = nghttp2_session_mem_recv(conn->h2, p, n);
  return rv < 0 ? (int)rv : 0;
}

/* Looks at one whole frame header: true if nghttp2 must see it with another type. Notes the
 * streams the client opens and how much payload follows. */
static bool header_seen(rpc_h2_scan *s, const uint8_t *h) {
  uint8_t type = h[3];
  int32_t id = stream_id(h);
  s->skip = be24(h);
  if (type == NGHTTP2_HEADERS && (id & 1) && id > s->max_opened) s->max_opened = id;
  return type == NGHTTP2_RST_STREAM && (id & 1) && id > s->max_opened;
}

/* Completes a header held back from the previous chunk with the first bytes of this one, and
 * hands it to nghttp2. Returns the bytes of `p` used, or a negative nghttp2 error. */
static ssize_t finish_held(rpc_conn *conn, const uint8_t *p, size_t n) {
  rpc_h2_scan *s = &conn->scan;
  size_t take = FRAME_HD - s->held;
  if (take > n) take = n;
  memcpy(s->hdr + s->held, p, take);
  s->held += (uint8_t)take;
  if (s->held < FRAME_HD) return (ssize_t)take;
  s->held = 0;
  if (header_seen(s, s->hdr)) s->hdr[3] = TYPE_IGNORED;
  int rv = feed(conn, s->hdr, FRAME_HD);
  return rv < 0 ? rv : (ssize_t)take;
}

int rpc_h2_scan_recv(rpc_conn *conn, const uint8_t *p, size_t n) {
  rpc_h2_scan *s = &conn->scan;
  size_t i = 0, fed = 0; /* scanned up to i; given to nghttp2 up to fed */
  if (s->magic_left) {   /* nghttp2 checks the preface itself */
    i = n < s->magic_left ? n : s->magic_left;
    s->magic_left -= (uint8_t)i;
  }
  if (s->held && i < n) {
    ssize_t used = finish_held(conn, p + i, n - i);
    if (used < 0) return (int)used;
    i = fed = i + (size_t)used;
  }
  while (i < n) {
    if (s->skip) {
      size_t take = n - i < s->skip ? n - i : s->skip;
      i += take;
      s->skip -= (uint32_t)take;
      continue;
    }
    if (n - i < FRAME_HD) { /* split: hold it back until the rest comes */
      int rv = feed(conn, p + fed, i - fed);
      if (rv < 0) return rv;
      memcpy(s->hdr, p + i, n - i);
      s->held = (uint8_t)(n - i);
      return 0;
    }
    if (header_seen(s, p + i)) {
      uint8_t h[FRAME_HD];
      memcpy(h, p + i, FRAME_HD);
      h[3] = TYPE_IGNORED;
      int rv = feed(conn, p + fed, i - fed);
      if (rv == 0) rv = feed(conn, h, FRAME_HD);
      if (rv < 0) return rv;
      fed = i + FRAME_HD;
    }
    i += FRAME_HD;
  }
  return feed(conn, p + fed, n - fed);
}

void rpc_h2_scan_init(rpc_h2_scan *s) {
  memset(s, 0, sizeof(*s));
  s->magic_left = CLIENT_MAGIC_SZ;
}
