/* The layout of a run (plan.h). */
#include "bench/load/plan.h"

#include <math.h>

uint64_t load_connection_slots(uint64_t concurrency, uint32_t connections, uint32_t connection) {
  return concurrency / connections + (connection < concurrency % connections ? 1 : 0);
}

uint64_t load_shard_slots(uint64_t concurrency, uint32_t connections, int shards, int shard) {
  uint64_t n = 0;
  for (uint32_t c = (uint32_t)shard; c < connections; c += (uint32_t)shards)
    n += load_connection_slots(concurrency, connections, c);
  return n;
}

void load_split(uint64_t total, const uint64_t *weights, int n, uint64_t *out) {
  unsigned __int128 sum = 0;
  for (int i = 0; i < n; i++) sum += weights[i];
  uint64_t given = 0;
  for (int i = 0; i < n; i++) {
    out[i] = sum ? (uint64_t)((unsigned __int128)total * weights[i] / sum) : 0;
    given += out[i];
  }
  for (int i = 0; i < n && given < total; i++) {
    if (!weights[i]) continue;
    out[i]++;
    given++;
  }
}

void load_sched_init(load_sched *s, uint64_t rps, uint64_t weight, uint64_t concurrency, int shard,
                     int shards) {
  s->interval_ns = 1e9 * (double)concurrency / ((double)rps * (double)weight);
  s->offset_ns = s->interval_ns * shard / shards;
}

uint64_t load_sched_due(const load_sched *s, uint64_t elapsed_ns) {
  double t = (double)elapsed_ns - s->offset_ns;
  uint64_t k = t < 0 ? 0 : (uint64_t)floor(t / s->interval_ns) + 1;
  /* Rounding at the edge (load_sched_at truncates): agree with it exactly. */
  while (k > 0 && load_sched_at(s, k - 1) > elapsed_ns) k--;
  while (load_sched_at(s, k) <= elapsed_ns) k++;
  return k;
}
