/* The Length-Prefixed-Message reader: any split, many messages per chunk, limits. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/grpc_frame.h"

typedef struct sink {
  int n;
  size_t lens[16];
  char msgs[16][64];
  bool compressed[16];
  int allocs;
  int stop_after; /* return -1 from the callback after this many messages; 0 = never */
} sink;

static void *alloc_fn(void *ud, size_t size) {
  ((sink *)ud)->allocs++;
  return malloc(size ? size : 1);
}

static int msg_fn(void *ud, uint8_t *msg, size_t len, bool compressed) {
  sink *s = ud;
  cr_assert_lt(s->n, 16);
  s->lens[s->n] = len;
  memcpy(s->msgs[s->n], msg, len < 63 ? len : 63);
  s->compressed[s->n] = compressed;
  free(msg);
  s->n++;
  return s->stop_after && s->n >= s->stop_after ? -1 : 0;
}

static size_t put(uint8_t *out, const char *msg, bool compressed) {
  size_t len = strlen(msg);
  rpc_frame_prefix(out, compressed, (uint32_t)len);
  memcpy(out + RPC_FRAME_PREFIX, msg, len);
  return RPC_FRAME_PREFIX + len;
}

Test(grpc_frame, prefix_is_big_endian) {
  uint8_t p[5];
  rpc_frame_prefix(p, true, 0x01020304);
  uint8_t want[5] = {1, 1, 2, 3, 4};
  cr_assert_arr_eq(p, want, 5);
}

Test(grpc_frame, coalesced_messages_in_one_chunk) {
  uint8_t buf[128];
  size_t n = put(buf, "hello", false);
  n += put(buf + n, "", false);
  n += put(buf + n, "world!", true);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {0};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, alloc_fn, msg_fn, &s), 0);
  cr_assert_eq(s.n, 3);
  cr_assert_str_eq(s.msgs[0], "hello");
  cr_assert_eq(s.lens[1], 0);
  cr_assert_str_eq(s.msgs[2], "world!");
  cr_assert(s.compressed[2] && !s.compressed[0]);
  cr_assert_not(rpc_frame_partial(&r));
}

Test(grpc_frame, every_split_point_gives_the_same_messages) {
  uint8_t buf[128];
  size_t n = put(buf, "abcdefgh", false);
  n += put(buf + n, "xy", false);
  for (size_t a = 0; a <= n; a++) {
    for (size_t b = a; b <= n; b++) {
      rpc_frame_reader r;
      rpc_frame_reader_init(&r, 1024);
      sink s = {0};
      cr_assert_eq(rpc_frame_feed(&r, buf, a, alloc_fn, msg_fn, &s), 0);
      cr_assert_eq(rpc_frame_feed(&r, buf + a, b - a, alloc_fn, msg_fn, &s), 0);
      cr_assert_eq(rpc_frame_feed(&r, buf + b, n - b, alloc_fn, msg_fn, &s), 0);
      cr_assert_eq(s.n, 2, "split %zu/%zu", a, b);
      cr_assert_str_eq(s.msgs[0], "abcdefgh");
      cr_assert_str_eq(s.msgs[1], "xy");
    }
  }
}

Test(grpc_frame, byte_at_a_time) {
  uint8_t buf[64];
  size_t n = put(buf, "one byte at a time", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {0};
  for (size_t i = 0; i < n; i++) {
    cr_assert_eq(s.n, 0);
    cr_assert_eq(rpc_frame_feed(&r, buf + i, 1, alloc_fn, msg_fn, &s), 0);
  }
  cr_assert_eq(s.n, 1);
  cr_assert_str_eq(s.msgs[0], "one byte at a time");
}

Test(grpc_frame, oversized_is_refused_before_allocating) {
  uint8_t p[5];
  rpc_frame_prefix(p, false, 4u << 20 | 1);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 4u << 20);
  sink s = {0};
  cr_assert_eq(rpc_frame_feed(&r, p, 5, alloc_fn, msg_fn, &s), RPC_FRAME_TOO_LARGE);
  cr_assert_eq(s.allocs, 0);
  cr_assert_eq(r.last_len, (4u << 20) + 1);
}

Test(grpc_frame, limit_itself_is_allowed) {
  uint8_t buf[5 + 8];
  size_t n = put(buf, "12345678", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 8);
  sink s = {0};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, alloc_fn, msg_fn, &s), 0);
  cr_assert_eq(s.n, 1);
}

Test(grpc_frame, truncated_prefix_and_body_are_partial) {
  uint8_t buf[32];
  size_t n = put(buf, "truncated", false);
  for (size_t cut = 1; cut < n; cut++) {
    rpc_frame_reader r;
    rpc_frame_reader_init(&r, 1024);
    sink s = {0};
    cr_assert_eq(rpc_frame_feed(&r, buf, cut, alloc_fn, msg_fn, &s), 0);
    cr_assert_eq(s.n, 0);
    cr_assert(rpc_frame_partial(&r), "cut at %zu", cut);
    free(r.msg);
  }
}

Test(grpc_frame, bad_flag_byte) {
  uint8_t buf[] = {2, 0, 0, 0, 1, 'x'};
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {0};
  cr_assert_eq(rpc_frame_feed(&r, buf, sizeof(buf), alloc_fn, msg_fn, &s), RPC_FRAME_BAD_FLAG);
}

Test(grpc_frame, callback_can_stop_the_feed) {
  uint8_t buf[64];
  size_t n = put(buf, "a", false);
  n += put(buf + n, "b", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {.stop_after = 1};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, alloc_fn, msg_fn, &s), RPC_FRAME_ABORTED);
  cr_assert_eq(s.n, 1);
}

static void *failing_alloc(void *ud, size_t size) {
  (void)ud, (void)size;
  return NULL;
}

Test(grpc_frame, allocation_failure) {
  uint8_t buf[16];
  size_t n = put(buf, "abc", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {0};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, failing_alloc, msg_fn, &s), RPC_FRAME_NOMEM);
}

/* A stream that ends mid-message (fuzz_h2_conn: the client resets a streaming call after a
 * prefix and part of its message): the owner gets the partial buffer back to free it, once. */
Test(grpc_frame, release_gives_back_a_partial_message) {
  uint8_t buf[16];
  size_t n = put(buf, "abcdef", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {0};
  cr_assert_null(rpc_frame_reader_release(&r), "nothing before any byte");
  cr_assert_eq(rpc_frame_feed(&r, buf, 3, alloc_fn, msg_fn, &s), 0);
  cr_assert_null(rpc_frame_reader_release(&r), "a partial prefix holds no buffer");
  cr_assert_eq(rpc_frame_feed(&r, buf + 3, n - 4, alloc_fn, msg_fn, &s), 0);
  cr_assert_eq(s.allocs, 1);
  void *partial = rpc_frame_reader_release(&r);
  cr_assert_not_null(partial, "the message being filled");
  cr_assert_null(rpc_frame_reader_release(&r), "handed out once");
  free(partial);
}

/* A message handed to the callback is the callee's, even when the callback stops the feed: the
 * reader must not offer it again (the callee may have freed it). */
Test(grpc_frame, release_never_returns_a_delivered_message) {
  uint8_t buf[64];
  size_t n = put(buf, "a", false);
  n += put(buf + n, "b", false);
  rpc_frame_reader r;
  rpc_frame_reader_init(&r, 1024);
  sink s = {.stop_after = 1};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, alloc_fn, msg_fn, &s), RPC_FRAME_ABORTED);
  cr_assert_null(rpc_frame_reader_release(&r));
  rpc_frame_reader_init(&r, 1024);
  s = (sink){0};
  cr_assert_eq(rpc_frame_feed(&r, buf, n, alloc_fn, msg_fn, &s), 0);
  cr_assert_eq(s.n, 2);
  cr_assert_null(rpc_frame_reader_release(&r));
}
