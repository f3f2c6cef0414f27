/* The HTTP/2 + gRPC layer driven sans-IO: requests are HEADERS and DATA frames made here (HPACK
 * by nghttp2's deflater), fed to a server connection with no socket; the bytes it produces are
 * split into frames and their header blocks decoded by nghttp2's inflater. */
#include <criterion/criterion.h>
#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "grpc/health/v1/health.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/rpc_impl.h"

#define MAX_STREAMS 64

typedef struct stream_result {
  int32_t id;
  int http_status; /* from :status, 0 if none */
  int grpc_status; /* -1 if none */
  char grpc_message[256];
  uint8_t data[512];
  size_t data_len;
  int headers_frames;
  bool ended; /* END_STREAM seen */
  bool reset;
  uint32_t rst_code;
  bool ic_header; /* the response carried x-ic (added by an interceptor) */
} stream_result;

typedef struct env {
  urpc_server *server;
  rpc_shard sh;
  rpc_conn *conn;
  core_pool blocks;
  core_timer_wheel wheel;
  nghttp2_hd_deflater *deflater;
  nghttp2_hd_inflater *inflater;
  uint8_t pending[1 << 16]; /* server output not yet split into frames */
  size_t pending_len;
  stream_result streams[MAX_STREAMS];
  int n_streams;
  bool goaway;
  uint32_t goaway_code;
  int settings_frames;
  bool wants_close; /* the connection asked to be closed after its output */
} env;

static env E;

static int second_reply_rc; /* what a second urpc_call_reply returned ("twice") */
static int hello_runs;      /* say_hello calls */

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  hello_runs++;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  if (strcmp(req->name, "twice") == 0) { /* the second finish is ignored */
    Helloworld__HelloReply r = HELLOWORLD__HELLO_REPLY__INIT;
    r.message = "first";
    urpc_call_reply(call, &r.base);
    r.message = "second";
    second_reply_rc = urpc_call_reply(call, &r.base);
    urpc_call_fail(call, URPC_STATUS_INTERNAL, "third");
    return;
  }
  char *text = urpc_call_alloc(call, 300);
  snprintf(text, 300, "Hello %s", req->name);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

/* Two interceptors on every test's server, recording what they see; tests set what they do. */
typedef struct ic_event {
  char hook; /* 's' start, 'e' end, 'm' message */
  int which; /* 1 or 2 */
  char path[64];
  uint32_t method_index;
  urpc_call_end end;
  bool received;    /* 'm' */
  size_t bytes;     /* 'm' */
  bool compressed;  /* 'm' */
  char message[64]; /* 'e': end.message, copied while it is valid */
} ic_event;

static struct {
  ic_event ev[32];
  int n;
  const char *reject_path; /* interceptor 1 answers PERMISSION_DENIED for this path */
  bool add_metadata;       /* interceptor 2 adds x-ic to the response */
  bool record_messages;    /* interceptor 2 (the one with on_message) records each message */
} IC;

static urpc_status_code ic_start(urpc_call *call, void *user, void **state, const char **message) {
  int which = (int)(intptr_t)user;
  if (IC.n < 32) {
    ic_event *e = &IC.ev[IC.n++];
    *e = (ic_event){.hook = 's', .which = which, .method_index = urpc_call_method_index(call)};
    snprintf(e->path, sizeof(e->path), "%s", urpc_call_path(call));
  }
  *state = (void *)(intptr_t)(100 + which);
  if (which == 1 && IC.reject_path && !strcmp(urpc_call_path(call), IC.reject_path)) {
    *message = "denied by the test";
    return URPC_STATUS_PERMISSION_DENIED;
  }
  if (which == 2 && IC.add_metadata) urpc_call_add_initial_metadata(call, "x-ic", "yes", 3);
  return URPC_STATUS_OK;
}

static void ic_end(urpc_call *call, const urpc_call_end *end, void *user, void *state) {
  int which = (int)(intptr_t)user;
  cr_assert_eq((intptr_t)state, 100 + which, "per-call state lost");
  if (IC.n < 32) {
    ic_event *e = &IC.ev[IC.n++];
    *e = (ic_event){.hook = 'e', .which = which, .end = *end};
    snprintf(e->path, sizeof(e->path), "%s", urpc_call_path(call));
    snprintf(e->message, sizeof(e->message), "%s", end->message ? end->message : "(null)");
  }
}

/* Interceptor 2 asks for every message; interceptor 1 does not. */
static void ic_message(urpc_call *call, bool received, size_t bytes, void *user, void *state) {
  int which = (int)(intptr_t)user;
  cr_assert_eq(which, 2, "interceptor %d has no on_message", which);
  cr_assert_eq((intptr_t)state, 100 + which, "per-call state lost");
  if (IC.record_messages && IC.n < 32)
    IC.ev[IC.n++] = (ic_event){.hook = 'm',
                               .which = which,
                               .received = received,
                               .bytes = bytes,
                               .compressed = urpc_call_message_compressed(call)};
}

static void setup(void) {
  memset(&E, 0, sizeof(E));
  memset(&IC, 0, sizeof(IC));
  urpc_server_options o;
  urpc_server_options_init(&o);
  o.max_recv_message = 1024;
  cr_assert_eq(urpc_server_new(&o, &E.server), 0);
  urpc_method m[] = {{.name = "SayHello", .handler = say_hello, .user = NULL}};
  cr_assert_eq(urpc_server_add_service(E.server, &helloworld__greeter__descriptor, m, 1), 0);
  cr_assert_eq(rpc_health_register(E.server), 0);
  for (intptr_t i = 1; i <= 2; i++) {
    urpc_interceptor ic = {.on_start = ic_start,
                           .on_end = ic_end,
                           .user = (void *)i,
                           .on_message = i == 2 ? ic_message : NULL};
    cr_assert_eq(urpc_server_add_interceptor(E.server, &ic), 0);
  }
  cr_assert_eq(rpc_shard_init(&E.sh, E.server, 0), 0);
  cr_assert_eq(rpc_health_copy_to_shard(E.server, &E.sh), 0);
  core_timer_wheel_init(&E.wheel, core_now_ms());
  E.sh.timers = &E.wheel;
  core_pool_init(&E.blocks, core_outq_block_size(), 16);
  E.conn = rpc_conn_open(&E.sh, NULL);
  cr_assert_not_null(E.conn);
  cr_assert_eq(nghttp2_hd_deflate_new(&E.deflater, 4096), 0);
  cr_assert_eq(nghttp2_hd_inflate_new(&E.inflater), 0);
}

/* End of every test: closing the connection must release every call and all of nghttp2's
 * memory. In the test body, since Criterion ignores assertions made in .fini. */
static void finish(void) {
  if (E.conn) rpc_conn_closed(E.conn);
  E.conn = NULL;
  cr_assert_eq(E.sh.call_pool.live, 0, "calls leaked: %llu",
               (unsigned long long)E.sh.call_pool.live);
  cr_assert_eq(E.sh.h2_slab.bytes, 0, "nghttp2 memory left: %zu", E.sh.h2_slab.bytes);
}

static void teardown(void) {
  if (E.conn) rpc_conn_closed(E.conn);
  rpc_shard_dispose(&E.sh);
  urpc_server_free(E.server);
  core_pool_dispose(&E.blocks);
  nghttp2_hd_deflate_del(E.deflater);
  nghttp2_hd_inflate_del(E.inflater);
}

TestSuite(h2_session, .init = setup, .fini = teardown);

#define H2_TEST(name)                                                                              \
  static void name##_body(void);                                                                   \
  Test(h2_session, name) {                                                                         \
    name##_body();                                                                                 \
    finish();                                                                                      \
  }                                                                                                \
  static void name##_body(void)

static stream_result *stream(int32_t id) {
  for (int i = 0; i < E.n_streams; i++)
    if (E.streams[i].id == id) return &E.streams[i];
  cr_assert_lt(E.n_streams, MAX_STREAMS);
  stream_result *s = &E.streams[E.n_streams++];
  s->id = id;
  s->grpc_status = -1;
  return s;
}

static void decode_headers(stream_result *s, const uint8_t *p, size_t n) {
  for (;;) {
    nghttp2_nv nv;
    int flags;
    ssize_t used = nghttp2_hd_inflate_hd2(E.inflater, &nv, &flags, p, n, 1);
    cr_assert_geq(used, 0, "bad HPACK from the server");
    p += used;
    n -= (size_t)used;
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      char v[256];
      snprintf(v, sizeof(v), "%.*s", (int)nv.valuelen, nv.value);
      if (nv.namelen == 7 && !memcmp(nv.name, ":status", 7)) s->http_status = atoi(v);
      if (nv.namelen == 11 && !memcmp(nv.name, "grpc-status", 11)) s->grpc_status = atoi(v);
      if (nv.namelen == 12 && !memcmp(nv.name, "grpc-message", 12))
        snprintf(s->grpc_message, sizeof(s->grpc_message), "%s", v);
      if (nv.namelen == 4 && !memcmp(nv.name, "x-ic", 4)) s->ic_header = true;
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) {
      nghttp2_hd_inflate_end_headers(E.inflater);
      return;
    }
    if (n == 0 && !(flags & NGHTTP2_HD_INFLATE_EMIT)) return;
  }
}

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void scan_frames(void) {
  size_t off = 0;
  while (E.pending_len - off >= 9) {
    const uint8_t *h = E.pending + off;
    size_t len = (size_t)h[0] << 16 | (size_t)h[1] << 8 | h[2];
    if (E.pending_len - off < 9 + len) break;
    uint8_t type = h[3], flags = h[4];
    int32_t sid = (int32_t)(be32(h + 5) & 0x7fffffff);
    const uint8_t *p = h + 9;
    if (type == NGHTTP2_SETTINGS && !(flags & NGHTTP2_FLAG_ACK)) E.settings_frames++;
    if (type == NGHTTP2_GOAWAY) {
      E.goaway = true;
      E.goaway_code = be32(p + 4);
    }
    if (type == NGHTTP2_HEADERS) {
      stream_result *s = stream(sid);
      s->headers_frames++;
      decode_headers(s, p, len);
    }
    if (type == NGHTTP2_DATA) {
      stream_result *s = stream(sid);
      cr_assert_leq(s->data_len + len, sizeof(s->data));
      memcpy(s->data + s->data_len, p, len);
      s->data_len += len;
    }
    if ((type == NGHTTP2_HEADERS || type == NGHTTP2_DATA) && (flags & NGHTTP2_FLAG_END_STREAM))
      stream(sid)->ended = true;
    if (type == NGHTTP2_RST_STREAM) {
      stream_result *s = stream(sid);
      s->reset = true;
      s->rst_code = be32(p);
    }
    off += 9 + len;
  }
  memmove(E.pending, E.pending + off, E.pending_len - off);
  E.pending_len -= off;
}

/* Runs handlers and collects the server's output until it has nothing more to say. */
static void pump(void) {
  for (int round = 0; round < 50; round++) {
    rpc_shard_after_batch(&E.sh);
    core_outq out;
    core_outq_init(&out, &E.blocks);
    int rc = rpc_conn_produce(E.conn, &out);
    cr_assert_geq(rc, 0);
    if (rc == IO_CLOSE_AFTER_SEND) E.wants_close = true;
    size_t got = out.bytes;
    struct iovec iov[64];
    int n = core_outq_iov(&out, iov, 64);
    for (int i = 0; i < n; i++) {
      cr_assert_leq(E.pending_len + iov[i].iov_len, sizeof(E.pending));
      memcpy(E.pending + E.pending_len, iov[i].iov_base, iov[i].iov_len);
      E.pending_len += iov[i].iov_len;
    }
    core_outq_consume(&out, got);
    core_outq_dispose(&out);
    scan_frames();
    if (!got) return;
  }
  cr_assert_fail("server kept producing output");
}

static void feed(const void *p, size_t n) {
  cr_assert_eq(rpc_conn_recv(E.conn, p, n), 0);
  pump();
}

static size_t frame(uint8_t *out, uint8_t type, uint8_t flags, int32_t sid, const void *payload,
                    size_t len) {
  out[0] = (uint8_t)(len >> 16);
  out[1] = (uint8_t)(len >> 8);
  out[2] = (uint8_t)len;
  out[3] = type;
  out[4] = flags;
  out[5] = (uint8_t)(sid >> 24);
  out[6] = (uint8_t)(sid >> 16);
  out[7] = (uint8_t)(sid >> 8);
  out[8] = (uint8_t)sid;
  if (len) memcpy(out + 9, payload, len);
  return 9 + len;
}

static void preface(void) {
  static const char magic[] = NGHTTP2_CLIENT_MAGIC;
  uint8_t buf[64];
  memcpy(buf, magic, NGHTTP2_CLIENT_MAGIC_LEN);
  size_t n = NGHTTP2_CLIENT_MAGIC_LEN +
             frame(buf + NGHTTP2_CLIENT_MAGIC_LEN, NGHTTP2_SETTINGS, 0, 0, NULL, 0);
  feed(buf, n);
  cr_assert_eq(E.settings_frames, 1, "server sends its SETTINGS first");
}

#define NVS(n, v)                                                                                  \
  { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static void send_headers(int32_t sid, uint8_t flags, const nghttp2_nv *nv, size_t n) {
  uint8_t block[20000], buf[20100];
  ssize_t len = nghttp2_hd_deflate_hd(E.deflater, block, sizeof(block), nv, n);
  cr_assert_gt(len, 0);
  feed(buf, frame(buf, NGHTTP2_HEADERS, flags | NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)len));
}

static void grpc_headers(int32_t sid, const char *path, uint8_t flags) {
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", path),
                     NVS(":authority", "test"),
                     NVS("content-type", "application/grpc"),
                     NVS("te", "trailers")};
  send_headers(sid, flags, nv, 6);
}

static void send_data(int32_t sid, uint8_t flags, const void *p, size_t n) {
  uint8_t buf[4096];
  cr_assert_leq(n, sizeof(buf) - 9);
  feed(buf, frame(buf, NGHTTP2_DATA, flags, sid, p, n));
}

/* A length-prefixed HelloRequest{name}. */
static size_t hello_message(uint8_t *out, const char *name) {
  Helloworld__HelloRequest req = HELLOWORLD__HELLO_REQUEST__INIT;
  req.name = (char *)name;
  size_t n = protobuf_c_message_pack(&req.base, out + 5);
  rpc_frame_prefix(out, false, (uint32_t)n);
  return n + 5;
}

static void assert_hello_reply(const stream_result *s, const char *want) {
  cr_assert_eq(s->http_status, 200);
  cr_assert_eq(s->grpc_status, 0, "grpc-status %d (%s)", s->grpc_status, s->grpc_message);
  cr_assert_geq(s->data_len, 5);
  cr_assert_eq(s->data[0], 0);
  cr_assert_eq(be32(s->data + 1), s->data_len - 5);
  Helloworld__HelloReply *r = helloworld__hello_reply__unpack(NULL, s->data_len - 5, s->data + 5);
  cr_assert_not_null(r);
  cr_assert_str_eq(r->message, want);
  helloworld__hello_reply__free_unpacked(r, NULL);
  cr_assert(s->ended);
  cr_assert_eq(s->headers_frames, 2, "headers, then trailers");
}

H2_TEST(unary_call) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "world"));
  assert_hello_reply(stream(1), "Hello world");
  cr_assert_not(E.wants_close);
}

H2_TEST(message_split_over_frames_and_prefix_split) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  size_t n = hello_message(msg, "split");
  send_data(1, 0, msg, 2);
  send_data(1, 0, msg + 2, 4);
  send_data(1, 0, msg + 6, n - 6);
  send_data(1, NGHTTP2_FLAG_END_STREAM, NULL, 0);
  assert_hello_reply(stream(1), "Hello split");
}

H2_TEST(request_ended_by_trailers) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, 0, msg, hello_message(msg, "trailers"));
  nghttp2_nv nv[] = {NVS("x-trailer", "1")};
  send_headers(1, NGHTTP2_FLAG_END_STREAM, nv, 1);
  assert_hello_reply(stream(1), "Hello trailers");
}

H2_TEST(many_streams_one_connection) {
  preface();
  uint8_t msg[64];
  size_t n = hello_message(msg, "again");
  for (int32_t sid = 1; sid < 2 * 40; sid += 2) {
    grpc_headers(sid, "/helloworld.Greeter/SayHello", 0);
    send_data(sid, NGHTTP2_FLAG_END_STREAM, msg, n);
  }
  for (int32_t sid = 1; sid < 2 * 40; sid += 2) assert_hello_reply(stream(sid), "Hello again");
  cr_assert_eq(E.sh.call_pool.live, 0);
  cr_assert_eq(core_ctr_get(&E.sh.stats.calls_ok), 40);
}

static void assert_status(int32_t sid, int code) {
  stream_result *s = stream(sid);
  cr_assert_eq(s->http_status, 200);
  cr_assert_eq(s->grpc_status, code, "want %d, got %d (%s)", code, s->grpc_status, s->grpc_message);
  cr_assert_eq(s->headers_frames, 1, "Trailers-Only: one HEADERS");
  cr_assert_eq(s->data_len, 0);
  cr_assert(s->ended);
}

H2_TEST(unknown_method_is_unimplemented_trailers_only) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/Nope", NGHTTP2_FLAG_END_STREAM);
  assert_status(1, URPC_STATUS_UNIMPLEMENTED);
  cr_assert_str_eq(stream(1)->grpc_message, "unknown method /helloworld.Greeter/Nope");
}

H2_TEST(oversized_message_is_resource_exhausted_and_stream_reset) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t prefix[5];
  rpc_frame_prefix(prefix, false, 1025);
  send_data(1, 0, prefix, 5);
  assert_status(1, URPC_STATUS_RESOURCE_EXHAUSTED);
  cr_assert(stream(1)->reset, "the client is still sending: RST_STREAM(NO_ERROR)");
  cr_assert_eq(stream(1)->rst_code, NGHTTP2_NO_ERROR);
  /* the connection goes on */
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(3, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "after"));
  assert_hello_reply(stream(3), "Hello after");
}

H2_TEST(cardinality) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", NGHTTP2_FLAG_END_STREAM);
  assert_status(1, URPC_STATUS_UNIMPLEMENTED);
  uint8_t two[128];
  size_t n = hello_message(two, "a");
  n += hello_message(two + n, "b");
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0);
  send_data(3, NGHTTP2_FLAG_END_STREAM, two, n);
  assert_status(3, URPC_STATUS_UNIMPLEMENTED);
}

H2_TEST(truncated_and_flagged_messages_are_internal) {
  preface();
  uint8_t msg[64];
  size_t n = hello_message(msg, "cut");
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, n - 1);
  assert_status(1, URPC_STATUS_INTERNAL);
  msg[0] = 1; /* compressed, but no grpc-encoding */
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0);
  send_data(3, NGHTTP2_FLAG_END_STREAM, msg, n);
  assert_status(3, URPC_STATUS_INTERNAL);
}

H2_TEST(unparsable_protobuf_is_internal) {
  preface();
  uint8_t bad[] = {0, 0, 0, 0, 2, 0x0a, 0x7f}; /* field 1, length 127, no bytes */
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  send_data(1, NGHTTP2_FLAG_END_STREAM, bad, sizeof(bad));
  assert_status(1, URPC_STATUS_INTERNAL);
}

H2_TEST(wrong_content_type_is_415_and_method_405) {
  preface();
  nghttp2_nv ct[] = {NVS(":method", "POST"), NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"), NVS(":authority", "t"),
                     NVS("content-type", "application/grpcx")};
  send_headers(1, NGHTTP2_FLAG_END_STREAM, ct, 5);
  cr_assert_eq(stream(1)->http_status, 415);
  cr_assert_eq(stream(1)->grpc_status, -1);
  nghttp2_nv get[] = {NVS(":method", "GET"), NVS(":scheme", "http"),
                      NVS(":path", "/helloworld.Greeter/SayHello"), NVS(":authority", "t"),
                      NVS("content-type", "application/grpc")};
  send_headers(3, NGHTTP2_FLAG_END_STREAM, get, 5);
  cr_assert_eq(stream(3)->http_status, 405);
  nghttp2_nv plus[] = {NVS(":method", "POST"), NVS(":scheme", "http"),
                       NVS(":path", "/helloworld.Greeter/SayHello"), NVS(":authority", "t"),
                       NVS("content-type", "application/grpc+proto")};
  send_headers(5, 0, plus, 5);
  uint8_t msg[64];
  send_data(5, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "proto"));
  assert_hello_reply(stream(5), "Hello proto");
}

H2_TEST(grpc_timeout_and_encoding_checks) {
  preface();
  nghttp2_nv to[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("grpc-timeout", "123456789S")};
  send_headers(1, NGHTTP2_FLAG_END_STREAM, to, 6);
  assert_status(1, URPC_STATUS_INTERNAL);
  nghttp2_nv enc[] = {NVS(":method", "POST"),
                      NVS(":scheme", "http"),
                      NVS(":path", "/helloworld.Greeter/SayHello"),
                      NVS(":authority", "t"),
                      NVS("content-type", "application/grpc"),
                      NVS("grpc-encoding", "br")};
  send_headers(3, NGHTTP2_FLAG_END_STREAM, enc, 6);
  assert_status(3, URPC_STATUS_UNIMPLEMENTED);
  nghttp2_nv ok[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("grpc-timeout", "5S"),
                     NVS("grpc-encoding", "identity")};
  send_headers(5, 0, ok, 7);
  uint8_t msg[64];
  send_data(5, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "t"));
  assert_hello_reply(stream(5), "Hello t");
}

H2_TEST(non_ascii_status_message_is_percent_encoded) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/\xc3\xa9t\xc3\xa9", NGHTTP2_FLAG_END_STREAM);
  assert_status(1, URPC_STATUS_UNIMPLEMENTED);
  cr_assert_str_eq(stream(1)->grpc_message, "unknown method /helloworld.Greeter/%C3%A9t%C3%A9");
}

H2_TEST(header_list_too_large) {
  preface();
  static char big[17000];
  memset(big, 'a', sizeof(big) - 1);
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("x-big", big)};
  send_headers(1, NGHTTP2_FLAG_END_STREAM, nv, 6);
  /* Reset at once (grpc clients map ENHANCE_YOUR_CALM to RESOURCE_EXHAUSTED), no handler. */
  cr_assert(stream(1)->reset);
  cr_assert_eq(stream(1)->rst_code, NGHTTP2_ENHANCE_YOUR_CALM);
  cr_assert_eq(stream(1)->headers_frames, 0);
  cr_assert_not(E.goaway);
}

H2_TEST(missing_path_is_a_stream_error) {
  preface();
  nghttp2_nv nv[] = {NVS(":method", "POST"), NVS(":scheme", "http"), NVS(":authority", "t"),
                     NVS("content-type", "application/grpc")};
  send_headers(1, NGHTTP2_FLAG_END_STREAM, nv, 4);
  cr_assert(stream(1)->reset);
  cr_assert_eq(stream(1)->rst_code, NGHTTP2_PROTOCOL_ERROR);
  cr_assert_not(E.goaway);
}

H2_TEST(client_reset_before_the_handler_runs_releases_the_call) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  size_t n = hello_message(msg, "gone");
  uint8_t buf[256];
  size_t len = frame(buf, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, msg, n);
  uint8_t code[4] = {0, 0, 0, NGHTTP2_CANCEL};
  len += frame(buf + len, NGHTTP2_RST_STREAM, 0, 1, code, 4);
  /* Both frames in one read: the call is queued, then cancelled before the batch ends. */
  cr_assert_eq(rpc_conn_recv(E.conn, buf, len), 0);
  pump();
  cr_assert_eq(stream(1)->headers_frames, 0, "nothing is sent on a reset stream");
  cr_assert_eq(E.sh.call_pool.live, 0);
  cr_assert_eq(core_ctr_get(&E.sh.stats.calls_cancelled), 1);
}

H2_TEST(connection_loss_with_calls_in_flight) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0);
  cr_assert_eq(E.sh.call_pool.live, 2);
  rpc_conn_closed(E.conn);
  E.conn = NULL;
  cr_assert_eq(E.sh.call_pool.live, 0);
}

/* HTTP/1.1 on the HTTP/2 port: a readable HTTP/1.1 answer and nothing else, then close. */
H2_TEST(http1_request_gets_http1_answer) {
  const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
  cr_assert_eq(rpc_conn_recv(E.conn, (const uint8_t *)junk, sizeof(junk) - 1), 0);
  core_outq out;
  core_outq_init(&out, &E.blocks);
  cr_assert_eq(rpc_conn_produce(E.conn, &out), IO_CLOSE_AFTER_SEND);
  struct iovec iov[4];
  int n = core_outq_iov(&out, iov, 4);
  static const char want[] = "HTTP/1.1 505 ";
  cr_assert_geq(n, 1);
  cr_assert_eq(memcmp(iov[0].iov_base, want, sizeof(want) - 1), 0, "%.*s", (int)iov[0].iov_len,
               (const char *)iov[0].iov_base);
  size_t got = out.bytes;
  core_outq_consume(&out, got);
  cr_assert_eq(rpc_conn_produce(E.conn, &out), IO_CLOSE_AFTER_SEND, "answered once");
  cr_assert_eq(out.bytes, 0, "anything after the answer");
  core_outq_dispose(&out);
}

/* Anything else that is not the preface: SETTINGS, GOAWAY(PROTOCOL_ERROR), close. */
H2_TEST(bad_preface_gets_goaway) {
  const uint8_t junk[32] = {0x16, 0x03, 0x01};
  cr_assert_eq(rpc_conn_recv(E.conn, junk, sizeof(junk)), 0);
  pump();
  cr_assert(E.wants_close);
  cr_assert(E.goaway);
  cr_assert_eq(E.goaway_code, NGHTTP2_PROTOCOL_ERROR);
}

H2_TEST(headers_on_stream_zero_is_a_connection_error) {
  preface();
  grpc_headers(0, "/helloworld.Greeter/SayHello", NGHTTP2_FLAG_END_STREAM);
  cr_assert(E.goaway);
  cr_assert_eq(E.goaway_code, NGHTTP2_PROTOCOL_ERROR);
  cr_assert(E.wants_close);
}

H2_TEST(data_on_idle_stream_is_a_connection_error) {
  preface();
  uint8_t x[8] = {0};
  send_data(7, 0, x, sizeof(x));
  cr_assert(E.goaway);
  cr_assert(E.wants_close);
}

H2_TEST(garbage_frames_never_crash) {
  preface();
  /* Every frame type with random flags, stream ids and payloads; the session must answer with
   * protocol errors and never leak. */
  srand(42);
  uint8_t buf[512], payload[256];
  for (int i = 0; i < 2000 && !E.wants_close; i++) {
    size_t len = (size_t)(rand() % 64);
    for (size_t j = 0; j < len; j++) payload[j] = (uint8_t)rand();
    size_t n = frame(buf, (uint8_t)(rand() % 11), (uint8_t)rand(), rand() % 8, payload, len);
    cr_assert_eq(rpc_conn_recv(E.conn, buf, n), 0);
    pump();
  }
  /* Garbage ends in a connection error: a GOAWAY is sent and the connection asks to be closed
   * (the loop stops there). */
  cr_assert(E.goaway, "no GOAWAY after 2000 garbage frames");
  cr_assert(E.wants_close, "the connection did not ask to be closed");
}

H2_TEST(deadline_while_the_client_is_still_sending) {
  preface();
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("grpc-timeout", "20m")};
  unsigned lifetime_timers = E.wheel.count; /* the connection's keepalive timer */
  send_headers(1, 0, nv, 6);
  core_timer_wheel_advance(&E.wheel, core_now_ms() + 10);
  pump();
  cr_assert_eq(stream(1)->headers_frames, 0, "not yet");
  core_timer_wheel_advance(&E.wheel, core_now_ms() + 30);
  pump();
  assert_status(1, URPC_STATUS_DEADLINE_EXCEEDED);
  cr_assert_str_eq(stream(1)->grpc_message, "Deadline Exceeded");
  cr_assert(stream(1)->reset, "the client had not finished: RST_STREAM");
  cr_assert_eq(E.wheel.count, lifetime_timers);
}

H2_TEST(deadline_disarmed_when_the_call_completes) {
  preface();
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/helloworld.Greeter/SayHello"),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("grpc-timeout", "1S")};
  unsigned lifetime_timers = E.wheel.count; /* the connection's keepalive timer */
  send_headers(1, 0, nv, 6);
  cr_assert_eq(E.wheel.count, lifetime_timers + 1);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "in time"));
  assert_hello_reply(stream(1), "Hello in time");
  cr_assert_eq(E.wheel.count, lifetime_timers, "the stream closed: its timer is gone");
}

/* The messages of a stream's DATA, each a HealthCheckResponse status. */
static int health_statuses(const stream_result *s, int *out, int max) {
  int n = 0;
  for (size_t off = 0; off + 5 <= s->data_len && n < max;) {
    uint32_t len = be32(s->data + off + 1);
    Grpc__Health__V1__HealthCheckResponse *r =
        grpc__health__v1__health_check_response__unpack(NULL, len, s->data + off + 5);
    cr_assert_not_null(r);
    out[n++] = r->status;
    grpc__health__v1__health_check_response__free_unpacked(r, NULL);
    off += 5 + len;
  }
  return n;
}

H2_TEST(health_watch_sees_every_change) {
  preface();
  uint8_t req[64];
  Grpc__Health__V1__HealthCheckRequest hr = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
  hr.service = "helloworld.Greeter";
  size_t n = grpc__health__v1__health_check_request__pack(&hr, req + 5);
  rpc_frame_prefix(req, false, (uint32_t)n);
  grpc_headers(1, "/grpc.health.v1.Health/Watch", 0);
  send_data(1, NGHTTP2_FLAG_END_STREAM, req, n + 5);
  rpc_health_apply(&E.sh, "helloworld.Greeter", URPC_HEALTH_NOT_SERVING);
  rpc_health_apply(&E.sh, "other", URPC_HEALTH_NOT_SERVING);              /* not watched */
  rpc_health_apply(&E.sh, "helloworld.Greeter", URPC_HEALTH_NOT_SERVING); /* no change */
  rpc_health_apply(&E.sh, "helloworld.Greeter", URPC_HEALTH_SERVING);
  pump();
  int st[8];
  int got = health_statuses(stream(1), st, 8);
  cr_assert_eq(got, 3, "statuses sent: %d", got);
  cr_assert_eq(st[0], URPC_HEALTH_SERVING);
  cr_assert_eq(st[1], URPC_HEALTH_NOT_SERVING);
  cr_assert_eq(st[2], URPC_HEALTH_SERVING);
  cr_assert_not(stream(1)->ended, "Watch stays open");
  /* A Check on the same shard reads the shard's copy. */
  hr.service = "other";
  n = grpc__health__v1__health_check_request__pack(&hr, req + 5);
  rpc_frame_prefix(req, false, (uint32_t)n);
  grpc_headers(3, "/grpc.health.v1.Health/Check", 0);
  send_data(3, NGHTTP2_FLAG_END_STREAM, req, n + 5);
  cr_assert_eq(health_statuses(stream(3), st, 8), 1);
  cr_assert_eq(st[0], URPC_HEALTH_NOT_SERVING);
}

/* Idle trim (rpc/idle_trim.c): the stream map's table and the frame buffer are tracked from
 * session creation; after a quiet second their pages are dropped and the session goes on as
 * before; when nghttp2 grows the map (more than 192 streams at once) it frees the tracked table,
 * which must be forgotten, not trimmed later. */
H2_TEST(idle_trim_drops_scratch_pages_and_the_session_goes_on) {
  preface();
  cr_assert_not_null(E.conn->trim_map, "the stream map's table is tracked");
  cr_assert_not_null(E.conn->trim_framebuf, "the frame buffer is tracked");
  uint8_t msg[64];
  size_t n = hello_message(msg, "before");
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, n);
  assert_hello_reply(stream(1), "Hello before");
  cr_assert_not(E.conn->trimmed);
  core_timer_wheel_advance(&E.wheel, E.wheel.now_ms + 2 * RPC_IDLE_TRIM_MS);
  cr_assert(E.conn->trimmed, "a quiet second later the connection is trimmed");
  n = hello_message(msg, "after");
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0);
  send_data(3, NGHTTP2_FLAG_END_STREAM, msg, n);
  assert_hello_reply(stream(3), "Hello after");
  cr_assert_not(E.conn->trimmed, "activity clears it");

  void *table = E.conn->trim_map;
  int32_t sid = 5;
  for (int i = 0; i < 200; i++, sid += 2) grpc_headers(sid, "/helloworld.Greeter/SayHello", 0);
  cr_assert_null(E.conn->trim_map, "the map grew: its first table (%p) was freed", table);
  uint8_t buf[32];
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  for (int32_t s = 5; s < sid; s += 2) feed(buf, frame(buf, NGHTTP2_RST_STREAM, 0, s, cancel, 4));
  cr_assert_not_null(E.conn->trim_framebuf, "the frame buffer is never reallocated");
  cr_assert_null(E.conn->calls, "every stream was reset");
  core_timer_wheel_advance(&E.wheel, E.wheel.now_ms + 2 * RPC_IDLE_TRIM_MS);
  cr_assert(E.conn->trimmed, "trimmed again (the frame buffer)");
  n = hello_message(msg, "last");
  grpc_headers(sid, "/helloworld.Greeter/SayHello", 0);
  send_data(sid, NGHTTP2_FLAG_END_STREAM, msg, n);
  assert_hello_reply(stream(sid), "Hello last");
  cr_assert_eq(E.sh.call_pool.live, 0);
}

/* API misuse does not turn into memory errors: a call finished twice (and thrice) answers
 * once, with the first (a status code beyond grpc's: test_h2_fuzz_finds.c). */
H2_TEST(finishing_twice_is_ignored) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "twice"));
  assert_hello_reply(stream(1), "first");
  cr_assert_eq(second_reply_rc, -EALREADY);
  cr_assert_eq(core_ctr_get(&E.sh.stats.calls_ok), 1);
}

/* A call reset in the same read as its request, before its handler ran: the handler never
 * runs, and on_cancel is not called for it. Health Watch's on_cancel finishes the call, which
 * released it while it still sat in the handler queue; the next request of the same read got
 * the same memory from the pool and its handler ran twice (found by bench/soak.sh as a
 * "finished twice" line, then memory growing without end). */
H2_TEST(reset_before_the_handler_runs) {
  preface();
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", "/grpc.health.v1.Health/Watch"),
                     NVS(":authority", "test"),
                     NVS("content-type", "application/grpc"),
                     NVS("te", "trailers")};
  uint8_t block[512], buf[2048], msg[64];
  ssize_t len = nghttp2_hd_deflate_hd(E.deflater, block, sizeof(block), nv, 6);
  cr_assert_gt(len, 0);
  static const uint8_t empty_request[5] = {0, 0, 0, 0, 0};
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  size_t n = frame(buf, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 1, block, (size_t)len);
  n += frame(buf + n, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, empty_request, 5);
  n += frame(buf + n, NGHTTP2_RST_STREAM, 0, 1, cancel, 4);
  nv[2] = (nghttp2_nv)NVS(":path", "/helloworld.Greeter/SayHello");
  len = nghttp2_hd_deflate_hd(E.deflater, block, sizeof(block), nv, 6);
  cr_assert_gt(len, 0);
  n += frame(buf + n, NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, 3, block, (size_t)len);
  n += frame(buf + n, NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 3, msg, hello_message(msg, "next"));
  hello_runs = 0;
  feed(buf, n);
  assert_hello_reply(stream(3), "Hello next");
  cr_assert_eq(hello_runs, 1, "the next call's handler ran %d times", hello_runs);
  cr_assert_eq(E.sh.watchers, NULL, "a Watch was registered for a call that was reset");
  cr_assert_eq(E.sh.call_pool.live, 0);
}

/* ---- interceptors ---- */

static void expect_event(int i, char hook, int which) {
  cr_assert_gt(IC.n, i, "only %d interceptor events", IC.n);
  cr_assert_eq(IC.ev[i].hook, hook, "event %d: hook %c, want %c", i, IC.ev[i].hook, hook);
  cr_assert_eq(IC.ev[i].which, which, "event %d: interceptor %d, want %d", i, IC.ev[i].which,
               which);
}

H2_TEST(interceptors_run_in_order_and_see_the_end) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "ic"));
  assert_hello_reply(stream(1), "Hello ic");
  rpc_conn_closed(E.conn); /* the call is released once its stream is gone */
  E.conn = NULL;
  cr_assert_eq(IC.n, 4);
  expect_event(0, 's', 1);
  expect_event(1, 's', 2);
  expect_event(2, 'e', 2);
  expect_event(3, 'e', 1);
  cr_assert_str_eq(IC.ev[0].path, "/helloworld.Greeter/SayHello");
  cr_assert_eq(IC.ev[0].method_index, 1);
  const urpc_call_end *end = &IC.ev[3].end;
  cr_assert_eq(end->status, URPC_STATUS_OK);
  cr_assert_not(end->cancelled);
  cr_assert_eq(end->msgs_in, 1);
  cr_assert_eq(end->msgs_out, 1);
  cr_assert_eq(end->bytes_in, hello_message(msg, "ic"));
  cr_assert_gt(end->bytes_out, 5);
  cr_assert_gt(end->duration_ns, 0);
}

/* Interceptors that never read the duration (no_duration) spare every call its clock read:
 * duration_ns is then 0; one interceptor without the flag brings the clock back. */
H2_TEST(no_clock_read_when_no_interceptor_reads_the_duration) {
  urpc_server *s;
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &s), 0);
  urpc_interceptor quiet = {.on_start = ic_start, .no_duration = true};
  cr_assert_eq(urpc_server_add_interceptor(s, &quiet), 0);
  cr_assert_not(s->ic_duration);
  cr_assert_not(s->ic_authority, ":authority kept with no interceptor reading it");
  urpc_interceptor timed = {.on_start = ic_start, .reads_authority = true};
  cr_assert_eq(urpc_server_add_interceptor(s, &timed), 0);
  cr_assert(s->ic_duration);
  cr_assert(s->ic_authority);
  urpc_server_free(s);

  E.server->ic_duration = false; /* as if both of setup's interceptors had no_duration */
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "quiet"));
  assert_hello_reply(stream(1), "Hello quiet");
  rpc_conn_closed(E.conn);
  E.conn = NULL;
  cr_assert_eq(IC.n, 4);
  cr_assert_eq(IC.ev[3].end.duration_ns, 0);
  cr_assert_eq(IC.ev[3].end.status, URPC_STATUS_OK);
}

H2_TEST(an_interceptor_sees_each_message_when_it_asks) {
  IC.record_messages = true;
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  size_t framed = hello_message(msg, "each");
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, framed);
  assert_hello_reply(stream(1), "Hello each");
  rpc_conn_closed(E.conn);
  E.conn = NULL;
  cr_assert_eq(IC.n, 6, "%d events, want start 1 2, message in and out (2 only), end 2 1", IC.n);
  expect_event(2, 'm', 2);
  cr_assert(IC.ev[2].received);
  cr_assert_eq(IC.ev[2].bytes, framed - 5, "received %zu bytes, want the payload's %zu",
               IC.ev[2].bytes, framed - 5);
  cr_assert_not(IC.ev[2].compressed);
  expect_event(3, 'm', 2);
  cr_assert_not(IC.ev[3].received);
  cr_assert_eq(IC.ev[3].bytes + 5, IC.ev[5].end.bytes_out, "sent %zu bytes of %llu", IC.ev[3].bytes,
               (unsigned long long)IC.ev[5].end.bytes_out);
  cr_assert_not(IC.ev[3].compressed);
  expect_event(4, 'e', 2);
  expect_event(5, 'e', 1);
  cr_assert_str_eq(IC.ev[5].message, "(null)", "OK went without a grpc-message");
}

H2_TEST(an_interceptor_rejects_before_the_handler) {
  IC.reject_path = "/helloworld.Greeter/SayHello";
  hello_runs = 0;
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "no"));
  cr_assert_eq(stream(1)->grpc_status, URPC_STATUS_PERMISSION_DENIED);
  cr_assert_str_eq(stream(1)->grpc_message, "denied by the test");
  cr_assert_eq(hello_runs, 0, "the handler saw a rejected call");
  rpc_conn_closed(E.conn);
  E.conn = NULL;
  cr_assert_eq(IC.n, 2, "the second interceptor must see neither hook");
  expect_event(0, 's', 1);
  expect_event(1, 'e', 1);
  cr_assert_eq(IC.ev[1].end.status, URPC_STATUS_PERMISSION_DENIED);
  cr_assert_str_eq(IC.ev[1].message, "denied by the test", "on_end has the grpc-message sent");
}

H2_TEST(an_interceptor_adds_response_metadata) {
  IC.add_metadata = true;
  preface();
  grpc_headers(1, "/helloworld.Greeter/SayHello", 0);
  uint8_t msg[64];
  send_data(1, NGHTTP2_FLAG_END_STREAM, msg, hello_message(msg, "md"));
  assert_hello_reply(stream(1), "Hello md");
  cr_assert(stream(1)->ic_header, "x-ic missing from the response");
}

H2_TEST(interceptors_see_unknown_methods_and_resets) {
  preface();
  grpc_headers(1, "/helloworld.Greeter/Nope", NGHTTP2_FLAG_END_STREAM);
  cr_assert_eq(stream(1)->grpc_status, URPC_STATUS_UNIMPLEMENTED);
  grpc_headers(3, "/helloworld.Greeter/SayHello", 0); /* then reset before its message */
  uint8_t buf[32];
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  feed(buf, frame(buf, NGHTTP2_RST_STREAM, 0, 3, cancel, 4));
  /* A request that is not gRPC is nobody's business but HTTP's. */
  nghttp2_nv nv[] = {NVS(":method", "GET"), NVS(":scheme", "http"), NVS(":path", "/"),
                     NVS(":authority", "t")};
  send_headers(5, NGHTTP2_FLAG_END_STREAM, nv, 4);
  cr_assert_eq(stream(5)->http_status, 405);
  rpc_conn_closed(E.conn);
  E.conn = NULL;
  int ends = 0;
  for (int i = 0; i < IC.n; i++) {
    if (IC.ev[i].hook != 'e' || IC.ev[i].which != 1) continue;
    ends++;
    if (!strcmp(IC.ev[i].path, "/helloworld.Greeter/Nope")) {
      cr_assert_eq(IC.ev[i].end.status, URPC_STATUS_UNIMPLEMENTED);
    } else {
      cr_assert_str_eq(IC.ev[i].path, "/helloworld.Greeter/SayHello");
      cr_assert_eq(IC.ev[i].end.status, URPC_STATUS_CANCELLED);
      cr_assert(IC.ev[i].end.cancelled);
    }
  }
  cr_assert_eq(ends, 2, "%d calls ended for the first interceptor, want 2 (not the GET)", ends);
  cr_assert_eq(IC.ev[0].method_index, 0, "an unknown method has index 0");
}
