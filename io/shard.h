/* The shard: one thread, one io_uring ring (or epoll instance), one listener, its connections.
 * This is io's whole interface to the layer above, which sees connections as plaintext byte
 * streams and never knows which backend runs.
 *
 * Loop turn: wait → run every event (accepts, received bytes, finished sends, wake-ups) → posted
 * messages, timers → `after_batch` (the layer above drains its handler queue) → flush: each
 * connection marked with io_conn_flush() produces its output, and gets one send. */
#ifndef URPC_IO_SHARD_H
#define URPC_IO_SHARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/counter.h"
#include "core/outq.h"
#include "core/pool.h"
#include "core/timer_wheel.h"
#include "tls/tls.h"

typedef struct io_shard io_shard;
typedef struct io_conn io_conn;

/* What the layer above does with connections. All callbacks run on the shard thread. The
 * shard's handler (io_shard_config) serves its accepted connections; an outbound connection is
 * served by the handler given to io_shard_connect. */
typedef struct io_handler {
  /* A connection was accepted, or an outbound one is usable (io_shard_connect says when).
   * Returns its state, or NULL to refuse (it is closed, with no further callback). */
  void *(*conn_open)(void *ctx, io_conn *c);
  /* Bytes arrived. Returns 0 to go on, negative to close the connection now. */
  int (*conn_recv)(void *state, const uint8_t *p, size_t n);
  /* Output may be written: append it to `out`. Returns 0, IO_CLOSE_AFTER_SEND to close once
   * everything queued is sent, or negative to close now. */
  int (*conn_produce)(void *state, core_outq *out);
  /* The server is shutting down gracefully: finish what was started, take nothing new, and
   * close when done (return IO_CLOSE_AFTER_SEND from conn_produce). May be NULL. */
  void (*conn_drain)(void *state);
  /* The connection is gone: release `state`. Called exactly once per opened connection. */
  void (*conn_closed)(void *state);
  /* An outbound connection ended before it opened: `err` is -errno (io_shard_connect lists
   * them) and `why` one line naming the peer and the cause, valid during the call. `ctx` is
   * io_connect_req.ctx. Required of handlers given to io_shard_connect; unused otherwise. */
  void (*conn_failed)(void *ctx, int err, const char *why);
  /* After each batch of completions, before the flush. May be NULL. Only the shard's handler
   * gets it. */
  void (*after_batch)(void *ctx);
} io_handler;

#define IO_CLOSE_AFTER_SEND 1

/* The kernel interface a shard uses. */
typedef enum io_backend_kind {
  IO_BACKEND_URING, /* io_uring: multishot accept and recv, provided buffers, batched submits */
  IO_BACKEND_EPOLL, /* epoll + nonblocking accept4/recv/sendmsg: where io_uring is blocked */
} io_backend_kind;

typedef struct io_shard_config {
  int index; /* shard number, for logs and stats */
  io_backend_kind backend;
  int cpu;           /* CPU to pin the thread to, or -1 */
  int listen_fd;     /* bound, listening, non-blocking; the shard owns it from start; -1 for a shard
                        that only connects out */
  int tls_listen_fd; /* a second listener whose connections speak TLS, or -1 */
  tls_ctx *tls;      /* its context (the shard takes a reference) */
  unsigned handshake_timeout_ms; /* TLS connections not through the handshake by then are
                                    closed; 0 = 10 s */
  const io_handler *handler;
  void *ctx;             /* passed to conn_open and after_batch */
  unsigned ring_entries; /* io_uring: SQ size; 0 = default */
  unsigned recv_buffers; /* io_uring: provided buffers (power of two); 0 = default */
  unsigned recv_buffer_size;
  size_t out_soft_cap; /* stop producing output for a connection above this many unsent bytes */
  unsigned tcp_user_timeout_ms; /* TCP_USER_TIMEOUT of accepted sockets; 0 = the kernel's */
} io_shard_config;

/* Why a connection ended. io knows the peer's close, I/O errors and the stop; the layer above
 * names its own reasons (io_conn_set_close_reason) before it closes. */
typedef enum io_close_reason {
  IO_CLOSED_PEER,      /* the peer closed or reset the connection */
  IO_CLOSED_GOAWAY,    /* the peer ended it gracefully (its GOAWAY) */
  IO_CLOSED_IDLE,      /* no call for too long */
  IO_CLOSED_AGE,       /* the connection's maximum age */
  IO_CLOSED_KEEPALIVE, /* a keepalive ping went unanswered */
  IO_CLOSED_ERROR,     /* a protocol, TLS or I/O error */
  IO_CLOSED_LIMIT,     /* a limit: connections, or a peer's abuse */
  IO_CLOSED_SHUTDOWN,  /* the server drained or stopped */
  IO_CLOSED_REASONS
} io_close_reason;

/* Failed TLS handshakes by cause: tls_failure's, then io's own. */
enum { IO_TLS_FAIL_TIMEOUT = TLS_FAIL_PEER_CERT + 1, IO_TLS_FAIL_EOF, IO_TLS_FAILS };

/* What a shard counts: written by the shard thread only, readable from any thread. Outbound
 * connections (io_shard_connect) have counters of their own: accepted, open, closed and the
 * TLS handshake counts are the server's; bytes are the shard's, both directions. */
typedef struct io_shard_counters {
  core_ctr accepted; /* connections accepted */
  core_ctr open;     /* gauge: accepted connections open now */
  core_ctr closed[IO_CLOSED_REASONS];
  core_ctr connect_attempts; /* outbound connections started (io_shard_connect returned 0) */
  core_ctr connect_ok;       /* of which opened (conn_open called) */
  core_ctr connect_failed;   /* of which failed before they opened (conn_failed called) */
  core_ctr connect_open;     /* gauge: outbound connections held now, connecting or open */
  core_ctr bytes_in, bytes_out;
  core_ctr enobufs;                        /* recv re-armed: the buffer ring ran dry */
  core_ctr tls_ok, tls_resumed;            /* handshakes done; of which resumed */
  core_ctr tls_failed[IO_TLS_FAILS];       /* [tls_failure or IO_TLS_FAIL_*] */
  core_ctr ring_submitted, ring_completed; /* io_uring: SQEs handed to the kernel, CQEs reaped */
} io_shard_counters;

/* A message for the shard thread: embed it in your object, set `fn`, post it. */
typedef struct io_msg {
  void (*fn)(struct io_msg *m);
} io_msg;

/* An outbound connection (io_shard_connect). Everything is read during the call. */
typedef struct io_connect_req {
  const struct sockaddr *addr; /* AF_INET, AF_INET6 or AF_UNIX (a path or abstract name) */
  socklen_t addr_len;
  /* Until the connection opens: the TCP connect and, with TLS, the handshake. 0 = 10 s. */
  unsigned timeout_ms;
  tls_ctx *tls;              /* a client context (tls_client_ctx_new), or NULL for plaintext; the
                                connection takes a reference */
  const char *server_name;   /* with `tls`: SNI (DNS names) and the name the server's
                                certificate must carry (DNS or IP subjectAltName) */
  const io_handler *handler; /* serves this connection (conn_failed required); must outlive it */
  void *ctx;                 /* to handler->conn_open or ->conn_failed, whichever comes */
} io_connect_req;

/* Shard thread only (from another thread, io_shard_post a message that calls it): starts an
 * outbound connection on a nonblocking SOCK_CLOEXEC socket (TCP_NODELAY for TCP).
 * Returns 0: exactly one of handler->conn_open or handler->conn_failed follows, on this shard
 * and never from inside this call. Or -errno with no callback: -EINVAL (no handler or
 * conn_failed, a bad address length, TLS without a server name), -EAFNOSUPPORT, -ESHUTDOWN
 * (the shard is stopping), -ENOMEM (also: `tls` is not a client context), socket()'s errors.
 *
 * conn_open comes once the connection is usable: after the TCP connect for plaintext, after
 * the TLS handshake (server verified, ALPN agreed: io_conn_tls_peer) for TLS, so bytes the
 * layer above produces never wait for it. From then on it is like an accepted connection:
 * conn_recv, conn_produce, conn_drain (a draining shard tells it too), and conn_closed once.
 * conn_failed's `err`: the connect's own (-ECONNREFUSED, -EHOSTUNREACH, -ENETUNREACH, -ENOENT
 * for a missing unix path, ...), -ETIMEDOUT (timeout_ms passed), -EKEYREJECTED (the server's
 * certificate failed verification: chain, name or SPIFFE ID), -EPROTO (another TLS failure:
 * version, cipher suite, ALPN, a bad record), -ECONNRESET (the server closed during the
 * handshake), -ECANCELED (the shard stopped). */
int io_shard_connect(io_shard *s, const io_connect_req *req);

/* Whether this process can run the io_uring backend: a ring can be set up (no seccomp filter
 * or sysctl in the way) and the kernel has what the backend uses (multishot recv and provided
 * buffer rings: 6.0). Returns 0, or -errno with one line in `why` naming the cause and how to
 * get io_uring back. */
int io_ring_probe(char *why, size_t why_len);

/* Allocates a shard; nothing runs yet. Returns 0 or -errno. */
int io_shard_new(const io_shard_config *cfg, io_shard **out);
/* Starts the thread and waits until its ring is up. Returns 0, or -errno with one line naming
 * the cause and the fix in `why`. */
int io_shard_start(io_shard *s, char *why, size_t why_len);
/* Any thread: runs m->fn(m) on the shard thread soon. The shard must be running. */
void io_shard_post(io_shard *s, io_msg *m);
/* Any thread: closes the listener and every connection. The thread goes on running posted
 * messages until io_shard_exit. */
void io_shard_stop(io_shard *s);
/* Any thread, after io_shard_stop: waits until the shard has closed its listener and every
 * connection (the layer above gets no new connection or byte after this returns). Returns at
 * once for a shard whose thread failed to start. */
void io_shard_wait_stopped(io_shard *s);
/* Any thread: graceful shutdown. The shard closes its listeners (the kernel stops sending it
 * connections; new ones go to the port's other listeners, if any) and asks every connection to
 * drain (io_handler.conn_drain); connections then close as the layer above finishes them. */
void io_shard_drain(io_shard *s);
/* Any thread, after io_shard_drain: waits until the shard has no connection left, or until
 * `deadline_ms` (core_now_ms clock). Returns true if it has none. */
bool io_shard_wait_drained(io_shard *s, uint64_t deadline_ms);
/* Any thread: new TLS handshakes on this shard use `ctx` (the shard takes a reference);
 * connections already made keep the context they were made with. */
void io_shard_set_tls(io_shard *s, tls_ctx *ctx);
/* Any thread: stops (if not yet) and ends the thread once every connection is closed. Messages
 * posted after this may not run on the shard (see io_shard_run_posted). */
void io_shard_exit(io_shard *s);
/* Waits for the thread to end. */
void io_shard_join(io_shard *s);
/* After join: runs messages posted since the thread ended, on the calling thread. */
void io_shard_run_posted(io_shard *s);
/* Frees a joined (or never started) shard. */
void io_shard_free(io_shard *s);

/* The shard whose thread this is, or NULL on any other thread. */
io_shard *io_shard_current(void);
int io_shard_index(const io_shard *s);
/* Shard thread only: */
core_timer_wheel *io_shard_timers(io_shard *s);
/* Any thread, any time (values move while read). */
const io_shard_counters *io_shard_get_counters(const io_shard *s);
/* Shard thread: core_now_ns() as read when this loop turn's events came in — "now" for what
 * the turn receives, without a clock read of its own. */
uint64_t io_shard_turn_ns(const io_shard *s);

/* Shard thread only: ask for conn_produce at the end of this loop turn. */
void io_conn_flush(io_conn *c);
/* Shard thread only: why this connection is about to end, if it does (the first reason named
 * stands: a connection told GOAWAY for idleness stays "idle" when the peer then closes). */
void io_conn_set_close_reason(io_conn *c, io_close_reason why);
/* Shard thread only, never from inside this connection's own callbacks (return a negative
 * code there instead): closes the connection; conn_closed follows at once. */
void io_conn_close(io_conn *c);
io_shard *io_conn_shard(const io_conn *c);
/* Whether the connection speaks TLS (from its first byte). */
bool io_conn_is_tls(const io_conn *c);
/* The TLS peer of a connection past its handshake, or NULL for plaintext. */
const tls_peer *io_conn_tls_peer(const io_conn *c);
/* The peer's socket address: getpeername at the first ask, then kept (a connection that never
 * asks pays nothing). Returns 0, or -errno. Shard thread. */
int io_conn_peer_addr(io_conn *c, struct sockaddr_storage *out, socklen_t *len);

#endif
