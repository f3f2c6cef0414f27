/* Private to auth/: JWT bearer tokens (RFC 7519) as compact JWS (RFC 7515) signed with public
 * keys (RFC 7518 RS256/384/512, ES256, ES384; RFC 8037 EdDSA with Ed25519).
 *
 * - jwks.c: a key set parsed from a JWKS document or PEM public keys, kept as the keys' raw
 *   public numbers (immutable, shared by every shard, reference counted).
 * - jwt_verify.c: a token checked against a key set and the claim rules: no I/O, no threads,
 *   no state; what it accepts it returns as one heap block (jwt_result).
 * - jwt_cache.c: a shard's memory of tokens it verified, so a client that reuses its token
 *   pays the signature check once.
 * - jwt.c: the interceptor (urpc_jwt_*), per-shard key set references and caches. */
#ifndef URPC_AUTH_JWT_H
#define URPC_AUTH_JWT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/urpc_auth.h"
#include "core/counter.h"
#include "core/log.h"

/* Tokens longer than this are refused before any decoding (a real one is under 2 KiB). */
#define JWT_MAX_TOKEN 8192
/* Keys a set may hold: a token without `kid` may be tried against each key of its kind. */
#define JWT_MAX_KEYS 64
/* `sub` longer than this is refused: it becomes the principal "jwt:<sub>" of auth/authz.c. */
#define JWT_MAX_SUBJECT 255

typedef enum jwt_alg {
  JWT_ALG_UNSET = 0, /* a JWK without "alg": fits every alg of its kind */
  JWT_ALG_RS256,
  JWT_ALG_RS384,
  JWT_ALG_RS512,
  JWT_ALG_ES256,
  JWT_ALG_ES384,
  JWT_ALG_EDDSA,
} jwt_alg;

typedef enum jwt_kind {
  JWT_KEY_RSA,     /* a = n, b = e (big-endian, no leading zeros) */
  JWT_KEY_EC_P256, /* a = x, b = y (32 bytes each) */
  JWT_KEY_EC_P384, /* a = x, b = y (48 bytes each) */
  JWT_KEY_ED25519, /* a = the 32-byte public key, b unused */
} jwt_kind;

typedef struct jwt_key {
  jwt_kind kind;
  jwt_alg alg; /* the JWK's "alg", or JWT_ALG_UNSET */
  char *kid;   /* NULL: none (PEM keys, JWKs without "kid") */
  uint8_t *a, *b;
  size_t a_len, b_len;
} jwt_key;

/* Immutable once parsed; freed by its last reference. */
typedef struct jwt_keyset {
  atomic_uint refs;
  size_t n;
  jwt_key keys[JWT_MAX_KEYS];
} jwt_keyset;

/* Parses a JWKS document ({"keys": [...]} or one JWK) or one or more PEM "PUBLIC KEY" blocks
 * (RSA, EC P-256/P-384, Ed25519). JWKs that are not signature keys this code can use ("use"
 * other than "sig", "key_ops" without "verify", kty "oct", other curves or algs) are skipped;
 * a malformed key (bad base64url, wrong coordinate size, a point off its curve, an RSA modulus
 * under 2048 or over 4096 bits, private members present) fails the whole set, as does a set
 * with no usable key. Returns 0 and a set with one reference (`why` then summarises what was
 * loaded and skipped), or -EINVAL with one line in `why`, or -ENOMEM. */
int jwt_keyset_parse(const char *data, size_t len, jwt_keyset **out, char *why, size_t why_len);
void jwt_keyset_ref(jwt_keyset *ks);
void jwt_keyset_unref(jwt_keyset *ks);

/* base64url without padding (RFC 7515 §2) into `out` (room for n * 3 / 4 + 3 bytes): only the
 * url-safe alphabet, no '=', no whitespace, unused bits zero. Returns the byte count, or -1. */
long jwt_b64url_decode(const char *in, size_t n, uint8_t *out);

/* The claim rules (urpc_jwt_options, copied). */
typedef struct jwt_rules {
  const char *issuer;   /* NULL: any */
  const char *audience; /* NULL: any */
  int64_t leeway_s;
} jwt_rules;

/* What a token that passed said: one heap block, freed with free(). */
typedef struct jwt_result {
  int64_t exp;
  int32_t sub, iss, aud; /* offsets into text, -1 when absent */
  uint32_t text_len;     /* bytes of text, the NULs included */
  char text[];           /* the payload JSON, NUL, then sub, iss, aud, each NUL-terminated */
} jwt_result;

/* Verifies `token` (the compact JWS, without "Bearer ") at wall-clock time `now` (seconds
 * since the epoch): size, form, header (alg allowed and fitting a key, no "crit"), signature
 * against the candidate keys, then the claims: exp required and in the future, nbf and iat
 * not in the future, iss and aud as the rules ask, each within the leeway. Returns 0 and
 * *out, or -EACCES with the reason in `why` (server log only: it names no secret), or
 * -ENOMEM. The key set is only read. */
int jwt_verify(const jwt_keyset *ks, const jwt_rules *r, const char *token, size_t len, int64_t now,
               jwt_result **out, char *why, size_t why_len);

/* ---- a shard's cache of verified tokens ---- */

#define JWT_CACHE_WAYS  4
#define JWT_CACHE_SETS  256        /* 1024 entries */
#define JWT_CACHE_BYTES (2u << 20) /* what its entries may hold in all */

typedef struct jwt_cache_entry {
  uint64_t hash; /* of the token bytes; 0: empty */
  uint64_t used; /* the shard's lookup tick when last hit (LRU within the set) */
  size_t len;    /* token bytes */
  char *token;   /* the token, then the jwt_result (one allocation) */
  jwt_result *res;
} jwt_cache_entry;

typedef struct jwt_cache {
  uint64_t tick;
  size_t bytes; /* held by entries */
  jwt_cache_entry e[JWT_CACHE_SETS][JWT_CACHE_WAYS];
} jwt_cache;

uint64_t jwt_cache_hash(const char *token, size_t len);
/* The entry for exactly these token bytes, or NULL. Entries past exp + leeway at `now` are
 * dropped on the way. */
const jwt_result *jwt_cache_get(jwt_cache *c, uint64_t hash, const char *token, size_t len,
                                int64_t now, int64_t leeway_s);
/* Remembers a verification (copies token and result). Evicts the set's least recently used
 * entry; skips caching (returns false) when the byte bound would be passed or memory lacks. */
bool jwt_cache_put(jwt_cache *c, uint64_t hash, const char *token, size_t len,
                   const jwt_result *res);
/* Drops every entry (key rotation). */
void jwt_cache_clear(jwt_cache *c);

/* ---- the interceptor's state (jwt.c), open to the unit tests and the benchmark ---- */

#define JWT_MAX_SHARDS 1024

/* One shard's: written by that shard's thread only (counters read by anyone). */
typedef struct jwt_slot {
  jwt_keyset *keys; /* this shard's reference */
  unsigned gen;     /* the generation `keys` was taken at */
  jwt_cache *cache; /* allocated at the first verified token */
  jwt_result *last; /* the last verification, until the next one */
  core_ctr passed, refused, anonymous, verified, cache_hits;
  core_log_limit log;
} __attribute__((aligned(64))) jwt_slot;

struct urpc_jwt {
  jwt_rules rules; /* strings owned */
  bool optional;
  pthread_mutex_t mu;
  jwt_keyset *current; /* guarded by mu; NULL until keys are set: every token is refused */
  atomic_uint gen;
  jwt_slot *slots; /* [JWT_MAX_SHARDS] */
};

jwt_slot *jwt_slot_of(urpc_jwt *j, int shard);
/* The shard's key set, brought up to date (and its cache emptied) after a rotation. */
jwt_keyset *jwt_keys_of(urpc_jwt *j, jwt_slot *s);
/* The token of an authorization header value "Bearer <token>", or NULL. */
const char *jwt_bearer(const char *value, size_t len, size_t *tok_len);
/* What the interceptor does with a token on shard `s`'s thread: the cache, else jwt_verify
 * (then cached). 0 and *res (valid until the shard's next jwt_check), or -EACCES with `why`,
 * or -ENOMEM. */
int jwt_check(urpc_jwt *j, jwt_slot *s, const char *token, size_t len, int64_t now,
              const jwt_result **res, char *why, size_t why_len);

typedef struct jwt_stats {
  uint64_t passed, refused, anonymous; /* calls */
  uint64_t verified, cache_hits;       /* tokens checked by signature, and found cached */
} jwt_stats;
/* Summed over the shards; any thread. */
void jwt_get_stats(const urpc_jwt *j, jwt_stats *out);

#endif
