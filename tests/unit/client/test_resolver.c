/* The resolver (client/resolver.h) answering a real shard, on the backend URPC_TEST_IO names
 * (CTest runs this file once per backend): localhost through getaddrinfo, ipv4: lists in order,
 * unix: paths without the thread, a name under the reserved .invalid TLD (fails, and fast:
 * the wait is bounded), bad targets refused at once, the bound on outstanding lookups, and a
 * free with lookups outstanding (each answered once, cancelled or not). Every answer must come
 * on the shard thread, never from inside cli_resolve. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "../common/test_shard.h"
#include "../core/leak_check.h"
#include "client/resolver.h"

#define MAX_ANSWERS 2048

static void *no_open(void *ctx, io_conn *c) {
  (void)ctx;
  (void)c;
  return NULL;
}

static const io_handler unused = {.conn_open = no_open};

/* What the callbacks saw: written on the shard, read by the test under `mu`. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct answer {
  int err;
  char why[512];
  unsigned n;
  cli_addr a[8];
  bool on_shard;
} answers[MAX_ANSWERS];
static int nanswers;

static void on_resolved(void *arg, cli_addrs *addrs, int err, const char *why) {
  (void)arg;
  pthread_mutex_lock(&mu);
  if (nanswers < MAX_ANSWERS) {
    struct answer *a = &answers[nanswers];
    a->err = err;
    snprintf(a->why, sizeof(a->why), "%s", why);
    a->on_shard = io_shard_current() == shard && shard != NULL;
    if (addrs) {
      a->n = addrs->n;
      memcpy(a->a, addrs->a, (addrs->n < 8 ? addrs->n : 8) * sizeof(cli_addr));
    }
  }
  nanswers++;
  pthread_mutex_unlock(&mu);
  cli_addrs_free(addrs);
}

static int answered(void) {
  pthread_mutex_lock(&mu);
  int n = nanswers;
  pthread_mutex_unlock(&mu);
  return n;
}

/* Waits (bounded) for `n` answers in all. */
static void wait_answers(int n, unsigned ms) {
  uint64_t until = test_shard_now_ms() + ms;
  while (answered() < n && test_shard_now_ms() < until) usleep(500);
  cr_assert_eq(answered(), n, "%d answers, not %d, within %u ms", answered(), n, ms);
}

static cli_resolver *resolver;

static void start(unsigned max_pending) {
  test_shard_start(&unused);
  cli_resolver_config cfg = {.max_pending = max_pending};
  cr_assert_eq(cli_resolver_new(&cfg, &resolver), 0);
}

/* Threads this process has now (/proc/self/task). */
static int thread_count(void) {
  DIR *d = opendir("/proc/self/task");
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

static void end(void) {
  cli_resolver_free(resolver);
  resolver = NULL;
  test_shard_end();
  /* The resolver's thread ends on its own (detached); glibc frees its lookup state only then, so
   * a leak check while it is still exiting reports that state (LSan: res_send's buffer). */
  for (int i = 0; i < 2000 && thread_count() > 1; i++) usleep(1000);
  check_no_leaks();
}

static void resolve_ok(const char *target) {
  char why[256] = "";
  cr_assert_eq(cli_resolve(resolver, shard, target, on_resolved, NULL, why, sizeof(why)), 0,
               "%s: %s", target, why);
}

static unsigned port_of(const cli_addr *a) {
  if (a->ss.ss_family == AF_INET) return ntohs(((const struct sockaddr_in *)&a->ss)->sin_port);
  return ntohs(((const struct sockaddr_in6 *)&a->ss)->sin6_port);
}

Test(resolver, localhost_through_getaddrinfo) {
  start(0);
  resolve_ok("localhost:4321");
  wait_answers(1, 10000);
  struct answer *a = &answers[0];
  cr_assert_eq(a->err, 0, "%s", a->why);
  cr_assert_str_empty(a->why);
  cr_assert(a->on_shard, "answered on the shard thread");
  cr_assert_geq(a->n, 1);
  for (unsigned i = 0; i < a->n && i < 8; i++) {
    cr_expect_eq(port_of(&a->a[i]), 4321);
    if (a->a[i].ss.ss_family == AF_INET) {
      const struct sockaddr_in *s = (const struct sockaddr_in *)&a->a[i].ss;
      cr_expect_eq(a->a[i].len, sizeof(*s));
      cr_expect_eq(ntohl(s->sin_addr.s_addr) >> 24, 127, "127.x.x.x");
    } else {
      cr_assert_eq(a->a[i].ss.ss_family, AF_INET6);
      const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->a[i].ss;
      cr_expect_eq(a->a[i].len, sizeof(*s));
      cr_expect(IN6_IS_ADDR_LOOPBACK(&s->sin6_addr), "::1");
    }
  }
  end();
}

Test(resolver, ipv4_list_in_order) {
  start(0);
  resolve_ok("ipv4:127.0.0.1:1,127.0.0.2:2");
  wait_answers(1, 5000);
  struct answer *a = &answers[0];
  cr_assert_eq(a->err, 0, "%s", a->why);
  cr_assert(a->on_shard);
  cr_assert_eq(a->n, 2);
  const struct sockaddr_in *s0 = (const struct sockaddr_in *)&a->a[0].ss;
  const struct sockaddr_in *s1 = (const struct sockaddr_in *)&a->a[1].ss;
  cr_assert_eq(s0->sin_family, AF_INET);
  cr_assert_eq(s1->sin_family, AF_INET);
  cr_assert_eq(ntohl(s0->sin_addr.s_addr), 0x7f000001u);
  cr_assert_eq(ntohs(s0->sin_port), 1);
  cr_assert_eq(ntohl(s1->sin_addr.s_addr), 0x7f000002u);
  cr_assert_eq(ntohs(s1->sin_port), 2);
  end();
}

Test(resolver, ipv6_literal) {
  start(0);
  resolve_ok("ipv6:[::1]:9");
  wait_answers(1, 5000);
  cr_assert_eq(answers[0].err, 0);
  cr_assert_eq(answers[0].n, 1);
  cr_assert_eq(answers[0].a[0].ss.ss_family, AF_INET6);
  cr_assert_eq(port_of(&answers[0].a[0]), 9);
  end();
}

Test(resolver, unix_path) {
  start(0);
  resolve_ok("unix:/tmp/x");
  wait_answers(1, 5000);
  struct answer *a = &answers[0];
  cr_assert_eq(a->err, 0, "%s", a->why);
  cr_assert(a->on_shard);
  cr_assert_eq(a->n, 1);
  const struct sockaddr_un *s = (const struct sockaddr_un *)&a->a[0].ss;
  cr_assert_eq(s->sun_family, AF_UNIX);
  cr_assert_str_eq(s->sun_path, "/tmp/x");
  cr_assert_eq(a->a[0].len, offsetof(struct sockaddr_un, sun_path) + sizeof("/tmp/x"));
  end();
}

/* RFC 6761: .invalid never resolves. Without any DNS at all the lookup fails too (-EAGAIN);
 * either way it must fail within resolv.conf's bound, well inside the wait here. */
Test(resolver, no_such_host_fails_fast, .timeout = 60) {
  start(0);
  uint64_t t0 = test_shard_now_ms();
  resolve_ok("dns:///nowhere.invalid:1");
  wait_answers(1, 30000);
  struct answer *a = &answers[0];
  cr_assert(a->err == -ENOENT || a->err == -EAGAIN, "err %d: %s", a->err, a->why);
  cr_assert(a->on_shard);
  cr_assert_eq(a->n, 0);
  cr_assert(strstr(a->why, "nowhere.invalid:1"), "names the target: %s", a->why);
  cr_assert(a->err != -ENOENT || strstr(a->why, "no such host"), "%s", a->why);
  cr_log_info("%s after %llu ms", a->why, (unsigned long long)(test_shard_now_ms() - t0));
  end();
}

Test(resolver, bad_target_refused_without_callback) {
  start(0);
  char why[256];
  cr_assert_eq(cli_resolve(resolver, shard, "ipv4:1.2.3", on_resolved, NULL, why, sizeof(why)),
               -EINVAL);
  cr_assert(strstr(why, "not an IPv4 address"), "%s", why);
  cr_assert_eq(cli_resolve(resolver, shard, "dns://1.1.1.1/x:1", on_resolved, NULL, NULL, 0),
               -EINVAL);
  resolve_ok("ipv4:127.0.0.1:5"); /* a fence: answered after anything posted before */
  wait_answers(1, 5000);
  usleep(20000);
  cr_assert_eq(answered(), 1);
  end();
}

/* From the shard thread itself: the answer is posted, not called back inside cli_resolve. */
static void resolve_on_shard(void *arg) {
  int *seen_inside = arg;
  resolve_ok("unix:/tmp/y");
  resolve_ok("localhost:7");
  *seen_inside = answered();
}

Test(resolver, never_answers_inside_the_call) {
  start(0);
  int seen_inside = -1;
  test_on_shard(resolve_on_shard, &seen_inside);
  cr_assert_eq(seen_inside, 0);
  wait_answers(2, 10000);
  cr_assert(answers[0].on_shard && answers[1].on_shard);
  end();
}

/* max_pending 1: while one lookup is outstanding the next is refused, and nothing is lost. */
Test(resolver, bounded_outstanding) {
  start(1);
  int accepted = 0, refused = 0;
  for (int i = 0; i < 1000 && refused < 20; i++) {
    char why[256];
    int rc = cli_resolve(resolver, shard, "localhost:80", on_resolved, NULL, why, sizeof(why));
    cr_assert(rc == 0 || rc == -EAGAIN, "rc %d", rc);
    if (rc == 0) accepted++;
    if (rc == -EAGAIN) {
      refused++;
      cr_assert(strstr(why, "1 lookups outstanding"), "%s", why);
    }
  }
  cr_assert_gt(refused, 0, "never above the bound in %d tries", accepted);
  wait_answers(accepted, 20000);
  for (int i = 0; i < accepted; i++) cr_assert_eq(answers[i].err, 0, "%s", answers[i].why);
  end();
}

/* Freed with lookups queued: each accepted one is answered once, on the shard: with addresses
 * if its lookup was done before, else -ECANCELED. */
Test(resolver, free_cancels_outstanding) {
  start(64);
  for (int i = 0; i < 32; i++) resolve_ok("localhost:81");
  resolve_ok("ipv4:127.0.0.1:81");
  cli_resolver_free(resolver);
  resolver = NULL;
  wait_answers(33, 10000);
  int cancelled = 0;
  for (int i = 0; i < 33; i++) {
    cr_assert(answers[i].on_shard);
    if (answers[i].err == -ECANCELED) {
      cancelled++;
      cr_assert(strstr(answers[i].why, "cancelled"), "%s", answers[i].why);
      cr_assert_eq(answers[i].n, 0);
    } else {
      cr_assert_eq(answers[i].err, 0, "%s", answers[i].why);
    }
  }
  cr_log_info("%d of 32 lookups cancelled", cancelled);
  usleep(20000);
  cr_assert_eq(answered(), 33, "once each");
  test_shard_end();
  check_no_leaks();
}

Test(resolver, free_idle_and_null) {
  start(0);
  cli_resolver_free(NULL);
  end();
}
