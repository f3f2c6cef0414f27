/* How a run is laid out, as arithmetic only (unit-tested without a network):
 *
 * - the calls in flight ("slots", --concurrency or -c * -m) go to connections round robin:
 *   slot j on connection j % connections, so each connection carries concurrency / connections
 *   of them, the first ones one more;
 * - connection i is a channel used only on shard i % shards (the client makes a channel's
 *   connection on a shard when a call is made there), so each shard owns its connections and
 *   the slots on them, and shares nothing with the others during the run;
 * - -n is split over the shards in proportion to their slots, so they end together;
 * - --rps R is split the same way: a shard with w of the W slots runs its own schedule at
 *   R * w / W calls a second, call k at offset + k * interval, the shards' offsets staggered by
 *   interval * shard / shards so that S shards at the same rate interleave as one schedule of
 *   R would. */
#ifndef URPC_LOAD_PLAN_H
#define URPC_LOAD_PLAN_H

#include <stdint.h>

static inline uint32_t load_slot_connection(uint64_t slot, uint32_t connections) {
  return (uint32_t)(slot % connections);
}

static inline int load_connection_shard(uint32_t connection, int shards) {
  return (int)(connection % (uint32_t)shards);
}

/* Slots on shard `shard`: those of its connections. */
uint64_t load_shard_slots(uint64_t concurrency, uint32_t connections, int shards, int shard);
/* Slots on connection `connection`. */
uint64_t load_connection_slots(uint64_t concurrency, uint32_t connections, uint32_t connection);

/* Splits `total` over n parts in proportion to weights (their sum above 0): out[i] is
 * floor(total * w[i] / sum), and what that leaves goes one each to the first parts with a
 * weight. The parts add up to total. */
void load_split(uint64_t total, const uint64_t *weights, int n, uint64_t *out);

/* One shard's open-loop schedule, in ns from the run's start. */
typedef struct load_sched {
  double interval_ns; /* between two calls of this shard */
  double offset_ns;   /* of its first call */
} load_sched;

/* The schedule of a shard with `weight` of the `concurrency` slots, at `rps` calls a second
 * in all (rps > 0, weight > 0). */
void load_sched_init(load_sched *s, uint64_t rps, uint64_t weight, uint64_t concurrency, int shard,
                     int shards);
/* When call k is due. */
static inline uint64_t load_sched_at(const load_sched *s, uint64_t k) {
  return (uint64_t)(s->offset_ns + (double)k * s->interval_ns);
}
/* How many calls are due `elapsed_ns` after the start (those with load_sched_at <= elapsed). */
uint64_t load_sched_due(const load_sched *s, uint64_t elapsed_ns);

#endif
