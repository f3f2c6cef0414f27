/* The runtime, the channels and the first contact (target.h). The probes run on the shards
 * (calls are made there only); the main thread waits on a semaphore each probe posts once its
 * on_close has filled its answer. */
#include "bench/load/target.h"

#include <errno.h>
#include <semaphore.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench/load/plan.h"
#include "bench/load/summary.h"

uint64_t load_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int load_target_open(load_target *t, const load_flags *f, const load_request *req, char *err,
                     size_t err_len) {
  memset(t, 0, sizeof(*t));
  urpc_client_options co;
  urpc_client_options_init(&co);
  co.shards = f->shards;
  co.first_cpu = f->first_cpu;
  int rc = urpc_client_new(&co, &t->client, err, err_len);
  if (rc) return rc;
  t->shards = urpc_client_shard_count(t->client);
  t->chans = calloc(f->connections, sizeof(*t->chans));
  if (!t->chans) {
    snprintf(err, err_len, "out of memory");
    return -ENOMEM;
  }
  urpc_channel_options o;
  urpc_channel_options_init(&o);
  o.client = t->client;
  o.lb = URPC_LB_PICK_FIRST;
  o.authority = f->authority;
  o.tls = !f->insecure;
  o.ca_file = f->cacert;
  o.server_name = f->cname;
  o.cert_file = f->cert;
  o.key_file = f->key;
  for (uint32_t i = 0; i < f->connections; i++) {
    /* Every call of a connection may wait for it at the start (before the server's SETTINGS
     * at most 100 streams go out): room for all of them. */
    uint64_t slots = load_connection_slots(f->concurrency, f->connections, i);
    o.max_pending = slots + 16 > 1024 ? (uint32_t)(slots + 16) : 1024;
    rc = urpc_channel_new(f->host, &o, &t->chans[i], err, err_len);
    if (rc) return rc;
    t->n_chans++;
  }
  t->call_opts.timeout_ns = (int64_t)f->timeout_ns;
  t->call_opts.metadata = req->md;
  t->call_opts.n_metadata = req->n_md;
  t->call_opts.compression = f->compress ? "gzip" : NULL;
  return 0;
}

void load_target_close(load_target *t) {
  for (uint32_t i = 0; i < t->n_chans; i++) urpc_channel_free(t->chans[i]);
  free(t->chans);
  if (t->client) urpc_client_free(t->client);
  memset(t, 0, sizeof(*t));
}

int load_target_post(load_target *t, int shard, void (*fn)(urpc_channel *ch, void *arg),
                     void *arg) {
  return urpc_channel_post_to(t->chans[0], shard, fn, arg);
}

/* ---- the first contact ---- */

typedef struct probe_run probe_run;

typedef struct probe {
  probe_run *run;
  urpc_channel *ch;
  urpc_status_code status;
  bool refused; /* urpc_channel_call said no: nothing reached the server */
  char message[256];
} probe;

struct probe_run {
  sem_t done; /* one post per probe */
  urpc_client_call_options opts;
};

static void probe_close(urpc_client_call *call, urpc_status_code status, const char *message,
                        void *user) {
  (void)call;
  probe *p = user;
  p->status = status;
  snprintf(p->message, sizeof(p->message), "%s", message ? message : "");
  sem_post(&p->run->done); /* the last touch: the main thread may free p after it */
}

static const urpc_client_call_handlers probe_handlers = {.on_close = probe_close};

static void probe_start(urpc_channel *ch, void *arg) {
  probe *p = arg;
  int e = 0;
  urpc_client_call *call =
      urpc_channel_call(ch, LOAD_PROBE_PATH, &p->run->opts, &probe_handlers, p, &e);
  if (!call) {
    p->status = URPC_STATUS_INTERNAL;
    p->refused = true;
    snprintf(p->message, sizeof(p->message), "the client refused the call: %s", strerror(-e));
    sem_post(&p->run->done);
    return;
  }
  /* HealthCheckRequest{} is no bytes at all. */
  if (urpc_client_call_send(call, NULL, 0) != -EPIPE) urpc_client_call_close_send(call);
}

static bool reached(const probe *p) {
  return !p->refused && p->status != URPC_STATUS_UNAVAILABLE &&
         p->status != URPC_STATUS_DEADLINE_EXCEEDED;
}

int load_target_connect(load_target *t, uint64_t connect_timeout_ns, char *err, size_t err_len) {
  probe_run run;
  if (sem_init(&run.done, 0, 0)) return -errno;
  run.opts = t->call_opts;
  run.opts.timeout_ns = (int64_t)connect_timeout_ns;
  run.opts.compression = NULL;
  run.opts.wait_for_ready = false;
  probe *ps = calloc(t->n_chans, sizeof(*ps));
  if (!ps) {
    sem_destroy(&run.done);
    snprintf(err, err_len, "out of memory");
    return -ENOMEM;
  }
  uint32_t posted = 0;
  int rc = 0;
  for (uint32_t i = 0; i < t->n_chans; i++) {
    ps[i].run = &run;
    ps[i].ch = t->chans[i];
    if (urpc_channel_post_to(t->chans[i], load_connection_shard(i, t->shards), probe_start,
                             &ps[i])) {
      snprintf(err, err_len, "out of memory");
      rc = -ENOMEM;
      break;
    }
    posted++;
  }
  /* Every probe posted ends within its deadline: wait for all before freeing them. */
  for (uint32_t i = 0; i < posted; i++) {
    while (sem_wait(&run.done) && errno == EINTR) {
    }
  }
  for (uint32_t i = 0; i < posted && !rc; i++) {
    if (reached(&ps[i])) continue;
    snprintf(err, err_len, "%s%s",
             ps[i].status == URPC_STATUS_DEADLINE_EXCEEDED
                 ? "no connection within --connect-timeout: "
                 : "",
             ps[i].message[0] ? ps[i].message : load_status_name((int)ps[i].status));
    rc = -EHOSTUNREACH;
  }
  free(ps);
  sem_destroy(&run.done);
  return rc;
}
