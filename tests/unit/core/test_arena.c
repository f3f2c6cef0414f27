/* core/arena.h: alignment, use of the embedded first block before any malloc, growth, large
 * allocations, cleanup hooks (reverse order, at reset and at dispose) and reuse after reset.
 * Every allocation is filled and checked afterwards, so overlapping allocations show up. */
#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "leak_check.h"

#include "core/arena.h"

#define ALIGN alignof(max_align_t)

/* Under ASan, a malloc too large to satisfy must return NULL (as glibc's does) rather than
 * abort: the unsatisfiable-size tests exercise exactly that path. */
const char *__asan_default_options(void);
const char *__asan_default_options(void) {
  return "allocator_may_return_null=1";
}

TestSuite(arena);

static int aligned(const void *p) {
  return ((uintptr_t)p & (ALIGN - 1)) == 0;
}

static int inside(const void *p, size_t n, const void *base, size_t cap) {
  const uint8_t *b = base, *q = p;
  return q >= b && q + n <= b + cap;
}

/* The embedded block, deliberately given at an address that is not max_align_t aligned. */
static alignas(max_align_t) uint8_t first_buf[4096 + 1];

Test(arena, every_allocation_is_aligned) {
  core_arena a;
  core_arena_init(&a, first_buf + 1, 4096);
  static const size_t sizes[] = {1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 255, 1000, 4095, 5000};
  enum { ROUNDS = 40, NSIZES = sizeof(sizes) / sizeof(sizes[0]) };
  uint8_t *ptrs[ROUNDS * NSIZES];
  size_t lens[ROUNDS * NSIZES];
  int n = 0;
  for (int r = 0; r < ROUNDS; r++) {
    for (size_t i = 0; i < NSIZES; i++) {
      size_t len = sizes[(i + (size_t)r) % NSIZES];
      uint8_t *p = core_arena_alloc(&a, len);
      cr_assert_not_null(p);
      cr_assert(aligned(p), "allocation %d of %zu bytes at %p is not aligned to %zu", n, len,
                (void *)p, (size_t)ALIGN);
      memset(p, n & 0xff, len);
      ptrs[n] = p;
      lens[n] = len;
      n++;
    }
  }
  for (int k = 0; k < n; k++)
    for (size_t j = 0; j < lens[k]; j++)
      cr_assert_eq(ptrs[k][j], (uint8_t)(k & 0xff), "allocation %d was overwritten", k);
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, zero_size_returns_distinct_valid_pointers) {
  core_arena a;
  core_arena_init(&a, NULL, 0);
  void *p = core_arena_alloc(&a, 0);
  void *q = core_arena_alloc(&a, 0);
  cr_assert_not_null(p);
  cr_assert_not_null(q);
  cr_expect_neq(p, q);
  cr_expect(aligned(p) && aligned(q));
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, embedded_block_used_before_malloc) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[1024];
  core_arena_init(&a, buf, sizeof(buf));
  size_t used = 0;
  /* 1024 bytes of aligned buffer hold exactly 1024 / 64 allocations of 64 bytes. */
  for (int i = 0; i < 16; i++) {
    void *p = core_arena_alloc(&a, 64);
    cr_assert_not_null(p);
    cr_assert(inside(p, 64, buf, sizeof(buf)), "allocation %d (%p) outside the first block", i, p);
    cr_assert_null(a.blocks, "malloc'd a block while the first one had room");
    memset(p, 0xab, 64);
    used += 64;
  }
  cr_expect_eq(used, sizeof(buf));
  /* The next allocation cannot fit: it goes to a malloc'd block. */
  void *p = core_arena_alloc(&a, 1);
  cr_assert_not_null(p);
  cr_expect_not(inside(p, 1, buf, sizeof(buf)));
  cr_expect_not_null(a.blocks);
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, grows_beyond_first_block) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[256];
  core_arena_init(&a, buf, sizeof(buf));
  enum { N = 2000, LEN = 48 };
  static uint8_t *ptrs[N];
  int outside = 0;
  for (int i = 0; i < N; i++) {
    ptrs[i] = core_arena_alloc(&a, LEN);
    cr_assert_not_null(ptrs[i]);
    cr_assert(aligned(ptrs[i]));
    memset(ptrs[i], i & 0xff, LEN);
    if (!inside(ptrs[i], LEN, buf, sizeof(buf))) outside++;
  }
  cr_expect_gt(outside, 0);
  cr_expect_lt(outside, N, "the first block was never used");
  /* Blocks at least double: 2000 * 48 bytes fit in a handful of them. */
  int nblocks = 0;
  for (core_arena_block *b = a.blocks; b; b = b->next) nblocks++;
  cr_expect_leq(nblocks, 8, "%d blocks for ~96 KiB: blocks do not grow", nblocks);
  for (int i = 0; i < N; i++)
    for (int j = 0; j < LEN; j++) cr_assert_eq(ptrs[i][j], (uint8_t)(i & 0xff));
  core_arena_dispose(&a);
  cr_expect_null(a.blocks);
  check_no_leaks();
}

Test(arena, works_without_first_block) {
  core_arena a;
  core_arena_init(&a, NULL, 0);
  for (int i = 0; i < 100; i++) {
    uint8_t *p = core_arena_alloc(&a, 100);
    cr_assert_not_null(p);
    cr_assert(aligned(p));
    memset(p, 1, 100);
  }
  core_arena_reset(&a);
  cr_expect_null(a.blocks);
  cr_expect_not_null(core_arena_alloc(&a, 10));
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, large_allocation) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[512];
  core_arena_init(&a, buf, sizeof(buf));
  uint8_t *small1 = core_arena_alloc(&a, 32);
  cr_assert_not_null(small1);
  memset(small1, 0x11, 32);
  size_t big_len = 3u << 20; /* 3 MiB: far more than next_cap */
  uint8_t *big = core_arena_alloc(&a, big_len);
  cr_assert_not_null(big);
  cr_assert(aligned(big));
  memset(big, 0x5a, big_len); /* ASan: the whole range must be ours */
  uint8_t *small2 = core_arena_alloc(&a, 32);
  cr_assert_not_null(small2);
  memset(small2, 0x22, 32);
  cr_expect_eq(big[0], 0x5a);
  cr_expect_eq(big[big_len - 1], 0x5a);
  for (int i = 0; i < 32; i++) cr_assert_eq(small1[i], 0x11);
  core_arena_dispose(&a);
  check_no_leaks();
}

/* Sizes no malloc can satisfy must fail with NULL, not wrap around, hang or abort: a decoder
 * handing the arena a peer-supplied length relies on it. Two tests, two failure modes: sizes
 * within max_align_t of SIZE_MAX wrap to 0 when rounded up; sizes above SIZE_MAX / 2 make the
 * block size double past the top. */
Test(arena, huge_size_does_not_wrap) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[256];
  core_arena_init(&a, buf, sizeof(buf));
  cr_expect_null(core_arena_alloc(&a, SIZE_MAX), "SIZE_MAX bytes did not fail");
  cr_expect_null(core_arena_alloc(&a, SIZE_MAX - ALIGN + 2), "SIZE_MAX - %zu bytes did not fail",
                 (size_t)ALIGN - 2);
  cr_expect_not_null(core_arena_alloc(&a, 16), "the arena is unusable after a failed allocation");
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, huge_size_does_not_hang, .timeout = 3) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[256];
  core_arena_init(&a, buf, sizeof(buf));
  cr_expect_null(core_arena_alloc(&a, SIZE_MAX / 2 + 2), "SIZE_MAX / 2 + 2 bytes did not fail");
  cr_expect_null(core_arena_alloc(&a, SIZE_MAX / 4 * 3), "3/4 SIZE_MAX bytes did not fail");
  cr_expect_not_null(core_arena_alloc(&a, 16), "the arena is unusable after a failed allocation");
  core_arena_dispose(&a);
  check_no_leaks();
}

/* Large but below SIZE_MAX / 2: malloc refuses, the arena says NULL. */
Test(arena, unsatisfiable_size_fails) {
  core_arena a;
  core_arena_init(&a, NULL, 0);
  cr_expect_null(core_arena_alloc(&a, SIZE_MAX / 4));
  cr_expect_not_null(core_arena_alloc(&a, 16));
  core_arena_dispose(&a);
  check_no_leaks();
}

/* ---- cleanup hooks ---- */

static int order[1000];
static int norder;

static void record(void *arg) {
  order[norder++] = (int)(intptr_t)arg;
}

Test(arena, hooks_run_in_reverse_order_at_reset) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[128];
  core_arena_init(&a, buf, sizeof(buf));
  norder = 0;
  /* Enough hooks (and allocations between them) that their records span several blocks. */
  for (int i = 1; i <= 200; i++) {
    cr_assert_eq(core_arena_defer(&a, record, (void *)(intptr_t)i), 0);
    cr_assert_not_null(core_arena_alloc(&a, 40));
  }
  cr_assert_not_null(a.blocks, "hooks should have spilled into malloc'd blocks");
  cr_expect_eq(norder, 0, "a hook ran before reset");
  core_arena_reset(&a);
  cr_assert_eq(norder, 200);
  for (int i = 0; i < 200; i++)
    cr_assert_eq(order[i], 200 - i, "position %d ran hook %d", i, order[i]);
  /* A second reset runs nothing again. */
  core_arena_reset(&a);
  cr_expect_eq(norder, 200);
  core_arena_dispose(&a);
  cr_expect_eq(norder, 200);
  check_no_leaks();
}

Test(arena, hooks_run_in_reverse_order_at_dispose) {
  core_arena a;
  core_arena_init(&a, NULL, 0);
  norder = 0;
  for (int i = 1; i <= 5; i++) cr_assert_eq(core_arena_defer(&a, record, (void *)(intptr_t)i), 0);
  core_arena_dispose(&a);
  cr_assert_eq(norder, 5);
  for (int i = 0; i < 5; i++) cr_expect_eq(order[i], 5 - i);
  check_no_leaks();
}

/* A hook may read memory from the arena it belongs to: hooks run before blocks are freed. */
typedef struct owned {
  int value;
  int *out;
} owned;

static void read_owned(void *arg) {
  owned *o = arg;
  *o->out = o->value;
}

Test(arena, hooks_may_touch_arena_memory) {
  core_arena a;
  core_arena_init(&a, NULL, 0);
  int out = 0;
  for (int i = 0; i < 100; i++) cr_assert_not_null(core_arena_alloc(&a, 500)); /* some blocks */
  owned *o = core_arena_alloc(&a, sizeof(*o));
  cr_assert_not_null(o);
  *o = (owned){42, &out};
  cr_assert_eq(core_arena_defer(&a, read_owned, o), 0);
  core_arena_reset(&a); /* ASan flags a use after free if blocks went first */
  cr_expect_eq(out, 42);
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, reuse_after_reset) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[1024];
  core_arena_init(&a, buf, sizeof(buf));
  void *first = core_arena_alloc(&a, 10);
  cr_assert_eq(first, (void *)buf, "first allocation not at the start of the aligned block");
  for (int round = 0; round < 5; round++) {
    norder = 0;
    for (int i = 0; i < 50; i++) {
      uint8_t *p = core_arena_alloc(&a, 200);
      cr_assert_not_null(p);
      memset(p, round, 200);
    }
    cr_assert_eq(core_arena_defer(&a, record, (void *)(intptr_t)(round + 1)), 0);
    cr_assert_not_null(a.blocks);
    core_arena_reset(&a);
    cr_expect_null(a.blocks, "reset kept malloc'd blocks");
    cr_expect_eq(norder, 1);
    cr_expect_eq(order[0], round + 1);
    /* After a reset the embedded block is used again from its start. */
    void *p = core_arena_alloc(&a, 10);
    cr_expect_eq(p, (void *)buf, "round %d: allocation after reset at %p, not at the first block",
                 round, p);
  }
  core_arena_dispose(&a);
  check_no_leaks();
}

Test(arena, tiny_misaligned_first_block_is_skipped) {
  core_arena a;
  /* Fewer usable bytes than it takes to reach alignment: the arena must not use it. */
  core_arena_init(&a, first_buf + 1, ALIGN - 2);
  uint8_t *p = core_arena_alloc(&a, 8);
  cr_assert_not_null(p);
  cr_expect(aligned(p));
  cr_expect_not(inside(p, 8, first_buf + 1, ALIGN - 2));
  core_arena_dispose(&a);
  check_no_leaks();
}

/* A big allocation costs its size, not the next power of two of it; `heap` says what the
 * arena took from malloc, and small allocations after it still share blocks. */
Test(arena, big_allocation_gets_an_exact_block) {
  core_arena a;
  alignas(max_align_t) uint8_t buf[256];
  core_arena_init(&a, buf, sizeof(buf));
  cr_expect_eq(a.heap, 0);
  size_t big = (2u << 20) + 14; /* a 2 MiB message and a little */
  cr_assert_not_null(core_arena_alloc(&a, big));
  cr_expect_leq(a.heap, big + 64, "%zu bytes of heap for %zu", a.heap, big);
  size_t after_big = a.heap;
  for (int i = 0; i < 20; i++) cr_assert_not_null(core_arena_alloc(&a, 40));
  cr_expect_leq(a.heap - after_big, 4096, "20 small allocations took %zu bytes",
                a.heap - after_big);
  core_arena_reset(&a);
  cr_expect_eq(a.heap, 0);
  core_arena_dispose(&a);
  check_no_leaks();
}
