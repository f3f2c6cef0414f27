/* The per-shard slab: alignment, zeroing, realloc, large objects, chunk release. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/slab.h"

static core_slab S;
static void setup(void) {
  core_slab_init(&S);
}
static void teardown(void) {
  core_slab_dispose(&S);
}
TestSuite(slab, .init = setup, .fini = teardown);

static bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

Test(slab, sizes_and_alignment) {
  size_t sizes[] = {0, 1, 15, 16, 17, 100, 1000, 2928, 4096, 16394, 32768, 32769, 200000};
  void *ps[13];
  for (int i = 0; i < 13; i++) {
    ps[i] = core_slab_alloc(&S, sizes[i]);
    cr_assert_not_null(ps[i]);
    cr_assert_eq((uintptr_t)ps[i] % 16, 0);
    cr_assert_geq(core_slab_size(ps[i]), sizes[i]);
    memset(ps[i], 0xab, sizes[i]);
  }
  for (int i = 0; i < 13; i++) core_slab_free(&S, ps[i]);
  cr_assert_eq(S.bytes, 0);
}

Test(slab, calloc_is_zero_for_fresh_and_reused_slots) {
  for (int round = 0; round < 3; round++) {
    uint8_t *ps[100];
    for (int i = 0; i < 100; i++) {
      ps[i] = core_slab_calloc(&S, 1, 3000);
      cr_assert(all_zero(ps[i], 3000), "round %d object %d", round, i);
      memset(ps[i], 0xff, 3000);
    }
    for (int i = 0; i < 100; i++) core_slab_free(&S, ps[i]);
  }
  uint8_t *big = core_slab_calloc(&S, 10, 10000);
  cr_assert(all_zero(big, 100000));
  core_slab_free(&S, big);
  cr_assert_null(core_slab_calloc(&S, SIZE_MAX / 2, 4));
}

Test(slab, realloc_keeps_contents) {
  uint8_t *p = core_slab_realloc(&S, NULL, 48);
  for (int i = 0; i < 48; i++) p[i] = (uint8_t)i;
  p = core_slab_realloc(&S, p, 16394);
  for (int i = 0; i < 48; i++) cr_assert_eq(p[i], i);
  uint8_t *same = core_slab_realloc(&S, p, 20000); /* same class (24 KiB): in place */
  cr_assert_eq(same, p);
  p = core_slab_realloc(&S, p, 100000); /* to a large object */
  for (int i = 0; i < 48; i++) cr_assert_eq(p[i], i);
  p = core_slab_realloc(&S, p, 20); /* and back down */
  for (int i = 0; i < 20; i++) cr_assert_eq(p[i], i);
  cr_assert_null(core_slab_realloc(&S, p, 0));
  cr_assert_eq(S.bytes, 0);
}

Test(slab, empty_chunks_are_returned_but_one_per_class) {
  void *ps[2000];
  for (int i = 0; i < 2000; i++) ps[i] = core_slab_alloc(&S, 1024);
  size_t peak = S.chunks;
  cr_assert_geq(peak, 2000 * 1024 / (256 * 1024));
  for (int i = 0; i < 2000; i++) core_slab_free(&S, ps[i]);
  cr_assert_eq(S.chunks, 1, "one spare kept, %zu chunks left of %zu", S.chunks, peak);
  cr_assert_eq(S.bytes, 0);
  /* The spare serves the next burst without a new mapping. */
  void *again = core_slab_alloc(&S, 1000);
  cr_assert_eq(S.chunks, 1);
  core_slab_free(&S, again);
}

Test(slab, large_objects_are_unmapped_on_free) {
  void *p = core_slab_alloc(&S, 1 << 20);
  cr_assert_eq(S.chunks, 1);
  memset(p, 1, 1 << 20);
  core_slab_free(&S, p);
  cr_assert_eq(S.chunks, 0);
  cr_assert_null(core_slab_alloc(&S, SIZE_MAX - 10));
}

Test(slab, random_model) {
  /* Random alloc/free/realloc against a model of each object's bytes. */
  enum { N = 300 };
  uint8_t *ps[N] = {0};
  size_t lens[N] = {0};
  srand(7);
  for (int step = 0; step < 20000; step++) {
    int i = rand() % N;
    if (ps[i]) {
      for (size_t j = 0; j < lens[i]; j++) cr_assert_eq(ps[i][j], (uint8_t)(i + j));
      if (rand() % 2) {
        core_slab_free(&S, ps[i]);
        ps[i] = NULL;
        continue;
      }
      size_t n = (size_t)(rand() % 40000);
      ps[i] = core_slab_realloc(&S, ps[i], n ? n : 1);
      size_t keep = lens[i] < n ? lens[i] : n;
      for (size_t j = keep; j < n; j++) ps[i][j] = (uint8_t)(i + j);
      lens[i] = n;
    } else {
      lens[i] = (size_t)(rand() % 5000);
      ps[i] = core_slab_alloc(&S, lens[i]);
      for (size_t j = 0; j < lens[i]; j++) ps[i][j] = (uint8_t)(i + j);
    }
  }
  for (int i = 0; i < N; i++) core_slab_free(&S, ps[i]);
  cr_assert_eq(S.bytes, 0);
}
