/* The gRPC length-prefix reader (rpc/grpc_frame.h). Input: 2 bytes of limit, 1 byte of split
 * size, 1 byte naming the message whose callback says stop, then the stream. The stream is fed
 * whole to one reader and in pieces to another: both must report the same messages and the
 * same error, and each message must be the bytes the stream carries at its place. */
#include <string.h>

#include "core/arena.h"
#include "fuzz_check.h"
#include "rpc/grpc_frame.h"

#define MAX_MSGS 256

typedef struct seen {
  size_t n;
  size_t off[MAX_MSGS], len[MAX_MSGS]; /* where each message is in the stream */
  bool compressed[MAX_MSGS];
  size_t stop_at; /* this message's callback returns -1 */
  const uint8_t *stream;
  size_t pos; /* stream offset of the next prefix */
  core_arena *arena;
} seen;

/* The reader hands the same `ud` to the allocator and to the message callback. */
static void *alloc(void *ud, size_t size) {
  return core_arena_alloc(((seen *)ud)->arena, size);
}

static int on_msg(void *ud, uint8_t *msg, size_t len, bool compressed) {
  seen *s = ud;
  /* The message is the `len` bytes after a 5-byte prefix, at the expected place. */
  size_t at = s->pos + RPC_FRAME_PREFIX;
  FUZZ_CHECK(memcmp(msg, s->stream + at, len) == 0, "message %zu has other bytes", s->n);
  FUZZ_CHECK((s->stream[s->pos] == 1) == compressed, "message %zu: flag", s->n);
  if (s->n < MAX_MSGS) {
    s->off[s->n] = at;
    s->len[s->n] = len;
    s->compressed[s->n] = compressed;
  }
  s->pos = at + len;
  return s->n++ == s->stop_at ? -1 : 0;
}

static int run(const uint8_t *p, size_t n, uint32_t max, size_t step, seen *s) {
  core_arena arena;
  core_arena_init(&arena, NULL, 0);
  s->arena = &arena;
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, max);
  int rc = 0;
  for (size_t off = 0; off < n && rc == 0;) {
    size_t k = n - off < step ? n - off : step;
    rc = rpc_frame_feed(&r, p + off, k, alloc, on_msg, s);
    off += k;
  }
  /* A reader fed to the end without error is between messages exactly when it says so. */
  if (rc == 0)
    FUZZ_CHECK(rpc_frame_partial(&r) == (s->pos != n), "partial at %zu of %zu", s->pos, n);
  if (rc == RPC_FRAME_TOO_LARGE) FUZZ_CHECK(r.last_len > max, "too large: %u", r.last_len);
  core_arena_dispose(&arena);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  uint32_t max = (uint32_t)data[0] << 8 | data[1];
  size_t step = data[2] ? data[2] : 1;
  size_t stop_at = data[3] ? data[3] - 1u : SIZE_MAX;
  data += 4, size -= 4;
  seen whole = {.stop_at = stop_at, .stream = data}, split = whole;
  int a = run(data, size, max, size ? size : 1, &whole);
  int b = run(data, size, max, step, &split);
  FUZZ_CHECK(a == b, "whole: %d, in pieces of %zu: %d", a, step, b);
  FUZZ_CHECK(whole.n == split.n, "messages: %zu whole, %zu in pieces", whole.n, split.n);
  if (a == RPC_FRAME_ABORTED) FUZZ_CHECK(whole.n == stop_at + 1, "stopped after %zu", whole.n);
  for (size_t i = 0; i < whole.n && i < MAX_MSGS; i++) {
    FUZZ_CHECK(whole.len[i] <= max, "message %zu: %zu bytes over the limit", i, whole.len[i]);
    FUZZ_CHECK(whole.off[i] == split.off[i] && whole.len[i] == split.len[i], "message %zu", i);
  }
  return 0;
}
