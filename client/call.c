/* Client calls (urpc_client.h): a call on the subchannel the channel picks, with the inbound
 * call it was made for (`parent`) watched, and the protobuf-c unary helpers on top. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/clock.h"

#define STACK_PACK 4096 /* messages up to this size are packed on the stack */

struct urpc_client_call {
  cli_sub_call *sc;
  urpc_client_call_handlers h;
  void *user;
  urpc_call *parent; /* while watched */
  rpc_call_watch watch;
  core_timer_wheel *timers;
  core_timer parent_gone; /* the parent was cancelled: end this call, at the next timer turn */
  bool parent_expired;    /* ... by its deadline: end it DEADLINE_EXCEEDED */
};

static void t_metadata(cli_sub_call *sc, const char *key, const uint8_t *value, size_t len,
                       bool trailer, void *user) {
  (void)user;
  urpc_client_call *c = cli_sub_call_extra(sc);
  if (c->h.on_metadata) c->h.on_metadata(c, key, value, len, trailer, c->user);
}

static void t_message(cli_sub_call *sc, const uint8_t *msg, size_t len, void *user) {
  (void)user;
  urpc_client_call *c = cli_sub_call_extra(sc);
  if (c->h.on_message) c->h.on_message(c, msg, len, c->user);
}

static void t_close(cli_sub_call *sc, urpc_status_code status, const char *message, void *user) {
  (void)user;
  urpc_client_call *c = cli_sub_call_extra(sc);
  if (c->parent) rpc_call_watch_remove(c->parent, &c->watch);
  if (c->timers && core_timer_armed(&c->parent_gone)) core_timer_cancel(c->timers, &c->parent_gone);
  c->sc = NULL;
  c->h.on_close(c, status, message, c->user); /* the subchannel frees c with its call after */
}

static void t_writable(cli_sub_call *sc, void *user) {
  (void)user;
  urpc_client_call *c = cli_sub_call_extra(sc);
  if (c->h.on_writable) c->h.on_writable(c, c->user);
}

static const cli_sub_handlers trampolines = {
    .on_metadata = t_metadata,
    .on_message = t_message,
    .on_close = t_close,
    .on_writable = t_writable,
};

/* Not from inside the parent's watch: that runs deep in the server's HTTP/2 session, where the
 * handler's on_close (which may answer the parent) must not run. */
static void on_parent_gone(core_timer *t, void *arg) {
  (void)t;
  urpc_client_call *c = arg;
  if (c->parent_expired)
    cli_sub_call_expire(c->sc);
  else
    cli_sub_call_cancel(c->sc);
}

static void on_parent_event(rpc_call_watch *w, bool released) {
  urpc_client_call *c = (urpc_client_call *)((char *)w - offsetof(urpc_client_call, watch));
  urpc_call *parent = c->parent;
  c->parent = NULL;
  if (released) return; /* the handler let go of it; this call goes on */
  int64_t dl = urpc_call_deadline(parent);
  c->parent_expired = dl && (uint64_t)dl <= core_now_ns();
  core_timer_arm(c->timers, &c->parent_gone, c->timers->now_ms);
}

/* The parent's deadline, less nothing, caps the call's own timeout. */
static int inherit(urpc_call *parent, io_shard *here, int64_t *timeout_ns) {
  if (rpc_call_shard_io(parent) != here) return -EINVAL;
  if (urpc_call_cancelled(parent)) return -ECANCELED;
  int64_t dl = urpc_call_deadline(parent);
  if (!dl) return 0;
  uint64_t now = core_now_ns();
  if ((uint64_t)dl <= now) return -ECANCELED;
  int64_t left = (int64_t)((uint64_t)dl - now);
  if (*timeout_ns <= 0 || left < *timeout_ns) *timeout_ns = left;
  return 0;
}

urpc_client_call *urpc_channel_call(urpc_channel *ch, const char *path,
                                    const urpc_client_call_options *o,
                                    const urpc_client_call_handlers *h, void *user, int *err) {
  static const urpc_client_call_options none;
  if (!o) o = &none;
  *err = -EINVAL;
  if (!h || !h->on_close) return NULL;
  ch_shard *cs = ch_shard_here(ch);
  *err = -EPERM;
  if (!cs) return NULL;
  int64_t timeout_ns = o->timeout_ns;
  if (o->parent && (*err = inherit(o->parent, cs->io, &timeout_ns))) return NULL;
  /* the public call is allocated with the subchannel's (one allocation per call) */
  cli_sub_call_opts so = {
      .call = {.timeout_ns = timeout_ns,
               .md = (const cli_metadata *)o->metadata, /* the same layout */
               .n_md = o->n_metadata,
               .encoding = o->compression},
      .wait_for_ready = o->wait_for_ready,
      .extra = sizeof(urpc_client_call),
  };
  cli_sub_call *sc = cli_subchannel_call(ch_shard_pick(cs), path, &so, &trampolines, NULL, err);
  if (!sc) return NULL;
  urpc_client_call *c = cli_sub_call_extra(sc);
  c->sc = sc;
  c->h = *h;
  c->user = user;
  if (o->parent) {
    c->timers = cs->timers;
    core_timer_init(&c->parent_gone, on_parent_gone, c);
    c->watch.fn = on_parent_event;
    if (!rpc_call_watch_add(o->parent, &c->watch)) c->parent = o->parent;
  }
  return c;
}

_Static_assert(sizeof(urpc_client_metadata) == sizeof(cli_metadata) &&
                   offsetof(urpc_client_metadata, len) == offsetof(cli_metadata, len),
               "urpc_client_metadata is passed as cli_metadata");

int urpc_client_call_send(urpc_client_call *c, const void *msg, size_t len) {
  return cli_sub_call_send(c->sc, msg, len, 0);
}

_Static_assert(URPC_CLIENT_SEND_NO_COMPRESS == CLI_SEND_NO_COMPRESS, "flags passed through");

int urpc_client_call_send_flags(urpc_client_call *c, const void *msg, size_t len, unsigned flags) {
  if (flags & ~URPC_CLIENT_SEND_NO_COMPRESS) return -EINVAL;
  return cli_sub_call_send(c->sc, msg, len, flags);
}

bool urpc_client_call_message_compressed(const urpc_client_call *c) {
  return c->sc && cli_sub_call_message_compressed(c->sc);
}

int urpc_client_call_send_message(urpc_client_call *c, const ProtobufCMessage *msg) {
  size_t len = protobuf_c_message_get_packed_size(msg);
  uint8_t stack[STACK_PACK];
  uint8_t *buf = len <= sizeof(stack) ? stack : malloc(len);
  if (!buf) return -ENOMEM;
  protobuf_c_message_pack(msg, buf);
  int rc = cli_sub_call_send(c->sc, buf, len, 0);
  if (buf != stack) free(buf);
  return rc;
}

int urpc_client_call_close_send(urpc_client_call *c) {
  return cli_sub_call_close_send(c->sc);
}

void urpc_client_call_cancel(urpc_client_call *c) {
  cli_sub_call_cancel(c->sc);
}

/* ---- unary with protobuf-c messages ---- */

typedef struct unary {
  const ProtobufCMessageDescriptor *type;
  urpc_unary_done done;
  void *user;
  ProtobufCMessage *response;
  urpc_status_code bad; /* a response that broke the unary contract */
  const char *bad_msg;
  ProtobufCMessage **take; /* the blocking call keeps the response instead */
} unary;

static void u_message(urpc_client_call *c, const uint8_t *msg, size_t len, void *user) {
  unary *u = user;
  if (u->response || u->bad) {
    u->bad = URPC_STATUS_INTERNAL;
    u->bad_msg = "more than one response message to a unary call";
    urpc_client_call_cancel(c);
    return;
  }
  u->response = protobuf_c_message_unpack(u->type, NULL, len, msg);
  if (!u->response) {
    u->bad = URPC_STATUS_INTERNAL;
    u->bad_msg = "the response message does not parse as its type";
    urpc_client_call_cancel(c);
  }
}

static void u_close(urpc_client_call *c, urpc_status_code status, const char *message, void *user) {
  (void)c;
  unary *u = user;
  if (u->bad) {
    status = u->bad;
    message = u->bad_msg;
  } else if (status == URPC_STATUS_OK && !u->response) {
    status = URPC_STATUS_INTERNAL;
    message = "no response message to a unary call";
  }
  if (u->take && status == URPC_STATUS_OK) {
    *u->take = u->response;
    u->response = NULL;
  }
  u->done(status, message, status == URPC_STATUS_OK ? u->response : NULL, u->user);
  if (u->response) protobuf_c_message_free_unpacked(u->response, NULL);
  free(u);
}

static const urpc_client_call_handlers unary_handlers = {.on_message = u_message,
                                                         .on_close = u_close};

static int start_unary(urpc_channel *ch, const char *path, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type,
                       const urpc_client_call_options *o, urpc_unary_done done, void *user,
                       ProtobufCMessage **take) {
  if (!request || !response_type || !done) return -EINVAL;
  unary *u = calloc(1, sizeof(*u));
  if (!u) return -ENOMEM;
  *u = (unary){.type = response_type, .done = done, .user = user, .take = take};
  int err;
  urpc_client_call *c = urpc_channel_call(ch, path, o, &unary_handlers, u, &err);
  if (!c) {
    free(u);
    return err;
  }
  /* Sending can only fail for want of memory here: the call ends with it. */
  if (urpc_client_call_send_message(c, request) || urpc_client_call_close_send(c)) {
    u->bad = URPC_STATUS_RESOURCE_EXHAUSTED;
    u->bad_msg = "out of memory for the request";
    urpc_client_call_cancel(c);
  }
  return 0;
}

int urpc_channel_unary(urpc_channel *ch, const char *path, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *response_type,
                       const urpc_client_call_options *o, urpc_unary_done done, void *user) {
  return start_unary(ch, path, request, response_type, o, done, user, NULL);
}

/* ---- blocking, from an application thread ---- */

typedef struct blocking {
  const char *path;
  const ProtobufCMessage *request;
  const ProtobufCMessageDescriptor *type;
  const urpc_client_call_options *o;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool done;
  urpc_status_code status;
  ProtobufCMessage *response;
  char *message;
  size_t message_len;
} blocking;

static void b_finish(blocking *b, urpc_status_code status, const char *message) {
  pthread_mutex_lock(&b->mu);
  b->status = status;
  if (b->message) snprintf(b->message, b->message_len, "%s", message ? message : "");
  b->done = true;
  pthread_cond_signal(&b->cv);
  pthread_mutex_unlock(&b->mu);
}

static void b_done(urpc_status_code status, const char *message, const ProtobufCMessage *resp,
                   void *user) {
  (void)resp; /* already in b->response (start_unary's `take`) */
  b_finish(user, status, message);
}

static void b_start(urpc_channel *ch, void *arg) {
  blocking *b = arg;
  int err = start_unary(ch, b->path, b->request, b->type, b->o, b_done, b, &b->response);
  if (err)
    b_finish(b, err == -EAGAIN ? URPC_STATUS_RESOURCE_EXHAUSTED : URPC_STATUS_INTERNAL,
             err == -EAGAIN ? "too many calls wait for a connection" : strerror(-err));
}

urpc_status_code urpc_channel_unary_blocking(urpc_channel *ch, const char *path,
                                             const ProtobufCMessage *request,
                                             const ProtobufCMessageDescriptor *response_type,
                                             const urpc_client_call_options *o,
                                             ProtobufCMessage **response, char *message,
                                             size_t message_len) {
  *response = NULL;
  if (io_shard_current()) {
    if (message) snprintf(message, message_len, "a blocking call from a shard thread");
    return URPC_STATUS_FAILED_PRECONDITION;
  }
  blocking b = {.path = path,
                .request = request,
                .type = response_type,
                .o = o,
                .message = message,
                .message_len = message_len};
  pthread_mutex_init(&b.mu, NULL);
  pthread_cond_init(&b.cv, NULL);
  if (urpc_channel_post(ch, b_start, &b)) {
    if (message) snprintf(message, message_len, "out of memory");
    return URPC_STATUS_RESOURCE_EXHAUSTED;
  }
  pthread_mutex_lock(&b.mu);
  while (!b.done) pthread_cond_wait(&b.cv, &b.mu);
  pthread_mutex_unlock(&b.mu);
  pthread_mutex_destroy(&b.mu);
  pthread_cond_destroy(&b.cv);
  *response = b.response;
  return b.status;
}
