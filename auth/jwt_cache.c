/* A shard's cache of verified tokens: 256 sets of 4 ways, found by a hash of the token bytes
 * and confirmed by comparing them all (the hash only picks the set: a collision costs a miss,
 * never a wrong answer). An entry is one allocation, the token then its jwt_result, and lives
 * until the token's exp (plus the leeway), an eviction from its set, or a key rotation
 * (jwt_cache_clear). Only the shard's own thread touches it: no lock, no atomic. The bytes all
 * entries hold are bounded (JWT_CACHE_BYTES), as is each token (JWT_MAX_TOKEN). */
#include <stdlib.h>
#include <string.h>

#include "auth/jwt.h"

/* Word at a time, multiply and fold (not cryptographic: a chosen collision only evicts). */
uint64_t jwt_cache_hash(const char *token, size_t len) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ len;
  size_t i = 0;
  for (; i + 8 <= len; i += 8) {
    uint64_t w;
    memcpy(&w, token + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  memcpy(&w, token + i, len - i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  h ^= h >> 29;
  return h ? h : 1; /* 0 marks an empty way */
}

static size_t entry_bytes(const jwt_cache_entry *e) {
  return e->len + sizeof(jwt_result) + e->res->text_len;
}

static void drop(jwt_cache *c, jwt_cache_entry *e) {
  c->bytes -= entry_bytes(e);
  free(e->token);
  memset(e, 0, sizeof(*e));
}

static jwt_cache_entry *set_of(jwt_cache *c, uint64_t hash) {
  return c->e[(hash >> 40) % JWT_CACHE_SETS];
}

const jwt_result *jwt_cache_get(jwt_cache *c, uint64_t hash, const char *token, size_t len,
                                int64_t now, int64_t leeway_s) {
  jwt_cache_entry *set = set_of(c, hash);
  for (int w = 0; w < JWT_CACHE_WAYS; w++) {
    jwt_cache_entry *e = &set[w];
    if (e->hash != hash || e->len != len || memcmp(e->token, token, len) != 0) continue;
    if (now >= e->res->exp + leeway_s) {
      drop(c, e);
      return NULL;
    }
    e->used = ++c->tick;
    return e->res;
  }
  return NULL;
}

bool jwt_cache_put(jwt_cache *c, uint64_t hash, const char *token, size_t len,
                   const jwt_result *res) {
  jwt_cache_entry *set = set_of(c, hash), *victim = &set[0];
  for (int w = 0; w < JWT_CACHE_WAYS; w++) {
    if (!set[w].hash) {
      victim = &set[w];
      break;
    }
    if (set[w].used < victim->used) victim = &set[w];
  }
  if (victim->hash) drop(c, victim);
  /* The result after the token, aligned for its int64_t. */
  size_t at = (len + 7) & ~(size_t)7, rbytes = sizeof(jwt_result) + res->text_len;
  if (c->bytes + len + rbytes > JWT_CACHE_BYTES) return false;
  char *mem = malloc(at + rbytes);
  if (!mem) return false;
  memcpy(mem, token, len);
  memcpy(mem + at, res, rbytes);
  *victim = (jwt_cache_entry){.hash = hash,
                              .used = ++c->tick,
                              .len = len,
                              .token = mem,
                              .res = (jwt_result *)(void *)(mem + at)};
  c->bytes += len + rbytes;
  return true;
}

void jwt_cache_clear(jwt_cache *c) {
  for (int s = 0; s < JWT_CACHE_SETS; s++)
    for (int w = 0; w < JWT_CACHE_WAYS; w++)
      if (c->e[s][w].hash) drop(c, &c->e[s][w]);
  c->tick = 0;
}
