/* What the folders above rpc/ (client/) need of its internals, without reaching into its
 * structs: a server's shards, and a call's cancellation as it happens. */
#ifndef URPC_RPC_EXT_H
#define URPC_RPC_EXT_H

#include <stdbool.h>

#include "io/shard.h"
#include "rpc/uringrpc.h"

/* A started server's shard `i` (0 .. urpc_server_shard_count - 1), or NULL (not started). */
io_shard *rpc_server_shard_io(const urpc_server *s, int i);
/* The shard a call belongs to. */
io_shard *rpc_call_shard_io(const urpc_call *call);

/* A watch on an inbound call, kept by whoever wants to hear of its end (a client call made
 * from its handler). `fn` runs once, on the call's shard thread, with the watch already
 * removed: with `released` false when the call is cancelled (reset by its client, connection
 * lost, deadline passed), or true when the call's memory is released without that. */
typedef struct rpc_call_watch {
  void (*fn)(struct rpc_call_watch *w, bool released);
  struct rpc_call_watch *prev, *next;
} rpc_call_watch;

/* Shard thread of the call. Returns 0, or -ECANCELED (already cancelled: not added). */
int rpc_call_watch_add(urpc_call *call, rpc_call_watch *w);
void rpc_call_watch_remove(urpc_call *call, rpc_call_watch *w);

#endif
