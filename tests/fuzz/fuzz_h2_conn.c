/* A connection's input: HTTP/2 and gRPC through the sans-IO session (rpc/h2_conn.c with no
 * io_conn), as tests/unit/rpc/test_h2_session.c drives it, with the example services
 * (helloworld Greeter; grpc.testing.TestService, whose methods stream every way and echo
 * metadata), health and reflection registered, so requests reach handlers.
 *
 * Input: 3 bytes of header, then what the client sends.
 *   [0] flags: 0x01 drain the connection halfway (graceful shutdown), 0x02 flip the health of
 *       helloworld.Greeter halfway (Watch calls get a message), 0x04 let 30 s pass before the
 *       close (keepalive PING, idle trim, max age), 0xC0 both set: no client preface is
 *       prepended (most inputs get it, so the fuzzer spends its time past it).
 *   [1] piece size for rpc_conn_recv (0: everything in one call).
 *   [2] milliseconds the clock moves after each piece (deadlines, keepalive, deferred sends).
 * After each piece the shard's handler queue runs and the output is produced, as the shard
 * loop does, and must be whole HTTP/2 frames, SETTINGS first. At the end the connection is
 * closed and the clock run until no timer is left: then no call may be live, no nghttp2
 * memory left, no timer armed and no Watch registered. */
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "fuzz_check.h"
#include "rpc/rpc_impl.h"
#include "services.h"

extern const unsigned char urpc_example_descriptors[];
extern const size_t urpc_example_descriptors_len;

static urpc_server *server;
static rpc_shard sh;
static core_pool blocks;
static core_timer_wheel wheel;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc, (void)argv;
  core_log_set_level(CORE_LOG_OFF);
  urpc_server_options o;
  urpc_server_options_init(&o);
  o.max_recv_message = 64 * 1024; /* the limit's code is the same; inputs stay fast */
  o.response_compression = "gzip";
  o.keepalive_time_ms = 2000;
  o.keepalive_timeout_ms = 1000;
  o.max_connection_idle_ms = 10000;
  o.max_connection_age_ms = 20000;
  o.max_connection_age_grace_ms = 5000;
  if (urpc_server_new(&o, &server) < 0 || greeter_register(server) < 0 ||
      interop_register(server) < 0 ||
      urpc_server_add_descriptors(server, rpc_refl_builtin_set, rpc_refl_builtin_set_len) < 0 ||
      urpc_server_add_descriptors(server, urpc_example_descriptors, urpc_example_descriptors_len) <
          0 ||
      rpc_reflection_register(&server->registry, &server->reflection, server->refl_db) < 0 ||
      rpc_health_register(server) < 0 || rpc_shard_init(&sh, server, 0) < 0 ||
      rpc_health_copy_to_shard(server, &sh) < 0)
    abort();
  sh.timers = &wheel;
  core_pool_init(&blocks, core_outq_block_size(), 16);
  return 0;
}

typedef struct run {
  rpc_conn *conn;
  bool closed;      /* the connection asked to be closed (or was) */
  uint64_t frames;  /* frames the server sent */
  bool goaway_seen; /* the server sent GOAWAY */
  bool http1;       /* it answered HTTP/1.1 instead */
} run;

static uint32_t be24(const uint8_t *p) {
  return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

/* The server's output of one produce: whole frames, the first of all a SETTINGS. */
static void check_output(run *r, core_outq *out) {
  static uint8_t buf[1 << 20];
  size_t len = 0;
  struct iovec iov[64];
  while (out->bytes) {
    int n = core_outq_iov(out, iov, 64);
    size_t taken = 0;
    for (int i = 0; i < n; i++) {
      size_t k = iov[i].iov_len;
      if (len + k <= sizeof(buf)) memcpy(buf + len, iov[i].iov_base, k);
      len += k;
      taken += k;
    }
    core_outq_consume(out, taken);
  }
  if (len > sizeof(buf)) return; /* too much to check: a large response */
  /* An HTTP/1.x request instead of the preface gets an HTTP/1.1 answer, and nothing else. */
  if (r->frames == 0 && len >= 9 && memcmp(buf, "HTTP/1.1 ", 9) == 0) {
    FUZZ_CHECK(memcmp(buf, "HTTP/1.1 505 ", 13) == 0, "HTTP/1.1 answer %.*s", 16, buf);
    r->http1 = true;
    return;
  }
  FUZZ_CHECK(!r->http1 || len == 0, "output after the HTTP/1.1 answer");
  for (size_t off = 0; off < len;) {
    FUZZ_CHECK(len - off >= 9, "output ends inside a frame header");
    uint32_t flen = be24(buf + off);
    uint8_t type = buf[off + 3];
    FUZZ_CHECK(len - off - 9 >= flen, "output ends inside a frame (%u bytes, type %u)", flen, type);
    if (r->frames++ == 0) FUZZ_CHECK(type == 4 && !(buf[off + 4] & 1), "first frame %u", type);
    if (type == 7) r->goaway_seen = true;
    off += 9 + flen;
  }
}

/* What the shard loop does after a batch of completions, until the connection is quiet. */
static void pump(run *r) {
  for (int round = 0; round < 64 && !r->closed; round++) {
    rpc_shard_after_batch(&sh);
    core_outq out;
    core_outq_init(&out, &blocks);
    int rc = rpc_conn_produce(r->conn, &out);
    size_t produced = out.bytes;
    check_output(r, &out);
    core_outq_dispose(&out);
    FUZZ_CHECK(rc == 0 || rc == IO_CLOSE_AFTER_SEND, "produce: %d", rc);
    if (rc == IO_CLOSE_AFTER_SEND) r->closed = true;
    if (!produced) return;
  }
}

static void advance(run *r, uint64_t ms) {
  core_timer_wheel_advance(&wheel, wheel.now_ms + ms);
  pump(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 3) return 0;
  uint8_t flags = data[0];
  size_t step = data[1] ? data[1] : SIZE_MAX;
  uint64_t tick = data[2];
  data += 3, size -= 3;

  core_timer_wheel_init(&wheel, core_now_ms());
  run r = {.conn = rpc_conn_open(&sh, NULL)};
  if (!r.conn) abort();
  pump(&r);
  if ((flags & 0xC0) != 0xC0) {
    FUZZ_CHECK(
        rpc_conn_recv(r.conn, (const uint8_t *)NGHTTP2_CLIENT_MAGIC, NGHTTP2_CLIENT_MAGIC_LEN) == 0,
        "preface refused");
    pump(&r);
  }
  bool flipped = false;
  for (size_t off = 0; off < size && !r.closed;) {
    size_t k = size - off < step ? size - off : step;
    FUZZ_CHECK(rpc_conn_recv(r.conn, data + off, k) == 0, "recv failed");
    off += k;
    pump(&r);
    if (tick) advance(&r, tick);
    if (off >= size / 2 && !flipped) {
      flipped = true;
      if (flags & 0x01) rpc_conn_drain(r.conn);
      if (flags & 0x02) rpc_health_apply(&sh, "helloworld.Greeter", URPC_HEALTH_NOT_SERVING);
      pump(&r);
    }
  }
  if (flags & 0x02) rpc_health_apply(&sh, "helloworld.Greeter", URPC_HEALTH_SERVING);
  pump(&r);
  if (flags & 0x04)
    for (int i = 0; i < 30 && !r.closed; i++) advance(&r, 1000);

  /* The connection goes (the client left, or the server closed it), then the clock runs
   * until every deferred send and deadline has fired. */
  rpc_conn_closed(r.conn);
  for (int i = 0; i < 16 && wheel.count; i++) {
    core_timer_wheel_advance(&wheel, wheel.now_ms + 3600 * 1000);
    rpc_shard_after_batch(&sh);
  }
  rpc_shard_after_batch(&sh);
  FUZZ_CHECK(wheel.count == 0, "%u timers still armed", wheel.count);
  FUZZ_CHECK(sh.call_pool.live == 0, "%llu calls live after the close",
             (unsigned long long)sh.call_pool.live);
  FUZZ_CHECK(sh.h2_slab.bytes == 0, "%zu bytes of nghttp2 memory left", sh.h2_slab.bytes);
  FUZZ_CHECK(sh.watchers == NULL, "a Watch is still registered");
  FUZZ_CHECK(sh.writable == NULL, "a call still waits for on_writable");
  FUZZ_CHECK(sh.conn_pool.live == 0, "%zu connections live", sh.conn_pool.live);
  return 0;
}
