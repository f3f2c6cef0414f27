/* Idle connections give back the pages nghttp2 touched and no longer needs.
 *
 * An idle h2c connection costs about 12 KiB of RSS, and two pages of it are nghttp2's own
 * scratch: its stream map's bucket table (4 KiB, read in full whenever a SETTINGS change of the
 * initial window is acknowledged; on kernels without a shared zero page, as here, reading
 * untouched memory makes it resident) and the first page of its 16 KiB frame buffer (written for
 * every frame sent). Both live in this shard's slab (page-aligned slots), so after a second with
 * nothing read or written and no call open, madvise(MADV_DONTNEED) drops them; the next use
 * faults in zero pages.
 *
 * Why it is safe:
 *  - the pointers are the ones nghttp2_session_server_new3 allocated (exact sizes, recorded by
 *    the shard's allocator while rpc_conn_open runs), and forgotten when nghttp2 frees them:
 *    the nghttp2 calls that can free them (mem_recv grows the map for a new stream, send may
 *    repack DATA into a larger frame buffer, session_del frees both) run with sh->cur_conn set,
 *    and the allocator clears them on free (rpc/shard.c). The other calls we make (submit_*,
 *    consume, resume_data, set_local_window_size) free neither, checked against nghttp2 1.52;
 *    those that could (push promises, idle streams, priority changes, upgrade) are not used;
 *  - the map table is dropped only when every byte of it is zero (no stream in it): zero pages
 *    for zero bytes changes nothing;
 *  - the frame buffer holds nothing between frames: nghttp2 packs each frame into it afresh and
 *    our send callback takes every byte at once, so with nothing left to write its contents are
 *    spent. */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/log.h"
#include "rpc/rpc_impl.h"

#define PAGE 4096u

static bool page_aligned(const void *p) {
  return ((uintptr_t)p & (PAGE - 1)) == 0;
}

static bool all_zero(const uint8_t *p, size_t n) {
  uint64_t acc = 0;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t w;
    memcpy(&w, p + i, 8);
    acc |= w;
  }
  return acc == 0;
}

void rpc_idle_trim_track(rpc_shard *sh, void *p, size_t size) {
  rpc_conn *conn = sh->tracking;
  if (!conn || !p || !page_aligned(p)) return;
  if (size == RPC_TRIM_MAP_BYTES && !conn->trim_map)
    conn->trim_map = p;
  else if (size == RPC_TRIM_FRAMEBUF_BYTES && !conn->trim_framebuf)
    conn->trim_framebuf = p;
}

void rpc_idle_trim_forget(rpc_shard *sh, const void *p) {
  rpc_conn *conn = sh->cur_conn;
  if (!conn || !p) return;
  if (p == conn->trim_map) conn->trim_map = NULL;
  if (p == conn->trim_framebuf) conn->trim_framebuf = NULL;
}

uint64_t rpc_idle_trim_deadline(const rpc_conn *conn) {
  if (conn->trimmed || (!conn->trim_map && !conn->trim_framebuf)) return 0;
  uint64_t last =
      conn->last_read_ms > conn->last_write_ms ? conn->last_read_ms : conn->last_write_ms;
  return last + RPC_IDLE_TRIM_MS;
}

/* The first read or write after a trim: the next quiet spell needs the timer again. */
void rpc_idle_trim_woke(rpc_conn *conn) {
  conn->trimmed = false;
  rpc_keepalive_rearm(conn);
}

/* Runs once per quiet spell (the next read or write clears `trimmed`); a connection with a call
 * open or output pending is left alone until then. */
void rpc_idle_trim(rpc_conn *conn) {
  if (conn->trimmed) return;
  conn->trimmed = true;
  if (conn->closing || conn->n_open || nghttp2_session_want_write(conn->h2)) return;
  if (conn->trim_map && all_zero(conn->trim_map, RPC_TRIM_MAP_BYTES))
    madvise(conn->trim_map, RPC_TRIM_MAP_BYTES, MADV_DONTNEED);
  if (conn->trim_framebuf)
    madvise(conn->trim_framebuf, RPC_TRIM_FRAMEBUF_BYTES & ~(size_t)(PAGE - 1), MADV_DONTNEED);
}
