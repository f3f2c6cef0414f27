/* orders-server: a complete uringrpc service outside the uringrpc tree (orders.proto).
 *
 *   orders-server [ADDR:PORT]     default [::]:50051; port 0 picks a free one
 *
 * Prints "orders-server listening on ADDR:PORT" once it serves. On SIGINT or SIGTERM it drains
 * gracefully (no new calls; calls in flight get up to 10 s to finish; a second signal stops at
 * once) and exits 0.
 *
 * PlaceOrder is a blocking method (a worker thread runs it); ListOrders streams from the shard
 * thread without blocking, waiting for on_writable when the client reads slowly. Reflection
 * (grpcurl describe, Postman, Evans) describes orders.Orders from the descriptor set that
 * uringrpc_add_protos() embedded. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uringrpc.h>

#include "orders.pb-c.h"               /* protoc-c, run by uringrpc_add_protos() */
#include "orders_server_descriptors.h" /* the embedded descriptor set, likewise */

#define MAX_NAME   64
#define GRACE_MS   10000
#define DRAIN_STEP 100

/* ---- the store: every order, in memory, behind a lock ------------------------------------ */

typedef struct order_rec {
  uint64_t id;
  char customer[MAX_NAME], item[MAX_NAME];
  uint32_t quantity;
} order_rec;

static pthread_mutex_t store_mu = PTHREAD_MUTEX_INITIALIZER;
static order_rec *store;
static size_t n_orders, cap_orders;

/* Appends an order; returns it (a copy) in *out, or -ENOMEM. */
static int store_add(const char *customer, const char *item, uint32_t quantity, order_rec *out) {
  pthread_mutex_lock(&store_mu);
  if (n_orders == cap_orders) {
    size_t cap = cap_orders ? 2 * cap_orders : 64;
    order_rec *grown = realloc(store, cap * sizeof(*grown));
    if (!grown) {
      pthread_mutex_unlock(&store_mu);
      return -ENOMEM;
    }
    store = grown;
    cap_orders = cap;
  }
  order_rec *r = &store[n_orders];
  r->id = ++n_orders;
  snprintf(r->customer, sizeof(r->customer), "%s", customer);
  snprintf(r->item, sizeof(r->item), "%s", item);
  r->quantity = quantity;
  *out = *r;
  pthread_mutex_unlock(&store_mu);
  return 0;
}

/* The first order at index >= *next for `customer` ("" = any); advances *next past it. */
static bool store_next(const char *customer, size_t *next, order_rec *out) {
  bool found = false;
  pthread_mutex_lock(&store_mu); /* held for a copy only: fine on the shard thread */
  while (*next < n_orders && !found) {
    const order_rec *r = &store[(*next)++];
    if (!customer[0] || strcmp(r->customer, customer) == 0) {
      *out = *r;
      found = true;
    }
  }
  pthread_mutex_unlock(&store_mu);
  return found;
}

static void to_message(const order_rec *r, Orders__Order *m) {
  orders__order__init(m);
  m->id = r->id;
  m->customer = (char *)r->customer;
  m->item = (char *)r->item;
  m->quantity = r->quantity;
}

/* ---- PlaceOrder: blocking, on a worker thread ---------------------------------------------- */

static void place_order(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Orders__PlaceOrderRequest *req = (const Orders__PlaceOrderRequest *)request;
  if (!req->customer[0] || strlen(req->customer) >= MAX_NAME || !req->item[0] ||
      strlen(req->item) >= MAX_NAME || req->quantity == 0) {
    urpc_call_fail(call, URPC_STATUS_INVALID_ARGUMENT,
                   "customer and item must be 1 to 63 bytes, quantity above 0");
    return;
  }
  /* Stands for the write a real service would wait for: allowed here, it is a worker thread. */
  struct timespec write_delay = {0, 1000000};
  nanosleep(&write_delay, NULL);
  order_rec rec;
  if (store_add(req->customer, req->item, req->quantity, &rec) < 0) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  Orders__Order reply;
  to_message(&rec, &reply);
  urpc_call_reply(call, &reply.base); /* packed at once: `reply` may go */
}

/* ---- ListOrders: server streaming, on the shard thread -------------------------------------- */

typedef struct list_state {
  char customer[MAX_NAME];
  size_t next; /* index into the store */
  bool done;   /* the call was finished: never touch it again */
} list_state;

static void list_finish(urpc_call *call, list_state *st, urpc_status_code code) {
  st->done = true;
  urpc_call_finish(call, code, NULL);
}

/* Sends orders until the store has no more (the call ends OK) or the call's send buffer is
 * full (urpc_call_send said -EAGAIN: the message is queued, on_writable calls this again). */
static void list_pump(urpc_call *call, list_state *st) {
  order_rec rec;
  while (!st->done) {
    if (!store_next(st->customer, &st->next, &rec)) {
      list_finish(call, st, URPC_STATUS_OK);
      return;
    }
    Orders__Order msg;
    to_message(&rec, &msg);
    int rc = urpc_call_send(call, &msg.base);
    if (rc == -EAGAIN) return;
    if (rc < 0) {
      list_finish(call, st,
                  rc == -ECANCELED ? URPC_STATUS_CANCELLED : URPC_STATUS_RESOURCE_EXHAUSTED);
      return;
    }
  }
}

static void list_orders(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Orders__ListOrdersRequest *req = (const Orders__ListOrdersRequest *)request;
  list_state *st = urpc_call_alloc(call, sizeof(*st)); /* freed with the call */
  if (!st) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  memset(st, 0, sizeof(*st));
  snprintf(st->customer, sizeof(st->customer), "%s", req->customer);
  urpc_call_set_user(call, st);
  list_pump(call, st);
}

static void list_writable(urpc_call *call, void *user) {
  (void)user;
  list_state *st = urpc_call_user(call);
  if (st) list_pump(call, st);
}

/* The client went away (reset, deadline, connection lost) while the call waited for room: no
 * on_writable will come, so the call ends here. */
static void list_cancel(urpc_call *call, void *user) {
  (void)user;
  list_state *st = urpc_call_user(call);
  if (st && !st->done) list_finish(call, st, URPC_STATUS_CANCELLED);
}

static const urpc_stream_handler list_ops = {.on_writable = list_writable,
                                             .on_cancel = list_cancel};

static const urpc_method orders_methods[] = {
    {.name = "PlaceOrder", .handler = place_order, .flags = URPC_METHOD_BLOCKING},
    {.name = "ListOrders",
     .handler = list_orders,
     .flags = URPC_METHOD_SERVER_STREAMING,
     .stream = &list_ops},
};

/* ---- the process ------------------------------------------------------------------------- */

/* After the first SIGINT/SIGTERM: GOAWAY to every client, calls in flight finish, for up to
 * GRACE_MS; a second signal cuts it short. */
static void drain(urpc_server *server, int signals) {
  for (int waited = 0; waited < GRACE_MS; waited += DRAIN_STEP) {
    if (urpc_server_drain(server, DRAIN_STEP) == 0) return; /* every connection closed */
    int sig = urpc_signals_wait_timeout(signals, 0);
    if (sig == SIGINT || sig == SIGTERM) {
      fprintf(stderr, "orders-server: second signal: stopping now\n");
      return;
    }
  }
  fprintf(stderr, "orders-server: grace period over: cancelling the calls left\n");
}

int main(int argc, char **argv) {
  if (argc > 2 || (argc == 2 && argv[1][0] == '-')) {
    fprintf(stderr, "usage: orders-server [ADDR:PORT]\n");
    return 2;
  }
  /* Before any thread starts, so that every thread inherits the blocked signals. */
  int signals = urpc_signals_open();
  if (signals < 0) {
    fprintf(stderr, "orders-server: signals: %s\n", strerror(-signals));
    return 1;
  }
  urpc_server_options opts;
  urpc_server_options_init(&opts);
  opts.listen = argc == 2 ? argv[1] : "[::]:50051";
  urpc_server *server;
  int err = urpc_server_new(&opts, &server);
  if (err < 0) {
    fprintf(stderr, "orders-server: %s\n", strerror(-err));
    return 1;
  }
  if ((err = urpc_server_add_service(server, &orders__orders__descriptor, orders_methods,
                                     sizeof(orders_methods) / sizeof(orders_methods[0]))) < 0 ||
      (err = urpc_server_add_descriptors(server, orders_server_descriptors,
                                         orders_server_descriptors_len)) < 0) {
    fprintf(stderr, "orders-server: registering orders.Orders: %s\n", strerror(-err));
    urpc_server_free(server);
    return 1;
  }
  char why[256];
  if (urpc_server_start(server, why, sizeof(why)) < 0) {
    fprintf(stderr, "orders-server: %s\n", why);
    urpc_server_free(server);
    return 1;
  }
  printf("orders-server listening on %s\n", urpc_server_address(server));
  fflush(stdout);

  int sig;
  do sig = urpc_signals_wait(signals); /* SIGHUP: nothing to reload here */
  while (sig == SIGHUP);
  if (sig > 0) {
    fprintf(stderr, "orders-server: %s: draining\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    drain(server, signals);
  }
  urpc_server_stop(server);
  urpc_server_wait(server);
  urpc_server_free(server);
  free(store);
  return 0;
}
