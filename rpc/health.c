/* grpc.health.v1.Health: Check and Watch, and urpc_server_set_health.
 *
 * The server holds the authoritative table under a mutex, touched only by set_health (rare).
 * Each shard keeps its own copy, updated by a message posted to it, so Check and Watch read
 * without locks on the shard thread; each shard also keeps its list of Watch calls and sends
 * them a message when their service changes. Unknown services: Check answers NOT_FOUND, Watch
 * sends SERVICE_UNKNOWN and stays open (doc/health-checking.md). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/rpc_impl.h"

typedef struct health_update {
  io_msg msg;
  rpc_shard *sh;
  urpc_health_status status;
  char service[];
} health_update;

/* The status of `service` in a table, or -1 if it is not there. */
static int shard_status_of_table(const rpc_health_table *t, const char *service) {
  for (size_t i = 0; i < t->n; i++)
    if (strcmp(t->items[i].service, service) == 0) return (int)t->items[i].status;
  return -1;
}

static int shard_status(const rpc_shard *sh, const char *service) {
  return shard_status_of_table(&sh->health, service);
}

static int table_set(rpc_health_table *t, const char *service, urpc_health_status st) {
  for (size_t i = 0; i < t->n; i++) {
    if (strcmp(t->items[i].service, service) == 0) {
      t->items[i].status = st;
      return 0;
    }
  }
  rpc_health_entry *items = realloc(t->items, (t->n + 1) * sizeof(*items));
  if (!items) return -ENOMEM;
  t->items = items;
  char *name = strdup(service);
  if (!name) return -ENOMEM;
  t->items[t->n++] = (rpc_health_entry){name, st};
  return 0;
}

void rpc_health_table_dispose(rpc_health_table *t) {
  for (size_t i = 0; i < t->n; i++) free(t->items[i].service);
  free(t->items);
  t->items = NULL;
  t->n = 0;
}

static void send_status(urpc_call *call, urpc_health_status st) {
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
  urpc_call_send(call, &resp.base);
}

void rpc_health_apply(rpc_shard *sh, const char *service, urpc_health_status status) {
  if (table_set(&sh->health, service, status) < 0)
    LOG_WARN("health: out of memory for service '%s'", service);
  for (rpc_health_watch *w = sh->watchers; w; w = w->next) {
    if (strcmp(w->service, service) != 0 || w->last == (int)status) continue;
    w->last = (int)status;
    send_status(w->call, status);
  }
}

static void on_update(io_msg *m) {
  health_update *u = (health_update *)m;
  rpc_health_apply(u->sh, u->service, u->status);
  free(u);
}

int urpc_server_set_health(urpc_server *s, const char *service, urpc_health_status status) {
  if (!service || status < URPC_HEALTH_UNKNOWN || status > URPC_HEALTH_SERVICE_UNKNOWN)
    return -EINVAL;
  pthread_mutex_lock(&s->stop_mu);
  int err = table_set(&s->health, service, status);
  bool running = s->started && !s->stop_requested;
  pthread_mutex_unlock(&s->stop_mu);
  if (err < 0 || !running) return err;
  for (int i = 0; i < s->n_shards; i++) {
    size_t len = strlen(service);
    health_update *u = malloc(sizeof(*u) + len + 1);
    if (!u) return -ENOMEM;
    u->msg.fn = on_update;
    u->sh = &s->shards[i];
    u->status = status;
    memcpy(u->service, service, len + 1);
    io_shard_post(s->shards[i].io, &u->msg);
  }
  return 0;
}

/* Graceful shutdown: every service, and the server (""), answers NOT_SERVING from now on and
 * Watchers hear it, as grpc's servers do, so load balancers and readiness probes move away. */
void rpc_health_all_not_serving(urpc_server *s) {
  pthread_mutex_lock(&s->stop_mu);
  size_t n = s->health.n;
  char **names = calloc(n + 1, sizeof(*names));
  for (size_t i = 0; names && i < n; i++) names[i] = strdup(s->health.items[i].service);
  pthread_mutex_unlock(&s->stop_mu);
  if (!names) {
    LOG_WARN("health: out of memory; statuses left as they are while draining");
    return;
  }
  urpc_server_set_health(s, "", URPC_HEALTH_NOT_SERVING);
  for (size_t i = 0; i < n; i++) {
    if (names[i]) urpc_server_set_health(s, names[i], URPC_HEALTH_NOT_SERVING);
    free(names[i]);
  }
  free(names);
}

/* Before the shards start: every shard gets a copy of the table. */
int rpc_health_copy_to_shard(urpc_server *s, rpc_shard *sh) {
  for (size_t i = 0; i < s->health.n; i++)
    if (table_set(&sh->health, s->health.items[i].service, s->health.items[i].status) < 0)
      return -ENOMEM;
  return 0;
}

static const char *service_of(const ProtobufCMessage *request) {
  const Grpc__Health__V1__HealthCheckRequest *req =
      (const Grpc__Health__V1__HealthCheckRequest *)request;
  return req->service ? req->service : "";
}

static void health_check(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  int st = shard_status(call->sh, service_of(request));
  if (st < 0) {
    urpc_call_fail(call, URPC_STATUS_NOT_FOUND, "unknown service");
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = (Grpc__Health__V1__HealthCheckResponse__ServingStatus)st;
  urpc_call_reply(call, &resp.base);
}

static void unwatch(urpc_call *call) {
  rpc_health_watch **pp = &call->sh->watchers;
  while (*pp && (*pp)->call != call) pp = &(*pp)->next;
  if (*pp) *pp = (*pp)->next;
}

static void health_watch(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const char *service = service_of(request); /* in the call's arena: lives as long as it */
  rpc_health_watch *w = urpc_call_alloc(call, sizeof(*w));
  if (!w) {
    urpc_call_finish(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  int st = shard_status(call->sh, service);
  *w = (rpc_health_watch){call->sh->watchers, call, service,
                          st < 0 ? URPC_HEALTH_SERVICE_UNKNOWN : st};
  call->sh->watchers = w;
  send_status(call, (urpc_health_status)w->last);
}

static void watch_cancel(urpc_call *call, void *user) {
  (void)user;
  unwatch(call);
  urpc_call_finish(call, URPC_STATUS_CANCELLED, NULL);
}

static const urpc_stream_handler watch_ops = {.on_cancel = watch_cancel};

int rpc_health_register(urpc_server *s) {
  const ProtobufCServiceDescriptor *d = &grpc__health__v1__health__descriptor;
  if (rpc_registry_has_service(&s->registry, d->name, strlen(d->name))) return 0;
  const urpc_method methods[] = {
      {.name = "Check", .handler = health_check},
      {.name = "Watch",
       .handler = health_watch,
       .flags = URPC_METHOD_SERVER_STREAMING,
       .stream = &watch_ops},
  };
  int err = rpc_registry_add(&s->registry, d, methods, 2);
  /* The whole server and every service registered so far start out SERVING, unless the
   * application said otherwise before start. */
  if (!err && shard_status_of_table(&s->health, "") < 0)
    err = table_set(&s->health, "", URPC_HEALTH_SERVING);
  for (size_t i = 0; !err && i < s->registry.n_services; i++)
    if (shard_status_of_table(&s->health, s->registry.services[i]->name) < 0)
      err = table_set(&s->health, s->registry.services[i]->name, URPC_HEALTH_SERVING);
  return err;
}
