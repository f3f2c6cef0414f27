/* uringrpc-load's side of the connection: the client runtime (--cpus shard threads), one
 * channel per connection (-c), the call options every call shares, and the first contact:
 * each connection made with one grpc.health.v1.Health/Check call before the run, so that a
 * server that cannot be reached is one line at the start, and connection set-up (TCP, TLS)
 * is not timed as the first calls' latency. */
#ifndef URPC_LOAD_TARGET_H
#define URPC_LOAD_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "bench/load/flags.h"
#include "bench/load/request.h"
#include "client/urpc_client.h"

#define LOAD_PROBE_PATH "/grpc.health.v1.Health/Check"

typedef struct load_target {
  urpc_client *client;
  urpc_channel **chans; /* owned; n_chans, one per connection: chans[i] used on shard i % shards */
  uint32_t n_chans;
  int shards;
  urpc_client_call_options call_opts; /* timeout, metadata (the request's), compression */
} load_target;

/* Starts the runtime and makes the channels (nothing connects yet). Returns 0, or -errno with
 * one line in `err`: -EINVAL for a bad target or TLS file (the client's reason). */
int load_target_open(load_target *t, const load_flags *f, const load_request *req, char *err,
                     size_t err_len);
/* Frees the channels (cancelling what is open) and stops the runtime. Safe on a zeroed or
 * partly opened target. */
void load_target_close(load_target *t);

/* Makes every connection: one health check each, at most connect_timeout_ns. Returns 0 once
 * each has an answer from the server (any status but UNAVAILABLE, or DEADLINE_EXCEEDED from
 * our side); -EHOSTUNREACH with the first failure's reason in `err`; -ENOMEM. */
int load_target_connect(load_target *t, uint64_t connect_timeout_ns, char *err, size_t err_len);

/* Runs fn(ch, arg) on shard `shard` through chans[0] and returns at once: 0 or -ENOMEM. */
int load_target_post(load_target *t, int shard, void (*fn)(urpc_channel *ch, void *arg), void *arg);

/* CLOCK_MONOTONIC in ns. */
uint64_t load_now_ns(void);

#endif
