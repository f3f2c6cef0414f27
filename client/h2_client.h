/* One HTTP/2 connection's gRPC calls, client side, sans-IO: bytes from the server go in
 * (cli_conn_recv), bytes for it come out (cli_conn_produce into a core_outq), the way rpc/'s
 * server sessions work, so io/ can carry it over TCP or TLS and tests can pair it with a
 * server session in memory. nghttp2's client session does the HTTP/2; rpc/'s framing,
 * grpc-timeout, percent and base64 code does the gRPC.
 *
 * A call: cli_call_start (request headers), cli_call_send per message, cli_call_close_send
 * (end of the request stream), and the handlers: response metadata, each response message,
 * then exactly one on_close with the status, after which the call is freed. Single thread
 * (the one that owns the connection). Internal to client/ until the public client API. */
#ifndef URPC_CLIENT_H2_CLIENT_H
#define URPC_CLIENT_H2_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outq.h"
#include "rpc/uringrpc.h"

/* Response headers + trailers a call takes (names + values + 32 each, as RFC 9113's
 * SETTINGS_MAX_HEADER_LIST_SIZE, which the client advertises): more fail the call
 * RESOURCE_EXHAUSTED. grpc's clients allow 16 KiB too. */
#define CLI_MAX_RESPONSE_HEADERS (16u << 10)

typedef struct cli_conn cli_conn;
typedef struct cli_call cli_call;

typedef struct cli_conn_config {
  const char *authority;     /* :authority, e.g. "greeter:50051" */
  bool tls;                  /* :scheme https, else http */
  uint32_t max_recv_message; /* larger response messages fail the call; default 4 MiB */
  const char *user_agent;    /* default "uringrpc-client" */
  uint32_t send_buffer;      /* request bytes a call may queue before cli_call_send says
                                -EAGAIN; default 64 KiB */
} cli_conn_config;

typedef struct cli_metadata {
  const char *key; /* lowercase; "-bin" keys carry binary values (base64 on the wire) */
  const void *value;
  size_t len;
} cli_metadata;

typedef struct cli_call_handlers {
  /* A response metadata entry (initial metadata, or with `trailer` a trailer), "-bin" values
   * decoded. May be NULL. */
  void (*on_metadata)(cli_call *call, const char *key, const uint8_t *value, size_t len,
                      bool trailer, void *user);
  /* A response message (decompressed; valid during the callback). */
  void (*on_message)(cli_call *call, const uint8_t *msg, size_t len, void *user);
  /* The end: the server's status, or one this side derived (a reset, a bad response, the
   * connection gone). `message` lives during the call. The call must not be used after. */
  void (*on_close)(cli_call *call, urpc_status_code status, const char *message, void *user);
  /* cli_call_send said -EAGAIN and the call's send buffer has room again (from
   * cli_conn_produce, after nghttp2 took queued bytes as the server's window allowed). May be
   * NULL. */
  void (*on_writable)(cli_call *call, void *user);
} cli_call_handlers;

/* Returns 0, -EINVAL or -ENOMEM. */
int cli_conn_new(const cli_conn_config *cfg, cli_conn **out);
/* Calls still open end with UNAVAILABLE ("connection closed") first. */
void cli_conn_free(cli_conn *c);
/* Bytes from the server. Returns 0, or a negative code: the connection is broken (close it;
 * cli_conn_free ends its calls). */
int cli_conn_recv(cli_conn *c, const uint8_t *p, size_t n);
/* Appends what is to be sent. Returns 0, 1 when the connection is done (GOAWAY handled and
 * no call left: close after sending), or a negative code. */
int cli_conn_produce(cli_conn *c, core_outq *out);
/* Keepalive: queues a PING (cli_conn_want_write); the server's ACKs are counted. */
int cli_conn_ping(cli_conn *c);
uint64_t cli_conn_pings_acked(const cli_conn *c);
/* Whether calls are open on it (keepalive pings only then, as grpc's default). */
bool cli_conn_has_calls(const cli_conn *c);
/* The connection is to close at the first produce that finds no call on it (the shard
 * drains); calls may still start until then. */
void cli_conn_close_when_idle(cli_conn *c);
/* Whether there is something to send (call produce). */
bool cli_conn_want_write(const cli_conn *c);
/* Whether new calls may start here: no GOAWAY received, under the server's
 * MAX_CONCURRENT_STREAMS (100 until its SETTINGS come, the floor RFC 9113 recommends). */
bool cli_conn_can_start(const cli_conn *c);
/* Whether the server sent GOAWAY: no new call will ever start here (calls in flight finish). */
bool cli_conn_goaway(const cli_conn *c);

typedef struct cli_call_opts {
  int64_t timeout_ns;     /* > 0: sent as grpc-timeout */
  const cli_metadata *md; /* request metadata (copied) */
  size_t n_md;
  const char *encoding; /* "gzip" or "deflate": request messages compressed; NULL: identity */
} cli_call_opts;

/* Starts a call of `path` ("/package.Service/Method"): its request headers (`o` may be NULL).
 * Responses in any encoding of RPC_ACCEPT_ENCODING are decompressed. NULL with *err set:
 * -EINVAL (bad path, metadata or encoding), -EAGAIN (cli_conn_can_start is false), -ENOMEM. */
cli_call *cli_call_start(cli_conn *c, const char *path, const cli_call_opts *o,
                         const cli_call_handlers *h, void *user, int *err);
/* Queues one request message (copied, framed, compressed if asked). Returns 0; -EAGAIN when
 * the call's send buffer is full (nothing queued: on_writable follows when it has room, so a
 * slow server holds the sender back instead of filling memory); -EPIPE after close_send or once
 * the call is closing; -EMSGSIZE (over 4 GiB); -ENOMEM. */
#define CLI_SEND_NO_COMPRESS 1u /* this message goes uncompressed in a compressed call */
int cli_call_send(cli_call *call, const uint8_t *msg, size_t len, unsigned flags);
/* Inside on_message: whether that message came compressed on the wire. */
bool cli_call_message_compressed(const cli_call *call);
/* No more request messages: END_STREAM after what is queued. */
int cli_call_close_send(cli_call *call);
/* Resets the stream (CANCEL); on_close(CANCELLED) runs before this returns. */
void cli_call_cancel(cli_call *call);

#endif
