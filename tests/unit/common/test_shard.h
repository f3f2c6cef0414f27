/* A real io_shard for Criterion tests, on the backend URPC_TEST_IO names (io_uring unless it
 * says "epoll"; a test skips where io_uring cannot be had), and a way to run code on its
 * thread: test_shard_start in the test, test_on_shard(fn, arg) to run fn there and wait,
 * test_shard_end at the end. One shard per test process (Criterion runs each test in its own).
 * The test must include <criterion/criterion.h> first. */
#ifndef URPC_TESTS_UNIT_COMMON_TEST_SHARD_H
#define URPC_TESTS_UNIT_COMMON_TEST_SHARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "io/shard.h"

static io_shard *shard;
static bool epoll_backend;

static inline uint64_t test_shard_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* `stmt` under `mu`: the tests' state is written on the shard thread and read on the test's. */
#define TEST_LOCKED(mu, stmt)                                                                      \
  do {                                                                                             \
    pthread_mutex_lock(mu);                                                                        \
    stmt;                                                                                          \
    pthread_mutex_unlock(mu);                                                                      \
  } while (0)

/* Waits up to `ms` for `cond` (read under `mu`); fails the test, saying `why`, if it never
 * holds. */
#define TEST_WAIT_FOR(mu, cond, ms, why)                                                           \
  do {                                                                                             \
    uint64_t until_ = test_shard_now_ms() + (ms);                                                  \
    bool ok_;                                                                                      \
    for (;;) {                                                                                     \
      TEST_LOCKED(mu, ok_ = (cond));                                                               \
      if (ok_ || test_shard_now_ms() > until_) break;                                              \
      usleep(1000);                                                                                \
    }                                                                                              \
    cr_assert(ok_, "not within %d ms: %s (why: %s)", (int)(ms), #cond, (why));                     \
  } while (0)

/* `handler` serves the shard's accepted connections (it has no listener: none come). */
static inline void test_shard_start(const io_handler *handler) {
  const char *io = getenv("URPC_TEST_IO");
  epoll_backend = io && !strcmp(io, "epoll");
  char why[512];
  if (!epoll_backend && io_ring_probe(why, sizeof(why)) < 0) cr_skip_test("no io_uring: %s", why);
  io_shard_config cfg = {.backend = epoll_backend ? IO_BACKEND_EPOLL : IO_BACKEND_URING,
                         .cpu = -1,
                         .listen_fd = -1,
                         .tls_listen_fd = -1,
                         .handler = handler};
  cr_assert_eq(io_shard_new(&cfg, &shard), 0);
  cr_assert_eq(io_shard_start(shard, why, sizeof(why)), 0, "%s", why);
}

static inline void test_shard_end(void) {
  io_shard_exit(shard);
  io_shard_join(shard);
  io_shard_run_posted(shard);
  io_shard_free(shard);
  shard = NULL;
}

typedef struct test_shard_job {
  io_msg msg;
  void (*fn)(void *arg);
  void *arg;
  _Atomic bool done;
} test_shard_job;

static inline void test_shard_run_job(io_msg *m) {
  test_shard_job *j = (test_shard_job *)m;
  j->fn(j->arg);
  atomic_store(&j->done, true);
}

/* Runs fn(arg) on the shard thread and waits for it (5 s at most: then the test fails). */
static inline void test_on_shard(void (*fn)(void *), void *arg) {
  test_shard_job j = {.msg.fn = test_shard_run_job, .fn = fn, .arg = arg};
  io_shard_post(shard, &j.msg);
  uint64_t until = test_shard_now_ms() + 5000;
  while (!atomic_load(&j.done) && test_shard_now_ms() < until) usleep(200);
  cr_assert(atomic_load(&j.done), "the shard did not run a posted message");
}

#endif
