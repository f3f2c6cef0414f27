/* The client session (client/h2_client.h) against this project's own server session, both
 * sans-IO, bytes pumped between them in memory: unary calls, statuses and messages each way,
 * metadata both ways ("-bin" included), grpc-timeout reaching the server, client streaming,
 * cancellation seen by the server, a response over the client's limit, and the connection
 * closed with calls open. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/h2_client.h"
#include "core/clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/rpc_impl.h"

typedef struct result {
  bool closed;
  urpc_status_code status;
  char message[256];
  int n_messages;
  uint8_t last[4096];
  size_t last_len;
  char md[8][2][64]; /* response metadata seen: key, value */
  bool md_trailer[8];
  int n_md;
  bool last_compressed; /* cli_call_message_compressed in on_message */
} result;

static struct {
  urpc_server *server;
  rpc_shard sh;
  rpc_conn *srv;
  cli_conn *cli;
  core_pool blocks;
  core_timer_wheel wheel;
  int64_t seen_timeout_ns; /* what the handler saw */
  char seen_md[64];
  int hellos;
  bool req_compressed; /* the last request came compressed */
} E;

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  E.hellos++;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  const uint8_t *v;
  size_t len;
  const char *key;
  E.seen_md[0] = '\0';
  for (size_t i = 0; i < urpc_call_metadata_count(call); i++)
    if (!urpc_call_metadata_at(call, i, &key, &v, &len) && !strcmp(key, "x-token-bin"))
      snprintf(E.seen_md, sizeof(E.seen_md), "%.*s", (int)len, (const char *)v);
  int64_t deadline = urpc_call_deadline(call);
  E.seen_timeout_ns = deadline ? deadline - (int64_t)core_now_ns() : -1;
  if (!strcmp(req->name, "nobody")) {
    urpc_call_fail(call, URPC_STATUS_NOT_FOUND, "no such person: nobody (100%)");
    return;
  }
  if (!strncmp(req->name, "zip", 3)) urpc_call_set_compression(call, req->name + 3);
  E.req_compressed = urpc_call_request_compressed(call);
  urpc_call_add_initial_metadata(call, "x-greeting", "hi", 2);
  if (!strcmp(req->name, "bigmd")) { /* response metadata over the client's 16 KiB */
    static char kib[1000];
    memset(kib, 'm', sizeof(kib));
    for (int i = 0; i < 20; i++) urpc_call_add_trailing_metadata(call, "x-filler", kib, 1000);
  }
  urpc_call_add_trailing_metadata(call, "x-done-bin", "\x00\x01\xff", 3);
  size_t n = strlen(req->name) + 8;
  char *text = urpc_call_alloc(call, n + 1);
  if (!strcmp(req->name, "big")) { /* a reply over the client's limit */
    n = 3000;
    text = urpc_call_alloc(call, n + 1);
    memset(text, 'x', n);
    text[n] = '\0';
  } else {
    snprintf(text, n, "Hello %s", req->name);
  }
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

/* grpc.testing.TestService/StreamingInputCall: adds up the payloads, answers at half-close. */
static int32_t aggregated;
static void input_message(urpc_call *call, const ProtobufCMessage *msg, void *user) {
  (void)call, (void)user;
  const Grpc__Testing__StreamingInputCallRequest *req =
      (const Grpc__Testing__StreamingInputCallRequest *)msg;
  if (req->payload) aggregated += (int32_t)req->payload->body.len;
}
static void input_half_close(urpc_call *call, void *user) {
  (void)user;
  Grpc__Testing__StreamingInputCallResponse resp =
      GRPC__TESTING__STREAMING_INPUT_CALL_RESPONSE__INIT;
  resp.aggregated_payload_size = aggregated;
  urpc_call_reply(call, &resp.base);
}
static const urpc_stream_handler input_stream = {.on_message = input_message,
                                                 .on_half_close = input_half_close};

static void setup(void) {
  memset(&E, 0, sizeof(E));
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_method m[] = {{.name = "SayHello", .handler = say_hello, .user = NULL}};
  cr_assert_eq(urpc_server_add_service(E.server, &helloworld__greeter__descriptor, m, 1), 0);
  urpc_method t[] = {{.name = "StreamingInputCall",
                      .flags = URPC_METHOD_CLIENT_STREAMING,
                      .stream = &input_stream}};
  cr_assert_eq(urpc_server_add_service(E.server, &grpc__testing__test_service__descriptor, t, 1),
               0);
  aggregated = 0;
  cr_assert_eq(rpc_shard_init(&E.sh, E.server, 0), 0);
  core_timer_wheel_init(&E.wheel, core_now_ms());
  E.sh.timers = &E.wheel;
  core_pool_init(&E.blocks, core_outq_block_size(), 16);
  E.srv = rpc_conn_open(&E.sh, NULL);
  cr_assert_not_null(E.srv);
  cli_conn_config cfg = {.authority = "127.0.0.1:50051", .max_recv_message = 2048};
  cr_assert_eq(cli_conn_new(&cfg, &E.cli), 0);
}

static void teardown(void) {
  cli_conn_free(E.cli);
  if (E.srv) rpc_conn_closed(E.srv);
  rpc_shard_dispose(&E.sh);
  urpc_server_free(E.server);
  core_pool_dispose(&E.blocks);
}

TestSuite(h2_client, .init = setup, .fini = teardown);

/* Moves one side's output into the other until both are quiet. */
static size_t move(core_outq *out, int (*into)(void *, const uint8_t *, size_t), void *to) {
  size_t moved = out->bytes;
  struct iovec iov[64];
  while (out->bytes) {
    int n = core_outq_iov(out, iov, 64);
    size_t sum = 0;
    for (int i = 0; i < n; i++) {
      cr_assert_eq(into(to, iov[i].iov_base, iov[i].iov_len), 0);
      sum += iov[i].iov_len;
    }
    core_outq_consume(out, sum);
  }
  return moved;
}

static int into_server(void *to, const uint8_t *p, size_t n) {
  return rpc_conn_recv(to, p, n);
}

static int into_client(void *to, const uint8_t *p, size_t n) {
  return cli_conn_recv(to, p, n);
}

static void pump(void) {
  for (int round = 0; round < 100; round++) {
    core_outq out;
    core_outq_init(&out, &E.blocks);
    cr_assert_geq(cli_conn_produce(E.cli, &out), 0);
    size_t a = move(&out, into_server, E.srv);
    rpc_shard_after_batch(&E.sh);
    cr_assert_geq(rpc_conn_produce(E.srv, &out), 0);
    size_t b = move(&out, into_client, E.cli);
    core_outq_dispose(&out);
    if (!a && !b) return;
  }
  cr_assert_fail("the two sides kept talking");
}

static void on_metadata(cli_call *call, const char *key, const uint8_t *value, size_t len,
                        bool trailer, void *user) {
  (void)call;
  result *r = user;
  if (r->n_md == 8) return;
  snprintf(r->md[r->n_md][0], 64, "%s", key);
  size_t n = len < 63 ? len : 63;
  memcpy(r->md[r->n_md][1], value, n);
  r->md[r->n_md][1][n] = '\0';
  r->md_trailer[r->n_md++] = trailer;
}

static void on_message(cli_call *call, const uint8_t *msg, size_t len, void *user) {
  result *r = user;
  r->last_compressed = cli_call_message_compressed(call);
  r->n_messages++;
  r->last_len = len < sizeof(r->last) ? len : sizeof(r->last);
  memcpy(r->last, msg, r->last_len);
}

static void on_close(cli_call *call, urpc_status_code status, const char *message, void *user) {
  (void)call;
  result *r = user;
  cr_assert_not(r->closed, "on_close twice");
  r->closed = true;
  r->status = status;
  snprintf(r->message, sizeof(r->message), "%s", message);
}

static const cli_call_handlers H = {on_metadata, on_message, on_close, NULL};

static unsigned send_flags; /* hello_enc's cli_call_send flags */

static cli_call *hello_enc(result *r, const char *name, int64_t timeout_ns, const cli_metadata *md,
                           size_t n_md, const char *encoding) {
  int err;
  cli_call *call = cli_call_start(E.cli, "/helloworld.Greeter/SayHello",
                                  &(cli_call_opts){timeout_ns, md, n_md, encoding}, &H, r, &err);
  cr_assert_not_null(call, "start: %d", err);
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  uint8_t buf[256];
  size_t n = helloworld__hello_request__pack(&req, buf);
  cr_assert_eq(cli_call_send(call, buf, n, send_flags), 0);
  cr_assert_eq(cli_call_close_send(call), 0);
  return call;
}

static cli_call *hello(result *r, const char *name, int64_t timeout_ns, const cli_metadata *md,
                       size_t n_md) {
  return hello_enc(r, name, timeout_ns, md, n_md, NULL);
}

static const char *reply_text(const result *r) {
  static char text[4096];
  Helloworld__HelloReply *rep = helloworld__hello_reply__unpack(NULL, r->last_len, r->last);
  cr_assert_not_null(rep);
  snprintf(text, sizeof(text), "%s", rep->message);
  helloworld__hello_reply__free_unpacked(rep, NULL);
  return text;
}

static const char *md_of(const result *r, const char *key, bool trailer) {
  for (int i = 0; i < r->n_md; i++)
    if (!strcmp(r->md[i][0], key) && r->md_trailer[i] == trailer) return r->md[i][1];
  return NULL;
}

Test(h2_client, unary_ok_with_metadata_both_ways_and_a_timeout) {
  result r = {0};
  cli_metadata md[] = {{"x-token-bin", "abc\x01", 4}};
  hello(&r, "world", 2500000000LL, md, 1);
  pump();
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_OK, "%d %s", r.status, r.message);
  cr_assert_eq(r.n_messages, 1);
  cr_assert_str_eq(reply_text(&r), "Hello world");
  cr_assert_str_eq(E.seen_md, "abc\x01", "the server decoded the -bin metadata");
  cr_assert(E.seen_timeout_ns > 2000000000LL && E.seen_timeout_ns <= 2500000000LL,
            "the server saw a %lld ns deadline", (long long)E.seen_timeout_ns);
  cr_assert_str_eq(md_of(&r, "x-greeting", false), "hi");
  cr_assert_not_null(md_of(&r, "x-done-bin", true), "the binary trailer");
  cr_assert_eq(memcmp(md_of(&r, "x-done-bin", true), "\x00\x01\xff", 3), 0);
}

Test(h2_client, statuses_the_server_sends_and_the_ones_derived) {
  result nf = {0}, unimpl = {0};
  hello(&nf, "nobody", 0, NULL, 0);
  int err;
  cli_call *call = cli_call_start(E.cli, "/helloworld.Greeter/Nope", NULL, &H, &unimpl, &err);
  cr_assert_not_null(call);
  cr_assert_eq(cli_call_close_send(call), 0);
  pump();
  cr_assert(nf.closed && unimpl.closed);
  cr_assert_eq(nf.status, URPC_STATUS_NOT_FOUND);
  cr_assert_str_eq(nf.message, "no such person: nobody (100%)", "percent-decoded");
  cr_assert_eq(nf.n_messages, 0);
  cr_assert_eq(E.seen_timeout_ns, -1, "no grpc-timeout without a timeout");
  cr_assert_eq(unimpl.status, URPC_STATUS_UNIMPLEMENTED);
}

Test(h2_client, many_calls_multiplexed) {
  enum { N = 40 };
  result r[N];
  memset(r, 0, sizeof(r));
  char name[N][16];
  for (int i = 0; i < N; i++) {
    snprintf(name[i], sizeof(name[i]), "n%d", i);
    hello(&r[i], name[i], 0, NULL, 0);
  }
  pump();
  for (int i = 0; i < N; i++) {
    cr_assert(r[i].closed);
    cr_assert_eq(r[i].status, URPC_STATUS_OK);
    char want[64];
    snprintf(want, sizeof(want), "Hello n%d", i);
    cr_assert_str_eq(reply_text(&r[i]), want);
  }
  cr_assert_eq(E.hellos, N);
}

Test(h2_client, a_response_over_the_limit_fails_the_call) {
  result r = {0};
  hello(&r, "big", 0, NULL, 0);
  pump();
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_RESOURCE_EXHAUSTED, "%d %s", r.status, r.message);
  cr_assert_eq(r.n_messages, 0);
  result ok = {0};
  hello(&ok, "after", 0, NULL, 0);
  pump();
  cr_assert_eq(ok.status, URPC_STATUS_OK, "the connection goes on");
}

Test(h2_client, response_metadata_over_the_limit_fails_the_call) {
  result r = {0};
  hello(&r, "bigmd", 0, NULL, 0);
  pump();
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_RESOURCE_EXHAUSTED, "%d %s", r.status, r.message);
  cr_assert(strstr(r.message, "16 KiB"), "%s", r.message);
  result ok = {0};
  hello(&ok, "after", 0, NULL, 0);
  pump();
  cr_assert_eq(ok.status, URPC_STATUS_OK, "the connection goes on");
}

Test(h2_client, cancel_resets_the_stream) {
  result r = {0};
  int err;
  cli_call *call = cli_call_start(E.cli, "/helloworld.Greeter/SayHello", NULL, &H, &r, &err);
  cr_assert_not_null(call);
  pump(); /* headers out, the request still open */
  cr_assert_eq(E.sh.call_pool.live, 1, "the server holds the call");
  cli_call_cancel(call);
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_CANCELLED);
  pump();
  cr_assert_eq(E.sh.call_pool.live, 0, "the server released the call on RST_STREAM");
  cr_assert_eq(E.hellos, 0);
}

Test(h2_client, bad_requests_are_refused_before_the_wire) {
  int err;
  cr_assert_null(cli_call_start(E.cli, "no-slash", NULL, &H, NULL, &err));
  cr_assert_eq(err, -EINVAL);
  cli_metadata bad_key[] = {{"Upper", "v", 1}};
  cr_assert_null(
      cli_call_start(E.cli, "/a/b", &(cli_call_opts){.md = bad_key, .n_md = 1}, &H, NULL, &err));
  cr_assert_eq(err, -EINVAL);
  cli_metadata reserved[] = {{"grpc-status", "0", 1}};
  cr_assert_null(
      cli_call_start(E.cli, "/a/b", &(cli_call_opts){.md = reserved, .n_md = 1}, &H, NULL, &err));
  cli_metadata bad_value[] = {{"x-v", "a\nb", 3}};
  cr_assert_null(
      cli_call_start(E.cli, "/a/b", &(cli_call_opts){.md = bad_value, .n_md = 1}, &H, NULL, &err));
  cr_assert_eq(err, -EINVAL);
}

Test(h2_client, closing_the_connection_ends_open_calls) {
  result r = {0};
  int err;
  cli_call *call = cli_call_start(E.cli, "/helloworld.Greeter/SayHello", NULL, &H, &r, &err);
  cr_assert_not_null(call);
  pump();
  cli_conn_free(E.cli);
  E.cli = NULL;
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_UNAVAILABLE);
}

/* Compression both ways: requests gzip- or deflate-compressed by the client and decompressed by
 * the server; responses the server compresses (it may: the client accepts every encoding it
 * knows) decompressed by the client; an unknown request encoding refused before the wire. */
Test(h2_client, compression_both_ways) {
  static const char *encodings[] = {"gzip", "deflate"};
  for (int i = 0; i < 2; i++) {
    result r = {0};
    char name[64];
    snprintf(name, sizeof(name), "zip%s", encodings[i]);
    hello_enc(&r, name, 0, NULL, 0, encodings[i]);
    pump();
    cr_assert_eq(r.status, URPC_STATUS_OK, "%s: %d %s", encodings[i], r.status, r.message);
    cr_assert(E.req_compressed, "%s: the request was not compressed", encodings[i]);
    cr_assert(r.last_compressed, "%s: the response came compressed", encodings[i]);
    char want[80];
    snprintf(want, sizeof(want), "Hello %s", name);
    cr_assert_str_eq(reply_text(&r), want);
  }
  result plain = {0};
  hello(&plain, "plain", 0, NULL, 0);
  pump();
  cr_assert_eq(plain.status, URPC_STATUS_OK);
  cr_assert_not(E.req_compressed);
  cr_assert_not(plain.last_compressed);
  result one_plain = {0}; /* a message sent uncompressed inside a gzip call */
  send_flags = CLI_SEND_NO_COMPRESS;
  hello_enc(&one_plain, "onegzip", 0, NULL, 0, "gzip");
  send_flags = 0;
  pump();
  cr_assert_eq(one_plain.status, URPC_STATUS_OK, "%s", one_plain.message);
  cr_assert_not(E.req_compressed, "CLI_SEND_NO_COMPRESS: the message went uncompressed");
  int err;
  cr_assert_null(cli_call_start(E.cli, "/a/b", &(cli_call_opts){.encoding = "br"}, &H, NULL, &err));
  cr_assert_eq(err, -EINVAL);
}

/* Client streaming with a send buffer: a sender that writes until -EAGAIN and waits for
 * on_writable gets 300 messages of 4 KiB through, never more than the buffer queued, and the
 * server adds up every byte. */
static int writable_calls;
static void on_writable(cli_call *call, void *user) {
  (void)call, (void)user;
  writable_calls++;
}

Test(h2_client, client_streaming_with_backpressure) {
  cli_call_handlers h = H;
  h.on_writable = on_writable;
  result r = {0};
  int err;
  cli_call *call =
      cli_call_start(E.cli, "/grpc.testing.TestService/StreamingInputCall", NULL, &h, &r, &err);
  cr_assert_not_null(call, "%d", err);
  static uint8_t body[4096];
  Grpc__Testing__Payload payload = GRPC__TESTING__PAYLOAD__INIT;
  payload.body.data = body;
  payload.body.len = sizeof(body);
  Grpc__Testing__StreamingInputCallRequest req = GRPC__TESTING__STREAMING_INPUT_CALL_REQUEST__INIT;
  req.payload = &payload;
  static uint8_t buf[8192];
  size_t n = grpc__testing__streaming_input_call_request__pack(&req, buf);
  int sent = 0, refused = 0, waits = 0;
  while (sent < 300) {
    int rc = cli_call_send(call, buf, n, 0);
    if (rc == 0) {
      sent++;
      continue;
    }
    cr_assert_eq(rc, -EAGAIN);
    refused++;
    int before = writable_calls;
    pump();
    cr_assert_gt(writable_calls, before, "no on_writable after the server took bytes");
    waits++;
    cr_assert_lt(waits, 1000);
  }
  cr_assert_gt(refused, 0, "300 x 4 KiB never filled a 64 KiB buffer?");
  cr_assert_eq(cli_call_close_send(call), 0);
  pump();
  cr_assert(r.closed);
  cr_assert_eq(r.status, URPC_STATUS_OK, "%d %s", r.status, r.message);
  Grpc__Testing__StreamingInputCallResponse *resp =
      grpc__testing__streaming_input_call_response__unpack(NULL, r.last_len, r.last);
  cr_assert_not_null(resp);
  cr_assert_eq(resp->aggregated_payload_size, 300 * 4096);
  grpc__testing__streaming_input_call_response__free_unpacked(resp, NULL);
}
