/* Private to io/: the shard and connection structures and the operations in flight. */
#ifndef URPC_IO_SHARD_IMPL_H
#define URPC_IO_SHARD_IMPL_H

#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include "core/mpmc.h"
#include "io/bufring.h"
#include "io/shard.h"

/* user_data of every SQE points at one of these; the tag says what completed. */
enum io_op_type { OP_ACCEPT = 1, OP_ACCEPT_TLS, OP_RECV, OP_SEND, OP_WAKE, OP_IGNORE };

typedef struct io_op {
  uint8_t type;
} io_op;

#define IO_SEND_IOV 64

/* One send in flight: the msghdr and iovecs must stay put until the kernel is done. */
typedef struct io_send_op {
  io_op op;
  io_conn *conn;
  struct msghdr msg;
  struct iovec iov[IO_SEND_IOV];
} io_send_op;

struct io_conn {
  io_op recv_op;
  int fd;
  /* in_cb: inside one of our completion handlers, which frees nothing under itself */
  uint8_t recv_armed : 1, closing : 1, in_flush : 1, close_after_send : 1, in_cb : 1;
  uint8_t abort : 1;    /* closed with output unsent: reset the connection */
  uint8_t close_reason; /* io_close_reason + 1; 0 while none is named */
  io_send_op *send;     /* the send in flight, or NULL */
  void *state;          /* the layer above's */
  io_shard *shard;
  io_conn *flush_next;  /* flush list */
  io_conn *prev, *next; /* all live connections of the shard */
  core_outq out;
  tls_conn *tls;        /* TLS inside this connection, or NULL */
  core_outq plain;      /* TLS: the layer above's output, before sealing */
  core_timer handshake; /* TLS: closes a connection stuck in its handshake */
};

#define IO_POST_CAP 4096

struct io_shard {
  io_shard_config cfg;
  struct io_uring ring;
  io_bufring bufs;
  pthread_t thread;
  bool started, stopping;
  bool draining;               /* listeners closed; connections asked to drain */
  _Atomic bool exit_requested; /* stopping, and the layer above has no more messages to post */
  io_op accept_op, tls_accept_op, wake_op;
  bool accept_armed, tls_accept_armed;
  bool accept_paused[2]; /* [tls]: out of descriptors, waiting for accept_resume */
  core_timer accept_resume;
  uint64_t accept_backoff_ms, accept_logged_ms, accept_failures;
  int wake_fd;
  uint64_t wake_buf;
  uint64_t turn_ns; /* core_now_ns when this loop turn's events came in */
  io_conn *flush_head;
  io_conn *conns;         /* live list */
  unsigned ops_in_flight; /* ops whose final completion has not come back */
  core_pool conn_pool, send_pool, block_pool;
  core_timer_wheel timers;
  io_shard_counters stats;
  char tag[16];

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

/* conn.c */
struct io_uring_sqe *io_get_sqe(io_shard *s);
void io_accept_arm(io_shard *s, bool tls);
void io_on_accept(io_shard *s, struct io_uring_cqe *cqe, bool tls);
void io_on_recv(io_conn *c, struct io_uring_cqe *cqe);
void io_on_send(io_send_op *op, struct io_uring_cqe *cqe);
void io_flush_all(io_shard *s);
void io_close_all(io_shard *s);
void io_drain_all(io_shard *s);

#endif
