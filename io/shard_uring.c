/* The io_uring backend: one ring per shard, multishot accept, multishot recv from the shard's
 * provided-buffer ring, one gathered sendmsg in flight per connection, the wake-up eventfd read
 * through the ring, and close that waits for the last completion before freeing.
 *
 * A connection holds one op-in-flight count per armed recv and per send; it is freed when it is
 * closing and the count drops to zero, so no completion ever points at freed memory. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/ring.h"
#include "io/shard_impl.h"

#define RECV_BGID 0

static struct io_uring_sqe *get_sqe(io_shard *s) {
  struct io_uring_sqe *sqe = io_uring_get_sqe(&s->ring);
  while (!sqe) {
    /* SQ full: hand the batch to the kernel now rather than drop an op. */
    int n = io_uring_submit(&s->ring);
    if (n > 0) core_ctr_add(&s->stats.ring_submitted, (uint64_t)n);
    sqe = io_uring_get_sqe(&s->ring);
  }
  return sqe;
}

static void cancel_op(io_shard *s, const void *op) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)op, 0);
  io_uring_sqe_set_data(sqe, NULL);
}

static void arm_wake(io_shard *s) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_read(sqe, s->wake_fd, &s->wake_buf, sizeof(s->wake_buf), 0);
  io_uring_sqe_set_data(sqe, &s->wake_op);
  s->ops_in_flight++;
}

static int setup(io_shard *s) {
  int err = io_ring_setup(&s->ring, s->cfg.ring_entries, s->cfg.ring_entries * 8, s->start_why,
                          sizeof(s->start_why));
  if (err < 0) return err;
  err =
      io_bufring_init(&s->bufs, &s->ring, RECV_BGID, s->cfg.recv_buffers, s->cfg.recv_buffer_size);
  if (err < 0) {
    snprintf(s->start_why, sizeof(s->start_why), "cannot register the recv buffer ring: %s",
             strerror(-err));
    io_uring_queue_exit(&s->ring);
    return err;
  }
  arm_wake(s);
  return 0;
}

static void teardown(io_shard *s) {
  io_bufring_dispose(&s->bufs, &s->ring);
  io_uring_queue_exit(&s->ring);
}

/* Only the wake-up read is left in flight (it stays armed for the shard's life). */
static bool busy(const io_shard *s) {
  return s->ops_in_flight > 1;
}

static void accept_arm(io_shard *s, bool tls) {
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_multishot_accept(sqe, tls ? s->cfg.tls_listen_fd : s->cfg.listen_fd, NULL, NULL,
                                 SOCK_CLOEXEC);
  io_uring_sqe_set_data(sqe, tls ? &s->tls_accept_op : &s->accept_op);
  *(tls ? &s->tls_accept_armed : &s->accept_armed) = true;
  s->ops_in_flight++;
}

static void accept_cancel(io_shard *s) {
  if (s->accept_armed) cancel_op(s, &s->accept_op);
  if (s->tls_accept_armed) cancel_op(s, &s->tls_accept_op);
}

static void recv_arm(io_conn *c) {
  struct io_uring_sqe *sqe = get_sqe(c->shard);
  io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = (unsigned short)c->shard->bufs.bgid;
  io_uring_sqe_set_data(sqe, &c->recv_op);
  c->recv_armed = 1;
  c->shard->ops_in_flight++;
}

static void conn_stop(io_conn *c) {
  if (c->recv_armed) cancel_op(c->shard, &c->recv_op);
  if (c->send) cancel_op(c->shard, c->send);
  if (c->connecting) cancel_op(c->shard, c->connect);
}

static bool conn_held(const io_conn *c) {
  return c->recv_armed || c->send || c->connecting;
}

/* The kernel reads the address from the op, which stays until the completion. */
static void connect_start(io_conn *c) {
  io_connect_op *op = c->connect;
  struct io_uring_sqe *sqe = get_sqe(c->shard);
  io_uring_prep_connect(sqe, c->fd, (struct sockaddr *)&op->addr, op->addr_len);
  io_uring_sqe_set_data(sqe, op);
  c->shard->ops_in_flight++;
}

static void send_out(io_conn *c) {
  io_shard *s = c->shard;
  io_send_op *op = core_pool_get(&s->send_pool);
  if (!op) {
    io_conn_close(c);
    return;
  }
  op->op.type = OP_SEND;
  op->conn = c;
  memset(&op->msg, 0, sizeof(op->msg));
  op->msg.msg_iov = op->iov;
  op->msg.msg_iovlen = (size_t)core_outq_iov(&c->out, op->iov, IO_SEND_IOV);
  struct io_uring_sqe *sqe = get_sqe(s);
  io_uring_prep_sendmsg(sqe, c->fd, &op->msg, MSG_NOSIGNAL);
  io_uring_sqe_set_data(sqe, op);
  c->send = op;
  c->sending = 1;
  s->ops_in_flight++;
}

static void on_accept(io_shard *s, struct io_uring_cqe *cqe, bool tls) {
  bool more = cqe->flags & IORING_CQE_F_MORE;
  if (!more) {
    *(tls ? &s->tls_accept_armed : &s->accept_armed) = false;
    s->ops_in_flight--;
  }
  if (cqe->res >= 0) {
    io_conn_accepted(s, cqe->res, tls);
  } else if (!more) {
    io_accept_failed(s, cqe->res, tls); /* may pause accepting for a while */
    if (s->accept_paused[tls]) return;
  } else if (cqe->res != -EMFILE && cqe->res != -ENFILE && cqe->res != -ENOBUFS &&
             cqe->res != -ENOMEM) {
    LOG_WARN("accept: %s", strerror(-cqe->res)); /* still armed: it goes on */
  }
  if (!more && !s->stopping && !s->draining) accept_arm(s, tls);
}

static void on_recv(io_conn *c, struct io_uring_cqe *cqe) {
  io_shard *s = c->shard;
  c->in_cb = 1; /* keeps c alive until the end of this function */
  if (!(cqe->flags & IORING_CQE_F_MORE)) {
    c->recv_armed = 0;
    s->ops_in_flight--;
  }
  int res = cqe->res;
  if (res > 0) {
    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
    io_conn_received(c, io_bufring_data(&s->bufs, bid), (size_t)res);
    io_bufring_recycle(&s->bufs, bid);
  } else if (res == -ENOBUFS) {
    core_ctr_inc(&s->stats.enobufs); /* the ring ran dry; re-arming picks up where it stopped */
  } else {
    io_conn_recv_ended(c, res);
  }
  if (!c->recv_armed && !c->closing) recv_arm(c);
  c->in_cb = 0;
  io_conn_release(c);
}

static void on_send(io_send_op *op, struct io_uring_cqe *cqe) {
  io_conn *c = op->conn;
  io_shard *s = c->shard;
  s->ops_in_flight--;
  c->send = NULL;
  c->sending = 0;
  c->in_cb = 1;
  core_pool_put(&s->send_pool, op);
  if (cqe->res > 0) {
    io_conn_sent(c, (size_t)cqe->res);
    io_conn_flush(c); /* the rest of the queue, and whatever the layer above has now */
  } else {
    io_conn_send_failed(c, cqe->res);
  }
  c->in_cb = 0;
  io_conn_release(c);
}

static void on_connect(io_connect_op *op, int res) {
  io_conn *c = op->conn;
  c->shard->ops_in_flight--;
  c->connecting = 0;
  c->in_cb = 1;
  io_conn_connected(c, res); /* nothing when closing: the timeout or a stop cancelled it */
  c->in_cb = 0;
  io_conn_release(c);
}

static void dispatch(io_shard *s, struct io_uring_cqe *cqe) {
  io_op *op = io_uring_cqe_get_data(cqe);
  if (!op) return; /* cancel requests and other fire-and-forget SQEs */
  switch (op->type) {
  case OP_ACCEPT:
    on_accept(s, cqe, false);
    break;
  case OP_ACCEPT_TLS:
    on_accept(s, cqe, true);
    break;
  case OP_RECV:
    on_recv((io_conn *)((char *)op - offsetof(io_conn, recv_op)), cqe);
    break;
  case OP_SEND:
    on_send((io_send_op *)op, cqe);
    break;
  case OP_CONNECT:
    on_connect((io_connect_op *)op, cqe->res);
    break;
  case OP_WAKE:
    s->ops_in_flight--;
    arm_wake(s); /* stays armed for the shard's life; queue_exit cancels the last one */
    break;
  }
}

/* Waits for completions, no longer than the next timer, unless work is already pending. */
static void wait_events(io_shard *s) {
  atomic_store_explicit(&s->sleeping, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with io_shard_post's fence */
  unsigned want = io_shard_nothing_posted(s) ? 1 : 0;
  int64_t tmo = want ? core_timer_wheel_timeout(&s->timers) : -1; /* only when it may sleep */
  int ret;
  if (want && tmo >= 0) {
    struct __kernel_timespec ts = {.tv_sec = tmo / 1000, .tv_nsec = (tmo % 1000) * 1000000};
    struct io_uring_cqe *cqe;
    ret = io_uring_submit_and_wait_timeout(&s->ring, &cqe, 1, &ts, NULL);
  } else {
    ret = io_uring_submit_and_wait(&s->ring, want);
  }
  atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
  if (ret > 0) core_ctr_add(&s->stats.ring_submitted, (uint64_t)ret);
  if (ret < 0 && ret != -ETIME && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
    LOG_ERROR("io_uring_enter: %s", strerror(-ret));
}

static void wait_and_run(io_shard *s) {
  wait_events(s);
  io_shard_turn_begin(s);
  unsigned head, n = 0;
  struct io_uring_cqe *cqe;
  io_uring_for_each_cqe(&s->ring, head, cqe) {
    dispatch(s, cqe);
    n++;
  }
  io_uring_cq_advance(&s->ring, n);
  core_ctr_add(&s->stats.ring_completed, n);
}

const io_backend io_uring_backend = {
    .name = "uring",
    .setup = setup,
    .teardown = teardown,
    .wait = wait_and_run,
    .busy = busy,
    .accept_arm = accept_arm,
    .accept_cancel = accept_cancel,
    .conn_start = recv_arm,
    .conn_stop = conn_stop,
    .conn_held = conn_held,
    .send = send_out,
    .connect = connect_start,
};
