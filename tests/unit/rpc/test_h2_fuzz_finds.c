/* Regression tests for bugs the fuzzers found (tests/fuzz/crashes/README.md has the analysis).
 * Each drives a sans-IO connection as test_h2_session.c does, with a handler that shows the
 * bug. */
#include <criterion/criterion.h>
#include <nghttp2/nghttp2.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "grpc/testing/messages.pb-c.h"
#include "grpc/testing/test.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/rpc_impl.h"

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

/* A handler may pass any urpc_status_code; 99 is none of gRPC's. */
static void fail_with_99(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)request, (void)user;
  urpc_call_fail(call, (urpc_status_code)99, "no such code");
}

static void input_cancel(urpc_call *call, void *user) {
  (void)user;
  urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
}
static const urpc_stream_handler input_ops = {.on_cancel = input_cancel};

static urpc_server *server;
static rpc_shard sh;
static core_pool blocks;
static core_timer_wheel wheel;
static rpc_conn *conn;
static nghttp2_hd_deflater *deflater;
static nghttp2_hd_inflater *inflater;
static int grpc_status = -1;

static void setup(void) {
  urpc_server_options o;
  urpc_server_options_init(&o);
  cr_assert_eq(urpc_server_new(&o, &server), 0);
  urpc_method hello[] = {{.name = "SayHello", .handler = fail_with_99}};
  cr_assert_eq(urpc_server_add_service(server, &helloworld__greeter__descriptor, hello, 1), 0);
  urpc_method input[] = {
      {.name = "StreamingInputCall", .flags = URPC_METHOD_CLIENT_STREAMING, .stream = &input_ops}};
  cr_assert_eq(urpc_server_add_service(server, &grpc__testing__test_service__descriptor, input, 1),
               0);
  cr_assert_eq(rpc_shard_init(&sh, server, 0), 0);
  core_timer_wheel_init(&wheel, core_now_ms());
  sh.timers = &wheel;
  core_pool_init(&blocks, core_outq_block_size(), 16);
  conn = rpc_conn_open(&sh, NULL);
  cr_assert_not_null(conn);
  cr_assert_eq(nghttp2_hd_deflate_new(&deflater, 4096), 0);
  cr_assert_eq(nghttp2_hd_inflate_new(&inflater), 0);
}

/* Also called by a test body that wants to check for leaks: pooled calls are only freed here. */
static void teardown(void) {
  if (!server) return;
  if (conn) rpc_conn_closed(conn);
  conn = NULL;
  rpc_shard_dispose(&sh);
  urpc_server_free(server);
  server = NULL;
  core_pool_dispose(&blocks);
  nghttp2_hd_deflate_del(deflater);
  nghttp2_hd_inflate_del(inflater);
  deflater = NULL;
  inflater = NULL;
}

TestSuite(h2_fuzz_finds, .init = setup, .fini = teardown);

/* The grpc-status of the HEADERS frames in `p` (whole frames: the output of one produce),
 * decoded with nghttp2's own HPACK inflater. */
static void read_status(const uint8_t *p, size_t n) {
  while (n >= 9) {
    size_t len = (size_t)p[0] << 16 | (size_t)p[1] << 8 | p[2];
    cr_assert_leq(9 + len, n, "a frame split across produce calls");
    const uint8_t *in = p + 9;
    size_t left = len;
    while (p[3] == NGHTTP2_HEADERS && left) {
      nghttp2_nv nv;
      int flags;
      ssize_t used = nghttp2_hd_inflate_hd2(inflater, &nv, &flags, in, left, 1);
      cr_assert_geq(used, 0, "bad HPACK from the server");
      in += used, left -= (size_t)used;
      if ((flags & NGHTTP2_HD_INFLATE_EMIT) && nv.namelen == 11 &&
          memcmp(nv.name, "grpc-status", 11) == 0)
        grpc_status = atoi((const char *)nv.value); /* digits, then a byte that is not one */
      if (flags & NGHTTP2_HD_INFLATE_FINAL) nghttp2_hd_inflate_end_headers(inflater);
      if (!(flags & NGHTTP2_HD_INFLATE_EMIT) && left == 0) break;
    }
    p += 9 + len, n -= 9 + len;
  }
}

/* Runs the handlers and reads the output. */
static void pump(void) {
  for (int round = 0; round < 20; round++) {
    rpc_shard_after_batch(&sh);
    core_outq out;
    core_outq_init(&out, &blocks);
    cr_assert_geq(rpc_conn_produce(conn, &out), 0);
    size_t got = out.bytes;
    uint8_t flat[8192];
    cr_assert_leq(got, sizeof(flat));
    struct iovec iov[64];
    int n = core_outq_iov(&out, iov, 64);
    size_t at = 0;
    for (int i = 0; i < n; i++, at += iov[i - 1].iov_len)
      memcpy(flat + at, iov[i].iov_base, iov[i].iov_len);
    read_status(flat, got);
    core_outq_consume(&out, got);
    core_outq_dispose(&out);
    if (!got) return;
  }
}

static void feed_frame(uint8_t type, uint8_t flags, int32_t sid, const void *p, size_t n) {
  uint8_t buf[4096];
  cr_assert_leq(n, sizeof(buf) - 9);
  buf[0] = (uint8_t)(n >> 16), buf[1] = (uint8_t)(n >> 8), buf[2] = (uint8_t)n;
  buf[3] = type, buf[4] = flags;
  buf[5] = (uint8_t)(sid >> 24), buf[6] = (uint8_t)(sid >> 16), buf[7] = (uint8_t)(sid >> 8);
  buf[8] = (uint8_t)sid;
  if (n) memcpy(buf + 9, p, n);
  cr_assert_eq(rpc_conn_recv(conn, buf, 9 + n), 0);
  pump();
}

#define NVS(n, v)                                                                                  \
  { (uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE }

static void open_call(int32_t sid, const char *path) {
  cr_assert_eq(rpc_conn_recv(conn, (const uint8_t *)NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN),
               0);
  feed_frame(NGHTTP2_SETTINGS, 0, 0, NULL, 0);
  nghttp2_nv nv[] = {NVS(":method", "POST"),
                     NVS(":scheme", "http"),
                     NVS(":path", path),
                     NVS(":authority", "t"),
                     NVS("content-type", "application/grpc"),
                     NVS("te", "trailers")};
  uint8_t block[512];
  ssize_t len = nghttp2_hd_deflate_hd(deflater, block, sizeof(block), nv, 6);
  cr_assert_gt(len, 0);
  feed_frame(NGHTTP2_HEADERS, NGHTTP2_FLAG_END_HEADERS, sid, block, (size_t)len);
}

/* urpc_call_fail(call, 99, ...) indexes h2_conn.c's status_text[17] with 99 (add_status): an
 * out-of-bounds read, UBSan's "index 99 out of bounds", a wild pointer sent as grpc-status. A
 * code outside gRPC's should go out as UNKNOWN (2). Found by fuzz_h2_conn through
 * grpc.testing.TestService/UnaryCall's response_status.code (examples/interop.c now maps such
 * codes to UNKNOWN itself). */
Test(h2_fuzz_finds, status_code_out_of_range_is_unknown) {
  open_call(1, "/helloworld.Greeter/SayHello");
  uint8_t msg[5] = {0, 0, 0, 0, 0}; /* an empty HelloRequest */
  feed_frame(NGHTTP2_DATA, NGHTTP2_FLAG_END_STREAM, 1, msg, sizeof(msg));
  cr_assert_eq(grpc_status, URPC_STATUS_UNKNOWN, "grpc-status %d", grpc_status);
}

/* A client-streaming call reset while a message is partly in: the message's buffer (malloc'd,
 * its declared length) is never freed (call.c releases the call without
 * rpc_frame_reader_release). LeakSanitizer sees it in the ASan build. */
Test(h2_fuzz_finds, partial_stream_message_is_freed_with_the_call) {
  open_call(1, "/grpc.testing.TestService/StreamingInputCall");
  uint8_t part[6] = {0, 0, 0, 0x10, 0, 0x0a}; /* declares 4096 bytes, sends one */
  feed_frame(NGHTTP2_DATA, 0, 1, part, sizeof(part));
  static const uint8_t cancel[4] = {0, 0, 0, NGHTTP2_CANCEL};
  feed_frame(NGHTTP2_RST_STREAM, 0, 1, cancel, 4);
  rpc_conn_closed(conn);
  conn = NULL;
  cr_assert_eq(sh.call_pool.live, 0);
  teardown(); /* the call pool goes, and with it the last pointer to the buffer */
  if (__lsan_do_recoverable_leak_check)
    cr_assert_eq(__lsan_do_recoverable_leak_check(), 0, "the partial message leaked");
}
