/* The client's bytes on their way to nghttp2, looked at frame header by frame header (payloads
 * are skipped, not read) for what nghttp2 1.52 answers differently from RFC 9113 or from
 * grpc's servers:
 *
 *  - RST_STREAM for a stream the client never opened. grpc core clients (C++, Python, Ruby…)
 *    send one when a call is cancelled right after it was given a stream id and before its
 *    HEADERS went out (grpc/grpc#19655). nghttp2 takes it as a connection error (RST_STREAM on
 *    an idle stream) and every call of the connection fails with UNAVAILABLE; grpc's servers
 *    ignore it. Here its header goes to nghttp2 with an unknown frame type, which it ignores.
 *  - DATA or HEADERS on a closed stream (RFC 9113 5.1). Without RFC 7540 priorities nghttp2
 *    keeps no closed streams and ignores such frames silently; the client waits for an answer
 *    that never comes. They get RST_STREAM(STREAM_CLOSED) — unless the server itself reset the
 *    stream lately, when frames the client sent before it saw the reset must be ignored. DATA
 *    after the client's own END_STREAM gets the same stream error, where nghttp2 would end the
 *    whole connection (its header goes to nghttp2 as an ignored type).
 *  - HEADERS opening a stream with an id lower than one already opened, which was skipped
 *    (5.1.1): connection error PROTOCOL_ERROR, which nghttp2 cannot tell from a closed stream.
 *
 * Most chunks go to nghttp2_session_mem_recv whole; a chunk is cut only around a header that
 * must change, or one split between two chunks (held back until it is complete). */
#include <string.h>

#include "rpc/rpc_impl.h"

#define FRAME_HD        9
#define TYPE_IGNORED    0xfe /* an extension frame type nobody defines: ignored (RFC 9113 4.1) */
#define CLIENT_MAGIC_SZ (sizeof(NGHTTP2_CLIENT_MAGIC) - 1)
#define RESET_WINDOW_MS 10000 /* frames a client sent before it saw our reset arrive within */

static uint32_t be24(const uint8_t *p) {
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

static int32_t stream_id(const uint8_t *h) {
  return (int32_t)(((uint32_t)h[5] << 24 | (uint32_t)h[6] << 16 | (uint32_t)h[7] << 8 | h[8]) &
                   0x7fffffffu);
}

static int feed(rpc_conn *conn, const uint8_t *p, size_t n) {
  if (!n || conn->closing) return 0;
  ssize_t rv = nghttp2_session_mem_recv(conn->h2, p, n);
  return rv < 0 ? (int)rv : 0;
}

/* Skipped stream ids (never opened, implicitly closed), newest last; the oldest are forgotten
 * (they then read as closed, which is still a connection-ending answer for HEADERS). */
static void note_opened(rpc_h2_scan *s, int32_t id) {
  if (id > s->max_opened + 2) {
    if (s->n_skipped == RPC_SCAN_SKIPPED) {
      memmove(s->skipped, s->skipped + 1, sizeof(s->skipped) - sizeof(s->skipped[0]));
      s->n_skipped--;
    }
    s->skipped[s->n_skipped][0] = s->max_opened + 2;
    s->skipped[s->n_skipped][1] = id - 2;
    s->n_skipped++;
  }
  s->max_opened = id;
}

static bool was_skipped(const rpc_h2_scan *s, int32_t id) {
  for (unsigned i = 0; i < s->n_skipped; i++)
    if (id >= s->skipped[i][0] && id <= s->skipped[i][1]) return true;
  return false;
}

/* Whether the server reset `id` within RESET_WINDOW_MS: the last resets are remembered one by
 * one; past that many within the window, every stream from the lowest one forgotten on. */
static bool reset_lately(const rpc_h2_scan *s, int32_t id, uint64_t now_ms) {
  uint32_t now = (uint32_t)now_ms;
  for (unsigned i = 0; i < RPC_SCAN_RESETS; i++)
    if (s->reset_ids[i] == id && now - s->reset_at[i] < RESET_WINDOW_MS) return true;
  return s->overflow_floor && id >= s->overflow_floor && now - s->overflow_at < RESET_WINDOW_MS;
}

void rpc_h2_scan_reset_sent(rpc_h2_scan *s, int32_t id, uint64_t now_ms) {
  uint32_t now = (uint32_t)now_ms;
  unsigned i = s->reset_next;
  int32_t old = s->reset_ids[i];
  if (old && now - s->reset_at[i] < RESET_WINDOW_MS) { /* forgotten while it still matters */
    bool stale = now - s->overflow_at >= RESET_WINDOW_MS;
    if (stale || !s->overflow_floor || old < s->overflow_floor) s->overflow_floor = old;
    s->overflow_at = now;
  }
  s->reset_ids[i] = id;
  s->reset_at[i] = now;
  s->reset_next = (uint8_t)((i + 1) % RPC_SCAN_RESETS);
}

/* DATA or HEADERS for a client stream opened before this chunk (so nghttp2's view of it is
 * current, unless the client reset it earlier in the chunk): on a closed stream, a stream
 * error; HEADERS on a skipped id, a connection error. DATA after the client's END_STREAM
 * (half-closed remote) is a stream error too, which nghttp2 would make a connection error:
 * it does not see that DATA (returns true). */
static bool closed_stream_frame(rpc_conn *conn, uint8_t type, int32_t id) {
  nghttp2_stream *st = nghttp2_session_find_stream(conn->h2, id);
  bool gone = id == conn->scan.reset_in_chunk || !st;
  bool half_closed =
      !gone && type == NGHTTP2_DATA && nghttp2_session_get_stream_remote_close(conn->h2, id) == 1;
  if ((!gone && !half_closed) || reset_lately(&conn->scan, id, conn->sh->timers->now_ms))
    return false;
  if (type == NGHTTP2_HEADERS && was_skipped(&conn->scan, id)) {
    nghttp2_session_terminate_session(conn->h2, NGHTTP2_PROTOCOL_ERROR);
    conn->closing = true;
    return false;
  }
  rpc_conn_reset_stream(conn, id, NGHTTP2_STREAM_CLOSED);
  return half_closed;
}

/* Looks at one whole frame header: true if nghttp2 must see it with another type. Notes the
 * streams the client opens and how much payload follows. `open_before` is the highest stream
 * the client had opened when this chunk began. */
static bool header_seen(rpc_conn *conn, const uint8_t *h, int32_t open_before) {
  rpc_h2_scan *s = &conn->scan;
  uint8_t type = h[3];
  int32_t id = stream_id(h);
  s->skip = be24(h);
  if (!(id & 1)) return false; /* connection frames, and even ids: nghttp2's business */
  if (type == NGHTTP2_RST_STREAM) {
    s->reset_in_chunk = id;
    return id > s->max_opened;
  }
  if (type != NGHTTP2_HEADERS && type != NGHTTP2_DATA) return false;
  if (id <= open_before) return closed_stream_frame(conn, type, id);
  if (type == NGHTTP2_HEADERS && id > s->max_opened) note_opened(s, id);
  return false;
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
  if (header_seen(conn, s->hdr, s->max_opened)) s->hdr[3] = TYPE_IGNORED;
  int rv = feed(conn, s->hdr, FRAME_HD);
  return rv < 0 ? rv : (ssize_t)take;
}

int rpc_h2_scan_recv(rpc_conn *conn, const uint8_t *p, size_t n) {
  rpc_h2_scan *s = &conn->scan;
  size_t i = 0, fed = 0; /* scanned up to i; given to nghttp2 up to fed */
  s->reset_in_chunk = 0;
  if (s->magic_left) { /* nghttp2 checks the preface itself */
    i = n < s->magic_left ? n : s->magic_left;
    s->magic_left -= (uint8_t)i;
  }
  if (s->held && i < n) {
    ssize_t used = finish_held(conn, p + i, n - i);
    if (used < 0) return (int)used;
    i = fed = i + (size_t)used;
  }
  int32_t open_before = s->max_opened;
  while (i < n && !conn->closing) {
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
    if (header_seen(conn, p + i, open_before)) {
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
  return feed(conn, p + fed, (i < n ? i : n) - fed);
}

void rpc_h2_scan_init(rpc_h2_scan *s) {
  memset(s, 0, sizeof(*s));
  s->magic_left = CLIENT_MAGIC_SZ;
}
