/* core/pool.h: get/put recycle objects, at most max_free are cached (the rest freed), `live`
 * counts objects handed out, dispose frees the cache. ASan's leak check covers the frees. */
#include <stdint.h>
#include <string.h>

#include <criterion/criterion.h>

#include "leak_check.h"

#include "core/pool.h"

TestSuite(pool);

Test(pool, get_returns_usable_objects) {
  core_pool p;
  core_pool_init(&p, 100, 4);
  uint8_t *a = core_pool_get(&p), *b = core_pool_get(&p);
  cr_assert_not_null(a);
  cr_assert_not_null(b);
  cr_expect_neq(a, b);
  memset(a, 0x11, 100); /* ASan: the whole object is ours */
  memset(b, 0x22, 100);
  cr_expect_eq(a[99], 0x11);
  cr_expect_eq(p.live, 2);
  core_pool_put(&p, a);
  core_pool_put(&p, b);
  cr_expect_eq(p.live, 0);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, small_objects_hold_a_pointer) {
  core_pool p;
  core_pool_init(&p, 1, 4);
  cr_expect_geq(p.obj_size, sizeof(void *));
  void *a = core_pool_get(&p);
  cr_assert_not_null(a);
  core_pool_put(&p, a); /* links through the first word: must not overflow */
  cr_expect_eq(core_pool_get(&p), a);
  core_pool_put(&p, a);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, put_then_get_reuses_last_put) {
  core_pool p;
  core_pool_init(&p, 64, 8);
  void *a = core_pool_get(&p), *b = core_pool_get(&p), *c = core_pool_get(&p);
  core_pool_put(&p, a);
  core_pool_put(&p, b);
  core_pool_put(&p, c);
  cr_expect_eq(p.nfree, 3);
  /* LIFO: the most recently put (hottest in cache) comes back first. */
  cr_expect_eq(core_pool_get(&p), c);
  cr_expect_eq(core_pool_get(&p), b);
  cr_expect_eq(core_pool_get(&p), a);
  cr_expect_eq(p.nfree, 0);
  cr_expect_eq(p.live, 3);
  core_pool_put(&p, a);
  core_pool_put(&p, b);
  core_pool_put(&p, c);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, caches_at_most_max_free) {
  core_pool p;
  core_pool_init(&p, 32, 3);
  void *objs[10];
  for (int i = 0; i < 10; i++) {
    objs[i] = core_pool_get(&p);
    cr_assert_not_null(objs[i]);
    cr_expect_eq(p.live, (size_t)i + 1);
  }
  cr_expect_eq(p.nfree, 0);
  for (int i = 0; i < 10; i++) {
    core_pool_put(&p, objs[i]);
    cr_expect_eq(p.live, (size_t)(9 - i));
    cr_expect_leq(p.nfree, 3, "cached %zu objects with max_free 3", p.nfree);
  }
  cr_expect_eq(p.nfree, 3);
  /* The three cached ones are the first three put back; the rest were freed. */
  void *again[3];
  for (int i = 0; i < 3; i++) {
    again[i] = core_pool_get(&p);
    cr_expect(again[i] == objs[0] || again[i] == objs[1] || again[i] == objs[2]);
  }
  cr_expect_eq(p.nfree, 0);
  for (int i = 0; i < 3; i++) core_pool_put(&p, again[i]);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, max_free_zero_caches_nothing) {
  core_pool p;
  core_pool_init(&p, 32, 0);
  void *a = core_pool_get(&p);
  cr_assert_not_null(a);
  core_pool_put(&p, a);
  cr_expect_eq(p.nfree, 0);
  cr_expect_null(p.free_list);
  cr_expect_eq(p.live, 0);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, put_null_is_a_no_op) {
  core_pool p;
  core_pool_init(&p, 32, 4);
  void *a = core_pool_get(&p);
  core_pool_put(&p, NULL);
  cr_expect_eq(p.live, 1);
  cr_expect_eq(p.nfree, 0);
  core_pool_put(&p, a);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, dispose_frees_cache_and_pool_is_reusable) {
  core_pool p;
  core_pool_init(&p, 48, 16);
  void *objs[16];
  for (int i = 0; i < 16; i++) objs[i] = core_pool_get(&p);
  for (int i = 0; i < 16; i++) core_pool_put(&p, objs[i]);
  cr_expect_eq(p.nfree, 16);
  core_pool_dispose(&p);
  cr_expect_eq(p.nfree, 0);
  cr_expect_null(p.free_list);
  cr_expect_eq(p.live, 0);
  /* Still usable: gets malloc again. */
  void *a = core_pool_get(&p);
  cr_assert_not_null(a);
  cr_expect_eq(p.live, 1);
  core_pool_put(&p, a);
  core_pool_dispose(&p);
  check_no_leaks();
}

/* Gets and puts back `n` objects; noinline so that no pointer to them stays in the caller's
 * frame, where LeakSanitizer would count it as a reference. */
__attribute__((noinline)) static void fill_cache(core_pool *p, int n) {
  void *objs[64];
  for (int i = 0; i < n; i++) objs[i] = core_pool_get(p);
  for (int i = 0; i < n; i++) core_pool_put(p, objs[i]);
  memset(objs, 0, sizeof(objs));
}

Test(pool, dispose_frees_every_cached_object) {
  core_pool p;
  core_pool_init(&p, 40, 32);
  fill_cache(&p, 64); /* 32 cached, 32 freed by put */
  cr_expect_eq(p.nfree, 32);
  core_pool_dispose(&p);
  check_no_leaks();
}

Test(pool, churn_keeps_counts_consistent) {
  core_pool p;
  core_pool_init(&p, 24, 5);
  enum { N = 64 };
  void *held[N] = {0};
  size_t live = 0;
  uint32_t rng = 12345;
  for (int step = 0; step < 20000; step++) {
    rng = rng * 1103515245u + 12345u;
    int i = (int)((rng >> 16) % N);
    if (held[i]) {
      core_pool_put(&p, held[i]);
      held[i] = NULL;
      live--;
    } else {
      held[i] = core_pool_get(&p);
      cr_assert_not_null(held[i]);
      memset(held[i], i, 24);
      live++;
    }
    cr_assert_eq(p.live, live);
    cr_assert_leq(p.nfree, 5);
  }
  for (int i = 0; i < N; i++) core_pool_put(&p, held[i]);
  cr_expect_eq(p.live, 0);
  core_pool_dispose(&p);
  check_no_leaks();
}
