/* Private to io/: the shard and connection structures, and the backend interface. shard.c and
 * conn.c are the same for both backends; shard_uring.c and shard_epoll.c do the kernel I/O. */
#ifndef URPC_IO_SHARD_IMPL_H
#define URPC_IO_SHARD_IMPL_H

#include <liburing.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "core/mpmc.h"
#include "io/bufring.h"
#include "io/shard.h"

/* What an io_uring user_data or an epoll_event's data.ptr points at; the tag says which. */
enum io_op_type { OP_ACCEPT = 1, OP_ACCEPT_TLS, OP_RECV, OP_SEND, OP_WAKE, OP_CONNECT, OP_IGNORE };

typedef struct io_op {
  uint8_t type;
} io_op;

#define IO_SEND_IOV 64

/* io_uring: one send in flight; the msghdr and iovecs must stay put until the kernel is done. */
typedef struct io_send_op {
  io_op op;
  io_conn *conn;
  struct msghdr msg;
  struct iovec iov[IO_SEND_IOV];
} io_send_op;

/* An outbound connection until it opens (io_shard_connect): what conn_open and conn_failed
 * need, the address the kernel reads while the connect is in flight, and the first failure
 * named, reported when the connection ends unopened. */
typedef struct io_connect_op {
  io_op op; /* OP_CONNECT: io_uring's connect; epoll's EPOLLOUT registration */
  io_conn *conn;
  void *ctx;             /* the handler's, for conn_open or conn_failed */
  uint8_t tcp_done : 1;  /* the TCP connect succeeded (a TLS handshake may still be going on) */
  uint8_t ep_queued : 1; /* epoll: connect() answered at once; on the shard's ep_connects */
  int ep_res;            /* epoll: that answer, 0 or -errno */
  struct io_connect_op *ep_next;
  unsigned timeout_ms;
  int err;       /* the first failure named (-errno), 0 while none */
  char why[200]; /* and its line */
  socklen_t addr_len;
  struct sockaddr_storage addr;
} io_connect_op;

struct io_conn {
  io_op recv_op; /* io_uring: the multishot recv; epoll: the descriptor's events */
  int fd;
  /* in_cb: inside one of our completion handlers, which frees nothing under itself */
  uint8_t recv_armed : 1, closing : 1, in_flush : 1, close_after_send : 1, in_cb : 1;
  uint8_t abort : 1;         /* closed with output unsent: reset the connection */
  uint8_t sending : 1;       /* a send in flight (io_uring) or waiting for POLLOUT (epoll) */
  uint8_t ep_out : 1;        /* epoll: EPOLLOUT is in the descriptor's interest set */
  uint8_t ep_defer : 1;      /* epoll: closed while a batch of events may still name it */
  uint8_t ep_later : 1;      /* epoll: on the shard's ep_later list */
  uint8_t outbound : 1;      /* made by io_shard_connect (counted apart from accepted ones) */
  uint8_t connecting : 1;    /* the backend holds the connect: io_uring's op in flight, epoll's
                                EPOLLOUT registration or ep_connects entry */
  uint8_t close_reason;      /* io_close_reason + 1; 0 while none is named */
  io_send_op *send;          /* io_uring: the send in flight, or NULL */
  void *state;               /* the layer above's; NULL until conn_open returned it */
  const io_handler *handler; /* the shard's (accepted) or the one io_shard_connect was given */
  io_connect_op *connect;    /* outbound, not opened yet: its op; NULL once opened */
  io_shard *shard;
  io_conn *flush_next;  /* flush list */
  io_conn *later_next;  /* epoll: the shard's ep_later list */
  io_conn *closed_next; /* epoll: the shard's ep_closed list */
  io_conn *prev, *next; /* all live connections of the shard */
  core_outq out;
  tls_conn *tls;            /* TLS inside this connection, or NULL */
  core_outq plain;          /* TLS: the layer above's output, before sealing */
  core_timer handshake;     /* closes a connection stuck in its TLS handshake (accepted) or in
                               its TCP connect and TLS handshake (outbound) */
  uint8_t peer_len;         /* io_conn_peer_addr's cache: 0 until asked */
  struct sockaddr_in6 peer; /* (or a sockaddr_in) */
};

/* The kernel side of a shard. Every hook runs on the shard thread. */
typedef struct io_backend {
  const char *name;
  /* Sets up the backend (ring or epoll instance, recv buffers, the wake-up). 0, or -errno with
   * one line in s->start_why. */
  int (*setup)(io_shard *s);
  void (*teardown)(io_shard *s);
  /* Waits for events (no longer than the next timer, not at all when work is pending), calls
   * io_shard_turn_begin, and runs them: accepts, received bytes, finished sends, wake-ups. */
  void (*wait)(io_shard *s);
  /* Operations in flight that must complete before the shard may exit. */
  bool (*busy)(const io_shard *s);
  void (*accept_arm)(io_shard *s, bool tls);
  /* Stops accepting on both listeners (they are about to close, or the shard stops). */
  void (*accept_cancel)(io_shard *s);
  /* Reading starts on a new connection. */
  void (*conn_start)(io_conn *c);
  /* The connection is closing: stop its reads and sends. */
  void (*conn_stop)(io_conn *c);
  /* What the backend still holds of a closing connection: it may not be freed yet. */
  bool (*conn_held)(const io_conn *c);
  /* Sends c->out (c->out.bytes > 0 and nothing in flight). */
  void (*send)(io_conn *c);
  /* Starts connecting c->fd to c->connect->addr (c->connecting is set); the result comes back
   * through io_conn_connected, never from inside this call. */
  void (*connect)(io_conn *c);
} io_backend;

extern const io_backend io_uring_backend;
extern const io_backend io_epoll_backend;

#define IO_POST_CAP 4096

struct io_shard {
  io_shard_config cfg;
  const io_backend *be;
  pthread_t thread;
  bool started, stopping;
  bool draining;               /* listeners closed; connections asked to drain */
  _Atomic bool exit_requested; /* stopping, and the layer above has no more messages to post */
  bool accept_armed, tls_accept_armed;
  bool accept_paused[2]; /* [tls]: out of descriptors, waiting for accept_resume */
  core_timer accept_resume;
  uint64_t accept_backoff_ms, accept_logged_ms, accept_failures;
  int wake_fd;
  uint64_t wake_buf;
  io_op accept_op, tls_accept_op, wake_op;
  uint64_t turn_ns; /* core_now_ns when this loop turn's events came in */
  io_conn *flush_head;
  io_conn *conns; /* live list */
  core_pool conn_pool, block_pool;
  core_timer_wheel timers;
  io_shard_counters stats;
  char tag[16];

  /* io_uring */
  struct io_uring ring;
  io_bufring bufs;
  core_pool send_pool;
  core_pool connect_pool;
  unsigned ops_in_flight; /* ops whose final completion has not come back */

  /* epoll */
  int epfd;
  uint8_t *ep_buf;            /* recv buffer, cfg.recv_buffer_size bytes */
  bool ep_dispatching;        /* running a batch of events */
  io_conn *ep_later;          /* sent everything: flush again next turn (as a completion would) */
  io_conn *ep_closed;         /* closed during the batch: freed after it */
  io_connect_op *ep_connects; /* connect() answered at once: reported at the next turn */

  /* Cross-thread: messages posted to the shard, and whether it may be asleep. */
  core_mpmc posted;
  core_mpmc_cell posted_cells[IO_POST_CAP];
  _Alignas(CORE_CACHELINE) _Atomic int sleeping;
  io_msg stop_msg, exit_msg, drain_msg;

  /* Start handshake with the creating thread. */
  pthread_mutex_t start_mu;
  pthread_cond_t start_cv;
  int start_err; /* 1 = pending */
  bool stopped;  /* on_stop has run: no connection is left (guarded by start_mu) */
  bool drained;  /* draining, and no connection or accept is left (guarded by start_mu) */
  char start_why[512];
};

/* shard.c: whether the shard may sleep (nothing posted); the backend's wait stores
 * `sleeping` before calling it, and clears it after waking. */
bool io_shard_nothing_posted(io_shard *s);
/* shard.c: the backend's wait calls it once awake, before running anything: sets s->turn_ns and
 * brings the timer wheel's clock up to it without firing timers (they fire after the turn's
 * events, at the loop's advance). Without it, what the events stamp or arm with now_ms (a new
 * connection's preface and first-request deadlines, last read, idle since) would count from the
 * last advance, which after a sleep with no timer armed may be long past. */
void io_shard_turn_begin(io_shard *s);

/* conn.c: what both backends do with what the kernel reports. */
/* A connection on `fd` from the pool, served by `h`, on the shard's live list and counted
 * open; NULL (fd untouched) when out of memory. */
io_conn *io_conn_make(io_shard *s, int fd, const io_handler *h, bool outbound);
void io_conn_accepted(io_shard *s, int fd, bool tls);
/* Accepting failed with -err; a lack of descriptors or memory pauses the listener (the backend
 * has stopped accepting on it) and resumes later. */
void io_accept_failed(io_shard *s, int err, bool tls);
/* `n` bytes arrived (the caller keeps `p`). */
void io_conn_received(io_conn *c, const uint8_t *p, size_t n);
/* The read side ended: 0 (the peer's FIN) or -errno. */
void io_conn_recv_ended(io_conn *c, int res);
/* `n` bytes of c->out were sent (the backend flushes again when it may send more). */
void io_conn_sent(io_conn *c, size_t n);
/* Sending failed with -err. */
void io_conn_send_failed(io_conn *c, int err);
/* Frees a closing connection once nothing holds it any more. */
void io_conn_release(io_conn *c);
void io_flush_all(io_shard *s);
/* A connection the layer above never had (or refused): ends with no callback. */
void io_conn_discard(io_conn *c);
void io_close_all(io_shard *s);
void io_drain_all(io_shard *s);

/* connect.c: outbound connections until they open. */
/* The TCP connect finished: 0 or -errno. */
void io_conn_connected(io_conn *c, int res);
/* The TLS handshake of an outbound connection finished (or its first plaintext came with the
 * last handshake flight): conn_open. Returns 0, or -1 when the handler refused (closed). */
int io_connect_open(io_conn *c);
/* Names why an unopened connection is failing (the first one named stands), in a line that
 * conn_failed receives when it ends. */
void io_connect_note(io_conn *c, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An unopened connection ends (`why` when none was noted): conn_failed, once. */
void io_connect_failed(io_conn *c, io_close_reason why);
/* "connecting to <addr>" or "TLS handshake with <addr>", for the lines above. */
const char *io_connect_phase(const io_conn *c, char *buf, size_t len);

#endif
