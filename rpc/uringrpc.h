/* uringrpc: a gRPC server on io_uring. This is the whole public API.
 *
 * A server is a set of shards, one thread each, each with its own io_uring ring, listener and
 * connections. Services are registered from protoc-c's generated ProtobufCServiceDescriptor
 * before the server starts; a handler runs for each call, on the shard thread by default (it
 * must not block) or, for methods registered URPC_METHOD_BLOCKING, on one of the shard's
 * worker threads. A handler finishes the call exactly once, with urpc_call_reply() or
 * urpc_call_fail(), then or later and from any thread.
 *
 * Errors: functions return 0 or a negative errno-style code. */
#ifndef URINGRPC_H
#define URINGRPC_H

#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

#define URPC_VERSION_STRING "0.1.0"

/* gRPC status codes (grpc doc/statuscodes.md). */
typedef enum urpc_status_code {
  URPC_STATUS_OK = 0,
  URPC_STATUS_CANCELLED = 1,
  URPC_STATUS_UNKNOWN = 2,
  URPC_STATUS_INVALID_ARGUMENT = 3,
  URPC_STATUS_DEADLINE_EXCEEDED = 4,
  URPC_STATUS_NOT_FOUND = 5,
  URPC_STATUS_ALREADY_EXISTS = 6,
  URPC_STATUS_PERMISSION_DENIED = 7,
  URPC_STATUS_RESOURCE_EXHAUSTED = 8,
  URPC_STATUS_FAILED_PRECONDITION = 9,
  URPC_STATUS_ABORTED = 10,
  URPC_STATUS_OUT_OF_RANGE = 11,
  URPC_STATUS_UNIMPLEMENTED = 12,
  URPC_STATUS_INTERNAL = 13,
  URPC_STATUS_UNAVAILABLE = 14,
  URPC_STATUS_DATA_LOSS = 15,
  URPC_STATUS_UNAUTHENTICATED = 16,
} urpc_status_code;

/* grpc's name of a code ("DEADLINE_EXCEEDED"), or NULL for a number that is not one. */
const char *urpc_status_name(urpc_status_code code);

typedef struct urpc_server urpc_server;
/* One RPC. Valid from the handler's start until the call is finished (reply or fail). */
typedef struct urpc_call urpc_call;

/* A unary handler. `request` is unpacked into the call's arena and lives as long as the call.
 * `user` is the pointer given at registration. */
typedef void (*urpc_unary_handler)(urpc_call *call, const ProtobufCMessage *request, void *user);

enum urpc_method_flags {
  /* The handler may block: it runs on a worker thread of the call's shard. Unary and
   * server-streaming methods only. */
  URPC_METHOD_BLOCKING = 1u << 0,
  /* The client sends a stream of messages (client streaming; with SERVER_STREAMING, bidi). */
  URPC_METHOD_CLIENT_STREAMING = 1u << 1,
  /* The server sends a stream of messages (server streaming; with CLIENT_STREAMING, bidi). */
  URPC_METHOD_SERVER_STREAMING = 1u << 2,
};

/* Callbacks of a streaming call. All run on the call's shard thread and must not block; any of
 * them may be NULL. Whatever happens, the handler ends the call exactly once with
 * urpc_call_finish() (or reply/fail), then or later, from any thread. */
typedef struct urpc_stream_handler {
  /* Client streaming and bidi: the call started (headers in, no message yet). */
  void (*on_start)(urpc_call *call, void *user);
  /* Client streaming and bidi: one request message, valid until the callback returns. The
   * HTTP/2 window for it is given back when the callback returns, so a client can never be
   * more than one window ahead of the handler. */
  void (*on_message)(urpc_call *call, const ProtobufCMessage *message, void *user);
  /* The client half-closed: no more messages will come. */
  void (*on_half_close)(urpc_call *call, void *user);
  /* urpc_call_send() returned -EAGAIN and the call's send buffer has room again. */
  void (*on_writable)(urpc_call *call, void *user);
  /* The call is over for the client (reset, connection lost, deadline passed): sends are
   * dropped from now on. Called at most once, and only once the handler has started on the
   * shard thread: a call cancelled before its handler ran never runs it; a blocking method's
   * handler (on a worker) learns it from urpc_call_cancelled() and -ECANCELED instead. */
  void (*on_cancel)(urpc_call *call, void *user);
} urpc_stream_handler;

/* A method's handler, named as in the .proto (e.g. "SayHello").
 * Unary and server streaming: `handler` gets the single request. Client streaming and bidi:
 * `stream->on_message` gets each request. `stream` also carries on_writable and on_cancel for
 * server streaming. */
typedef struct urpc_method {
  const char *name;
  urpc_unary_handler handler;
  void *user;
  unsigned flags; /* urpc_method_flags */
  const urpc_stream_handler *stream;
} urpc_method;

/* The kernel interface the shards use for their sockets. */
typedef enum urpc_io_backend {
  URPC_IO_AUTO,  /* io_uring when this process can set up a ring on a kernel that has what the
                    server uses (6.0+), else epoll (urpc_server_io_backend says why) */
  URPC_IO_URING, /* io_uring, or urpc_server_start fails naming why it cannot be had */
  URPC_IO_EPOLL, /* epoll, even where io_uring works */
} urpc_io_backend;

typedef struct urpc_server_options {
  const char *listen;                /* "HOST:PORT", default "[::]:50051"; port 0 picks one */
  const char *tls_listen;            /* also serve TLS 1.3 (ALPN h2) here; NULL (default) = no */
  const char *tls_cert, *tls_key;    /* PEM certificate chain and key for tls_listen */
  bool tls_allow_12;                 /* accept TLS 1.2 (ECDHE + AEAD suites) too; default no */
  const char *tls_client_ca;         /* PEM bundle: verify client certificates (mTLS) */
  bool tls_client_optional;          /* with tls_client_ca: clients may come without one */
  unsigned tls_handshake_timeout_ms; /* close connections still in their handshake; 10000 */
  unsigned tls_ticket_lifetime_s;    /* session-ticket keys rotate this often; 3600 */
  int shards;                        /* 0 (default): one per CPU of the affinity mask, capped by
                                        the cgroup CPU quota */
  int workers_per_shard;             /* threads per shard for blocking methods; default 1 */
  bool pin_shards;                   /* pin shard i to the i-th CPU of the mask; default true.
                                        Not when a cgroup CPU quota sized the shards down (their
                                        CPUs are shared with other processes) */
  urpc_io_backend io;                /* default URPC_IO_AUTO */
  size_t max_recv_message;           /* bytes; default 4 MiB */
  uint32_t max_concurrent_streams;   /* per connection; default 1000 */
  bool health;                       /* serve grpc.health.v1.Health; default true */
  bool reflection;                   /* serve grpc.reflection v1 and v1alpha; default true */
  uint32_t initial_stream_window;    /* HTTP/2 receive window per stream; default 1 MiB */
  uint32_t initial_conn_window;      /* receive window per connection; default 16 MiB */
  const char *response_compression;  /* "identity" (default), "gzip" or "deflate": responses
                                        are compressed when the client accepts it; a call may
                                        change it with urpc_call_set_compression */
  /* Connection lifetime, as grpc's servers (same names and defaults; 0 = off / no limit): */
  unsigned keepalive_time_ms;          /* PING a client silent this long; 2 h */
  unsigned keepalive_timeout_ms;       /* close if that PING is not answered in time; 20 s */
  unsigned min_ping_interval_ms;       /* client PINGs closer than this are strikes; 5 min */
  bool permit_keepalive_without_calls; /* else the interval is 2 h on a connection without calls */
  unsigned max_ping_strikes;           /* GOAWAY "too_many_pings" after one more; 2 (0: no limit) */
  unsigned max_connection_idle_ms;     /* graceful GOAWAY after this long without calls; off */
  unsigned max_connection_age_ms;      /* graceful GOAWAY at this age (+-10 %); off */
  unsigned max_connection_age_grace_ms; /* then close what is left after this long; no limit */
  /* What clients can make the server hold. The server-wide limits are split evenly over the
   * shards (no counter is shared between threads). A call counts from its HEADERS until its
   * handler has finished, also after its stream was reset. */
  uint32_t max_calls_per_connection; /* beyond it new streams get REFUSED_STREAM; 0 (default):
                                        max_concurrent_streams */
  uint32_t max_calls;                /* server-wide; beyond it new calls get RESOURCE_EXHAUSTED
                                        without a handler; default 100000 */
  size_t max_connection_memory;      /* bytes a connection's calls may hold: request messages
                                        (decompressed too), their arenas, responses not yet sent;
                                        a message beyond it fails its call with
                                        RESOURCE_EXHAUSTED, and no new call starts while the
                                        connection is over; default 128 MiB */
  size_t max_memory;                 /* the same, server-wide; default 1 GiB */
  uint32_t stream_reset_rate;        /* per connection: RST_STREAMs per second the client may send,
                                        and may make the server send (stream errors, refused streams),
                                        after a burst of ten seconds' worth; beyond it GOAWAY; default
                                        10000 (0: no limit): a flood guard, the bound on work is
                                        max_calls_per_connection */
  uint32_t max_connections;    /* server-wide; beyond it a new connection is refused (plaintext:
                                  GOAWAY, then close; TLS: closed before the handshake); 0
                                  (default): the file limit (RLIMIT_NOFILE) less what the server
                                  needs for itself */
  unsigned preface_timeout_ms; /* a connection must complete the HTTP/2 preface (TLS
                                  handshake included) in this long; 20 s; 0 = no limit */
  unsigned first_request_timeout_ms; /* and send its first request in this long, or get GOAWAY
                                        and be closed; 60 s; 0 = no limit */
  unsigned tcp_user_timeout_ms;      /* TCP_USER_TIMEOUT: data the client leaves
                                        unacknowledged this long ends the connection; 0
                                        (default) = the kernel's. Off by default, unlike grpc's
                                        servers (20 s): Linux also ends a connection whose
                                        receive window stays under one segment that long, so it
                                        cuts slow readers with small buffers that are alive */
} urpc_server_options;

/* Serving status for grpc.health.v1.Health (the values of HealthCheckResponse). */
typedef enum urpc_health_status {
  URPC_HEALTH_UNKNOWN = 0,
  URPC_HEALTH_SERVING = 1,
  URPC_HEALTH_NOT_SERVING = 2,
  URPC_HEALTH_SERVICE_UNKNOWN = 3,
} urpc_health_status;

/* ---- interceptors ----
 * A server interceptor sees every gRPC call's start and end: the calls of registered methods
 * and the ones answered without a handler (unknown method, bad header), not requests that are
 * not gRPC (HTTP 405/415). Interceptors form a chain in registration order: on_start runs in
 * that order once the request headers are in (path, metadata, peer, deadline and shard are
 * known; urpc_call_* functions that read them may be used, and response metadata added), and
 * may end the call with a status before its handler runs: the handler then never sees the
 * call, and the interceptors after it get neither hook. on_end runs in reverse order when the
 * call is released (its stream ended and its handler, if any, finished), for each interceptor
 * whose on_start ran. Both run on the call's shard thread and must not block; `state` is the
 * interceptor's own pointer for the call. With no interceptor, calls pay nothing for them. */

/* How a call ended, for on_end. */
typedef struct urpc_call_end {
  urpc_status_code status;      /* the grpc-status the client got; CANCELLED if none (reset) */
  bool cancelled;               /* reset by the client, connection lost, or deadline passed */
  uint64_t duration_ns;         /* from the request headers in to the call's end (0 when every
                                   interceptor has no_duration) */
  uint64_t msgs_in, msgs_out;   /* request and response messages */
  uint64_t bytes_in, bytes_out; /* DATA payload bytes received and sent */
  const char *message;          /* the grpc-message sent with `status` (not percent-encoded),
                                   or NULL: none, or a reset; valid during on_end */
} urpc_call_end;

typedef struct urpc_interceptor {
  /* Returns URPC_STATUS_OK to go on; any other status ends the call with it (and *message, a
   * string that need live only until the hook returns, if set). May be NULL. */
  urpc_status_code (*on_start)(urpc_call *call, void *user, void **state, const char **message);
  /* May be NULL. */
  void (*on_end)(urpc_call *call, const urpc_call_end *end, void *user, void *state);
  void *user;
  /* Per message, only if set (on_end has the counts; leave it NULL unless each message
   * matters): a request message received (`received`, before decompression) or a response
   * message queued, with its size in bytes as sent (compressed if it is, without the 5-byte
   * prefix; urpc_call_message_compressed says which). On the shard thread, in chain order,
   * for interceptors whose on_start ran. */
  void (*on_message)(urpc_call *call, bool received, size_t bytes, void *user, void *state);
  /* This interceptor never reads urpc_call_end.duration_ns: when no interceptor does, calls
   * read no clock for it (e.g. a tracer that samples 1 % of calls times those itself). */
  bool no_duration;
  /* This interceptor reads urpc_call_authority: the request's :authority is kept (an arena copy
   * per call) only on servers where one does. */
  bool reads_authority;
} urpc_interceptor;

/* In an interceptor's on_message: whether that message is compressed (its `bytes` are then
 * the compressed size). Shard thread. */
bool urpc_call_message_compressed(const urpc_call *call);
/* Adds `ic` (copied) to the end of the chain. Before start. Returns 0, -EBUSY or -ENOMEM. */
int urpc_server_add_interceptor(urpc_server *s, const urpc_interceptor *ic);
/* The per-call `state` of the first interceptor in the chain whose on_start is `on_start`, if
 * that on_start ran for this call; else NULL. Lets a module built as an interceptor (obs/'s
 * tracing) give handlers its per-call data. Any thread holding the call. */
/* When the call's request headers came in (CLOCK_MONOTONIC ns, the shard's loop turn that read
 * them; no clock read of its own). On a server with interceptors; else 0. */
uint64_t urpc_call_start_ns(const urpc_call *call);
void *urpc_call_interceptor_state(const urpc_call *call,
                                  urpc_status_code (*on_start)(urpc_call *call, void *user,
                                                               void **state, const char **message));
/* Methods the server answers (after start: the built-in services included), and what method
 * index `i` (1..count) is: its path ("/package.Service/Method") and urpc_method_flags. Returns
 * 0 or -EINVAL. */
uint32_t urpc_server_method_count(const urpc_server *s);
int urpc_server_method_info(const urpc_server *s, uint32_t i, const char **path, unsigned *flags);

/* Why connections ended (urpc_shard_stats.connections_closed). */
typedef enum urpc_close_reason {
  URPC_CLOSED_PEER,      /* the client closed or reset the connection */
  URPC_CLOSED_GOAWAY,    /* the client ended it gracefully (its GOAWAY) */
  URPC_CLOSED_IDLE,      /* max_connection_idle, or no preface / first request in time */
  URPC_CLOSED_AGE,       /* max_connection_age */
  URPC_CLOSED_KEEPALIVE, /* the keepalive PING went unanswered */
  URPC_CLOSED_ERROR,     /* a protocol, TLS or I/O error */
  URPC_CLOSED_LIMIT,     /* a limit: max_connections, or the client's abuse (ENHANCE_YOUR_CALM) */
  URPC_CLOSED_SHUTDOWN,  /* the server drained or stopped */
  URPC_CLOSE_REASONS
} urpc_close_reason;

/* Why TLS handshakes failed (urpc_shard_stats.tls_failed). */
typedef enum urpc_tls_failure {
  URPC_TLS_FAIL_PROTOCOL = 1, /* bad records, no shared version or suite, bad handshake */
  URPC_TLS_FAIL_ALPN,         /* the client did not offer h2 */
  URPC_TLS_FAIL_CLIENT_CERT,  /* mTLS: no client certificate, or one that did not verify */
  URPC_TLS_FAIL_TIMEOUT,      /* not done within the handshake timeout */
  URPC_TLS_FAIL_EOF,          /* the client closed mid-handshake */
  URPC_TLS_FAILURES
} urpc_tls_failure;

/* Where a server limit turned a client away (urpc_shard_stats.limits_hit), and how. */
typedef enum urpc_limit {
  URPC_LIMIT_CONNECTIONS,  /* max_connections: a connection refused */
  URPC_LIMIT_STREAMS,      /* max_concurrent_streams, max_calls_per_connection: REFUSED_STREAM */
  URPC_LIMIT_CALLS,        /* max_calls: RESOURCE_EXHAUSTED */
  URPC_LIMIT_MEMORY,       /* max_memory, max_connection_memory: RESOURCE_EXHAUSTED */
  URPC_LIMIT_WORKER_QUEUE, /* blocking methods, every worker busy and the queue full */
  URPC_LIMIT_MESSAGE_SIZE, /* max_recv_message, compressed or not: RESOURCE_EXHAUSTED */
  URPC_LIMIT_HEADER_LIST,  /* a header list over 16 KiB: the stream reset */
  URPC_LIMIT_RESETS,       /* stream_reset_rate of resets the client caused: GOAWAY */
  URPC_LIMIT_BIG_HEADERS,  /* oversized header lists, again and again: GOAWAY */
  URPC_LIMIT_PINGS,        /* max_ping_strikes: GOAWAY too_many_pings */
  URPC_LIMIT_FLOOD,        /* frames whose answers the client does not read: closed */
  URPC_LIMITS
} urpc_limit;

#define URPC_H2_ERROR_CODES 14 /* HTTP/2 error codes NO_ERROR (0) .. HTTP_1_1_REQUIRED (13) */

/* A shard's counters (and gauges, marked), any thread, any time: each is read on its own while
 * the shard goes on, so two of them may disagree by what happened in between. */
typedef struct urpc_shard_stats {
  uint64_t connections;     /* accepted */
  uint64_t calls;           /* calls started (headers received) */
  uint64_t calls_ok;        /* finished with status OK */
  uint64_t calls_failed;    /* finished with another status */
  uint64_t calls_cancelled; /* stream reset or connection lost before the reply */
  uint64_t live_calls;      /* gauge: calls not yet released */
  uint64_t bytes_in, bytes_out;
  uint64_t connections_open; /* gauge */
  uint64_t connections_closed[URPC_CLOSE_REASONS];
  uint64_t streams_open; /* gauge */
  uint64_t tls_handshakes, tls_resumed;
  uint64_t tls_failed[URPC_TLS_FAILURES]; /* [urpc_tls_failure] */
  uint64_t goaway_sent[URPC_H2_ERROR_CODES], rst_stream_sent[URPC_H2_ERROR_CODES]; /* by code */
  uint64_t ping_strikes;
  /* Flow control: times a stream's or the connection's send window cut a response short (the
   * rest waited for the client's WINDOW_UPDATE); gauges: the connections' windows summed —
   * what the shard may still send, what its clients may still send it. */
  uint64_t stream_window_stalls, conn_window_stalls;
  uint64_t send_window_bytes, recv_window_bytes;
  uint64_t handler_queue; /* gauge: calls the shard's handlers ran in its last loop turn */
  uint64_t worker_queue;  /* gauge: blocking calls waiting for a worker */
  uint64_t deadlines_expired;
  uint64_t decompress_rejected; /* compressed messages refused: corrupt, or over the limit */
  uint64_t limits_hit[URPC_LIMITS];
  uint64_t ring_submitted, ring_completed; /* io_uring SQEs submitted, CQEs reaped */
  uint64_t recv_buffers_exhausted;         /* receives re-armed: the buffer ring ran dry */
} urpc_shard_stats;

void urpc_server_options_init(urpc_server_options *o);

/* Creates a server; nothing listens yet. `o` is copied (the listen string too). Returns 0,
 * -EINVAL for bad options or -ENOMEM. */
int urpc_server_new(const urpc_server_options *o, urpc_server **out);

/* Registers `service` with handlers for its methods, matched by name; methods left out answer
 * UNIMPLEMENTED. Before start only; the descriptor must outlive the server.
 * Returns 0, -EINVAL (unknown method name, null handler) or -EEXIST (service already there). */
int urpc_server_add_service(urpc_server *s, const ProtobufCServiceDescriptor *service,
                            const urpc_method *methods, size_t n_methods);

/* Adds a serialized FileDescriptorSet (protoc --descriptor_set_out --include_imports) for
 * server reflection to describe the application's services. Before start; `set` is copied.
 * Returns 0, -EBADMSG (not a descriptor set), -EINVAL, -ENOMEM or -EBUSY (started). */
int urpc_server_add_descriptors(urpc_server *s, const void *set, size_t len);

/* Binds, starts the shards and returns once every shard serves. On failure returns -errno and
 * writes one line naming the cause and the fix to `why`. */
int urpc_server_start(urpc_server *s, char *why, size_t why_len);

/* The bound address, e.g. "[::]:50051" or "127.0.0.1:39123"; valid after start. */
const char *urpc_server_address(const urpc_server *s);
/* The TLS listener's bound address, or NULL without one. */
const char *urpc_server_tls_address(const urpc_server *s);
int urpc_server_shard_count(const urpc_server *s);
/* After start: the backend the shards run ("io_uring" or "epoll"); with URPC_IO_AUTO on a host
 * where io_uring cannot be had, *fallback_why (if not NULL) gets one line saying why and how to
 * get io_uring back, else NULL. */
const char *urpc_server_io_backend(const urpc_server *s, const char **fallback_why);

/* Sets the health status of `service` ("" is the whole server). Any thread, before or after
 * start; Health/Watch calls of that service get the new status. Until then, "" and every
 * registered service are SERVING. Returns 0, -EINVAL or -ENOMEM. */
int urpc_server_set_health(urpc_server *s, const char *service, urpc_health_status status);

/* Reloads the TLS certificate, key and client CA files: new handshakes on every shard use
 * them, connections already made keep theirs. Any thread, after start. If the new files do
 * not load, the current ones stay and -errno comes back with one line in `why`. */
int urpc_server_reload_tls(urpc_server *s, char *why, size_t why_len);

/* Graceful shutdown, any thread. The first call closes the listeners, turns every health
 * status to NOT_SERVING and sends each connection a GOAWAY (then, after a PING round trip,
 * the GOAWAY naming the last stream taken): clients start no new calls here, and the calls in
 * flight go on. Each connection closes once its calls are done. Waits up to `timeout_ms`;
 * returns 0 once every connection has closed, -ETIMEDOUT otherwise (call again to wait more).
 * urpc_server_stop then ends the server, cancelling whatever is left. */
int urpc_server_drain(urpc_server *s, int timeout_ms);
/* Whether the server serves: started, not draining, not stopped (a readiness probe). Any
 * thread. */
bool urpc_server_serving(urpc_server *s);
/* Any thread, any number of times: asks every shard to close its listener and connections. */
void urpc_server_stop(urpc_server *s);
/* Blocks until urpc_server_stop has been called, then until every worker thread has finished
 * its calls and every shard thread has ended. Threads of the application that finish calls
 * (replies from elsewhere) must have done so before this is called. */
void urpc_server_wait(urpc_server *s);
/* The counters of shard `i`, after start (any thread), or after wait. Returns 0 or -EINVAL. */
int urpc_server_shard_stats(const urpc_server *s, int i, urpc_shard_stats *out);
/* Frees a server that was never started or has been waited for. */
void urpc_server_free(urpc_server *s);

/* Signals for a server process: blocks SIGINT, SIGTERM and SIGHUP in the calling thread and in
 * the threads it starts later (call it before urpc_server_start), ignores SIGPIPE, and returns
 * a handle for urpc_signals_wait, or -errno. */
int urpc_signals_open(void);
/* Waits for one of those signals; returns its number, or -errno. */
int urpc_signals_wait(int handle);
/* The same, for at most `timeout_ms`: returns 0 when none came. */
int urpc_signals_wait_timeout(int handle, int timeout_ms);

/* Finishes the call with `response` (status OK). Any thread, once per call; the call must not
 * be used after. `response` may be freed once this returns (it is packed at once). Returns 0,
 * -ENOMEM (the call then fails with RESOURCE_EXHAUSTED) or -EALREADY (the call was finished
 * already: a programming error, logged once and otherwise ignored, as a second reply, fail or
 * finish always is while the call has not been released yet). */
int urpc_call_reply(urpc_call *call, const ProtobufCMessage *response);
/* Finishes the call with a non-OK status and an optional UTF-8 `message` (may be NULL). Any
 * thread, once per call. A code that is not one of grpc's (above 16) is sent as UNKNOWN. */
void urpc_call_fail(urpc_call *call, urpc_status_code code, const char *message);
/* Streaming: queues one response message (packed now; `message` may be freed on return).
 * Returns 0; -EAGAIN when the call's send buffer is above its limit: the message is queued,
 * but send no more until on_writable; -ECANCELED when the call is cancelled (dropped);
 * -ENOMEM. Any thread holding the call. */
int urpc_call_send(urpc_call *call, const ProtobufCMessage *message);
/* Ends the call with `code` (OK included) and an optional UTF-8 `message`, after the messages
 * already sent. Any thread, once per call; the call must not be used after. */
void urpc_call_finish(urpc_call *call, urpc_status_code code, const char *message);
/* Client streaming and bidi, for handlers that finish a message's work later: from now on the
 * HTTP/2 window of received messages is kept instead of given back, so the client stops once
 * it has one stream window in flight; urpc_call_resume_recv gives it all back. Messages that
 * are already on their way are still delivered. Shard thread only. */
void urpc_call_pause_recv(urpc_call *call);
void urpc_call_resume_recv(urpc_call *call);
/* Runs `fn(call, arg)` on the call's shard thread after `delay_ns`, without blocking it (it
 * runs even if the call is cancelled meanwhile, so the handler can finish it). Shard thread
 * only (inside a handler or callback). Returns 0 or -ENOMEM. */
int urpc_call_defer(urpc_call *call, uint64_t delay_ns, void (*fn)(urpc_call *call, void *arg),
                    void *arg);

/* Request metadata: the custom headers the client sent (reserved and pseudo headers left out),
 * keys lower-case, "-bin" values already base64-decoded. Valid for the call's life. Returns
 * the number of entries; entry `i` through urpc_call_metadata_at. */
size_t urpc_call_metadata_count(const urpc_call *call);
int urpc_call_metadata_at(const urpc_call *call, size_t i, const char **key, const uint8_t **value,
                          size_t *len);
/* The first value of `key`, or NULL. */
const uint8_t *urpc_call_metadata(const urpc_call *call, const char *key, size_t *len);
/* Response metadata: initial (before the first message or the end) and trailing (before the
 * end). Keys must be valid lower-case header names, not reserved ("grpc-..."); "-bin" values
 * are base64-encoded for the wire; other values must be printable ASCII. Any thread holding
 * the call. Returns 0, -EINVAL or
 * -ENOMEM. Initial metadata added after the response headers went out is not sent. */
int urpc_call_add_initial_metadata(urpc_call *call, const char *key, const void *value, size_t len);
int urpc_call_add_trailing_metadata(urpc_call *call, const char *key, const void *value,
                                    size_t len);
/* Compress this call's responses with `encoding` ("gzip", "deflate" or "identity") if the
 * client accepts it. Before the first message. Returns 0 or -EINVAL. */
int urpc_call_set_compression(urpc_call *call, const char *encoding);

/* Who called, as TLS established it. Strings live as long as the call. */
typedef struct urpc_peer {
  bool tls;                /* the call came over TLS */
  bool verified;           /* the client presented a certificate that verified (mTLS) */
  const char *spiffe_id;   /* its SPIFFE ID (X.509-SVID rules), or NULL */
  const char *subject;     /* its subject, e.g. "/CN=client", or NULL */
  const char *dns_name;    /* its first DNS SAN, or NULL */
  const char *server_name; /* the name it asked for with SNI, or NULL */
} urpc_peer;
/* Fills `out` for the call's client. Any thread holding the call. */
void urpc_call_peer(const urpc_call *call, urpc_peer *out);
/* The client's socket address (IPv4 or IPv6, with its port), for logs and spans: 0, or
 * -ENOTCONN once its connection is gone. Shard thread: an interceptor's hooks, a handler that
 * runs on the shard. An interceptor that wants it at the end takes it in on_start. */
int urpc_call_peer_address(const urpc_call *call, struct sockaddr_storage *out, socklen_t *len);
/* The :authority the client addressed ("host[:port]"), or NULL when it sent none. Kept only on
 * a server with an interceptor that has reads_authority (its hooks and handlers may read it). */
const char *urpc_call_authority(const urpc_call *call);
/* A pointer an authentication interceptor attaches to the call (auth/'s verified token) for
 * the interceptors after it and the handler; it must live as long as the call (e.g.
 * urpc_call_alloc). Shard thread, in on_start; read from anywhere holding the call. */
void urpc_call_set_auth_context(urpc_call *call, const void *ctx);
const void *urpc_call_auth_context(const urpc_call *call);

/* The call's method: its protoc-c descriptors, its urpc_method_flags, and a dense index (1 to
 * urpc_server_method_count(), in registration order; 0 for a path no method answers), e.g. for
 * per-method arrays. NULL/0 for an unknown method. Any thread holding the call. */
const ProtobufCMethodDescriptor *urpc_call_method_descriptor(const urpc_call *call);
const ProtobufCServiceDescriptor *urpc_call_service_descriptor(const urpc_call *call);
unsigned urpc_call_method_flags(const urpc_call *call);
uint32_t urpc_call_method_index(const urpc_call *call);
/* The shard (0 .. urpc_server_shard_count() - 1) the call is on. */
int urpc_call_shard(const urpc_call *call);

/* Whether the request (unary), or the last request message (streaming), came compressed. */
bool urpc_call_request_compressed(const urpc_call *call);
/* A pointer of the handler's own for this call (e.g. its per-call state). */
void urpc_call_set_user(urpc_call *call, void *user);
void *urpc_call_user(const urpc_call *call);
/* Runs `fn(arg)` when the call's memory is released (after its end). Handler's thread.
 * Returns 0 or -ENOMEM. */
int urpc_call_on_end(urpc_call *call, void (*fn)(void *arg), void *arg);

/* Memory that lives until the call is finished. Only the thread holding the call (the
 * handler, or whoever it handed the call to) may use it. NULL if out of memory. */
void *urpc_call_alloc(urpc_call *call, size_t size);
/* The call's arena as a protobuf-c allocator (e.g. to build a response). */
ProtobufCAllocator *urpc_call_allocator(urpc_call *call);
/* "/package.Service/Method" (the path the client sent, when no method answers it), valid for
 * the call's life. */
const char *urpc_call_path(const urpc_call *call);
/* The call's deadline from the client's grpc-timeout, in CLOCK_MONOTONIC nanoseconds, or 0 when
 * the client set none. When it passes, the client gets DEADLINE_EXCEEDED and the call reads as
 * cancelled. */
int64_t urpc_call_deadline(const urpc_call *call);
/* Whether the client is gone (stream reset, connection lost, deadline passed). The reply is still
 * required; it is dropped. */
bool urpc_call_cancelled(const urpc_call *call);

#ifdef __cplusplus
}
#endif
#endif
