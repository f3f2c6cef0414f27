/* The subchannel (client/subchannel.h) on a real shard, against the real uringrpc-server
 * spawned by each test on loopback, on the backend URPC_TEST_IO names (CTest runs this file
 * once per backend): calls made before the connection is up (one connection for all), server
 * and client streaming with backpressure, TLS verified against the test CA and a wrong name, a
 * closed port (fail fast; wait_for_ready until a server comes), the server killed and
 * restarted, deadlines and cancels while waiting, and free with calls in every state. */
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../common/test_pki.h"
#include "../common/test_server.h"
#include "../common/test_shard.h"
#include "client/subchannel.h"
#include "grpc/testing/messages.pb-c.h"
#include "helloworld.pb-c.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  test_pki_make("urpc-subchannel");
  if (test_pki_leaf("srv", "DNS:localhost,IP:127.0.0.1", "serverAuth")) abort();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  test_pki_remove();
}

#define now_ms test_shard_now_ms

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

#define LOCKED(stmt)       TEST_LOCKED(&mu, stmt)
#define WAIT_FOR(cond, ms) TEST_WAIT_FOR(&mu, cond, ms, "")

/* ---- the shard ---- */

static void *no_open(void *ctx, io_conn *c) {
  (void)ctx;
  (void)c;
  return NULL;
}

static const io_handler unused = {.conn_open = no_open};

static void start_shard(void) {
  cr_assert(test_pki_use(), "the PKI was not made");
  test_shard_start(&unused);
}

static uint64_t connects_ok(void) {
  return core_ctr_get(&io_shard_get_counters(shard)->connect_ok);
}

/* ---- the server: test_server.h ---- */

static tls_ctx *client_ctx(void) {
  tls_client_config cfg = {.ca_file = test_pki_path("ca.pem"), .alpn = "h2"};
  tls_ctx *ctx;
  char why[256];
  cr_assert_eq(tls_client_ctx_new(&cfg, &ctx, why, sizeof(why)), 0, "%s", why);
  return ctx;
}

/* ---- the subchannel, made and freed on the shard ---- */

typedef struct sub_job {
  int port;
  tls_ctx *tls;
  const char *server_name;
  uint32_t backoff_ms, min_timeout_ms;
  cli_subchannel *sub;
  int rc;
} sub_job;

static void do_new(void *arg) {
  sub_job *j = arg;
  struct sockaddr_in a = {.sin_family = AF_INET,
                          .sin_port = htons((uint16_t)j->port),
                          .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cli_subchannel_config cfg = {.authority = "localhost",
                               .tls = j->tls,
                               .server_name = j->server_name,
                               .initial_backoff_ms = j->backoff_ms,
                               .max_backoff_ms = j->backoff_ms ? j->backoff_ms * 4 : 0,
                               .min_connect_timeout_ms = j->min_timeout_ms};
  cli_addr ca = {.len = sizeof(a)};
  memcpy(&ca.ss, &a, sizeof(a));
  j->rc = cli_subchannel_new(shard, &ca, 1, &cfg, &j->sub);
}

static cli_subchannel *new_sub(int port, tls_ctx *tls, const char *name, uint32_t backoff_ms) {
  sub_job j = {.port = port,
               .tls = tls,
               .server_name = name,
               .backoff_ms = backoff_ms,
               .min_timeout_ms = backoff_ms ? 2000 : 0};
  test_on_shard(do_new, &j);
  cr_assert_eq(j.rc, 0);
  return j.sub;
}

static void do_free(void *arg) {
  cli_subchannel_free(arg);
}

typedef struct state_job {
  cli_subchannel *sub;
  cli_sub_state st;
} state_job;

static void do_state(void *arg) {
  state_job *j = arg;
  j->st = cli_subchannel_state(j->sub);
}

static cli_sub_state sub_state(cli_subchannel *sub) {
  state_job j = {.sub = sub};
  test_on_shard(do_state, &j);
  return j.st;
}

/* ---- calls and what they saw (under mu) ---- */

typedef enum { K_HELLO, K_OUT, K_IN, K_DUPLEX } kind;

typedef struct rec {
  kind k;
  cli_subchannel *sub;
  cli_sub_call *call;
  bool wait_for_ready;
  int64_t timeout_ms;
  int start_err;
  bool closed;
  urpc_status_code status;
  char msg[256];
  int n_msgs;
  size_t bytes;
  char reply[64];
  int32_t aggregated;
  int32_t interval_us; /* K_OUT: between response messages */
  /* K_IN: messages still to send, their size, how often send said -EAGAIN */
  int to_send;
  size_t chunk;
  int eagain;
} rec;

static void on_message(cli_sub_call *call, const uint8_t *m, size_t len, void *user) {
  (void)call;
  rec *r = user;
  LOCKED({
    r->n_msgs++;
    r->bytes += len;
    if (r->k == K_HELLO) {
      Helloworld__HelloReply *rep = helloworld__hello_reply__unpack(NULL, len, m);
      if (rep) snprintf(r->reply, sizeof(r->reply), "%s", rep->message);
      helloworld__hello_reply__free_unpacked(rep, NULL);
    } else if (r->k == K_IN) {
      Grpc__Testing__StreamingInputCallResponse *rep =
          grpc__testing__streaming_input_call_response__unpack(NULL, len, m);
      if (rep) r->aggregated = rep->aggregated_payload_size;
      grpc__testing__streaming_input_call_response__free_unpacked(rep, NULL);
    }
  });
}

static void on_close(cli_sub_call *call, urpc_status_code st, const char *msg, void *user) {
  (void)call;
  rec *r = user;
  LOCKED({
    r->closed = true;
    r->status = st;
    snprintf(r->msg, sizeof(r->msg), "%s", msg);
    r->call = NULL;
  });
}

/* K_IN: sends until -EAGAIN, then closes the request stream once all are sent. */
static void pump(rec *r) {
  static uint8_t body[64 << 10];
  Grpc__Testing__Payload pl = GRPC__TESTING__PAYLOAD__INIT;
  pl.body.data = body;
  pl.body.len = r->chunk;
  Grpc__Testing__StreamingInputCallRequest req = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  req.payload = &pl;
  size_t n = grpc__testing__streaming_input_call_request__get_packed_size(&req);
  uint8_t *buf = malloc(n);
  grpc__testing__streaming_input_call_request__pack(&req, buf);
  while (r->to_send > 0) {
    int rc = cli_sub_call_send(r->call, buf, n, 0);
    if (rc == -EAGAIN) {
      LOCKED(r->eagain++);
      break;
    }
    cr_assert_eq(rc, 0);
    r->to_send--;
  }
  free(buf);
  if (!r->to_send) cli_sub_call_close_send(r->call);
}

static void on_writable(cli_sub_call *call, void *user) {
  (void)call;
  rec *r = user;
  if (r->k == K_IN) pump(r);
}

static const cli_sub_handlers handlers = {
    .on_message = on_message, .on_close = on_close, .on_writable = on_writable};

static void start(rec *r, const char *path, const uint8_t *req, size_t n, bool close) {
  cli_sub_call_opts o = {.call.timeout_ns = r->timeout_ms * 1000000,
                         .wait_for_ready = r->wait_for_ready};
  int err;
  cli_sub_call *c = cli_subchannel_call(r->sub, path, &o, &handlers, r, &err);
  LOCKED({
    r->call = c;
    r->start_err = err;
  });
  if (!c) return;
  if (req) cr_assert_eq(cli_sub_call_send(c, req, n, 0), 0);
  if (close) cr_assert_eq(cli_sub_call_close_send(c), 0);
}

static void do_hello(void *arg) {
  rec *r = arg;
  char name[32];
  snprintf(name, sizeof(name), "n%p", arg);
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = name;
  uint8_t buf[64];
  size_t n = helloworld__hello_request__pack(&req, buf);
  r->k = K_HELLO;
  start(r, "/helloworld.Greeter/SayHello", buf, n, true);
}

static void hello(rec *r, cli_subchannel *sub) {
  r->sub = sub;
  test_on_shard(do_hello, r);
  cr_assert_eq(r->start_err, 0);
}

static void expect_hello_ok(rec *r) {
  char want[64];
  snprintf(want, sizeof(want), "Hello n%p", (void *)r);
  LOCKED({
    cr_expect_eq(r->status, URPC_STATUS_OK, "status %d: %s", r->status, r->msg);
    cr_expect_str_eq(r->reply, want);
  });
}

static void do_cancel(void *arg) {
  rec *r = arg;
  if (r->call) cli_sub_call_cancel(r->call);
}

/* ---- the tests ---- */

TestSuite(subchannel, .timeout = 60);

/* 50 SayHello in one shard turn: none can find the connection up. */
static cli_sub_state state_during;

static void start_many(void *arg) {
  rec *recs = arg;
  for (int i = 0; i < 50; i++) do_hello(&recs[i]);
  state_during = cli_subchannel_state(recs[0].sub);
}

Test(subchannel, calls_before_connect_share_one_connection) {
  start_shard();
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  cr_expect_eq(sub_state(sub), CLI_SUB_IDLE);
  static rec recs[50];
  for (int i = 0; i < 50; i++) recs[i].sub = sub;
  test_on_shard(start_many, recs);
  cr_expect_eq(state_during, CLI_SUB_CONNECTING);
  for (int i = 0; i < 50; i++) {
    cr_expect_eq(recs[i].start_err, 0);
    WAIT_FOR(recs[i].closed, 10000);
  }
  for (int i = 0; i < 50; i++) expect_hello_ok(&recs[i]);
  cr_expect_eq(connects_ok(), 1);
  cr_expect_eq(sub_state(sub), CLI_SUB_READY);
  /* and one more, on the READY connection */
  static rec more;
  hello(&more, sub);
  WAIT_FOR(more.closed, 5000);
  expect_hello_ok(&more);
  cr_expect_eq(connects_ok(), 1);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

static void do_stream_out(void *arg) {
  rec *r = arg;
  Grpc__Testing__ResponseParameters p[5], *pp[5];
  for (int i = 0; i < 5; i++) {
    grpc__testing__response_parameters__init(&p[i]);
    p[i].size = 1000 * (i + 1);
    p[i].interval_us = r->interval_us;
    pp[i] = &p[i];
  }
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = 5;
  req.response_parameters = pp;
  uint8_t buf[256];
  size_t n = grpc__testing__streaming_output_call_request__pack(&req, buf);
  r->k = K_OUT;
  start(r, "/grpc.testing.TestService/StreamingOutputCall", buf, n, true);
}

static void do_stream_in(void *arg) {
  rec *r = arg;
  r->k = K_IN;
  start(r, "/grpc.testing.TestService/StreamingInputCall", NULL, 0, false);
  if (r->call) pump(r);
}

Test(subchannel, streaming_both_ways) {
  start_shard();
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  static rec out, in;
  out.sub = in.sub = sub;
  test_on_shard(do_stream_out, &out);
  /* 200 x 16 KiB: far over the 64 KiB send buffer, started while connecting */
  in.to_send = 200;
  in.chunk = 16 << 10;
  test_on_shard(do_stream_in, &in);
  WAIT_FOR(out.closed && in.closed, 20000);
  LOCKED({
    cr_expect_eq(out.status, URPC_STATUS_OK, "%d: %s", out.status, out.msg);
    cr_expect_eq(out.n_msgs, 5);
    cr_expect_geq(out.bytes, 15000);
    cr_expect_eq(in.status, URPC_STATUS_OK, "%d: %s", in.status, in.msg);
    cr_expect_eq(in.aggregated, 200 * (16 << 10));
    cr_expect_eq(in.to_send, 0);
    cr_expect_gt(in.eagain, 0, "send never pushed back");
  });
  cr_expect_eq(connects_ok(), 1);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

Test(subchannel, tls) {
  start_shard();
  server srv = start_server(0);
  tls_ctx *ctx = client_ctx();
  cli_subchannel *sub = new_sub(srv.tls_port, ctx, "localhost", 0);
  static rec ok;
  hello(&ok, sub);
  WAIT_FOR(ok.closed, 10000);
  expect_hello_ok(&ok);
  test_on_shard(do_free, sub);

  sub = new_sub(srv.tls_port, ctx, "wrong.example", 0);
  static rec bad[3];
  for (int i = 0; i < 3; i++) hello(&bad[i], sub);
  for (int i = 0; i < 3; i++) {
    WAIT_FOR(bad[i].closed, 10000);
    LOCKED({
      cr_expect_eq(bad[i].status, URPC_STATUS_UNAVAILABLE, "%d: %s", bad[i].status, bad[i].msg);
      cr_expect(strstr(bad[i].msg, "wrong.example"), "%s", bad[i].msg);
    });
  }
  cr_log_info("wrong name: %s", bad[0].msg);
  cr_expect_eq(sub_state(sub), CLI_SUB_TRANSIENT_FAILURE);
  test_on_shard(do_free, sub);
  tls_ctx_unref(ctx);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

Test(subchannel, closed_port_then_wait_for_ready) {
  start_shard();
  int port = free_port();
  cli_subchannel *sub = new_sub(port, NULL, NULL, 100);
  static rec fast, later, wfr;
  uint64_t t0 = now_ms();
  hello(&fast, sub);
  WAIT_FOR(fast.closed, 3000);
  LOCKED({
    cr_expect_eq(fast.status, URPC_STATUS_UNAVAILABLE, "%d: %s", fast.status, fast.msg);
    cr_expect(strstr(fast.msg, "refused"), "%s", fast.msg);
  });
  cr_expect_lt(now_ms() - t0, 1000);
  /* in TRANSIENT_FAILURE (or already retrying): a call that does not wait fails too */
  hello(&later, sub);
  WAIT_FOR(later.closed, 3000);
  LOCKED(cr_expect_eq(later.status, URPC_STATUS_UNAVAILABLE, "%d: %s", later.status, later.msg));
  wfr.wait_for_ready = true;
  wfr.timeout_ms = 20000;
  hello(&wfr, sub);
  usleep(500 * 1000); /* a few attempts fail while it waits */
  LOCKED(cr_expect(!wfr.closed, "%d: %s", wfr.status, wfr.msg));
  server srv = start_server(port);
  WAIT_FOR(wfr.closed, 10000);
  expect_hello_ok(&wfr);
  cr_expect_eq(sub_state(sub), CLI_SUB_READY);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

static void do_duplex(void *arg) {
  rec *r = arg;
  r->k = K_DUPLEX;
  start(r, "/grpc.testing.TestService/FullDuplexCall", NULL, 0, false);
}

Test(subchannel, server_killed_and_back) {
  start_shard();
  server srv = start_server(0);
  int port = srv.port;
  cli_subchannel *sub = new_sub(port, NULL, NULL, 100);
  static rec first, inflight[3], after;
  hello(&first, sub);
  WAIT_FOR(first.closed, 10000);
  expect_hello_ok(&first);
  for (int i = 0; i < 3; i++) {
    inflight[i].sub = sub;
    test_on_shard(do_duplex, &inflight[i]);
    cr_assert_eq(inflight[i].start_err, 0);
  }
  usleep(100 * 1000);
  kill_server(&srv, SIGKILL);
  for (int i = 0; i < 3; i++) {
    WAIT_FOR(inflight[i].closed, 5000);
    LOCKED(cr_expect_eq(inflight[i].status, URPC_STATUS_UNAVAILABLE, "%d: %s", inflight[i].status,
                        inflight[i].msg));
  }
  cr_expect_eq(sub_state(sub), CLI_SUB_IDLE);
  srv = start_server(port);
  hello(&after, sub);
  WAIT_FOR(after.closed, 10000);
  expect_hello_ok(&after);
  cr_expect_eq(connects_ok(), 2);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

Test(subchannel, deadline_and_cancel_while_waiting) {
  start_shard();
  int port = free_port();
  cli_subchannel *sub = new_sub(port, NULL, NULL, 5000); /* the retry is far away */
  static rec dl, cancelled, at_free;
  dl.wait_for_ready = cancelled.wait_for_ready = at_free.wait_for_ready = true;
  dl.timeout_ms = 300;
  uint64_t t0 = now_ms();
  hello(&dl, sub);
  hello(&cancelled, sub);
  hello(&at_free, sub);
  test_on_shard(do_cancel, &cancelled);
  LOCKED({
    cr_expect(cancelled.closed);
    cr_expect_eq(cancelled.status, URPC_STATUS_CANCELLED);
  });
  WAIT_FOR(dl.closed, 3000);
  uint64_t took = now_ms() - t0;
  LOCKED(cr_expect_eq(dl.status, URPC_STATUS_DEADLINE_EXCEEDED, "%d: %s", dl.status, dl.msg));
  cr_expect(took >= 290 && took < 2000, "took %llu ms", (unsigned long long)took);
  LOCKED(cr_expect(!at_free.closed));
  test_on_shard(do_free, sub);
  LOCKED({
    cr_expect(at_free.closed);
    cr_expect_eq(at_free.status, URPC_STATUS_CANCELLED);
  });
  test_shard_end();
}

static void hello_then_free(void *arg) {
  rec *r = arg;
  do_hello(r);
  cr_assert_eq(cli_subchannel_state(r->sub), CLI_SUB_CONNECTING);
  cli_subchannel_free(r->sub);
}

Test(subchannel, free_with_calls_in_flight) {
  start_shard();
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  static rec d;
  d.sub = sub;
  test_on_shard(do_duplex, &d);
  usleep(100 * 1000);
  cr_expect_eq(sub_state(sub), CLI_SUB_READY);
  test_on_shard(do_free, sub);
  LOCKED({
    cr_expect(d.closed);
    cr_expect_eq(d.status, URPC_STATUS_CANCELLED);
  });
  /* free while connecting (in the same shard turn as the call): the connection is dropped
   * when it opens */
  sub = new_sub(srv.port, NULL, NULL, 0);
  static rec w;
  w.sub = sub;
  test_on_shard(hello_then_free, &w);
  LOCKED({
    cr_expect(w.closed);
    cr_expect_eq(w.status, URPC_STATUS_CANCELLED, "%d: %s", w.status, w.msg);
  });
  usleep(100 * 1000);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

static void do_send_close(void *arg) {
  rec *r = arg;
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  uint8_t buf[16];
  size_t n = grpc__testing__streaming_output_call_request__pack(&req, buf);
  cr_expect_eq(cli_sub_call_send(r->call, buf, n, 0), 0);
  cr_expect_eq(cli_sub_call_close_send(r->call), 0);
}

/* The server's maximum connection age sends GOAWAY: the call in flight finishes on the old
 * connection, a new call goes to a new one. */
Test(subchannel, goaway_moves_new_calls) {
  start_shard();
  server_extra[0] = "--max-connection-age";
  server_extra[1] = "1";
  server_extra[2] = "--max-connection-age-grace";
  server_extra[3] = "30";
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  static rec d, after;
  d.sub = sub;
  test_on_shard(do_duplex, &d);
  cr_assert_eq(d.start_err, 0);
  uint64_t until = now_ms() + 5000;
  while (sub_state(sub) == CLI_SUB_READY && now_ms() < until) usleep(10 * 1000);
  cr_assert_eq(sub_state(sub), CLI_SUB_IDLE, "no GOAWAY came");
  LOCKED(cr_expect(!d.closed, "%d: %s", d.status, d.msg));
  hello(&after, sub);
  WAIT_FOR(after.closed, 5000);
  expect_hello_ok(&after);
  cr_expect_eq(connects_ok(), 2);
  LOCKED(cr_expect(!d.closed, "%d: %s", d.status, d.msg));
  test_on_shard(do_send_close, &d);
  WAIT_FOR(d.closed, 5000);
  LOCKED(cr_expect_eq(d.status, URPC_STATUS_OK, "%d: %s", d.status, d.msg));
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

/* The waiting queue is bounded: the 1025th waiting call is refused with -EAGAIN. */
static rec queue_recs[1025];

static void fill_queue(void *arg) {
  for (int i = 0; i < 1025; i++) {
    queue_recs[i].sub = arg;
    queue_recs[i].wait_for_ready = true;
    do_hello(&queue_recs[i]);
  }
}

Test(subchannel, waiting_queue_is_bounded) {
  start_shard();
  cli_subchannel *sub = new_sub(free_port(), NULL, NULL, 5000);
  test_on_shard(fill_queue, sub);
  for (int i = 0; i < 1024; i++) cr_assert_eq(queue_recs[i].start_err, 0, "call %d", i);
  cr_expect_eq(queue_recs[1024].start_err, -EAGAIN);
  cr_expect_null(queue_recs[1024].call);
  test_on_shard(do_free, sub);
  for (int i = 0; i < 1024; i++)
    LOCKED(cr_assert(queue_recs[i].closed && queue_recs[i].status == URPC_STATUS_CANCELLED));
  test_shard_end();
}

/* A started call's deadline: the server streams slower than the call may last. */
Test(subchannel, deadline_of_a_started_call) {
  start_shard();
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  static rec slow;
  slow.sub = sub;
  slow.timeout_ms = 300;
  slow.interval_us = 2000000;
  uint64_t t0 = now_ms();
  test_on_shard(do_stream_out, &slow);
  cr_assert_eq(slow.start_err, 0);
  WAIT_FOR(slow.closed, 5000);
  uint64_t took = now_ms() - t0;
  LOCKED(cr_expect_eq(slow.status, URPC_STATUS_DEADLINE_EXCEEDED, "%d: %s", slow.status, slow.msg));
  cr_expect(took >= 290 && took < 1500, "took %llu ms", (unsigned long long)took);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}

/* More calls than the server's MAX_CONCURRENT_STREAMS (1000), all made before the connection
 * is up and held open: 1000 start, 10 wait for a stream slot; once the request streams end
 * they all finish OK, on one connection. */
static rec mcs_recs[1010];

static void start_mcs(void *arg) {
  for (int i = 0; i < 1010; i++) {
    mcs_recs[i].sub = arg;
    do_duplex(&mcs_recs[i]);
    cr_assert_eq(mcs_recs[i].start_err, 0, "call %d", i);
  }
}

static void close_mcs(void *arg) {
  (void)arg;
  for (int i = 0; i < 1010; i++) cr_assert_eq(cli_sub_call_close_send(mcs_recs[i].call), 0);
}

typedef struct waiting_job {
  cli_subchannel *sub;
  uint32_t n;
} waiting_job;

static void do_waiting(void *arg) {
  waiting_job *j = arg;
  j->n = cli_subchannel_waiting(j->sub);
}

Test(subchannel, more_calls_than_streams) {
  start_shard();
  server srv = start_server(0);
  cli_subchannel *sub = new_sub(srv.port, NULL, NULL, 0);
  test_on_shard(start_mcs, sub);
  waiting_job w = {.sub = sub, .n = 1010};
  uint64_t until = now_ms() + 5000;
  while (w.n != 10 && now_ms() < until) {
    usleep(5000);
    test_on_shard(do_waiting, &w);
  }
  cr_assert_eq(w.n, 10, "%u calls wait", w.n);
  usleep(50 * 1000);
  test_on_shard(do_waiting, &w);
  cr_expect_eq(w.n, 10, "%u calls wait", w.n);
  for (int i = 0; i < 1010; i++)
    LOCKED(
        cr_assert(!mcs_recs[i].closed, "call %d: %d %s", i, mcs_recs[i].status, mcs_recs[i].msg));
  test_on_shard(close_mcs, NULL);
  for (int i = 0; i < 1010; i++) {
    WAIT_FOR(mcs_recs[i].closed, 20000);
    LOCKED(cr_assert_eq(mcs_recs[i].status, URPC_STATUS_OK, "call %d: %d %s", i, mcs_recs[i].status,
                        mcs_recs[i].msg));
  }
  cr_expect_eq(connects_ok(), 1);
  test_on_shard(do_free, sub);
  kill_server(&srv, SIGTERM);
  test_shard_end();
}
