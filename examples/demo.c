/* urpc.example.Demo: the two ways a handler leaves the shard thread.
 * BlockingHello is registered URPC_METHOD_BLOCKING and may block (it sleeps 100 µs to show
 * it); AsyncHello returns at once and a separate "replier" thread answers about a millisecond
 * later, the way a handler waiting on another service or a database would. */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "example.pb-c.h"
#include "helloworld.pb-c.h"
#include "services.h"
#include "urpc_auth.h"

static void reply_hello(urpc_call *call, const char *name, const char *how) {
  size_t len = strlen(name) + strlen(how) + sizeof("Hello  ()");
  char *text = urpc_call_alloc(call, len);
  if (!text) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  snprintf(text, len, "Hello %s (%s)", name, how);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

static void blocking_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  struct timespec ts = {0, 100000};
  nanosleep(&ts, NULL); /* fine here: this is a worker thread, not the shard */
  reply_hello(call, req->name ? req->name : "", "worker");
}

/* Pending AsyncHello calls, answered by the replier thread. */
typedef struct pending {
  struct pending *next;
  urpc_call *call;
  const char *name; /* in the call's arena */
} pending;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static pending *queue_head, **queue_tail = &queue_head;
static bool stopping, running;
static pthread_t replier;

static void async_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  pending *p = urpc_call_alloc(call, sizeof(*p));
  if (!p) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  *p = (pending){NULL, call, req->name ? req->name : ""};
  pthread_mutex_lock(&mu);
  *queue_tail = p;
  queue_tail = &p->next;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
}

static void *replier_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  for (;;) {
    while (!queue_head && !stopping) pthread_cond_wait(&cv, &mu);
    pending *batch = queue_head;
    queue_head = NULL;
    queue_tail = &queue_head;
    bool done = stopping;
    pthread_mutex_unlock(&mu);
    if (batch && !done) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    while (batch) {
      pending *next = batch->next; /* read first: the reply may free the call's arena */
      reply_hello(batch->call, batch->name, "async");
      batch = next;
    }
    pthread_mutex_lock(&mu);
    if (done && !queue_head) break;
  }
  pthread_mutex_unlock(&mu);
  return NULL;
}

static void who_am_i(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)request, (void)user;
  urpc_peer p;
  urpc_call_peer(call, &p);
  char *text = urpc_call_alloc(call, 512);
  if (!text) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  int n;
  if (!p.tls)
    n = snprintf(text, 512, "plaintext");
  else
    n = snprintf(text, 512, "spiffe=%s verified=%d subject=%s sni=%s",
                 p.spiffe_id ? p.spiffe_id : "-", p.verified, p.subject ? p.subject : "-",
                 p.server_name ? p.server_name : "-");
  /* With --jwt-jwks: what the verified bearer token said (its whole payload is in claims). */
  const urpc_auth_info *jwt = urpc_call_auth(call);
  if (jwt && n >= 0 && n < 512)
    snprintf(text + n, 512 - (size_t)n, " jwt_sub=%s jwt_iss=%s jwt_aud=%s jwt_exp=%lld",
             jwt->subject ? jwt->subject : "-", jwt->issuer ? jwt->issuer : "-",
             jwt->audience ? jwt->audience : "-", (long long)jwt->expires_at);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

/* StreamFromWorker: a blocking server-streaming handler sends from its worker thread and,
 * whenever urpc_call_send says -EAGAIN, waits for on_writable, which runs on the shard thread:
 * the cross-thread flow-control path. */
#define WORKER_STREAM_MAX  10000
#define WORKER_STREAM_SIZE (16 * 1024)

typedef struct worker_stream {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool writable;
} worker_stream;

static void worker_writable(urpc_call *call, void *user) {
  (void)user;
  worker_stream *w = urpc_call_user(call); /* set before the send that said -EAGAIN */
  pthread_mutex_lock(&w->mu);
  w->writable = true;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
}

/* Waits for room; a cancelled call (no on_writable comes then) is noticed within 100 ms. */
static bool wait_writable(urpc_call *call, worker_stream *w) {
  pthread_mutex_lock(&w->mu);
  while (!w->writable && !urpc_call_cancelled(call)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&w->cv, &w->mu, &until);
  }
  w->writable = false;
  pthread_mutex_unlock(&w->mu);
  return !urpc_call_cancelled(call);
}

static void stream_from_worker(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  long n = req->name ? strtol(req->name, NULL, 10) : 0;
  worker_stream *w = urpc_call_alloc(call, sizeof(*w));
  char *text = urpc_call_alloc(call, WORKER_STREAM_SIZE + 1);
  if (!w || !text) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  w->writable = false;
  urpc_call_set_user(call, w);
  memset(text, 'x', WORKER_STREAM_SIZE);
  text[WORKER_STREAM_SIZE] = 0;
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  for (long i = 0; i < n && i < WORKER_STREAM_MAX; i++) {
    int rc = urpc_call_send(call, &reply.base);
    if (rc == -EAGAIN && !wait_writable(call, w)) rc = -ECANCELED;
    if (rc < 0 && rc != -EAGAIN) {
      urpc_call_finish(call, rc == -ECANCELED ? URPC_STATUS_CANCELLED : URPC_STATUS_INTERNAL, NULL);
      return;
    }
  }
  urpc_call_finish(call, URPC_STATUS_OK, NULL);
}

static const urpc_stream_handler worker_stream_ops = {.on_writable = worker_writable};

/* CountSlowly: per call, what was counted so far. */
typedef struct counter {
  uint64_t bytes, messages;
  bool half_closed, busy;
} counter;

static void count_reply(urpc_call *call, counter *c) {
  char *text = urpc_call_alloc(call, 64);
  if (!text) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  snprintf(text, 64, "counted %llu bytes in %llu messages", (unsigned long long)c->bytes,
           (unsigned long long)c->messages);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

static void count_done(urpc_call *call, void *arg) {
  counter *c = arg;
  c->busy = false;
  urpc_call_resume_recv(call);
  if (urpc_call_cancelled(call))
    urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
  else if (c->half_closed)
    count_reply(call, c);
}

static void count_start(urpc_call *call, void *user) {
  (void)user;
  counter *c = urpc_call_alloc(call, sizeof(*c));
  if (!c) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  *c = (counter){0};
  urpc_call_set_user(call, c);
}

static void count_message(urpc_call *call, const ProtobufCMessage *msg, void *user) {
  (void)user;
  counter *c = urpc_call_user(call);
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)msg;
  if (!c) return;
  c->bytes += strlen(req->name ? req->name : "");
  c->messages++;
  if (c->busy) return; /* already paused: this one came within the window in flight */
  c->busy = true;
  urpc_call_pause_recv(call);
  if (urpc_call_defer(call, 5000000, count_done, c) < 0) {
    c->busy = false;
    urpc_call_resume_recv(call);
  }
}

static void count_half_close(urpc_call *call, void *user) {
  (void)user;
  counter *c = urpc_call_user(call);
  if (!c) return;
  c->half_closed = true;
  if (!c->busy) count_reply(call, c);
}

static void count_cancel(urpc_call *call, void *user) {
  (void)user;
  counter *c = urpc_call_user(call);
  if (!c || !c->busy) urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
}

static const urpc_stream_handler count_ops = {.on_start = count_start,
                                              .on_message = count_message,
                                              .on_half_close = count_half_close,
                                              .on_cancel = count_cancel};

int demo_register(urpc_server *s) {
  static const urpc_method methods[] = {
      {.name = "BlockingHello",
       .handler = blocking_hello,
       .user = NULL,
       .flags = URPC_METHOD_BLOCKING},
      {.name = "AsyncHello", .handler = async_hello, .user = NULL},
      {.name = "CountSlowly", .flags = URPC_METHOD_CLIENT_STREAMING, .stream = &count_ops},
      {.name = "WhoAmI", .handler = who_am_i},
      {.name = "StreamFromWorker",
       .handler = stream_from_worker,
       .flags = URPC_METHOD_BLOCKING | URPC_METHOD_SERVER_STREAMING,
       .stream = &worker_stream_ops},
  };
  return urpc_server_add_service(s, &urpc__example__demo__descriptor, methods,
                                 sizeof(methods) / sizeof(methods[0]));
}

int demo_start(void) {
  int err = pthread_create(&replier, NULL, replier_main, NULL);
  running = err == 0;
  return -err;
}

void demo_stop(void) {
  if (!running) return;
  pthread_mutex_lock(&mu);
  stopping = true;
  pthread_cond_signal(&cv);
  pthread_mutex_unlock(&mu);
  pthread_join(replier, NULL);
  running = false;
}
