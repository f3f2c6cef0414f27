/* stream_load: gRPC streaming load client for bench/streaming.sh.
 *
 *   stream_load stream   --port P [--calls C] [--conns K] [--messages N] [--size S]
 *   stream_load pingpong --port P [--rounds R] [--warmup W] [--size S]
 *   common: [--host H] [--timeout SEC] [--window BYTES] [--no-decode]
 *
 * stream:   C concurrent grpc.testing.TestService/StreamingOutputCall calls spread over K
 *           connections; each asks for its share of N responses of S payload bytes (one
 *           ResponseParameters{size: S} per response). Counts the messages received over the
 *           wall time from the first request to the last trailers.
 * pingpong: one FullDuplexCall; R round trips of one request (a StreamingOutputCallRequest
 *           with one ResponseParameters{size: S} and an S-byte payload) and the one response
 *           it asks for, the next request sent when the response is in; W untimed rounds
 *           first; then a half-close and the trailers.
 *
 * Why it exists: no packaged tool drives gRPC streams. h2load sends one request body per
 * stream and counts HTTP responses (not gRPC messages, not grpc-status) and cannot interleave
 * a bidi exchange; ghz and fortio are not packaged here. So this is a small C client on the
 * same pieces the server is built from: nghttp2's client session (mem_recv/mem_send over a
 * non-blocking socket, driven by poll) and protobuf-c for the testing messages.
 *
 * Every response is checked: 5-byte gRPC prefixes are reassembled across DATA frames (and
 * several messages per frame), the flag must be 0 (no compression was offered), each message
 * decodes as a StreamingOutputCallResponse whose payload has S bytes (--no-decode: only the
 * framed length is checked), :status 200, content-type application/grpc*, grpc-status 0 in the
 * trailers, the expected message count, no RST_STREAM or GOAWAY. Any failure exits 1 with a
 * message; running past --timeout exits 3; bad usage exits 2.
 *
 * Output: one line of key=value pairs on stdout. The clock runs from the first request (after
 * the SETTINGS exchange) to the last trailers.
 *   stream:   seconds, msgs_per_s (received / seconds), first_msg_ms (request upload and the
 *             server's parsing of it, included in msgs_per_s), steady_msgs_per_s (first to last
 *             message), payload_MBps and grpc_MBps (payload bytes; whole framed messages),
 *             data_frames (DATA frames received), client_cpu_pct (this process, user+sys).
 *   pingpong: rtt_per_s (timed round trips per second), mean_us, p50_us, p90_us,
 *             p99_us, max_us (of the timed rounds: request queued to response decoded),
 *             client_cpu_pct. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#include "grpc/testing/messages.pb-c.h"

#define MAX_MESSAGE      (4u << 20) /* grpc's default receive limit, and uringrpc's */
#define MAX_CALLS        1024
#define MAX_CONNS        256
#define RECV_BUF         (256u << 10)
#define SEND_COALESCE    (64u << 10)
#define GRPC_MESSAGE_MAX 200

/* ---- small helpers ---- */

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) {
    fprintf(stderr, "stream_load: out of memory\n");
    exit(1);
  }
  return p;
}

/* The first error wins; the loop stops at the next turn and main exits 1. */
static char g_error[512];

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  if (g_error[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof(g_error), fmt, ap);
  va_end(ap);
  if (!g_error[0]) snprintf(g_error, sizeof(g_error), "error");
}

/* ---- options ---- */

enum mode { MODE_STREAM, MODE_PINGPONG };

static struct {
  enum mode mode;
  const char *host;
  const char *port;
  int calls, conns;
  uint64_t messages;
  int32_t size;
  uint64_t rounds, warmup;
  double timeout;
  uint32_t window;
  bool decode;
} opt = {
    .host = "127.0.0.1",
    .calls = 1,
    .conns = 1,
    .messages = 100000,
    .size = 10,
    .rounds = 10000,
    .warmup = 100,
    .timeout = 60,
    .window = 4u << 20,
    .decode = true,
};

static void usage(void) {
  fprintf(stderr,
          "usage: stream_load stream   --port P [--calls C] [--conns K] [--messages N] "
          "[--size S]\n"
          "       stream_load pingpong --port P [--rounds R] [--warmup W] [--size S]\n"
          "  common: [--host H (127.0.0.1)] [--timeout SEC (60)] [--window BYTES (4194304)]\n"
          "          [--no-decode]\n"
          "  defaults: --calls 1 --conns 1 --messages 100000 --size 10 --rounds 10000 "
          "--warmup 100\n");
  exit(2);
}

static uint64_t parse_u64(const char *s, uint64_t lo, uint64_t hi) {
  char *end;
  errno = 0;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || s[0] == '-' || v < lo || v > hi) usage();
  return v;
}

static void parse_args(int argc, char **argv) {
  if (argc < 2) usage();
  if (!strcmp(argv[1], "stream"))
    opt.mode = MODE_STREAM;
  else if (!strcmp(argv[1], "pingpong"))
    opt.mode = MODE_PINGPONG;
  else
    usage();
  static const struct option longopts[] = {
      {"host", required_argument, NULL, 'h'},
      {"port", required_argument, NULL, 'p'},
      {"calls", required_argument, NULL, 'c'},
      {"conns", required_argument, NULL, 'k'},
      {"messages", required_argument, NULL, 'n'},
      {"size", required_argument, NULL, 's'},
      {"rounds", required_argument, NULL, 'r'},
      {"warmup", required_argument, NULL, 'w'},
      {"timeout", required_argument, NULL, 't'},
      {"window", required_argument, NULL, 'W'},
      {"no-decode", no_argument, NULL, 'D'},
      {"help", no_argument, NULL, '?'},
      {0, 0, 0, 0},
  };
  optind = 2;
  int ch;
  while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
    switch (ch) {
    case 'h':
      opt.host = optarg;
      break;
    case 'p':
      opt.port = optarg;
      break;
    case 'c':
      opt.calls = (int)parse_u64(optarg, 1, MAX_CALLS);
      break;
    case 'k':
      opt.conns = (int)parse_u64(optarg, 1, MAX_CONNS);
      break;
    case 'n':
      opt.messages = parse_u64(optarg, 1, UINT64_C(1) << 40);
      break;
    case 's':
      opt.size = (int32_t)parse_u64(optarg, 0, MAX_MESSAGE - 64);
      break;
    case 'r':
      opt.rounds = parse_u64(optarg, 1, UINT64_C(1) << 32);
      break;
    case 'w':
      opt.warmup = parse_u64(optarg, 0, UINT64_C(1) << 32);
      break;
    case 't':
      opt.timeout = (double)parse_u64(optarg, 1, 86400);
      break;
    case 'W':
      opt.window = (uint32_t)parse_u64(optarg, 65535, (1u << 31) - 1);
      break;
    case 'D':
      opt.decode = false;
      break;
    default:
      usage();
    }
  }
  if (optind != argc || !opt.port) usage();
  if (opt.mode == MODE_PINGPONG) opt.calls = opt.conns = 1;
  if (opt.conns > opt.calls) opt.conns = opt.calls;
  if (opt.mode == MODE_STREAM && opt.messages < (uint64_t)opt.calls) {
    fprintf(stderr, "stream_load: --messages must be at least --calls\n");
    exit(2);
  }
}

/* ---- a bump arena for protobuf-c unpacking: reset after each message ---- */

static struct {
  uint8_t *base;
  size_t cap, used;
  void **big; /* allocations that did not fit, freed at reset */
  size_t nbig, capbig;
} arena;

static void *arena_alloc(void *data, size_t n) {
  (void)data;
  n = (n + 15) & ~(size_t)15;
  if (arena.used + n <= arena.cap) {
    void *p = arena.base + arena.used;
    arena.used += n;
    return p;
  }
  if (arena.nbig == arena.capbig) {
    arena.capbig = arena.capbig ? 2 * arena.capbig : 16;
    void **nb = realloc(arena.big, arena.capbig * sizeof(void *));
    if (!nb) return NULL;
    arena.big = nb;
  }
  void *p = malloc(n);
  if (p) arena.big[arena.nbig++] = p;
  return p;
}

static void arena_free(void *data, void *p) {
  (void)data, (void)p;
}

static void arena_reset(void) {
  for (size_t i = 0; i < arena.nbig; i++) free(arena.big[i]);
  arena.nbig = 0;
  arena.used = 0;
}

static ProtobufCAllocator arena_allocator = {.alloc = arena_alloc, .free = arena_free};

/* ---- calls and connections ---- */

typedef struct conn conn;

typedef struct call {
  conn *c;
  int32_t stream_id;
  /* request body: what the data provider still has to hand to nghttp2 */
  uint8_t *out;
  size_t out_len, out_off, out_cap;
  bool out_eof;  /* half-close once `out` is drained */
  bool deferred; /* the data provider returned DEFERRED: resume it when `out` grows */
  /* response */
  int http_status;
  bool grpc_ct, have_status, closed;
  int grpc_status;
  char grpc_message[GRPC_MESSAGE_MAX + 1];
  uint8_t hdr[5];
  uint32_t hdr_have, need, have;
  uint8_t *buf; /* a message split over DATA frames */
  uint32_t buf_cap;
  uint64_t expected, received, bytes;
  /* pingpong */
  uint64_t sent_rounds;
  double t_sent;
} call;

struct conn {
  int fd;
  nghttp2_session *s;
  bool got_settings, eof;
  uint8_t *pend; /* serialized output the socket did not take yet */
  size_t pend_len, pend_off, pend_cap;
  int open_calls;
  char authority[300];
};

static call g_calls[MAX_CALLS];
static conn g_conns[MAX_CONNS];
static int g_open_calls;
static uint64_t g_data_frames; /* DATA frames received: messages per frame shows the batching */
static double g_t_first;       /* when the first response message came in */
static double g_t_last;        /* ... and the last one asked for */
static uint64_t g_received, g_expected; /* over all calls */
static double g_deadline;

/* pingpong */
static double *g_lat_us;
static uint64_t g_lat_n;
static uint8_t *g_ping_req;
static size_t g_ping_req_len;

static void out_append(call *k, const uint8_t *p, size_t n) {
  if (k->out_off == k->out_len) k->out_off = k->out_len = 0;
  if (k->out_len + n > k->out_cap) {
    size_t cap = k->out_cap ? k->out_cap : 256;
    while (cap < k->out_len + n) cap *= 2;
    uint8_t *b = realloc(k->out, cap);
    if (!b) {
      fprintf(stderr, "stream_load: out of memory\n");
      exit(1);
    }
    k->out = b;
    k->out_cap = cap;
  }
  memcpy(k->out + k->out_len, p, n);
  k->out_len += n;
  if (k->deferred && k->stream_id > 0) {
    k->deferred = false;
    nghttp2_session_resume_data(k->c->s, k->stream_id);
  }
}

static void half_close(call *k) {
  k->out_eof = true;
  if (k->deferred && k->stream_id > 0) {
    k->deferred = false;
    nghttp2_session_resume_data(k->c->s, k->stream_id);
  }
}

static ssize_t data_read(nghttp2_session *s, int32_t sid, uint8_t *buf, size_t len, uint32_t *flags,
                         nghttp2_data_source *src, void *ud) {
  (void)s, (void)sid, (void)ud;
  call *k = src->ptr;
  size_t avail = k->out_len - k->out_off;
  if (avail == 0 && !k->out_eof) {
    k->deferred = true;
    return NGHTTP2_ERR_DEFERRED;
  }
  size_t n = avail < len ? avail : len;
  memcpy(buf, k->out + k->out_off, n);
  k->out_off += n;
  if (k->out_off == k->out_len && k->out_eof) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return (ssize_t)n;
}

/* ---- gRPC messages ---- */

static double g_t_timed; /* pingpong: when the first timed round was sent */

static void send_ping(call *k) {
  k->t_sent = now_s();
  if (k->sent_rounds == opt.warmup) g_t_timed = k->t_sent;
  k->sent_rounds++;
  out_append(k, g_ping_req, g_ping_req_len);
}

static void on_message(call *k, const uint8_t *p, uint32_t n) {
  if (g_t_first == 0) g_t_first = now_s();
  if (++g_received == g_expected) g_t_last = now_s();
  k->received++;
  k->bytes += 5u + n;
  if (k->received > k->expected) {
    fail("stream %d: more than the %" PRIu64 " messages asked for", k->stream_id, k->expected);
    return;
  }
  if (opt.decode) {
    Grpc__Testing__StreamingOutputCallResponse *r =
        grpc__testing__streaming_output_call_response__unpack(&arena_allocator, n, p);
    size_t got = r && r->payload ? r->payload->body.len : 0;
    arena_reset();
    if (!r) {
      fail("stream %d: message %" PRIu64 " is not a StreamingOutputCallResponse", k->stream_id,
           k->received);
      return;
    }
    if (got != (size_t)opt.size) {
      fail("stream %d: message %" PRIu64 " has a %zu-byte payload, asked for %d", k->stream_id,
           k->received, got, opt.size);
      return;
    }
  } else {
    /* StreamingOutputCallResponse{payload{body}}: the length follows from the size alone. */
    uint32_t want = opt.size == 0 ? 2u : 0u;
    if (opt.size > 0) {
      uint32_t body = (uint32_t)opt.size;
      uint32_t inner = 1 + (body < 128 ? 1 : body < 16384 ? 2 : body < 2097152 ? 3 : 4) + body;
      want = 1 + (inner < 128 ? 1 : inner < 16384 ? 2 : inner < 2097152 ? 3 : 4) + inner;
    }
    if (n != want) {
      fail("stream %d: message %" PRIu64 " is %u bytes, expected %u", k->stream_id, k->received, n,
           want);
      return;
    }
  }
  if (opt.mode == MODE_PINGPONG) {
    double t = now_s();
    if (k->received > opt.warmup) g_lat_us[g_lat_n++] = (t - k->t_sent) * 1e6;
    if (k->sent_rounds < k->expected)
      send_ping(k);
    else
      half_close(k);
  }
}

/* Reassembles length-prefixed messages from a DATA chunk: any split is allowed, and one chunk
 * may carry many messages. Complete messages are decoded in place, without a copy. */
static void feed(call *k, const uint8_t *p, size_t n) {
  while (n && !g_error[0]) {
    if (k->hdr_have < 5) {
      size_t t = 5 - k->hdr_have < n ? 5 - k->hdr_have : n;
      memcpy(k->hdr + k->hdr_have, p, t);
      k->hdr_have += (uint32_t)t;
      p += t;
      n -= t;
      if (k->hdr_have < 5) return;
      if (k->hdr[0] != 0) {
        fail("stream %d: message flag %u (compressed, or not gRPC framing)", k->stream_id,
             k->hdr[0]);
        return;
      }
      k->need = (uint32_t)k->hdr[1] << 24 | (uint32_t)k->hdr[2] << 16 | (uint32_t)k->hdr[3] << 8 |
                k->hdr[4];
      k->have = 0;
      if (k->need > MAX_MESSAGE) {
        fail("stream %d: %u-byte message, over the %u limit", k->stream_id, k->need, MAX_MESSAGE);
        return;
      }
      if (k->need == 0) {
        k->hdr_have = 0;
        on_message(k, (const uint8_t *)"", 0);
        continue;
      }
    }
    uint32_t want = k->need - k->have;
    if (k->have == 0 && n >= want) {
      on_message(k, p, want);
      p += want;
      n -= want;
      k->hdr_have = 0;
      continue;
    }
    if (k->buf_cap < k->need) {
      free(k->buf);
      k->buf_cap = k->need;
      k->buf = xmalloc(k->buf_cap);
    }
    /* have > 0 means the start is already in buf; the copy below never reallocates it */
    uint32_t t = n < want ? (uint32_t)n : want;
    memcpy(k->buf + k->have, p, t);
    k->have += t;
    p += t;
    n -= t;
    if (k->have == k->need) {
      k->hdr_have = 0;
      k->have = 0;
      on_message(k, k->buf, k->need);
    }
  }
}

/* ---- nghttp2 callbacks ---- */

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *ud) {
  (void)flags, (void)ud;
  if (frame->hd.type != NGHTTP2_HEADERS) return 0;
  call *k = nghttp2_session_get_stream_user_data(s, frame->hd.stream_id);
  if (!k) return 0;
#define IS(lit) (namelen == sizeof(lit) - 1 && !memcmp(name, lit, namelen))
  if (IS(":status")) {
    k->http_status = 0;
    for (size_t i = 0; i < valuelen && i < 4; i++)
      k->http_status = k->http_status * 10 + (value[i] - '0');
  } else if (IS("content-type")) {
    k->grpc_ct = valuelen >= 16 && !memcmp(value, "application/grpc", 16);
  } else if (IS("grpc-status")) {
    k->have_status = valuelen > 0 && valuelen < 4;
    k->grpc_status = 0;
    for (size_t i = 0; i < valuelen; i++) {
      if (value[i] < '0' || value[i] > '9') k->have_status = false;
      k->grpc_status = k->grpc_status * 10 + (value[i] - '0');
    }
  } else if (IS("grpc-message")) {
    size_t m = valuelen < GRPC_MESSAGE_MAX ? valuelen : GRPC_MESSAGE_MAX;
    memcpy(k->grpc_message, value, m);
    k->grpc_message[m] = 0;
  }
#undef IS
  return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t sid, const uint8_t *data,
                         size_t len, void *ud) {
  (void)flags, (void)ud;
  call *k = nghttp2_session_get_stream_user_data(s, sid);
  if (k) feed(k, data, len);
  return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *frame, void *ud) {
  (void)s;
  conn *c = ud;
  if (frame->hd.type == NGHTTP2_DATA)
    g_data_frames++;
  else if (frame->hd.type == NGHTTP2_SETTINGS && !(frame->hd.flags & NGHTTP2_FLAG_ACK))
    c->got_settings = true;
  else if (frame->hd.type == NGHTTP2_GOAWAY && g_open_calls > 0)
    fail("GOAWAY from the server (error %u, last stream %d) with calls open",
         frame->goaway.error_code, frame->goaway.last_stream_id);
  return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t sid, uint32_t error_code, void *ud) {
  (void)ud;
  call *k = nghttp2_session_get_stream_user_data(s, sid);
  if (!k || k->closed) return 0;
  k->closed = true;
  k->c->open_calls--;
  g_open_calls--;
  if (error_code)
    fail("stream %d reset (%s) after %" PRIu64 " messages", sid, nghttp2_http2_strerror(error_code),
         k->received);
  else if (k->http_status != 200)
    fail("stream %d: HTTP status %d", sid, k->http_status);
  else if (!k->have_status)
    fail("stream %d: no grpc-status in the trailers", sid);
  else if (k->grpc_status != 0)
    fail("stream %d: grpc-status %d (%s) after %" PRIu64 " messages", sid, k->grpc_status,
         k->grpc_message, k->received);
  else if (!k->grpc_ct)
    fail("stream %d: content-type is not application/grpc", sid);
  else if (k->hdr_have)
    fail("stream %d: ended inside a message", sid);
  else if (k->received != k->expected)
    fail("stream %d: %" PRIu64 " messages, expected %" PRIu64, sid, k->received, k->expected);
  return 0;
}

/* ---- I/O ---- */

static void conn_open(conn *c) {
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res, *ai;
  int rc = getaddrinfo(opt.host, opt.port, &hints, &res);
  if (rc) {
    fprintf(stderr, "stream_load: %s:%s: %s\n", opt.host, opt.port, gai_strerror(rc));
    exit(1);
  }
  c->fd = -1;
  int err = 0;
  for (ai = res; ai && c->fd < 0; ai = ai->ai_next) {
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0) continue;
    /* Non-blocking, so that the connect too is bounded by --timeout. */
    int r = connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (r < 0 && errno == EINPROGRESS) {
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      double left = g_deadline - now_s();
      int ms = left > 0 ? (int)(left * 1000) + 1 : 0;
      socklen_t len = sizeof(err);
      if (poll(&pfd, 1, ms) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0)
        r = err ? -1 : 0;
      else
        err = ETIMEDOUT;
    } else if (r < 0) {
      err = errno;
    }
    if (r == 0) {
      c->fd = fd;
    } else {
      close(fd);
    }
  }
  freeaddrinfo(res);
  if (c->fd < 0) {
    fprintf(stderr, "stream_load: connect %s:%s: %s\n", opt.host, opt.port, strerror(err));
    exit(1);
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  snprintf(c->authority, sizeof(c->authority), "%s:%s", opt.host, opt.port);

  nghttp2_session_callbacks *cbs;
  nghttp2_option *o;
  if (nghttp2_session_callbacks_new(&cbs) || nghttp2_option_new(&o)) {
    fprintf(stderr, "stream_load: out of memory\n");
    exit(1);
  }
  nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data_chunk);
  nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame_recv);
  nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_stream_close);
  if (nghttp2_session_client_new2(&c->s, cbs, c, o)) {
    fprintf(stderr, "stream_load: nghttp2_session_client_new2 failed\n");
    exit(1);
  }
  nghttp2_option_del(o);
  nghttp2_session_callbacks_del(cbs);
  /* Windows wide enough that flow control never holds the server back: the stream window is
   * --window, the connection's the same times the calls it carries. */
  nghttp2_settings_entry iv[] = {
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, opt.window},
  };
  uint64_t cw = (uint64_t)opt.window * (uint64_t)(opt.calls / opt.conns + 1);
  if (cw > (1u << 30)) cw = 1u << 30;
  if (nghttp2_submit_settings(c->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0])) ||
      nghttp2_session_set_local_window_size(c->s, NGHTTP2_FLAG_NONE, 0, (int32_t)cw)) {
    fprintf(stderr, "stream_load: cannot submit SETTINGS\n");
    exit(1);
  }
}

static void pend_add(conn *c, const uint8_t *p, size_t n) {
  if (c->pend_off == c->pend_len) c->pend_off = c->pend_len = 0;
  if (c->pend_len + n > c->pend_cap) {
    size_t cap = c->pend_cap ? c->pend_cap : SEND_COALESCE * 2;
    while (cap < c->pend_len + n) cap *= 2;
    uint8_t *b = realloc(c->pend, cap);
    if (!b) {
      fprintf(stderr, "stream_load: out of memory\n");
      exit(1);
    }
    c->pend = b;
    c->pend_cap = cap;
  }
  memcpy(c->pend + c->pend_len, p, n);
  c->pend_len += n;
}

/* Writes what is pending; false on a hard error. */
static bool pend_write(conn *c) {
  while (c->pend_off < c->pend_len) {
    ssize_t w = send(c->fd, c->pend + c->pend_off, c->pend_len - c->pend_off, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return true;
      fail("send: %s", strerror(errno));
      return false;
    }
    c->pend_off += (size_t)w;
  }
  c->pend_off = c->pend_len = 0;
  return true;
}

/* Serializes whatever nghttp2 has to send (coalesced into one buffer) and writes it. */
static void conn_flush(conn *c) {
  for (;;) {
    if (c->pend_off < c->pend_len) {
      if (!pend_write(c) || c->pend_off < c->pend_len) return; /* wait for POLLOUT */
    }
    size_t added = 0;
    for (;;) {
      const uint8_t *data;
      ssize_t n = nghttp2_session_mem_send(c->s, &data);
      if (n < 0) {
        fail("nghttp2_session_mem_send: %s", nghttp2_strerror((int)n));
        return;
      }
      if (n == 0) break;
      pend_add(c, data, (size_t)n);
      added += (size_t)n;
      if (added >= SEND_COALESCE) break;
    }
    if (added == 0) return;
  }
}

static void conn_recv(conn *c) {
  static uint8_t buf[RECV_BUF];
  for (int i = 0; i < 16 && !g_error[0]; i++) {
    ssize_t r = recv(c->fd, buf, sizeof(buf), 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      fail("recv: %s", strerror(errno));
      return;
    }
    if (r == 0) {
      c->eof = true;
      if (c->open_calls > 0 || !c->got_settings) fail("the server closed the connection");
      return;
    }
    ssize_t m = nghttp2_session_mem_recv(c->s, buf, (size_t)r);
    if (m < 0) {
      fail("nghttp2_session_mem_recv: %s", nghttp2_strerror((int)m));
      return;
    }
    if ((size_t)r < sizeof(buf)) return; /* drained */
  }
}

/* Runs the connections until done() or an error or the deadline. Returns 0, 1 or 3. */
static int run_until(bool (*done)(void)) {
  struct pollfd pfd[MAX_CONNS];
  for (;;) {
    for (int i = 0; i < opt.conns; i++) conn_flush(&g_conns[i]);
    if (g_error[0]) return 1;
    if (done()) return 0;
    double left = g_deadline - now_s();
    if (left <= 0) return 3;
    for (int i = 0; i < opt.conns; i++) {
      conn *c = &g_conns[i];
      pfd[i].fd = c->eof ? -1 : c->fd;
      pfd[i].events = POLLIN | (c->pend_off < c->pend_len ? POLLOUT : 0);
      pfd[i].revents = 0;
    }
    int ms = left > 1.0 ? 1000 : (int)(left * 1000) + 1;
    int n = poll(pfd, (nfds_t)opt.conns, ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("poll: %s", strerror(errno));
      return 1;
    }
    for (int i = 0; i < opt.conns && !g_error[0]; i++) {
      conn *c = &g_conns[i];
      if (pfd[i].revents & (POLLIN | POLLERR | POLLHUP)) conn_recv(c);
      if (!c->eof && !nghttp2_session_want_read(c->s) && !nghttp2_session_want_write(c->s) &&
          c->open_calls > 0)
        fail("the HTTP/2 session ended with calls open");
    }
  }
}

static bool all_settings(void) {
  for (int i = 0; i < opt.conns; i++)
    if (!g_conns[i].got_settings) return false;
  return true;
}

static bool all_closed(void) {
  return g_open_calls == 0;
}

/* ---- requests ---- */

static uint8_t *pack_framed(const ProtobufCMessage *m, size_t *len) {
  size_t n = protobuf_c_message_get_packed_size(m);
  if (n > MAX_MESSAGE) {
    fprintf(stderr,
            "stream_load: a %zu-byte request is over the %u-byte message limit: use more "
            "--calls (fewer messages per call)\n",
            n, MAX_MESSAGE);
    exit(2);
  }
  uint8_t *b = xmalloc(n + 5);
  b[0] = 0;
  b[1] = (uint8_t)(n >> 24);
  b[2] = (uint8_t)(n >> 16);
  b[3] = (uint8_t)(n >> 8);
  b[4] = (uint8_t)n;
  protobuf_c_message_pack(m, b + 5);
  *len = n + 5;
  return b;
}

/* A StreamingOutputCallRequest asking for `count` responses of opt.size bytes; all entries
 * point at the same ResponseParameters. */
static uint8_t *streaming_request(uint64_t count, int32_t req_payload, size_t *len) {
  Grpc__Testing__ResponseParameters rp = GRPC__TESTING__RESPONSE_PARAMETERS__INIT;
  rp.size = opt.size;
  Grpc__Testing__ResponseParameters **v = xmalloc(count * sizeof(*v));
  for (uint64_t i = 0; i < count; i++) v[i] = &rp;
  Grpc__Testing__Payload pl = GRPC__TESTING__PAYLOAD__INIT;
  uint8_t *body = NULL;
  Grpc__Testing__StreamingOutputCallRequest req =
      GRPC__TESTING__STREAMING_OUTPUT_CALL_REQUEST__INIT;
  req.n_response_parameters = count;
  req.response_parameters = v;
  if (req_payload > 0) {
    body = calloc(1, (size_t)req_payload);
    if (!body) exit(1);
    pl.body.data = body;
    pl.body.len = (size_t)req_payload;
    req.payload = &pl;
  }
  uint8_t *b = pack_framed(&req.base, len);
  free(body);
  free(v);
  return b;
}

static void start_call(call *k, conn *c, const char *path) {
#define NV(n, v)                                                                                   \
  {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v),                                       \
   NGHTTP2_NV_FLAG_NO_COPY_NAME | NGHTTP2_NV_FLAG_NO_COPY_VALUE}
  nghttp2_nv hdrs[] = {
      NV(":method", "POST"),
      NV(":scheme", "http"),
      NV(":path", path),
      NV(":authority", c->authority),
      NV("content-type", "application/grpc"),
      NV("te", "trailers"),
      NV("user-agent", "uringrpc-stream_load/1"),
  };
#undef NV
  nghttp2_data_provider dp = {.source = {.ptr = k}, .read_callback = data_read};
  k->c = c;
  int32_t sid = nghttp2_submit_request(c->s, NULL, hdrs, sizeof(hdrs) / sizeof(hdrs[0]), &dp, k);
  if (sid < 0) {
    fprintf(stderr, "stream_load: nghttp2_submit_request: %s\n", nghttp2_strerror(sid));
    exit(1);
  }
  k->stream_id = sid;
  c->open_calls++;
  g_open_calls++;
}

/* ---- reports ---- */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double pct(const double *v, uint64_t n, double p) {
  if (!n) return NAN;
  uint64_t i = (uint64_t)ceil((double)n * p);
  if (i < 1) i = 1;
  if (i > n) i = n;
  return v[i - 1];
}

static void report_failure(int rc, double t0) {
  uint64_t got = 0, want = 0;
  for (int i = 0; i < opt.calls; i++) got += g_calls[i].received, want += g_calls[i].expected;
  if (rc == 3)
    fprintf(stderr,
            "stream_load: timed out after %.0f s: %" PRIu64 " of %" PRIu64
            " messages received, %d calls open\n",
            opt.timeout, got, want, g_open_calls);
  else
    fprintf(stderr, "stream_load: %s (%" PRIu64 " of %" PRIu64 " messages in %.3f s)\n", g_error,
            got, want, t0 > 0 ? now_s() - t0 : 0.0);
}

int main(int argc, char **argv) {
  parse_args(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  arena.cap = 64u << 10;
  arena.base = xmalloc(arena.cap);
  g_deadline = now_s() + opt.timeout;

  /* Requests are packed before the clock starts. */
  const char *path;
  uint8_t *bodies[MAX_CALLS] = {0};
  size_t body_len[MAX_CALLS] = {0};
  if (opt.mode == MODE_STREAM) {
    path = "/grpc.testing.TestService/StreamingOutputCall";
    for (int i = 0; i < opt.calls; i++) {
      uint64_t share = opt.messages / (uint64_t)opt.calls +
                       ((uint64_t)i < opt.messages % (uint64_t)opt.calls ? 1 : 0);
      g_calls[i].expected = share;
      g_expected += share;
      if (i > 0 && share == g_calls[i - 1].expected) {
        bodies[i] = bodies[i - 1]; /* same request: share the bytes */
        body_len[i] = body_len[i - 1];
      } else {
        bodies[i] = streaming_request(share, 0, &body_len[i]);
      }
    }
  } else {
    path = "/grpc.testing.TestService/FullDuplexCall";
    g_calls[0].expected = opt.warmup + opt.rounds;
    g_expected = g_calls[0].expected;
    g_ping_req = streaming_request(1, opt.size, &g_ping_req_len);
    g_lat_us = xmalloc(opt.rounds * sizeof(double));
  }

  for (int i = 0; i < opt.conns; i++) conn_open(&g_conns[i]);
  int rc = run_until(all_settings);
  if (rc) {
    if (rc == 3) fail("no SETTINGS from the server within %.0f s", opt.timeout);
    report_failure(1, 0);
    return 1;
  }

  double c0 = cpu_s(), t0 = now_s();
  for (int i = 0; i < opt.calls; i++) {
    call *k = &g_calls[i];
    start_call(k, &g_conns[i % opt.conns], path);
    if (opt.mode == MODE_STREAM) {
      /* The request body is handed out straight from the shared bytes. */
      k->out = bodies[i];
      k->out_len = body_len[i];
      k->out_cap = 0;
      k->out_eof = true;
    } else {
      send_ping(k);
    }
  }
  rc = run_until(all_closed);
  double t1 = now_s(), c1 = cpu_s();
  if (rc) {
    report_failure(rc, t0);
    return rc;
  }
  double wall = t1 - t0, cpu_pct = wall > 0 ? 100.0 * (c1 - c0) / wall : 0;

  if (opt.mode == MODE_STREAM) {
    uint64_t got = 0, bytes = 0;
    for (int i = 0; i < opt.calls; i++) got += g_calls[i].received, bytes += g_calls[i].bytes;
    printf("mode=stream calls=%d conns=%d messages=%" PRIu64 " size=%d received=%" PRIu64
           " seconds=%.6f first_msg_ms=%.3f msgs_per_s=%.0f steady_msgs_per_s=%.0f "
           "payload_MBps=%.2f grpc_MBps=%.2f "
           "data_frames=%" PRIu64 " client_cpu_pct=%.0f\n",
           opt.calls, opt.conns, opt.messages, opt.size, got, wall, (g_t_first - t0) * 1e3,
           (double)got / wall,
           g_t_last > g_t_first ? (double)(got - 1) / (g_t_last - g_t_first) : (double)got / wall,
           (double)got * opt.size / wall / 1e6, (double)bytes / wall / 1e6, g_data_frames, cpu_pct);
  } else {
    double sum = 0;
    for (uint64_t i = 0; i < g_lat_n; i++) sum += g_lat_us[i];
    qsort(g_lat_us, g_lat_n, sizeof(double), cmp_double);
    printf("mode=pingpong rounds=%" PRIu64 " warmup=%" PRIu64 " size=%d seconds=%.6f "
           "rtt_per_s=%.0f mean_us=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f "
           "client_cpu_pct=%.0f\n",
           opt.rounds, opt.warmup, opt.size, wall, (double)opt.rounds / (g_t_last - g_t_timed),
           g_lat_n ? sum / (double)g_lat_n : NAN, pct(g_lat_us, g_lat_n, 0.50),
           pct(g_lat_us, g_lat_n, 0.90), pct(g_lat_us, g_lat_n, 0.99),
           g_lat_n ? g_lat_us[g_lat_n - 1] : NAN, cpu_pct);
  }
  fflush(stdout);
  for (int i = 0; i < opt.conns; i++) {
    nghttp2_session_del(g_conns[i].s);
    close(g_conns[i].fd);
  }
  return 0;
}
