/* The JWT interceptor: `authorization: Bearer <JWT>` verified before the handler runs (and
 * before the policy, which reads the subject), the claims attached to the call.
 *
 * Key rotation without a lock on the call path, as auth/authz.c switches policies: the key set
 * in force is `current` with a generation number; each shard keeps its own reference and the
 * generation it took it at, compares generations on each call (one acquire load of a line only
 * a rotation writes) and takes the new set under the mutex once per shard per rotation. A
 * shard checks each call with one key set, whole. The last reference frees the old set.
 *
 * Cache: each shard remembers the tokens it verified (jwt_cache.c): keyed by the token's bytes
 * (a hash picks the set, all bytes are compared), not by connection, since the public API
 * names no connection and a token is what was verified, whoever sends it again. A hit costs a
 * hash and a compare instead of a signature check; an entry lives until the token's exp, an
 * eviction, or a rotation: a shard that sees a new generation empties its cache first. */
#include <wolfssl/options.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <wolfssl/wolfcrypt/wc_port.h>

#include "auth/file.h"
#include "auth/jwt.h"
#include "auth/urpc_auth.h"
#include "core/clock.h"
#include "core/log.h"

#define REFUSED_MESSAGE "invalid or missing bearer token"
#define LOG_INTERVAL_MS 100 /* a shard logs at most ten refusals a second, then a count */

jwt_slot *jwt_slot_of(urpc_jwt *j, int shard) {
  return shard >= 0 && shard < JWT_MAX_SHARDS ? &j->slots[shard] : NULL;
}

jwt_keyset *jwt_keys_of(urpc_jwt *j, jwt_slot *s) {
  unsigned gen = atomic_load_explicit(&j->gen, memory_order_acquire);
  if (gen == s->gen) return s->keys;
  pthread_mutex_lock(&j->mu);
  jwt_keyset *ks = j->current;
  if (ks) jwt_keyset_ref(ks);
  s->gen = atomic_load_explicit(&j->gen, memory_order_relaxed);
  pthread_mutex_unlock(&j->mu);
  jwt_keyset_unref(s->keys);
  s->keys = ks;
  if (s->cache) jwt_cache_clear(s->cache); /* verified with keys that may be gone */
  return ks;
}

/* The token of `authorization: Bearer <token>` (scheme case-insensitive, RFC 7235), or NULL
 * when the header is absent or names another scheme. */
const char *jwt_bearer(const char *v, size_t len, size_t *tok_len) {
  if (!v || len < 7 || strncasecmp(v, "bearer", 6) != 0 || (v[6] != ' ' && v[6] != '\t'))
    return NULL;
  size_t i = 7;
  while (i < len && (v[i] == ' ' || v[i] == '\t')) i++;
  while (len > i && (v[len - 1] == ' ' || v[len - 1] == '\t')) len--;
  *tok_len = len - i;
  return *tok_len ? v + i : NULL;
}

int jwt_check(urpc_jwt *j, jwt_slot *s, const char *token, size_t len, int64_t now,
              const jwt_result **res, char *why, size_t why_len) {
  jwt_keyset *ks = jwt_keys_of(j, s);
  if (!ks) {
    snprintf(why, why_len, "no keys configured");
    return -EACCES;
  }
  if (len > JWT_MAX_TOKEN) {
    snprintf(why, why_len, "token of %zu bytes (at most %d)", len, JWT_MAX_TOKEN);
    return -EACCES;
  }
  uint64_t h = jwt_cache_hash(token, len);
  if (s->cache && (*res = jwt_cache_get(s->cache, h, token, len, now, j->rules.leeway_s))) {
    core_ctr_inc(&s->cache_hits);
    return 0;
  }
  jwt_result *fresh;
  int err = jwt_verify(ks, &j->rules, token, len, now, &fresh, why, why_len);
  if (err < 0) return err;
  core_ctr_inc(&s->verified);
  if (!s->cache) s->cache = calloc(1, sizeof(*s->cache));
  free(s->last);
  s->last = fresh; /* valid until the shard's next check, whether cached or not */
  if (s->cache) jwt_cache_put(s->cache, h, token, len, fresh);
  *res = fresh;
  return 0;
}

static void log_refusal(jwt_slot *s, const char *path, const char *why) {
  unsigned long long held = 0;
  if (!core_log_limit_pass(&s->log, core_now_ms(), LOG_INTERVAL_MS, &held)) return;
  if (held) LOG_WARN("jwt: %llu more calls refused (not logged)", held);
  LOG_WARN("jwt: refused %s: %s", path, why);
}

/* The claims, copied into the call's arena so that they outlive any cache entry. */
static urpc_auth_info *attach(urpc_call *call, const jwt_result *res) {
  urpc_auth_info *info = urpc_call_alloc(call, sizeof(*info) + res->text_len);
  if (!info) return NULL;
  char *text = (char *)(info + 1);
  memcpy(text, res->text, res->text_len);
  *info = (urpc_auth_info){
      .subject = res->sub >= 0 ? text + res->sub : NULL,
      .issuer = res->iss >= 0 ? text + res->iss : NULL,
      .audience = res->aud >= 0 ? text + res->aud : NULL,
      .expires_at = res->exp,
      .claims = text,
  };
  urpc_call_set_auth_context(call, info);
  return info;
}

static urpc_status_code on_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)state;
  urpc_jwt *j = user;
  jwt_slot *s = jwt_slot_of(j, urpc_call_shard(call));
  if (!s) return URPC_STATUS_INTERNAL;
  size_t vlen = 0, tlen = 0;
  const char *v = (const char *)urpc_call_metadata(call, "authorization", &vlen);
  const char *token = jwt_bearer(v, vlen, &tlen);
  char why[160];
  if (!token) {
    if (j->optional) {
      core_ctr_inc(&s->anonymous);
      return URPC_STATUS_OK;
    }
    snprintf(why, sizeof(why), v ? "authorization is not a Bearer token" : "no bearer token");
  } else {
    const jwt_result *res;
    /* The precise wall clock: time() reads the coarse one, up to a tick behind, so a token
     * minted with nbf = this very second could be refused for another second. */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int err = jwt_check(j, s, token, tlen, (int64_t)ts.tv_sec, &res, why, sizeof(why));
    if (err == 0) {
      if (attach(call, res)) {
        core_ctr_inc(&s->passed);
        return URPC_STATUS_OK;
      }
      *msg = "out of memory";
      return URPC_STATUS_RESOURCE_EXHAUSTED;
    }
  }
  core_ctr_inc(&s->refused);
  log_refusal(s, urpc_call_path(call), why);
  *msg = REFUSED_MESSAGE;
  return URPC_STATUS_UNAUTHENTICATED;
}

static char *dup_or_null(const char *s, bool *oom) {
  if (!s) return NULL;
  char *c = strdup(s);
  if (!c) *oom = true;
  return c;
}

int urpc_jwt_new(urpc_server *s, const urpc_jwt_options *o, urpc_jwt **out) {
  urpc_jwt *j = calloc(1, sizeof(*j));
  if (!j) return -ENOMEM;
  j->slots = aligned_alloc(64, JWT_MAX_SHARDS * sizeof(jwt_slot));
  if (!j->slots) {
    free(j);
    return -ENOMEM;
  }
  memset(j->slots, 0, JWT_MAX_SHARDS * sizeof(jwt_slot));
  pthread_mutex_init(&j->mu, NULL);
  wolfCrypt_Init();
  bool oom = false;
  if (o) {
    j->rules.issuer = dup_or_null(o->issuer, &oom);
    j->rules.audience = dup_or_null(o->audience, &oom);
    j->rules.leeway_s = o->leeway_s;
    j->optional = o->optional;
  }
  int err = oom ? -ENOMEM : 0;
  if (!err && s) {
    urpc_interceptor ic = {.on_start = on_start, .user = j, .no_duration = true};
    err = urpc_server_add_interceptor(s, &ic);
  }
  if (err < 0) {
    urpc_jwt_free(j);
    return err;
  }
  *out = j;
  return 0;
}

void urpc_jwt_free(urpc_jwt *j) {
  if (!j) return;
  for (size_t i = 0; i < JWT_MAX_SHARDS; i++) {
    jwt_slot *s = &j->slots[i];
    jwt_keyset_unref(s->keys);
    if (s->cache) jwt_cache_clear(s->cache);
    free(s->cache);
    free(s->last);
  }
  jwt_keyset_unref(j->current);
  pthread_mutex_destroy(&j->mu);
  free((char *)j->rules.issuer);
  free((char *)j->rules.audience);
  free(j->slots);
  free(j);
  wolfCrypt_Cleanup();
}

int urpc_jwt_set_keys(urpc_jwt *j, const char *data, size_t len, char *why, size_t why_len) {
  jwt_keyset *ks;
  int err = jwt_keyset_parse(data, len, &ks, why, why_len);
  if (err < 0) return err;
  pthread_mutex_lock(&j->mu);
  jwt_keyset *old = j->current;
  j->current = ks;
  atomic_fetch_add_explicit(&j->gen, 1, memory_order_release);
  pthread_mutex_unlock(&j->mu);
  jwt_keyset_unref(old);
  return 0;
}

/* Key files are small: a file over this is not one. */
#define KEYS_FILE_MAX (1u << 20)

int urpc_jwt_load_keys_file(urpc_jwt *j, const char *path, char *why, size_t why_len) {
  char *buf;
  size_t n;
  int err = auth_read_file(path, KEYS_FILE_MAX, &buf, &n, why, why_len);
  if (err < 0) return err;
  err = urpc_jwt_set_keys(j, buf, n, why, why_len);
  free(buf);
  return err;
}

void jwt_get_stats(const urpc_jwt *j, jwt_stats *out) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < JWT_MAX_SHARDS; i++) {
    const jwt_slot *s = &j->slots[i];
    out->passed += core_ctr_get(&s->passed);
    out->refused += core_ctr_get(&s->refused);
    out->anonymous += core_ctr_get(&s->anonymous);
    out->verified += core_ctr_get(&s->verified);
    out->cache_hits += core_ctr_get(&s->cache_hits);
  }
}

void urpc_jwt_get_stats(const urpc_jwt *j, urpc_jwt_stats *out) {
  jwt_stats st;
  jwt_get_stats(j, &st);
  *out = (urpc_jwt_stats){st.passed, st.refused, st.anonymous, st.verified, st.cache_hits};
}
