/* The resolver under threads, without Criterion (which crashes under ThreadSanitizer; tests/run.sh
 * runs this in the TSan build, ctest -L tsan): rounds of 4 threads asking for dns and ipv4
 * targets at once, the resolver freed while lookups are outstanding; every accepted request must
 * be answered exactly once, on the shard thread. Usage: stress_client_resolver ROUNDS. Exits 0
 * when every check passed, 1 otherwise (the failures are on stderr), 2 on bad usage or setup. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "client/resolver.h"

#define THREADS    4
#define PER_THREAD 50

static io_shard *shard;
static cli_resolver *resolver;
static atomic_int accepted, answered, cancelled, off_shard, failed;

static void *no_open(void *ctx, io_conn *c) {
  (void)ctx;
  (void)c;
  return NULL;
}

static const io_handler unused = {.conn_open = no_open};

static void on_resolved(void *arg, cli_addrs *addrs, int err, const char *why) {
  (void)arg;
  if (io_shard_current() != shard) atomic_fetch_add(&off_shard, 1);
  if (err == -ECANCELED)
    atomic_fetch_add(&cancelled, 1);
  else if (err != 0 || !addrs || addrs->n == 0) {
    fprintf(stderr, "unexpected answer %d: %s\n", err, why);
    atomic_fetch_add(&failed, 1);
  }
  cli_addrs_free(addrs);
  atomic_fetch_add(&answered, 1);
}

static void *asker(void *arg) {
  int id = (int)(intptr_t)arg;
  for (int i = 0; i < PER_THREAD; i++) {
    const char *target = (i + id) % 3 == 0 ? "ipv4:127.0.0.1:1,127.0.0.2:2" : "localhost:1";
    char why[256];
    int rc = cli_resolve(resolver, shard, target, on_resolved, NULL, why, sizeof(why));
    if (rc == 0)
      atomic_fetch_add(&accepted, 1);
    else if (rc != -EAGAIN) {
      fprintf(stderr, "cli_resolve %s: %d %s\n", target, rc, why);
      atomic_fetch_add(&failed, 1);
    }
  }
  return NULL;
}

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int main(int argc, char **argv) {
  int rounds = argc == 2 ? atoi(argv[1]) : 0;
  if (rounds <= 0) {
    fprintf(stderr, "usage: %s ROUNDS\n", argv[0]);
    return 2;
  }
  io_shard_config cfg = {.backend = IO_BACKEND_EPOLL,
                         .cpu = -1,
                         .listen_fd = -1,
                         .tls_listen_fd = -1,
                         .handler = &unused};
  char why[512];
  if (io_shard_new(&cfg, &shard) < 0 || io_shard_start(shard, why, sizeof(why)) < 0) {
    fprintf(stderr, "no shard\n");
    return 2;
  }
  for (int r = 0; r < rounds; r++) {
    cli_resolver_config rc = {.max_pending = 16};
    if (cli_resolver_new(&rc, &resolver) < 0) return 2;
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++) pthread_create(&th[t], NULL, asker, (void *)(intptr_t)t);
    for (int t = 0; t < THREADS; t++) pthread_join(th[t], NULL);
    cli_resolver_free(resolver); /* some lookups still queued or under way */
    resolver = NULL;
  }
  uint64_t until = now_ms() + 20000;
  while (atomic_load(&answered) < atomic_load(&accepted) && now_ms() < until) usleep(1000);
  usleep(20000); /* an answer given twice would come in now */
  io_shard_exit(shard);
  io_shard_join(shard);
  io_shard_run_posted(shard);
  io_shard_free(shard);
  int bad = atomic_load(&failed) + atomic_load(&off_shard);
  if (atomic_load(&answered) != atomic_load(&accepted)) {
    fprintf(stderr, "%d answers for %d requests\n", atomic_load(&answered), atomic_load(&accepted));
    bad++;
  }
  printf("resolver %d rounds: %d requests, %d cancelled, %d off the shard: %s\n", rounds,
         atomic_load(&accepted), atomic_load(&cancelled), atomic_load(&off_shard),
         bad ? "FAILED" : "ok");
  return bad ? 1 : 0;
}
