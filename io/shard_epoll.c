/* The epoll backend, for hosts where io_uring cannot be had (container runtimes' default
 * seccomp profiles, kernel.io_uring_disabled, gVisor, old kernels): one epoll instance per
 * shard, level-triggered; nonblocking accept4 on the shard's own SO_REUSEPORT listeners, recv
 * into one shard buffer, gathered sendmsg straight from the output queue, the wake-up eventfd
 * in the same set. The shapes match the io_uring backend's, so the layers above see no
 * difference:
 * - a send that does not finish waits for EPOLLOUT (one "send in flight"), and one that does
 *   finish flushes the connection again at the next turn, as its completion would;
 * - a connection closed while a batch of events is being run is freed after the batch (a later
 *   event of the same batch may name it);
 * - a nonblocking connect waits for EPOLLOUT and reads SO_ERROR, and one that connect() answers
 *   at once (unix sockets) is reported at the next turn, as a completion would be.
 * Fairness: at most EP_READS recv calls per connection and EP_ACCEPTS accepts per listener per
 * turn; level-triggered epoll reports what is left at the next one. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "io/shard_impl.h"

#define EP_EVENTS   256
#define EP_READS    4
#define EP_ACCEPTS  64
#define EP_BUF_SIZE 65536 /* at least: bigger reads, fewer calls */

static int ctl(io_shard *s, int op, int fd, uint32_t events, void *ptr) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  return epoll_ctl(s->epfd, op, fd, &ev) < 0 ? -errno : 0;
}

static size_t buf_size(const io_shard *s) {
  return s->cfg.recv_buffer_size > EP_BUF_SIZE ? s->cfg.recv_buffer_size : EP_BUF_SIZE;
}

static int setup(io_shard *s) {
  s->epfd = epoll_create1(EPOLL_CLOEXEC);
  int err = s->epfd < 0 ? -errno : 0;
  if (!err && !(s->ep_buf = malloc(buf_size(s)))) err = -ENOMEM;
  if (!err) err = ctl(s, EPOLL_CTL_ADD, s->wake_fd, EPOLLIN, &s->wake_op);
  if (err) {
    snprintf(s->start_why, sizeof(s->start_why), "cannot set up epoll: %s", strerror(-err));
    if (s->epfd >= 0) close(s->epfd);
    free(s->ep_buf);
    s->epfd = -1;
    s->ep_buf = NULL;
  }
  return err;
}

static void teardown(io_shard *s) {
  close(s->epfd);
  s->epfd = -1;
  free(s->ep_buf);
  s->ep_buf = NULL;
}

static bool busy(const io_shard *s) {
  (void)s;
  return false; /* nothing is in flight in the kernel's hands */
}

static int listen_fd(const io_shard *s, bool tls) {
  return tls ? s->cfg.tls_listen_fd : s->cfg.listen_fd;
}

static void accept_arm(io_shard *s, bool tls) {
  int err =
      ctl(s, EPOLL_CTL_ADD, listen_fd(s, tls), EPOLLIN, tls ? &s->tls_accept_op : &s->accept_op);
  if (err < 0) {
    LOG_ERROR("epoll_ctl(listener): %s", strerror(-err));
    return;
  }
  *(tls ? &s->tls_accept_armed : &s->accept_armed) = true;
}

static void accept_disarm(io_shard *s, bool tls) {
  bool *armed = tls ? &s->tls_accept_armed : &s->accept_armed;
  if (!*armed) return;
  ctl(s, EPOLL_CTL_DEL, listen_fd(s, tls), 0, NULL);
  *armed = false;
}

static void accept_cancel(io_shard *s) {
  accept_disarm(s, false);
  accept_disarm(s, true);
}

static void conn_start(io_conn *c) {
  int err = ctl(c->shard, EPOLL_CTL_ADD, c->fd, EPOLLIN | EPOLLRDHUP, &c->recv_op);
  if (err < 0) {
    LOG_WARN("epoll_ctl(connection): %s", strerror(-err));
    io_conn_close(c);
    return;
  }
  c->recv_armed = 1;
}

static void conn_stop(io_conn *c) {
  io_shard *s = c->shard;
  bool queued = c->connecting && c->connect->ep_queued; /* held until the next turn */
  if (c->recv_armed || (c->connecting && !queued)) ctl(s, EPOLL_CTL_DEL, c->fd, 0, NULL);
  c->recv_armed = 0;
  c->connecting = queued;
  c->sending = 0;
  if (s->ep_dispatching && !c->ep_defer) {
    c->ep_defer = 1;
    c->closed_next = s->ep_closed;
    s->ep_closed = c;
  }
}

static bool conn_held(const io_conn *c) {
  return c->ep_defer || c->ep_later || c->connecting;
}

static void connect_start(io_conn *c) {
  io_connect_op *op = c->connect;
  int rc = connect(c->fd, (struct sockaddr *)&op->addr, op->addr_len);
  if (rc < 0 && errno == EINPROGRESS) {
    rc = ctl(c->shard, EPOLL_CTL_ADD, c->fd, EPOLLOUT, op);
    if (rc == 0) return;
  } else if (rc < 0) {
    rc = -errno;
  }
  op->ep_res = rc;
  op->ep_queued = 1;
  op->ep_next = c->shard->ep_connects;
  c->shard->ep_connects = op;
}

/* EPOLLOUT (or an error) on a connecting socket: the connect is over. */
static void on_connect(io_connect_op *op) {
  io_conn *c = op->conn;
  int err = 0;
  socklen_t len = sizeof(err);
  if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) err = errno;
  ctl(c->shard, EPOLL_CTL_DEL, c->fd, 0, NULL);
  c->connecting = 0;
  io_conn_connected(c, -err);
}

/* Connects that connect() answered at once, reported now as their completions. */
static void run_connects(io_shard *s) {
  io_connect_op *op = s->ep_connects;
  s->ep_connects = NULL;
  while (op) {
    io_connect_op *next = op->ep_next;
    io_conn *c = op->conn;
    op->ep_queued = 0;
    c->connecting = 0;
    if (c->closing)
      io_conn_release(c);
    else
      io_conn_connected(c, op->ep_res);
    op = next;
  }
}

/* Flush `c` again at the next turn, as an io_uring send completion would. */
static void flush_later(io_conn *c) {
  if (c->ep_later) return;
  c->ep_later = 1;
  c->later_next = c->shard->ep_later;
  c->shard->ep_later = c;
}

static void want_out(io_conn *c, bool on) {
  if (c->ep_out == on) return;
  uint32_t ev = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0);
  if (ctl(c->shard, EPOLL_CTL_MOD, c->fd, ev, &c->recv_op) == 0) c->ep_out = on;
}

static void send_out(io_conn *c) {
  while (c->out.bytes) {
    struct iovec iov[IO_SEND_IOV];
    struct msghdr msg = {.msg_iov = iov};
    msg.msg_iovlen = (size_t)core_outq_iov(&c->out, iov, IO_SEND_IOV);
    ssize_t n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    if (n > 0) {
      io_conn_sent(c, (size_t)n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      c->sending = 1; /* the socket buffer is full: wait until it drains */
      want_out(c, true);
      return;
    }
    io_conn_send_failed(c, n < 0 ? -errno : -EPIPE);
    return;
  }
  flush_later(c);
}

static void on_listener(io_shard *s, bool tls) {
  for (int i = 0; i < EP_ACCEPTS && (tls ? s->tls_accept_armed : s->accept_armed); i++) {
    int fd = accept4(listen_fd(s, tls), NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      io_conn_accepted(s, fd, tls);
      continue;
    }
    int err = -errno;
    if (err == -EAGAIN || err == -EWOULDBLOCK) return;
    if (err == -EINTR || err == -ECONNABORTED) continue;
    if (err == -EMFILE || err == -ENFILE || err == -ENOBUFS || err == -ENOMEM)
      accept_disarm(s, tls); /* level-triggered: it would spin until descriptors come back */
    io_accept_failed(s, err, tls);
    return;
  }
}

static void on_conn(io_conn *c, uint32_t events) {
  io_shard *s = c->shard;
  if ((events & EPOLLOUT) && c->sending) {
    c->sending = 0;
    want_out(c, false);
    io_conn_flush(c);
  }
  if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) return;
  size_t cap = buf_size(s);
  for (int i = 0; i < EP_READS && !c->closing; i++) {
    ssize_t n = recv(c->fd, s->ep_buf, cap, 0);
    if (n > 0) {
      io_conn_received(c, s->ep_buf, (size_t)n);
      if ((size_t)n < cap) return; /* drained: a further recv would say EAGAIN */
    } else if (n == 0) {
      io_conn_recv_ended(c, 0);
    } else if (errno == EINTR) {
      continue;
    } else if (errno != EAGAIN && errno != EWOULDBLOCK) {
      io_conn_recv_ended(c, -errno);
    } else {
      return;
    }
  }
}

static void dispatch(io_shard *s, const struct epoll_event *ev) {
  io_op *op = ev->data.ptr;
  switch (op->type) {
  case OP_ACCEPT:
    on_listener(s, false);
    break;
  case OP_ACCEPT_TLS:
    on_listener(s, true);
    break;
  case OP_RECV: {
    io_conn *c = (io_conn *)((char *)op - offsetof(io_conn, recv_op));
    if (!c->closing) on_conn(c, ev->events);
    break;
  }
  case OP_CONNECT: {
    io_connect_op *cop = (io_connect_op *)op;
    if (!cop->conn->closing) on_connect(cop);
    break;
  }
  case OP_WAKE: {
    ssize_t r = read(s->wake_fd, &s->wake_buf, sizeof(s->wake_buf));
    (void)r; /* EAGAIN: another turn already took the count */
    break;
  }
  }
}

static void wait_and_run(io_shard *s) {
  struct epoll_event evs[EP_EVENTS];
  atomic_store_explicit(&s->sleeping, 1, memory_order_relaxed);
  atomic_thread_fence(memory_order_seq_cst); /* pairs with io_shard_post's fence */
  int tmo = 0;
  if (io_shard_nothing_posted(s) && !s->ep_later && !s->ep_connects) {
    int64_t t = core_timer_wheel_timeout(&s->timers);
    tmo = t < 0 ? -1 : t > 1000000 ? 1000000 : (int)t;
  }
  int n = epoll_wait(s->epfd, evs, EP_EVENTS, tmo);
  atomic_store_explicit(&s->sleeping, 0, memory_order_relaxed);
  io_shard_turn_begin(s);
  if (n < 0 && errno != EINTR) LOG_ERROR("epoll_wait: %s", strerror(errno));
  /* Connections whose sends finished last turn: their "completion" is now. */
  io_conn *later = s->ep_later;
  s->ep_later = NULL;
  while (later) {
    io_conn *c = later;
    later = c->later_next;
    c->ep_later = 0;
    if (c->closing)
      io_conn_release(c);
    else
      io_conn_flush(c);
  }
  run_connects(s);
  s->ep_dispatching = true;
  for (int i = 0; i < n; i++) dispatch(s, &evs[i]);
  s->ep_dispatching = false;
  while (s->ep_closed) {
    io_conn *c = s->ep_closed;
    s->ep_closed = c->closed_next;
    c->ep_defer = 0;
    io_conn_release(c);
  }
}

const io_backend io_epoll_backend = {
    .name = "epoll",
    .setup = setup,
    .teardown = teardown,
    .wait = wait_and_run,
    .busy = busy,
    .accept_arm = accept_arm,
    .accept_cancel = accept_cancel,
    .conn_start = conn_start,
    .conn_stop = conn_stop,
    .conn_held = conn_held,
    .send = send_out,
    .connect = connect_start,
};
