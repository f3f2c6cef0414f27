/* uringrpc's gRPC client: channels to a target and calls on them, carried by the same shards
 * (threads with a ring each) as a server's calls, or by a client runtime of their own.
 *
 * Threads. A channel lives on a runtime: a server's shards (a handler calls another service and
 * replies when it answers, without blocking its shard) or a urpc_client's (an application that
 * serves nothing). Calls are made on a shard thread of that runtime — from a non-blocking
 * handler, or from a function posted with urpc_channel_post — and every callback of a call runs
 * on the shard thread that made it, which alone may use the call. Each shard has its own
 * connections: one HTTP/2 connection per address per shard, multiplexed. Application threads
 * use urpc_channel_post, or urpc_channel_unary_blocking.
 *
 * Targets (grpc's naming): "dns:///host:port" (also "host:port"; resolved off the shards,
 * again when connections fail and every resolve_interval_ms), "ipv4:a.b.c.d:p,...",
 * "ipv6:[::1]:p,...", "unix:/path", "unix-abstract:name". Port 443 when none is written.
 *
 * Calls. urpc_channel_call starts one (all four kinds: the caller decides how many messages go
 * each way); request messages go with urpc_client_call_send, which copies and says -EAGAIN
 * when the call holds send_buffer bytes (on_writable follows), the same flow-control model as
 * the server's streaming calls; urpc_client_call_close_send ends the requests. Responses come
 * to on_message; on_close comes exactly once, with the status, after which the call is gone.
 * A call made from a handler with `parent` set inherits the inbound call's deadline (the
 * earlier of it and its own timeout) and is cancelled when the inbound call is cancelled. */
#ifndef URPC_CLIENT_PUBLIC_H
#define URPC_CLIENT_PUBLIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uringrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct urpc_client urpc_client;
typedef struct urpc_channel urpc_channel;
typedef struct urpc_client_call urpc_client_call;

/* ---- a client runtime, for applications without a server ---- */

typedef struct urpc_client_options {
  int shards;         /* threads with a ring each; default 1 */
  int first_cpu;      /* pin shard i to CPU first_cpu + i; default -1: not pinned */
  urpc_io_backend io; /* as urpc_server_options.io; default URPC_IO_AUTO */
} urpc_client_options;

void urpc_client_options_init(urpc_client_options *o);
/* Starts the shards. Returns 0, or -errno with one line in `why`. */
int urpc_client_new(const urpc_client_options *o, urpc_client **out, char *why, size_t why_len);
int urpc_client_shard_count(const urpc_client *c);
/* After every channel on it is freed: stops the shards and frees the runtime. Functions still
 * posted to its shards (urpc_channel_post) then run on this thread: they must not touch a
 * channel. */
void urpc_client_free(urpc_client *c);

/* ---- channels ---- */

typedef enum urpc_lb_policy {
  URPC_LB_PICK_FIRST,  /* one connection per shard: the first address that connects */
  URPC_LB_ROUND_ROBIN, /* a connection per address per shard, calls spread over the ready ones */
} urpc_lb_policy;

typedef struct urpc_channel_options {
  urpc_server *server; /* the runtime: a started server's shards, */
  urpc_client *client; /* or a client runtime's (exactly one of the two) */
  urpc_lb_policy lb;
  const char *authority; /* :authority; default from the target (host:port as written) */
  /* TLS: on with `tls`; the server's chain must verify against ca_file (NULL: the system's
   * bundle) and carry server_name (default: the target's host) — also sent as SNI. */
  bool tls;
  const char *ca_file;
  const char *server_name;
  const char *cert_file, *key_file; /* a client certificate (mTLS), both or neither */
  const char *spiffe_id;            /* the server's X.509-SVID must carry exactly this ID */
  uint32_t max_recv_message;        /* larger responses fail the call; default 4 MiB */
  uint32_t send_buffer;             /* request bytes a call holds before send says -EAGAIN;
                                       default 64 KiB */
  uint32_t max_pending;             /* calls per shard waiting for a connection or a stream;
                                       more fail RESOURCE_EXHAUSTED; default 1024 */
  uint32_t keepalive_time_ms;       /* a PING after this long without one; 0: none */
  uint32_t keepalive_timeout_ms;    /* no ack by then: the connection is closed; default 20 s */
  uint32_t resolve_interval_ms;     /* dns targets are resolved again this often; default 30 s */
  /* connection-backoff.md, milliseconds; 0: its defaults (1000, 120000, 20000) */
  uint32_t initial_backoff_ms, max_backoff_ms, min_connect_timeout_ms;
  const char *user_agent; /* default "uringrpc-client/<version>" */
} urpc_channel_options;

void urpc_channel_options_init(urpc_channel_options *o);
/* Any thread, after the runtime started. Nothing connects until the first call. Returns 0, or
 * -errno with one line in `why` (a bad target, unreadable TLS files, no runtime). */
int urpc_channel_new(const char *target, const urpc_channel_options *o, urpc_channel **out,
                     char *why, size_t why_len);
/* Any thread but the runtime's shard threads, before the runtime is stopped: ends the calls
 * still open (CANCELLED), closes the connections, frees the channel. */
void urpc_channel_free(urpc_channel *ch);
/* Any thread: runs fn(arg) on one of the runtime's shard threads (round robin), where calls can
 * be made. Returns 0, -ENOMEM. */
int urpc_channel_post(urpc_channel *ch, void (*fn)(urpc_channel *ch, void *arg), void *arg);
/* Any thread: as above, on shard `shard` (0 .. shard count - 1). */
int urpc_channel_post_to(urpc_channel *ch, int shard, void (*fn)(urpc_channel *ch, void *arg),
                         void *arg);

/* ---- calls ---- */

typedef struct urpc_client_metadata {
  const char *key; /* lowercase; "-bin" keys carry binary values (base64 on the wire) */
  const void *value;
  size_t len;
} urpc_client_metadata;

typedef struct urpc_client_call_options {
  int64_t timeout_ns; /* > 0: the call's deadline, sent as grpc-timeout */
  const urpc_client_metadata *metadata;
  size_t n_metadata;
  const char *compression; /* "gzip" or "deflate" request messages; NULL: none */
  bool wait_for_ready;     /* wait through connection failures until the deadline */
  urpc_call *parent;       /* an inbound call on this shard: its deadline and cancellation */
} urpc_client_call_options;

typedef struct urpc_client_call_handlers {
  /* A response metadata entry (headers, or with `trailer` a trailer; grpc-status-details-bin
   * included), "-bin" values decoded. May be NULL. */
  void (*on_metadata)(urpc_client_call *call, const char *key, const uint8_t *value, size_t len,
                      bool trailer, void *user);
  /* A response message (decompressed, valid during the callback). May be NULL. */
  void (*on_message)(urpc_client_call *call, const uint8_t *msg, size_t len, void *user);
  /* Exactly once: the status (the server's, or DEADLINE_EXCEEDED, CANCELLED, UNAVAILABLE, ...
   * from this side), `message` valid during the callback. The call is gone after it. */
  void (*on_close)(urpc_client_call *call, urpc_status_code status, const char *message,
                   void *user);
  /* A send said -EAGAIN and there is room again. May be NULL. */
  void (*on_writable)(urpc_client_call *call, void *user);
} urpc_client_call_handlers;

/* Shard thread of the channel's runtime. Returns the call, or NULL with *err: -EINVAL (a bad
 * path, metadata or compression; `parent` not on this shard), -EPERM (not a shard thread of the
 * runtime), -EAGAIN (max_pending calls wait: the caller should fail RESOURCE_EXHAUSTED),
 * -ECANCELED (the parent is already cancelled or past its deadline), -ENOMEM. on_close never
 * runs from inside this call. */
urpc_client_call *urpc_channel_call(urpc_channel *ch, const char *path,
                                    const urpc_client_call_options *o,
                                    const urpc_client_call_handlers *h, void *user, int *err);
/* Queues one request message (copied). 0; -EAGAIN when the call already holds send_buffer
 * bytes: nothing was queued, send it again after on_writable; -EPIPE (after close_send, or the
 * call is ending); -ENOMEM. */
int urpc_client_call_send(urpc_client_call *call, const void *msg, size_t len);
/* As urpc_client_call_send, with flags: URPC_CLIENT_SEND_NO_COMPRESS sends this message
 * uncompressed in a call made with `compression` (grpc's GRPC_WRITE_NO_COMPRESS). -EINVAL for
 * other bits. */
#define URPC_CLIENT_SEND_NO_COMPRESS 1u
int urpc_client_call_send_flags(urpc_client_call *call, const void *msg, size_t len,
                                unsigned flags);
/* Inside on_message: whether that response message came compressed on the wire. */
bool urpc_client_call_message_compressed(const urpc_client_call *call);
/* Packs a protobuf-c message and sends it as above. */
int urpc_client_call_send_message(urpc_client_call *call, const ProtobufCMessage *msg);
/* No more request messages. */
int urpc_client_call_close_send(urpc_client_call *call);
/* Ends the call CANCELLED (a RST_STREAM to the server); on_close runs before this returns. */
void urpc_client_call_cancel(urpc_client_call *call);

/* ---- unary calls with protobuf-c messages ---- */

/* `response` is unpacked with `response_type` (NULL unless status is OK) and freed after the
 * callback returns. */
typedef void (*urpc_unary_done)(urpc_status_code status, const char *message,
                                const ProtobufCMessage *response, void *user);

/* Shard thread, as urpc_channel_call: one request, one response. Returns 0 (done follows,
 * never from inside this call) or the -errno of urpc_channel_call. */
int urpc_channel_unary(urpc_channel *ch, const char *path, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type,
                       const urpc_client_call_options *o, urpc_unary_done done, void *user);
/* An application thread (not a shard thread: it would block its own shard): makes the call on
 * a shard and waits. Returns the status; *response (OK only) is the caller's to free with
 * protobuf_c_message_free_unpacked; the status message goes to `message` if non-NULL. */
urpc_status_code urpc_channel_unary_blocking(urpc_channel *ch, const char *path,
                                             const ProtobufCMessage *request,
                                             const ProtobufCMessageDescriptor *response_type,
                                             const urpc_client_call_options *o,
                                             ProtobufCMessage **response, char *message,
                                             size_t message_len);

#ifdef __cplusplus
}
#endif
#endif
