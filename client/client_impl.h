/* The public client's internals (urpc_client.h), shared by runtime.c, channel.c and call.c. */
#ifndef URPC_CLIENT_IMPL_H
#define URPC_CLIENT_IMPL_H

#include <stdatomic.h>
#include <stdbool.h>

#include "client/resolver.h"
#include "client/subchannel.h"
#include "client/target.h"
#include "client/urpc_client.h"
#include "core/timer_wheel.h"
#include "io/shard.h"
#include "rpc/rpc_ext.h"

struct urpc_client {
  io_shard **shards;
  int n_shards;
};

/* A channel's part on one shard, touched by that shard's thread only. */
typedef struct ch_shard {
  _Alignas(64) struct urpc_channel *ch;
  io_shard *io;
  core_timer_wheel *timers;
  bool set_up;           /* subchannels made (at the first call on this shard) */
  bool resolving;        /* a lookup is under way */
  cli_subchannel **subs; /* pick_first: one with every address; round_robin: one per address */
  unsigned n_subs, rr;
  cli_subchannel **retired; /* gone from the addresses, freed once their calls end */
  unsigned n_retired;
  uint64_t resolved_ms; /* the last lookup's start (core_now_ms), 0: never */
  core_timer reresolve;
} ch_shard;

struct urpc_channel {
  io_shard **shards;
  int n_shards;
  urpc_lb_policy lb;
  cli_target target;
  char *target_text;
  cli_resolver *resolver; /* dns targets */
  tls_ctx *tls;
  char *authority, *server_name, *user_agent;
  cli_subchannel_config sub_cfg;
  uint32_t resolve_interval_ms;
  _Atomic unsigned post_next;
  ch_shard *per; /* n_shards */
};

/* channel.c: the shard part of `ch` for the calling thread, set up at first use, or NULL when
 * this thread is not one of the channel's shards. */
ch_shard *ch_shard_here(urpc_channel *ch);
/* The subchannel a new call goes to (the LB policy's pick). */
cli_subchannel *ch_shard_pick(ch_shard *cs);

#endif
