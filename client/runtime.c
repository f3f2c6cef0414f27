/* A client runtime (urpc_client): shards that serve nothing and only connect out, for
 * applications that call services without being one. Same io_shard as a server's, no
 * listener. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"

static const io_handler no_listener; /* a shard without a listener accepts nothing */

void urpc_client_options_init(urpc_client_options *o) {
  memset(o, 0, sizeof(*o));
  o->shards = 1;
  o->first_cpu = -1;
  o->io = URPC_IO_AUTO;
}

static int choose_backend(urpc_io_backend want, io_backend_kind *out, char *why, size_t why_len) {
  *out = IO_BACKEND_EPOLL;
  if (want == URPC_IO_EPOLL) return 0;
  char reason[512];
  int err = io_ring_probe(reason, sizeof(reason));
  if (!err) {
    *out = IO_BACKEND_URING;
    return 0;
  }
  if (want == URPC_IO_URING) {
    snprintf(why, why_len, "%s", reason);
    return err;
  }
  return 0; /* URPC_IO_AUTO: epoll where io_uring cannot be had */
}

int urpc_client_new(const urpc_client_options *o, urpc_client **out, char *why, size_t why_len) {
  urpc_client_options def;
  if (!o) {
    urpc_client_options_init(&def);
    o = &def;
  }
  if (o->shards < 1 || o->shards > 1024) {
    snprintf(why, why_len, "client shards must be 1..1024, not %d", o->shards);
    return -EINVAL;
  }
  io_backend_kind backend;
  int err = choose_backend(o->io, &backend, why, why_len);
  if (err) return err;
  urpc_client *c = calloc(1, sizeof(*c));
  if (c) c->shards = calloc((size_t)o->shards, sizeof(*c->shards));
  if (!c || !c->shards) {
    free(c);
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  for (int i = 0; i < o->shards; i++) {
    io_shard_config cfg = {.index = i,
                           .backend = backend,
                           .cpu = o->first_cpu >= 0 ? o->first_cpu + i : -1,
                           .listen_fd = -1,
                           .tls_listen_fd = -1,
                           .handler = &no_listener};
    err = io_shard_new(&cfg, &c->shards[i]);
    if (err) {
      snprintf(why, why_len, "cannot create client shard %d: %s", i, strerror(-err));
      break;
    }
    c->n_shards = i + 1;
    if ((err = io_shard_start(c->shards[i], why, why_len)) < 0) break;
  }
  if (err) {
    urpc_client_free(c);
    return err;
  }
  *out = c;
  return 0;
}

int urpc_client_shard_count(const urpc_client *c) {
  return c->n_shards;
}

void urpc_client_free(urpc_client *c) {
  if (!c) return;
  for (int i = 0; i < c->n_shards; i++) io_shard_stop(c->shards[i]);
  for (int i = 0; i < c->n_shards; i++) io_shard_wait_stopped(c->shards[i]);
  for (int i = 0; i < c->n_shards; i++) io_shard_exit(c->shards[i]);
  for (int i = 0; i < c->n_shards; i++) io_shard_join(c->shards[i]);
  for (int i = 0; i < c->n_shards; i++) io_shard_run_posted(c->shards[i]);
  for (int i = 0; i < c->n_shards; i++) io_shard_free(c->shards[i]);
  free(c->shards);
  free(c);
}
