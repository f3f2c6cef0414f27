/* Outbound connections (io_shard_connect) on a real shard, over loopback, on the backend
 * URPC_TEST_IO names (io_uring by default; CTest runs this file once per backend): bytes both
 * ways with a plain peer (TCP over IPv4 and IPv6, unix), a refused port, a peer that never
 * answers TLS (the timeout), TLS to this project's own server (verified against the test CA,
 * ALPN h2, the server's SETTINGS read back through TLS), a wrong server name and an unknown
 * CA, and a stop while connecting. The throwaway PKI: tests/unit/common/test_pki.h. */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_pki.h"
#include "../common/test_shard.h"
#include "../core/leak_check.h"
#include "io/shard.h"

/* Once, in the runner: CAs "ca" and "other", and srv.pem for localhost and 127.0.0.1. */
ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  test_pki_make("urpc-io-connect");
  if (test_pki_leaf("srv", "DNS:localhost,IP:127.0.0.1", "serverAuth")) abort();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  test_pki_remove();
}

#define now_ms test_shard_now_ms

/* ---- what the handler saw: written on the shard thread, read by the test under `mu` ---- */

static struct {
  pthread_mutex_t mu;
  int opened, closed, failed;
  int err;
  char why[256];
  io_conn *conn;
  bool verified;
  char alpn[16];
  uint8_t got[8192];
  size_t got_len;
  uint8_t out[256]; /* to send at the next conn_produce */
  size_t out_len;
} ev = {.mu = PTHREAD_MUTEX_INITIALIZER};

#define LOCKED(stmt)       TEST_LOCKED(&ev.mu, stmt)
#define WAIT_FOR(cond, ms) TEST_WAIT_FOR(&ev.mu, cond, ms, ev.why)

static void *on_open(void *ctx, io_conn *c) {
  const tls_peer *peer = io_conn_tls_peer(c);
  LOCKED({
    ev.opened++;
    ev.conn = c;
    ev.verified = peer && peer->verified;
    snprintf(ev.alpn, sizeof(ev.alpn), "%s", peer && peer->alpn ? peer->alpn : "");
  });
  return ctx;
}

static int on_recv(void *state, const uint8_t *p, size_t n) {
  (void)state;
  LOCKED({
    if (ev.got_len + n <= sizeof(ev.got)) {
      memcpy(ev.got + ev.got_len, p, n);
      ev.got_len += n;
    }
  });
  return 0;
}

static int on_produce(void *state, core_outq *out) {
  (void)state;
  int rc = 0;
  LOCKED({
    if (ev.out_len) rc = core_outq_copy(out, ev.out, ev.out_len);
    ev.out_len = 0;
  });
  return rc;
}

static void on_closed(void *state) {
  (void)state;
  LOCKED({
    ev.closed++;
    ev.conn = NULL;
  });
}

static void on_failed(void *ctx, int err, const char *why) {
  (void)ctx;
  LOCKED({
    ev.failed++;
    ev.err = err;
    snprintf(ev.why, sizeof(ev.why), "%s", why);
  });
}

static const io_handler handler = {
    .conn_open = on_open,
    .conn_recv = on_recv,
    .conn_produce = on_produce,
    .conn_closed = on_closed,
    .conn_failed = on_failed,
};

/* ---- the shard ---- */

static void start_shard(void) {
  cr_assert(test_pki_use(), "the PKI was not made");
  test_shard_start(&handler);
}

typedef struct connect_job {
  io_connect_req req;
  struct sockaddr_storage addr;
  bool then_stop; /* io_shard_stop right after, before any completion can come */
  int rc;
} connect_job;

static void do_connect(void *arg) {
  connect_job *cj = arg;
  cj->req.addr = (struct sockaddr *)&cj->addr;
  cj->rc = io_shard_connect(shard, &cj->req);
  if (cj->then_stop) io_shard_stop(shard);
}

/* The loopback address of `family` (AF_INET or AF_INET6) at `port`. */
static socklen_t loopback(int family, int port, struct sockaddr_storage *ss) {
  memset(ss, 0, sizeof(*ss));
  if (family == AF_INET6) {
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    in6->sin6_addr = in6addr_loopback;
    return sizeof(*in6);
  }
  struct sockaddr_in *in = (struct sockaddr_in *)ss;
  in->sin_family = AF_INET;
  in->sin_port = htons((uint16_t)port);
  in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return sizeof(*in);
}

static connect_job ip_job(int family, int port, unsigned timeout_ms) {
  connect_job cj = {.req = {.timeout_ms = timeout_ms, .handler = &handler, .ctx = &ev}};
  cj.req.addr_len = loopback(family, port, &cj.addr);
  return cj;
}

static connect_job tcp_job(int port, unsigned timeout_ms) {
  return ip_job(AF_INET, port, timeout_ms);
}

static int connect_now(connect_job *cj) {
  test_on_shard(do_connect, cj);
  return cj->rc;
}

typedef struct bytes {
  const void *p;
  size_t n;
} bytes;

/* Queues `arg` (a bytes) for the connection's next conn_produce. */
static void do_send(void *arg) {
  const bytes *b = arg;
  LOCKED({
    memcpy(ev.out, b->p, b->n);
    ev.out_len = b->n;
  });
  io_conn_flush(ev.conn);
}

static void do_close(void *arg) {
  (void)arg;
  io_conn_close(ev.conn);
}

static void reset_events(void) {
  LOCKED({
    ev.opened = ev.closed = ev.failed = ev.err = 0;
    ev.why[0] = ev.alpn[0] = '\0';
    ev.conn = NULL;
    ev.got_len = ev.out_len = 0;
  });
}

static uint64_t ctr(const core_ctr *c) {
  return core_ctr_get(c);
}

/* ---- peers ---- */

/* A listening TCP socket on 127.0.0.1, port in *port. */
/* A listening TCP socket on the loopback address of `family`, port in *port. */
static int ip_listener(int family, int *port) {
  struct sockaddr_storage a;
  socklen_t len = loopback(family, 0, &a);
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, len) == 0 && listen(fd, 8) == 0);
  cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
  *port = ntohs(((struct sockaddr_in *)&a)->sin_port); /* the same offset in sockaddr_in6 */
  return fd;
}

static int tcp_listener(int *port) {
  return ip_listener(AF_INET, port);
}

/* A peer that accepts one connection, answers "ping" with "pong" and reads to the end. */
typedef struct peer {
  int lfd;
  pthread_t thread;
  char got[64];
  size_t got_len;
  bool eof;
} peer;

static void *peer_main(void *arg) {
  peer *p = arg;
  int fd = accept(p->lfd, NULL, NULL);
  if (fd < 0) return NULL;
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  bool answered = false;
  for (;;) {
    ssize_t n = recv(fd, p->got + p->got_len, sizeof(p->got) - p->got_len, 0);
    if (n <= 0) {
      p->eof = n == 0;
      break;
    }
    p->got_len += (size_t)n;
    if (!answered && p->got_len >= 4 && !memcmp(p->got, "ping", 4)) {
      answered = send(fd, "pong", 4, MSG_NOSIGNAL) == 4;
    }
  }
  close(fd);
  return NULL;
}

/* Opens a connection with `cj`, exchanges ping/pong with a peer on `lfd`, closes it. */
static void exchange(int lfd, connect_job *cj) {
  peer p = {.lfd = lfd};
  cr_assert_eq(pthread_create(&p.thread, NULL, peer_main, &p), 0);
  cr_assert_eq(connect_now(cj), 0);
  WAIT_FOR(ev.opened == 1, 5000);
  test_on_shard(do_send, &(bytes){"ping", 4});
  WAIT_FOR(ev.got_len == 4, 5000);
  LOCKED(cr_expect_eq(memcmp(ev.got, "pong", 4), 0));
  test_on_shard(do_close, NULL);
  WAIT_FOR(ev.closed == 1, 5000);
  pthread_join(p.thread, NULL);
  cr_expect_eq(p.got_len, 4);
  cr_expect_eq(memcmp(p.got, "ping", 4), 0);
  cr_expect(p.eof, "the peer saw no FIN");
  cr_expect_eq(ev.failed, 0);
}

TestSuite(io_connect, .timeout = 60);

Test(io_connect, tcp_bytes_both_ways) {
  start_shard();
  reset_events();
  int port, lfd = tcp_listener(&port);
  connect_job cj = tcp_job(port, 2000);
  exchange(lfd, &cj);
  const io_shard_counters *st = io_shard_get_counters(shard);
  cr_expect_eq(ctr(&st->connect_attempts), 1);
  cr_expect_eq(ctr(&st->connect_ok), 1);
  cr_expect_eq(ctr(&st->connect_failed), 0);
  WAIT_FOR(core_ctr_gauge(ctr(&st->connect_open)) == 0, 2000);
  cr_expect_eq(ctr(&st->accepted), 0, "outbound counted as accepted");
  cr_expect_eq(core_ctr_gauge(ctr(&st->open)), 0);
  cr_expect_eq(ctr(&st->bytes_out), 4);
  cr_expect_eq(ctr(&st->bytes_in), 4);
  close(lfd);
  test_shard_end();
  check_no_leaks();
}

Test(io_connect, ipv6) {
  start_shard();
  int port, lfd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in6 probe = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&probe, sizeof(probe)) < 0)
    cr_skip_test("no IPv6 loopback here");
  close(lfd);
  reset_events();
  lfd = ip_listener(AF_INET6, &port);
  connect_job cj = ip_job(AF_INET6, port, 2000);
  exchange(lfd, &cj);
  close(lfd); /* and now refused, named as [::1]:port */
  reset_events();
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.failed == 1, 5000);
  char at[64];
  snprintf(at, sizeof(at), "[::1]:%d", port);
  cr_expect_eq(ev.err, -ECONNREFUSED, "err %d: %s", ev.err, ev.why);
  cr_expect(strstr(ev.why, at), "%s", ev.why);
  test_shard_end();
  check_no_leaks();
}

Test(io_connect, unix_socket) {
  start_shard();
  reset_events();
  connect_job cj = {.req = {.timeout_ms = 2000, .handler = &handler, .ctx = &ev}};
  struct sockaddr_un *un = (struct sockaddr_un *)&cj.addr;
  un->sun_family = AF_UNIX;
  snprintf(un->sun_path, sizeof(un->sun_path), "%s/peer-%d.sock", test_pki_dir, (int)getpid());
  cj.req.addr_len = sizeof(*un);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  cr_assert(lfd >= 0 && bind(lfd, (struct sockaddr *)un, sizeof(*un)) == 0 && listen(lfd, 8) == 0);
  exchange(lfd, &cj);
  close(lfd);
  unlink(un->sun_path);

  reset_events(); /* nobody there: connect() fails at once (epoll: reported at the next turn) */
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.failed == 1, 5000);
  cr_expect_eq(ev.err, -ENOENT, "err %d: %s", ev.err, ev.why);
  cr_expect(strstr(ev.why, "unix:") && strstr(ev.why, "peer-"), "%s", ev.why);
  cr_expect_eq(ev.opened, 0);
  test_shard_end();
  check_no_leaks();
}

Test(io_connect, refused) {
  start_shard();
  reset_events();
  int port, lfd = tcp_listener(&port);
  close(lfd); /* nothing listens there now */
  connect_job cj = tcp_job(port, 2000);
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.failed == 1, 5000);
  char at[64];
  snprintf(at, sizeof(at), "127.0.0.1:%d", port);
  cr_expect_eq(ev.err, -ECONNREFUSED, "err %d: %s", ev.err, ev.why);
  cr_expect(strstr(ev.why, at) && strstr(ev.why, "refused"), "%s", ev.why);
  cr_expect_eq(ev.opened + ev.closed, 0);
  const io_shard_counters *st = io_shard_get_counters(shard);
  cr_expect_eq(ctr(&st->connect_attempts), 1);
  cr_expect_eq(ctr(&st->connect_failed), 1);
  cr_expect_eq(ctr(&st->connect_ok), 0);
  test_shard_end();
  check_no_leaks();
}

Test(io_connect, bad_requests) {
  start_shard();
  connect_job cj = tcp_job(1, 100);
  io_handler no_fail = handler;
  no_fail.conn_failed = NULL;
  cj.req.handler = &no_fail;
  cr_expect_eq(connect_now(&cj), -EINVAL);
  cj.req.handler = &handler;
  cj.req.addr_len = 4;
  cr_expect_eq(connect_now(&cj), -EINVAL);
  cj.addr.ss_family = AF_APPLETALK;
  cj.req.addr_len = sizeof(struct sockaddr_in);
  cr_expect_eq(connect_now(&cj), -EAFNOSUPPORT);
  io_shard_stop(shard);
  io_shard_wait_stopped(shard);
  cj = tcp_job(1, 100);
  cr_expect_eq(connect_now(&cj), -ESHUTDOWN);
  cr_expect_eq(ctr(&io_shard_get_counters(shard)->connect_attempts), 0);
  test_shard_end();
  check_no_leaks();
}

static tls_ctx *client_ctx(const char *ca) {
  tls_client_config cfg = {.ca_file = test_pki_path(ca), .alpn = "h2"};
  tls_ctx *ctx;
  char why[256];
  cr_assert_eq(tls_client_ctx_new(&cfg, &ctx, why, sizeof(why)), 0, "%s", why);
  return ctx;
}

Test(io_connect, tls_handshake_timeout) {
  start_shard();
  reset_events();
  int port, lfd = tcp_listener(&port); /* the kernel accepts; nobody ever answers */
  tls_ctx *ctx = client_ctx("ca.pem");
  connect_job cj = tcp_job(port, 300);
  cj.req.tls = ctx;
  cj.req.server_name = "localhost";
  uint64_t t0 = now_ms();
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.failed == 1, 5000);
  uint64_t took = now_ms() - t0;
  cr_expect(took >= 290 && took < 1500, "failed after %llu ms", (unsigned long long)took);
  cr_expect_eq(ev.err, -ETIMEDOUT, "err %d: %s", ev.err, ev.why);
  cr_expect(strstr(ev.why, "TLS handshake") && strstr(ev.why, "300 ms"), "%s", ev.why);
  cr_expect_eq(ev.opened + ev.closed, 0);
  /* The ClientHello went out: a TLS handshake record. */
  int fd = accept(lfd, NULL, NULL);
  uint8_t b[2] = {0};
  cr_assert(fd >= 0);
  cr_expect_eq(recv(fd, b, 2, MSG_WAITALL), 2);
  cr_expect(b[0] == 0x16 && b[1] == 0x03, "not a TLS record: %02x %02x", b[0], b[1]);
  close(fd);
  close(lfd);
  tls_ctx_unref(ctx);
  test_shard_end();
  check_no_leaks();
}

/* ---- TLS to this project's server ---- */

typedef struct server {
  pid_t pid;
  int tls_port;
} server;

static server start_server(void) {
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    execl(URPC_SERVER_BIN, URPC_SERVER_BIN, "--listen", "127.0.0.1:0", "--tls-listen",
          "127.0.0.1:0", "--tls-cert", test_pki_path("srv.pem"), "--tls-key",
          test_pki_path("srv.key"), "--shards", "1", "--io", epoll_backend ? "epoll" : "uring",
          (char *)NULL);
    _exit(127);
  }
  close(pipefd[1]);
  FILE *f = fdopen(pipefd[0], "r");
  char line[512] = "";
  server srv = {.pid = pid};
  const char *tls;
  if (fgets(line, sizeof(line), f) && (tls = strstr(line, " tls=127.0.0.1:")))
    srv.tls_port = atoi(tls + strlen(" tls=127.0.0.1:"));
  fclose(f); /* the server's later stdout lines go nowhere: it writes them only at exit */
  cr_assert(srv.tls_port > 0, "no startup line from the server: '%s'", line);
  return srv;
}

static void stop_server(server *srv) {
  int status;
  kill(srv->pid, SIGTERM);
  cr_expect_eq(waitpid(srv->pid, &status, 0), srv->pid);
}

static const uint8_t preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                 "\0\0\0\4\0\0\0\0\0"; /* and an empty SETTINGS frame */

/* A TLS connection to `name` with `ctx` fails verification, saying `needle`. */
static void expect_rejected(int port, tls_ctx *ctx, const char *name, const char *needle) {
  reset_events();
  connect_job cj = tcp_job(port, 5000);
  cj.req.tls = ctx;
  cj.req.server_name = name;
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.failed == 1, 5000);
  cr_expect_eq(ev.err, -EKEYREJECTED, "err %d: %s", ev.err, ev.why);
  cr_expect(strstr(ev.why, name) && strstr(ev.why, needle), "%s", ev.why);
  cr_expect_eq(ev.opened, 0);
  cr_log_info("%s: %s", name, ev.why);
}

Test(io_connect, tls_to_own_server) {
  start_shard();
  server srv = start_server();
  tls_ctx *ctx = client_ctx("ca.pem");

  reset_events();
  connect_job cj = tcp_job(srv.tls_port, 5000);
  cj.req.tls = ctx;
  cj.req.server_name = "localhost";
  cr_assert_eq(connect_now(&cj), 0);
  WAIT_FOR(ev.opened == 1 || ev.failed, 5000);
  cr_assert_eq(ev.opened, 1, "failed: %s", ev.why);
  cr_expect(ev.verified, "the server's certificate was not verified");
  cr_expect_str_eq(ev.alpn, "h2");
  test_on_shard(do_send, &(bytes){preface, sizeof(preface) - 1});
  WAIT_FOR(ev.got_len >= 9, 5000); /* the server's SETTINGS, through TLS */
  LOCKED({
    cr_expect_eq(ev.got[3], 0x4, "frame type %u, not SETTINGS", ev.got[3]);
    cr_expect_eq(ev.got[4], 0, "flags %u: an ACK before our SETTINGS was read?", ev.got[4]);
    cr_expect_eq(ev.got[5] | ev.got[6] | ev.got[7] | ev.got[8], 0, "not stream 0");
  });
  test_on_shard(do_close, NULL);
  WAIT_FOR(ev.closed == 1, 5000);

  /* The certificate does not name the server asked for; a CA that did not sign it. */
  expect_rejected(srv.tls_port, ctx, "wrong.example", "wrong.example");
  tls_ctx *other = client_ctx("other.pem");
  expect_rejected(srv.tls_port, other, "localhost", "issuer is not in");

  const io_shard_counters *st = io_shard_get_counters(shard);
  cr_expect_eq(ctr(&st->connect_attempts), 3);
  cr_expect_eq(ctr(&st->connect_ok), 1);
  cr_expect_eq(ctr(&st->connect_failed), 2);
  cr_expect_eq(ctr(&st->tls_ok) + ctr(&st->tls_failed[TLS_FAIL_PEER_CERT]), 0,
               "outbound handshakes counted as the server's");
  stop_server(&srv);
  tls_ctx_unref(ctx);
  tls_ctx_unref(other);
  test_shard_end();
  check_no_leaks();
}

/* Stopping cancels a connection still in its TLS handshake (held by a peer that never
 * answers), and one whose connect the kernel may not even have seen yet. */
Test(io_connect, stop_while_connecting) {
  cr_assert(test_pki_use(), "the PKI was not made");
  tls_ctx *ctx = client_ctx("ca.pem");
  int port, lfd = tcp_listener(&port);
  for (int right_away = 0; right_away < 2; right_away++) {
    start_shard();
    reset_events();
    connect_job cj = tcp_job(port, 10000);
    cj.req.tls = ctx;
    cj.req.server_name = "localhost";
    cj.then_stop = right_away;
    cr_assert_eq(connect_now(&cj), 0);
    if (!right_away) {
      usleep(100 * 1000); /* connected, ClientHello sent, waiting for the answer */
      LOCKED(cr_assert_eq(ev.failed, 0, "%s", ev.why));
      io_shard_stop(shard);
    }
    io_shard_wait_stopped(shard);
    LOCKED({
      cr_expect_eq(ev.failed, 1);
      cr_expect_eq(ev.err, -ECANCELED, "err %d: %s", ev.err, ev.why);
      cr_expect(strstr(ev.why, "stopping"), "%s", ev.why);
      cr_expect_eq(ev.opened + ev.closed, 0);
    });
    test_shard_end(); /* returns only once the backend gave the connection back */
  }
  close(lfd);
  tls_ctx_unref(ctx);
  check_no_leaks();
}
