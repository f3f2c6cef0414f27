/* Private to the admin endpoint (admin.c, admin_routes.c, admin_http1.c, admin_h2.c): the
 * connection every part works on, the limits, and the route table both protocols answer from.
 * Everything here runs on the admin thread only. */
#ifndef URPC_OBS_ADMIN_IMPL_H
#define URPC_OBS_ADMIN_IMPL_H

#include <http_parser.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "obs/urpc_admin.h"

/* The limits; admin.c's head comment says what each one bounds. */
#define ADMIN_MAX_CLIENTS    64
#define ADMIN_IDLE_MS        10000      /* no request in progress and no output sent */
#define ADMIN_REQUEST_MS     10000      /* from a request's first byte to its last */
#define ADMIN_OUT_CAP        (1u << 20) /* unsent output above which nothing more is parsed */
#define ADMIN_IN_SIZE        16384      /* one read; also the most input held back unparsed */
#define ADMIN_URL_MAX        256        /* longer paths are kept cut short: no route matches */
#define ADMIN_H2_STREAMS     16         /* SETTINGS_MAX_CONCURRENT_STREAMS */
#define ADMIN_H2_HEADERS_MAX 16384      /* SETTINGS_MAX_HEADER_LIST_SIZE, enforced: 431 */

/* ---- routes (admin_routes.c), shared by HTTP/1.1 and HTTP/2 ---- */

/* What a request asks, gathered by either protocol's parser. */
typedef struct admin_request {
  char path[ADMIN_URL_MAX]; /* NUL-terminated; the query string is ignored by the routes */
  size_t path_len;
  bool get;         /* the method is GET or HEAD */
  bool head;        /* HEAD: answered as GET, without the content (RFC 9110 9.3.2) */
  bool openmetrics; /* an Accept header names application/openmetrics-text */
} admin_request;

/* The answer. `body` points at `heap` (owned, freed by admin_response_dispose), at a static
 * string, or (`borrowed`) at the admin's scrape buffer, valid until the next admin_route. */
typedef struct admin_response {
  int status;
  const char *reason; /* HTTP/1.1 reason phrase */
  const char *type;   /* Content-Type */
  bool allow_get;     /* 405: send Allow: GET, HEAD */
  const char *body;
  size_t len;
  char *heap;
  bool borrowed;
} admin_response;

void admin_request_reset(admin_request *rq);
/* Appends a piece of the request target (HTTP/1.1 delivers it in pieces). */
void admin_request_add_path(admin_request *rq, const char *at, size_t n);
/* One Accept header's value. */
void admin_request_accept(admin_request *rq, const char *v, size_t n);
/* Fills `r` for `rq`: /metrics, /healthz, /readyz, 405 or 404. */
void admin_route(urpc_admin *a, const admin_request *rq, admin_response *r);
/* A response with a static plain-text body (400, 431, ...). */
void admin_response_text(admin_response *r, int status, const char *reason, const char *text);
void admin_response_dispose(admin_response *r);
/* Gives a borrowed body a copy of its own (for an answer sent later). 0 or -ENOMEM (then `r`
 * is a 500). */
int admin_response_own(admin_response *r);

/* ---- connections (admin.c) ---- */

typedef enum admin_proto {
  ADMIN_PROTO_UNKNOWN, /* nothing read yet, or a prefix of the HTTP/2 preface */
  ADMIN_PROTO_HTTP1,
  ADMIN_PROTO_H2,
} admin_proto;

/* HTTP/1.1 state (admin_http1.c). */
typedef struct admin_http1 {
  http_parser parser;
  admin_request rq;
  char field[24]; /* the header name being read, lowercased; cut short names match nothing */
  size_t field_len;
  bool in_value;   /* the parser moved from the name to its value */
  char value[512]; /* the value of a header we look at (Accept, Upgrade, HTTP2-Settings) */
  size_t value_len;
  bool value_cut; /* longer than `value`: ignored */
  bool upgrade_h2c, have_settings;
  char settings[512]; /* HTTP2-Settings, base64url */
  size_t settings_len;
} admin_http1;

typedef struct admin_h2 admin_h2; /* admin_h2.c */

typedef struct admin_client {
  urpc_admin *admin;
  int fd;
  admin_proto proto;
  /* Input read but not yet parsed: a preface prefix, or what follows a request whose answer
   * pushed the output over ADMIN_OUT_CAP (parsing resumes once it drains). */
  char in[ADMIN_IN_SIZE];
  size_t in_off, in_len;
  /* Output not yet sent: out[out_off, out_len) of out_size bytes. */
  char *out;
  size_t out_off, out_len, out_size;
  bool eof;         /* the client shut its side: answer what was read, then close */
  bool close_after; /* close once the output is written; parse nothing more */
  bool dead;        /* close now (send failed, out of memory) */
  uint64_t last_ms; /* accepted, last bytes sent, or last response queued */
  uint64_t req_ms;  /* a request is in progress since then (0: none) */
  admin_http1 h1;
  admin_h2 *h2; /* when proto == ADMIN_PROTO_H2 */
} admin_client;

struct urpc_admin {
  urpc_server *server;
  urpc_metrics *metrics;
  int listen_fd, stop_pipe[2];
  pthread_t thread;
  bool running;
  char bound[96];
  admin_client *clients[ADMIN_MAX_CLIENTS];
  size_t n_clients;
  /* The last /metrics answer, written in place: the buffer is kept for the next scrape, so a
   * scrape neither grows a new one nor faults its pages in again. */
  char *scrape;
  size_t scrape_len, scrape_cap;
};

uint64_t admin_now_ms(void);
/* Queues output; false (and the client is dead) when out of memory. */
bool admin_out_append(admin_client *c, const void *p, size_t n);
static inline size_t admin_out_pending(const admin_client *c) {
  return c->out_len - c->out_off;
}

/* ---- HTTP/1.1 (admin_http1.c) ---- */

void admin_http1_init(admin_client *c);
/* Parses c->in while the output is at most ADMIN_OUT_CAP; may switch c to h2 (Upgrade). */
void admin_http1_process(admin_client *c);

/* ---- HTTP/2 (admin_h2.c) ---- */

/* A session for a client that sent the preface (prior knowledge). 0 or -ENOMEM. */
int admin_h2_start(admin_client *c);
/* A session taking over from an HTTP/1.1 request with Upgrade: h2c; `settings` is the decoded
 * HTTP2-Settings, `r` the answer to the request, taken over and sent on stream 1 once the
 * client's preface is in. 0 or a negative code (the client stays on HTTP/1.1 and `r` is
 * untouched). */
int admin_h2_upgrade(admin_client *c, const uint8_t *settings, size_t n, admin_response *r);
/* Feeds c->in to the session and its output to c->out while that is at most ADMIN_OUT_CAP. */
void admin_h2_process(admin_client *c);
/* The session has nothing more to read or write. */
bool admin_h2_done(const admin_client *c);
void admin_h2_free(admin_client *c);

#endif
