/* The public client (client/urpc_client.h) from an application thread: a client runtime of its
 * own, channels to the real uringrpc-server spawned by each test on loopback (plaintext by
 * ipv4 address, TLS by name through the resolver), blocking and asynchronous unary calls, a
 * name that does not resolve, keepalive against a server that never answers a PING, calls from
 * the wrong thread, a channel freed with a call in flight, and bad options — on the backend
 * URPC_TEST_IO names (CTest runs the file once per backend). */
#include <criterion/criterion.h>
#include <criterion/hooks.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "../common/test_pki.h"
#include "../common/test_shard.h"
#include "../common/test_server.h"
#include "helloworld.pb-c.h"
#include "relay.pb-c.h"
#include "urpc_client.h"

ReportHook(PRE_ALL)(struct criterion_test_set *set) {
  (void)set;
  test_pki_make("urpc-channel");
  if (test_pki_leaf("srv", "DNS:localhost,IP:127.0.0.1", "serverAuth")) abort();
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats) {
  (void)stats;
  test_pki_remove();
}

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
#define LOCKED(stmt)       TEST_LOCKED(&mu, stmt)
#define WAIT_FOR(cond, ms) TEST_WAIT_FOR(&mu, cond, ms, "")

static urpc_client *client;

static void start_client(void) {
  cr_assert(test_pki_use(), "the PKI was not made");
  const char *io = getenv("URPC_TEST_IO");
  epoll_backend = io && !strcmp(io, "epoll");
  char why[512];
  if (!epoll_backend && io_ring_probe(why, sizeof(why)) < 0) cr_skip_test("no io_uring: %s", why);
  urpc_client_options o;
  urpc_client_options_init(&o);
  o.io = epoll_backend ? URPC_IO_EPOLL : URPC_IO_URING;
  cr_assert_eq(urpc_client_new(&o, &client, why, sizeof(why)), 0, "%s", why);
}

static urpc_channel *channel(const char *target, bool tls, uint32_t keepalive_ms) {
  urpc_channel_options o;
  urpc_channel_options_init(&o);
  o.client = client;
  o.tls = tls;
  o.ca_file = tls ? test_pki_path("ca.pem") : NULL;
  o.keepalive_time_ms = o.keepalive_timeout_ms = keepalive_ms;
  o.initial_backoff_ms = 100;
  urpc_channel *ch;
  char why[512];
  cr_assert_eq(urpc_channel_new(target, &o, &ch, why, sizeof(why)), 0, "%s: %s", target, why);
  return ch;
}

static urpc_status_code say_hello(urpc_channel *ch, const char *name, int64_t timeout_ms,
                                  char *reply, size_t reply_len, char *msg, size_t msg_len) {
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  urpc_client_call_options o = {.timeout_ns = timeout_ms * 1000000};
  ProtobufCMessage *resp;
  urpc_status_code st =
      urpc_channel_unary_blocking(ch, "/helloworld.Greeter/SayHello", &req.base,
                                  &helloworld__hello_reply__descriptor, &o, &resp, msg, msg_len);
  if (st == URPC_STATUS_OK) {
    snprintf(reply, reply_len, "%s", ((Helloworld__HelloReply *)resp)->message);
    protobuf_c_message_free_unpacked(resp, NULL);
  }
  return st;
}

Test(channel, blocking_unary_plaintext_and_tls) {
  start_client();
  server srv = start_server(0);
  char target[64], reply[64], msg[256];
  snprintf(target, sizeof(target), "ipv4:127.0.0.1:%d", srv.port);
  urpc_channel *ch = channel(target, false, 0);
  for (int i = 0; i < 20; i++)
    cr_assert_eq(say_hello(ch, "plain", 5000, reply, sizeof(reply), msg, sizeof(msg)),
                 URPC_STATUS_OK, "%s", msg);
  cr_assert_str_eq(reply, "Hello plain");
  urpc_channel_free(ch);
  snprintf(target, sizeof(target), "dns:///localhost:%d", srv.tls_port);
  ch = channel(target, true, 0);
  cr_assert_eq(say_hello(ch, "tls", 5000, reply, sizeof(reply), msg, sizeof(msg)), URPC_STATUS_OK,
               "%s", msg);
  cr_assert_str_eq(reply, "Hello tls");
  urpc_channel_free(ch);
  kill_server(&srv, SIGTERM);
  urpc_client_free(client);
}

Test(channel, name_not_resolved) {
  start_client();
  urpc_channel *ch = channel("dns:///no-such-host.invalid:50051", false, 0);
  char reply[64], msg[256];
  urpc_status_code st = say_hello(ch, "x", 20000, reply, sizeof(reply), msg, sizeof(msg));
  cr_assert_eq(st, URPC_STATUS_UNAVAILABLE, "status %d: %s", st, msg);
  cr_assert(strstr(msg, "no-such-host.invalid"), "the message names the host: %s", msg);
  urpc_channel_free(ch);
  urpc_client_free(client);
}

/* A server that speaks the HTTP/2 preface's SETTINGS and then nothing: it never ACKs a PING,
 * and never answers a call. */
static void *silent_server(void *arg) {
  int lfd = *(int *)arg;
  int fd = accept(lfd, NULL, NULL);
  if (fd < 0) return NULL;
  static const uint8_t settings[9] = {0, 0, 0, 4, 0, 0, 0, 0, 0};
  if (write(fd, settings, sizeof(settings)) != sizeof(settings)) return NULL;
  char buf[4096];
  while (read(fd, buf, sizeof(buf)) > 0) {
  }
  close(fd);
  return NULL;
}

Test(channel, keepalive_closes_a_silent_connection) {
  start_client();
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof(a);
  cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
  cr_assert_eq(listen(lfd, 4), 0);
  getsockname(lfd, (struct sockaddr *)&a, &len);
  pthread_t t;
  pthread_create(&t, NULL, silent_server, &lfd);
  char target[64], reply[64], msg[256];
  snprintf(target, sizeof(target), "127.0.0.1:%d", ntohs(a.sin_port));
  urpc_channel *ch = channel(target, false, 200);
  uint64_t t0 = test_shard_now_ms();
  urpc_status_code st = say_hello(ch, "x", 0, reply, sizeof(reply), msg, sizeof(msg));
  uint64_t took = test_shard_now_ms() - t0;
  cr_assert_eq(st, URPC_STATUS_UNAVAILABLE, "status %d: %s", st, msg);
  cr_assert(took >= 350 && took < 5000, "keepalive 200 ms + 200 ms ended the call after %d ms",
            (int)took);
  urpc_channel_free(ch);
  close(lfd);
  pthread_join(t, NULL);
  urpc_client_free(client);
}

/* ---- calls made on the shard ---- */

typedef struct result {
  int err;
  bool closed;
  urpc_status_code status;
  char message[256];
} result;

static void on_close(urpc_client_call *call, urpc_status_code status, const char *message,
                     void *user) {
  (void)call;
  result *r = user;
  LOCKED({
    r->closed = true;
    r->status = status;
    snprintf(r->message, sizeof(r->message), "%s", message);
  });
}

static const urpc_client_call_handlers close_only = {.on_close = on_close};

static void start_sleeper(urpc_channel *ch, void *arg) {
  result *r = arg;
  int err;
  urpc_client_call *call =
      urpc_channel_call(ch, "/urpc.example.Relay/Forward", NULL, &close_only, r, &err);
  if (call) {
    Urpc__Example__ForwardRequest req = URPC__EXAMPLE__FORWARD_REQUEST__INIT;
    req.sleep_ms = 10000;
    urpc_client_call_send_message(call, &req.base);
    urpc_client_call_close_send(call);
  }
  LOCKED(r->err = call ? 1 : err);
}

Test(channel, free_ends_calls_in_flight) {
  start_client();
  server srv = start_server(0);
  char target[64];
  snprintf(target, sizeof(target), "127.0.0.1:%d", srv.port);
  urpc_channel *ch = channel(target, false, 0);
  result r = {0};
  cr_assert_eq(urpc_channel_post(ch, start_sleeper, &r), 0);
  WAIT_FOR(r.err == 1, 5000);
  usleep(200 * 1000); /* the call reaches the server */
  urpc_channel_free(ch);
  bool closed;
  LOCKED(closed = r.closed);
  cr_assert(closed, "on_close ran before urpc_channel_free returned");
  cr_assert_eq(r.status, URPC_STATUS_CANCELLED, "%d %s", r.status, r.message);
  kill_server(&srv, SIGTERM);
  urpc_client_free(client);
}

static void blocking_on_shard(urpc_channel *ch, void *arg) {
  result *r = arg;
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  ProtobufCMessage *resp;
  char msg[128];
  urpc_status_code st = urpc_channel_unary_blocking(ch, "/helloworld.Greeter/SayHello", &req.base,
                                                    &helloworld__hello_reply__descriptor, NULL,
                                                    &resp, msg, sizeof(msg));
  LOCKED({
    r->status = st;
    r->closed = true;
  });
}

Test(channel, wrong_threads) {
  start_client();
  urpc_channel *ch = channel("127.0.0.1:1", false, 0);
  int err = 0;
  cr_assert_null(urpc_channel_call(ch, "/a/b", NULL, &close_only, NULL, &err));
  cr_assert_eq(err, -EPERM, "a call from a thread that is not the channel's shard");
  result r = {0};
  cr_assert_eq(urpc_channel_post(ch, blocking_on_shard, &r), 0);
  WAIT_FOR(r.closed, 5000);
  cr_assert_eq(r.status, URPC_STATUS_FAILED_PRECONDITION, "a blocking call on a shard thread");
  urpc_channel_free(ch);
  urpc_client_free(client);
}

Test(channel, bad_options) {
  start_client();
  urpc_channel_options o;
  urpc_channel_options_init(&o);
  urpc_channel *ch;
  char why[512] = "";
  cr_assert_eq(urpc_channel_new("127.0.0.1:1", &o, &ch, why, sizeof(why)), -EINVAL);
  cr_assert(strstr(why, "runtime"), "%s", why);
  o.client = client;
  cr_assert_eq(urpc_channel_new("dns://8.8.8.8/x:1", &o, &ch, why, sizeof(why)), -EINVAL);
  cr_assert(strstr(why, "8.8.8.8"), "%s", why);
  o.tls = true;
  o.ca_file = "/nonexistent/ca.pem";
  cr_assert_neq(urpc_channel_new("localhost:1", &o, &ch, why, sizeof(why)), 0);
  cr_assert(strstr(why, "/nonexistent/ca.pem"), "%s", why);
  urpc_client_free(client);
}
