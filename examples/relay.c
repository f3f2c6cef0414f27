/* urpc.example.Relay/Forward (proto/relay.proto): a handler that calls another service and
 * replies when it answers, without blocking its shard. The call to the next hop is made on the
 * handler's shard with the inbound call as its parent: it inherits the deadline and is
 * cancelled with it. The channel is the server's own shards' (urpc_channel_new with .server),
 * made once the server has started. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "relay.pb-c.h"
#include "services.h"
#include "urpc_client.h"

#define FORWARD_PATH "/urpc.example.Relay/Forward"
#define MAX_HOPS     16

static _Atomic(urpc_channel *) upstream; /* set once the server runs (relay_start) */

/* What was left of the call's deadline as its handler began, in ms; -1 for none. */
static int64_t deadline_left_ms(const urpc_call *call) {
  int64_t dl = urpc_call_deadline(call);
  if (!dl) return -1;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t left = dl - ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec);
  return left > 0 ? left / 1000000 : 0;
}

/* Replies `message` with the hops' deadlines and this one's after them. */
static void reply(urpc_call *call, const char *message, const int64_t *before, size_t n,
                  int64_t mine) {
  int64_t *left = urpc_call_alloc(call, (n + 1) * sizeof(*left));
  if (!left) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  if (n) memcpy(left, before, n * sizeof(*left));
  left[n] = mine;
  Urpc__Example__ForwardReply r = URPC__EXAMPLE__FORWARD_REPLY__INIT;
  r.message = (char *)message;
  r.n_deadline_left_ms = n + 1;
  r.deadline_left_ms = left;
  urpc_call_reply(call, &r.base);
}

typedef struct hop {
  urpc_call *call;
  int64_t left_ms;
  const char *name;
} hop;

/* The next hop answered (or failed, or the deadline passed, or the caller went away: then the
 * reply is dropped, but it is still owed). */
static void forwarded(urpc_status_code status, const char *message, const ProtobufCMessage *resp,
                      void *user) {
  hop *h = user;
  if (status != URPC_STATUS_OK) {
    urpc_call_fail(h->call, status, message);
    return;
  }
  const Urpc__Example__ForwardReply *r = (const Urpc__Example__ForwardReply *)resp;
  reply(h->call, r->message, r->deadline_left_ms, r->n_deadline_left_ms, h->left_ms);
}

static void slept(urpc_call *call, void *arg) {
  hop *h = arg;
  size_t len = strlen(h->name) + sizeof("Hello ");
  char *text = urpc_call_alloc(call, len);
  if (!text) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  snprintf(text, len, "Hello %s", h->name);
  reply(call, text, NULL, 0, h->left_ms);
}

static void forward(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Urpc__Example__ForwardRequest *req = (const Urpc__Example__ForwardRequest *)request;
  hop *h = urpc_call_alloc(call, sizeof(*h));
  if (!h) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  *h = (hop){.call = call, .left_ms = deadline_left_ms(call), .name = req->name ? req->name : ""};
  if (req->hops == 0) {
    if (urpc_call_defer(call, (uint64_t)req->sleep_ms * 1000000, slept, h) < 0)
      urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  urpc_channel *ch = atomic_load_explicit(&upstream, memory_order_acquire);
  if (!ch || req->hops > MAX_HOPS) {
    urpc_call_fail(call, URPC_STATUS_FAILED_PRECONDITION,
                   !ch ? "this server has no next hop: start it with --upstream TARGET"
                       : "more than 16 hops");
    return;
  }
  Urpc__Example__ForwardRequest next = *req;
  next.hops--;
  urpc_client_call_options o = {.parent = call, .timeout_ns = (int64_t)req->timeout_ms * 1000000};
  int err = urpc_channel_unary(ch, FORWARD_PATH, &next.base,
                               &urpc__example__forward_reply__descriptor, &o, forwarded, h);
  if (err == -ECANCELED)
    urpc_call_fail(call, URPC_STATUS_DEADLINE_EXCEEDED, "the deadline passed before the next hop");
  else if (err == -EAGAIN)
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "too many calls wait for the next hop");
  else if (err)
    urpc_call_fail(call, URPC_STATUS_INTERNAL, strerror(-err));
}

int relay_register(urpc_server *s) {
  static const urpc_method methods[] = {{.name = "Forward", .handler = forward}};
  return urpc_server_add_service(s, &urpc__example__relay__descriptor, methods, 1);
}

int relay_start(urpc_server *s, const relay_setup *r) {
  if (!r->upstream) return 0;
  urpc_channel_options o;
  urpc_channel_options_init(&o);
  o.server = s;
  o.tls = r->ca_file != NULL;
  o.ca_file = r->ca_file;
  o.lb = r->round_robin ? URPC_LB_ROUND_ROBIN : URPC_LB_PICK_FIRST;
  urpc_channel *ch;
  char why[512];
  int err = urpc_channel_new(r->upstream, &o, &ch, why, sizeof(why));
  if (err) {
    fprintf(stderr, "uringrpc-server: --upstream: %s\n", why);
    return err;
  }
  atomic_store_explicit(&upstream, ch, memory_order_release);
  return 0;
}

void relay_stop(void) {
  urpc_channel_free(atomic_exchange(&upstream, NULL));
}

int relay_print(FILE *f, const relay_setup *r) {
  fprintf(f, "upstream=%s\n", r->upstream ? r->upstream : "");
  fprintf(f, "upstream-ca=%s\n", r->ca_file ? r->ca_file : "");
  fprintf(f, "upstream-lb=%s\n", r->round_robin ? "round_robin" : "pick_first");
  return fflush(f) == 0 && !ferror(f) ? 0 : 1;
}
