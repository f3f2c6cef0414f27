/* core/outq.h: copies coalesce, references keep their place and are released exactly once when
 * their last byte is consumed (or at dispose), copies span blocks, and every block goes back to
 * the pool. A randomised run checks all of it against a plain byte-string model. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <criterion/criterion.h>

#include "leak_check.h"

#include "core/outq.h"

TestSuite(outq);

/* Concatenates what core_outq_iov returns (up to 1024 iovecs) into `out`; returns the length. */
static size_t gather(const core_outq *q, uint8_t *out, size_t cap, int *niov) {
  static struct iovec iov[1024];
  int n = core_outq_iov(q, iov, 1024);
  size_t len = 0;
  for (int i = 0; i < n; i++) {
    cr_assert_leq(len + iov[i].iov_len, cap);
    memcpy(out + len, iov[i].iov_base, iov[i].iov_len);
    len += iov[i].iov_len;
  }
  if (niov) *niov = n;
  return len;
}

static void expect_contents(const core_outq *q, const char *want) {
  static uint8_t buf[1 << 16];
  size_t len = gather(q, buf, sizeof(buf), NULL);
  cr_assert_eq(len, strlen(want), "queued %zu bytes, want %zu", len, strlen(want));
  cr_assert_eq(memcmp(buf, want, len), 0, "queued \"%.*s\", want \"%s\"", (int)len, buf, want);
  cr_assert_eq(q->bytes, len);
}

static void count_release(void *arg) {
  (*(int *)arg)++;
}

static core_pool pool;

static void setup(void) {
  core_pool_init(&pool, core_outq_block_size(), 4);
}

/* Ends every test (not a `.fini`: Criterion ignores assertions made there). */
static void finish_test(void) {
  cr_expect_eq(pool.live, 0, "%zu blocks never returned to the pool", pool.live);
  core_pool_dispose(&pool);
  check_no_leaks();
}

Test(outq, empty_queue, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  struct iovec iov[4];
  cr_expect_eq(core_outq_iov(&q, iov, 4), 0);
  cr_expect_eq(q.bytes, 0);
  core_outq_consume(&q, 0);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, copies_coalesce_into_one_iovec, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  cr_assert_eq(core_outq_copy(&q, "hello", 5), 0);
  cr_assert_eq(core_outq_copy(&q, ", ", 2), 0);
  cr_assert_eq(core_outq_copy(&q, "world", 5), 0);
  struct iovec iov[4];
  cr_assert_eq(core_outq_iov(&q, iov, 4), 1, "three small copies should be one iovec");
  cr_expect_eq(iov[0].iov_len, 12);
  expect_contents(&q, "hello, world");
  cr_expect_eq(pool.live, 1);
  core_outq_consume(&q, 12);
  cr_expect_eq(core_outq_iov(&q, iov, 4), 0);
  cr_expect_eq(q.bytes, 0);
  cr_expect_eq(pool.live, 0, "an idle queue still holds a block");
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, copy_after_partial_consume_still_coalesces, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  cr_assert_eq(core_outq_copy(&q, "abcdef", 6), 0);
  core_outq_consume(&q, 4);
  expect_contents(&q, "ef");
  cr_assert_eq(core_outq_copy(&q, "gh", 2), 0);
  struct iovec iov[4];
  cr_expect_eq(core_outq_iov(&q, iov, 4), 1);
  expect_contents(&q, "efgh");
  core_outq_consume(&q, 4);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, refs_keep_order_and_release_once, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  int rel_b = 0, rel_d = 0;
  cr_assert_eq(core_outq_copy(&q, "A", 1), 0);
  cr_assert_eq(core_outq_ref(&q, "BBBB", 4, count_release, &rel_b), 0);
  cr_assert_eq(core_outq_copy(&q, "CC", 2), 0);
  cr_assert_eq(core_outq_ref(&q, "DDD", 3, count_release, &rel_d), 0);
  cr_assert_eq(core_outq_copy(&q, "E", 1), 0);
  struct iovec iov[8];
  cr_assert_eq(core_outq_iov(&q, iov, 8), 5);
  expect_contents(&q, "ABBBBCCDDDE");
  /* A copy after a reference must not be merged into the copy before the reference. */
  cr_expect_eq(iov[2].iov_len, 2);

  core_outq_consume(&q, 1); /* "A" */
  cr_expect_eq(rel_b, 0);
  core_outq_consume(&q, 3); /* "BBB": B only partly sent */
  cr_expect_eq(rel_b, 0, "a partly sent reference was released");
  expect_contents(&q, "BCCDDDE");
  core_outq_consume(&q, 1); /* last "B" */
  cr_expect_eq(rel_b, 1);
  cr_expect_eq(rel_d, 0);
  core_outq_consume(&q, 2 + 3); /* "CC" and "DDD" */
  cr_expect_eq(rel_d, 1);
  expect_contents(&q, "E");
  cr_expect_eq(pool.live, 1);
  core_outq_consume(&q, 1);
  cr_expect_eq(rel_b, 1, "released more than once");
  cr_expect_eq(rel_d, 1, "released more than once");
  cr_expect_eq(pool.live, 0);
  core_outq_dispose(&q);
  cr_expect_eq(rel_b, 1, "dispose released a sent reference again");
  cr_expect_eq(rel_d, 1);
  finish_test();
}

Test(outq, consume_across_segments_in_one_call, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  int r[3] = {0};
  cr_assert_eq(core_outq_ref(&q, "aa", 2, count_release, &r[0]), 0);
  cr_assert_eq(core_outq_ref(&q, "bbb", 3, count_release, &r[1]), 0);
  cr_assert_eq(core_outq_ref(&q, "cccc", 4, count_release, &r[2]), 0);
  core_outq_consume(&q, 6); /* all of a and b, one byte of c */
  cr_expect_eq(r[0], 1);
  cr_expect_eq(r[1], 1);
  cr_expect_eq(r[2], 0);
  expect_contents(&q, "ccc");
  core_outq_consume(&q, 3);
  cr_expect_eq(r[2], 1);
  core_outq_dispose(&q);
  for (int i = 0; i < 3; i++) cr_expect_eq(r[i], 1);
  finish_test();
}

Test(outq, ref_without_release_fn, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  cr_assert_eq(core_outq_ref(&q, "static", 6, NULL, NULL), 0);
  expect_contents(&q, "static");
  core_outq_consume(&q, 6);
  cr_assert_eq(core_outq_ref(&q, "again", 5, NULL, NULL), 0);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, big_copy_spans_blocks, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  size_t len = 2 * CORE_OUTQ_BLOCK + 7000;
  uint8_t *src = malloc(len), *out = malloc(len);
  cr_assert(src && out);
  for (size_t i = 0; i < len; i++) src[i] = (uint8_t)(i * 131 + (i >> 8));
  cr_assert_eq(core_outq_copy(&q, src, len), 0);
  cr_expect_eq(q.bytes, len);
  cr_expect_eq(pool.live, 3, "%zu blocks for 2 blocks + 7000 bytes", pool.live);
  int niov = 0;
  cr_assert_eq(gather(&q, out, len, &niov), len);
  cr_expect_eq(niov, 3);
  cr_assert_eq(memcmp(src, out, len), 0);

  /* Consume in odd-sized chunks: the front always matches the source, blocks come back as the
   * queue moves past them. */
  size_t done = 0;
  while (done < len) {
    size_t chunk = len - done < 7777 ? len - done : 7777;
    core_outq_consume(&q, chunk);
    done += chunk;
    size_t n = gather(&q, out, len, NULL);
    cr_assert_eq(n, len - done);
    cr_assert_eq(memcmp(src + done, out, n), 0, "wrong bytes after consuming %zu", done);
    /* Blocks wholly behind the front are back in the pool. */
    size_t want_live = done < len ? 3 - done / CORE_OUTQ_BLOCK : 0;
    cr_assert_eq(pool.live, want_live, "after %zu bytes: %zu blocks live, want %zu", done,
                 pool.live, want_live);
  }
  cr_expect_eq(pool.live, 0);
  core_outq_dispose(&q);
  free(src);
  free(out);
  finish_test();
}

Test(outq, copy_fills_block_exactly_then_continues, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  static uint8_t blk[CORE_OUTQ_BLOCK];
  memset(blk, 'x', sizeof(blk));
  cr_assert_eq(core_outq_copy(&q, blk, sizeof(blk)), 0);
  cr_expect_eq(pool.live, 1);
  cr_assert_eq(core_outq_copy(&q, "y", 1), 0);
  cr_expect_eq(pool.live, 2);
  struct iovec iov[4];
  cr_assert_eq(core_outq_iov(&q, iov, 4), 2);
  cr_expect_eq(iov[0].iov_len, CORE_OUTQ_BLOCK);
  cr_expect_eq(iov[1].iov_len, 1);
  cr_expect_eq(*(char *)iov[1].iov_base, 'y');
  core_outq_consume(&q, CORE_OUTQ_BLOCK);
  cr_expect_eq(pool.live, 1, "the sent full block was not returned");
  core_outq_consume(&q, 1);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, iov_respects_max, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  static const char data[] = "0123456789";
  for (int i = 0; i < 10; i++) cr_assert_eq(core_outq_ref(&q, data + i, 1, NULL, NULL), 0);
  struct iovec iov[10];
  cr_assert_eq(core_outq_iov(&q, iov, 3), 3);
  for (int i = 0; i < 3; i++) cr_expect_eq(iov[i].iov_base, (void *)(data + i));
  cr_expect_eq(core_outq_iov(&q, iov, 0), 0);
  cr_assert_eq(core_outq_iov(&q, iov, 10), 10);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, many_segments_grow_the_ring, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  enum { N = 300 };
  static int rel[N];
  static char want[2 * N + 1];
  static const char letters[] = "abcdefghijklmnopqrstuvwxyz";
  size_t w = 0;
  /* Alternating copy and ref: nothing coalesces, so N * 2 segments. Consume some in between so
   * the ring wraps before it grows. */
  for (int i = 0; i < N; i++) {
    char c = (char)('A' + i % 26);
    cr_assert_eq(core_outq_copy(&q, &c, 1), 0);
    cr_assert_eq(core_outq_ref(&q, &letters[i % 26], 1, count_release, &rel[i]), 0);
    want[w++] = c;
    want[w++] = letters[i % 26];
    if (i == 5) {
      core_outq_consume(&q, 8);
      memmove(want, want + 8, w - 8);
      w -= 8;
      for (int k = 0; k < 4; k++) cr_expect_eq(rel[k], 1);
    }
  }
  want[w] = 0;
  expect_contents(&q, want);
  core_outq_consume(&q, w);
  for (int i = 0; i < N; i++) cr_expect_eq(rel[i], 1, "ref %d released %d times", i, rel[i]);
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, dispose_releases_unsent_refs, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  int r[3] = {0};
  cr_assert_eq(core_outq_copy(&q, "hdr", 3), 0);
  cr_assert_eq(core_outq_ref(&q, "payload-1", 9, count_release, &r[0]), 0);
  cr_assert_eq(core_outq_copy(&q, "hdr", 3), 0);
  cr_assert_eq(core_outq_ref(&q, "payload-2", 9, count_release, &r[1]), 0);
  cr_assert_eq(core_outq_ref(&q, "payload-3", 9, count_release, &r[2]), 0);
  core_outq_consume(&q, 3 + 4); /* part of payload-1 */
  cr_expect_eq(r[0], 0);
  core_outq_dispose(&q);
  for (int i = 0; i < 3; i++) cr_expect_eq(r[i], 1, "ref %d released %d times by dispose", i, r[i]);
  cr_expect_eq(q.bytes, 0);
  cr_expect_eq(pool.live, 0);

  /* The queue is reusable after dispose. */
  cr_assert_eq(core_outq_copy(&q, "again", 5), 0);
  expect_contents(&q, "again");
  core_outq_dispose(&q);
  finish_test();
}

Test(outq, dispose_of_fresh_and_empty_queues, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  core_outq_dispose(&q);
  core_outq_dispose(&q);
  cr_assert_eq(core_outq_copy(&q, "x", 1), 0);
  core_outq_consume(&q, 1);
  core_outq_dispose(&q);
  finish_test();
}

/* ---- randomised run against a model ---- */

#define MODEL_CAP (1u << 21)
#define MAX_REFS  4096

typedef struct model_ref {
  size_t end; /* stream offset just past the reference's last byte */
  int released;
} model_ref;

static uint8_t model[MODEL_CAP]; /* every byte ever queued, by stream offset */
static uint8_t scratch[MODEL_CAP];
static model_ref refs[MAX_REFS];
static uint8_t ref_data[1 << 16];

static uint32_t rng_state = 0x9e3779b9u;
static uint32_t rnd(uint32_t n) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state % n;
}

static void model_release(void *arg) {
  ((model_ref *)arg)->released++;
}

Test(outq, randomised_against_model, .init = setup) {
  core_outq q;
  core_outq_init(&q, &pool);
  for (size_t i = 0; i < sizeof(ref_data); i++) ref_data[i] = (uint8_t)rnd(256);
  size_t queued = 0, sent = 0;
  int nrefs = 0;
  for (int step = 0; step < 3000 && queued < MODEL_CAP - 70000 && nrefs < MAX_REFS; step++) {
    uint32_t op = rnd(10);
    if (op < 4) {
      /* Copy: mostly small (headers), sometimes more than a block. */
      size_t n = rnd(8) ? 1 + rnd(64) : 1 + rnd(3 * CORE_OUTQ_BLOCK);
      uint8_t tmp[64];
      const uint8_t *src;
      if (n <= sizeof(tmp)) {
        for (size_t i = 0; i < n; i++) tmp[i] = (uint8_t)rnd(256);
        src = tmp;
      } else { /* n < sizeof(ref_data) */
        src = ref_data + rnd((uint32_t)(sizeof(ref_data) - n));
      }
      cr_assert_eq(core_outq_copy(&q, src, n), 0);
      memcpy(model + queued, src, n);
      queued += n;
    } else if (op < 7) {
      size_t n = 1 + rnd(4096);
      const uint8_t *p = ref_data + rnd((uint32_t)(sizeof(ref_data) - n));
      model_ref *r = &refs[nrefs++];
      memcpy(model + queued, p, n);
      queued += n;
      *r = (model_ref){queued, 0};
      cr_assert_eq(core_outq_ref(&q, p, n, model_release, r), 0);
    } else {
      size_t pending = queued - sent;
      size_t n = rnd(3) == 0 ? pending : rnd((uint32_t)pending + 1);
      core_outq_consume(&q, n);
      sent += n;
    }
    cr_assert_eq(q.bytes, queued - sent, "step %d", step);
    for (int i = 0; i < nrefs; i++) {
      int want = refs[i].end <= sent;
      cr_assert_eq(refs[i].released, want, "step %d: ref %d (end %zu, sent %zu) released %d times",
                   step, i, refs[i].end, sent, refs[i].released);
    }
    int niov = 0;
    size_t n = gather(&q, scratch, sizeof(scratch), &niov);
    if (niov < 1024) cr_assert_eq(n, queued - sent, "step %d", step);
    cr_assert_eq(memcmp(scratch, model + sent, n), 0, "step %d: queued bytes differ", step);
    if (queued == sent) cr_assert_eq(pool.live, 0, "step %d: blocks held by an empty queue", step);
  }
  core_outq_consume(&q, queued - sent);
  for (int i = 0; i < nrefs; i++) cr_assert_eq(refs[i].released, 1);
  cr_expect_eq(pool.live, 0);
  core_outq_dispose(&q);
  finish_test();
}
