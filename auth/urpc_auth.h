/* uringrpc authentication and authorization: gRPC authorization policies (gRFC A43, grpc's JSON
 * policy language, as grpc C++, Go and Java read it) over mTLS identities and JWT bearer tokens.
 * Public API, beside uringrpc.h. Both are interceptors (urpc_server_add_interceptor): set them
 * up before urpc_server_start, JWT first so that the policy sees the token's subject.
 *
 * Principals. A rule's `source.principals` patterns match an authenticated caller:
 * - over mTLS (a client certificate that verified): its SPIFFE ID (URI SAN), then its first DNS
 *   SAN, then its subject (e.g. "/CN=client") — a pattern matches if it matches any of them;
 * - with a verified JWT: "jwt:" followed by the token's `sub` (e.g. "jwt:alice"), so a token's
 *   subject can never pass for a certificate's identity.
 * Patterns: "exact", "prefix*", "*suffix", and "*" (any authenticated caller). A caller with
 * neither is unauthenticated: only rules without `principals` match it. */
#ifndef URINGRPC_AUTH_H
#define URINGRPC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "uringrpc.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- authorization policy ---- */

typedef struct urpc_authz urpc_authz;

typedef struct urpc_authz_options {
  /* Dry run: evaluate and log what would be denied (naming the rule), deny nothing. */
  bool dry_run;
} urpc_authz_options;

/* Adds the policy interceptor to `s` (before start). Until a policy is set, every call is
 * allowed. `o` may be NULL. Returns 0, -ENOMEM or -EBUSY. The object must outlive the server. */
int urpc_authz_new(urpc_server *s, const urpc_authz_options *o, urpc_authz **out);
/* After urpc_server_free. */
void urpc_authz_free(urpc_authz *a);

/* Parses and validates a policy (grpc's JSON: name, deny_rules, allow_rules, and
 * audit_logging_options) and makes it the one every shard uses from its next call; any thread,
 * any time. A policy that does not validate changes nothing: -EINVAL, with one line in `why`
 * naming the problem (unknown field, bad pattern, forbidden header, ...). */
int urpc_authz_set_policy(urpc_authz *a, const char *json, size_t len, char *why, size_t why_len);
/* The same from a file. -errno if it cannot be read. */
int urpc_authz_load_file(urpc_authz *a, const char *path, char *why, size_t why_len);

/* Decisions so far, summed over the shards (any thread). */
typedef struct urpc_authz_stats {
  uint64_t allowed, denied;
  uint64_t dry_run_denied; /* calls a dry run let through that the policy denies */
  uint64_t policies_loaded, policies_rejected;
} urpc_authz_stats;
void urpc_authz_get_stats(const urpc_authz *a, urpc_authz_stats *out);

/* ---- JWT bearer tokens ---- */

typedef struct urpc_jwt urpc_jwt;

typedef struct urpc_jwt_options {
  const char *issuer;   /* required `iss`, or NULL for any */
  const char *audience; /* required in `aud` (a string or an array), or NULL for any */
  unsigned leeway_s;    /* clock skew allowed on exp, nbf and iat; default 0 (set 60 e.g.) */
  bool optional;        /* calls without a token go through unauthenticated; default: refused */
} urpc_jwt_options;

/* Adds the JWT interceptor (before start; before urpc_authz_new so the policy sees `sub`).
 * `authorization: Bearer <JWT>` (a compact JWS) is verified against the keys set with
 * urpc_jwt_set_keys; a missing or bad token gets UNAUTHENTICATED with a generic message (the
 * reason is logged, at most ten lines a second per shard). Until keys are set every token is
 * refused. Algorithms: RS256/384/512, ES256, ES384, EdDSA (Ed25519); never "none" or HS*. A
 * token's kid selects the keys with that kid (keys without one are tried for any token); the
 * key's kind, and its JWK "alg" if given, must fit the token's alg. Claims: exp is required
 * and must be in the future; nbf and iat, if present, not in the future; iss and aud as the
 * options ask; each within the leeway; sub at most 255 bytes. Tokens over 8 KiB are refused.
 * A verified token is remembered by the shard that verified it (by its exact bytes) until its
 * exp, so a client reusing its token pays for the signature once per shard; new keys forget
 * every such verification. Returns 0, -ENOMEM or -EBUSY. */
int urpc_jwt_new(urpc_server *s, const urpc_jwt_options *o, urpc_jwt **out);
/* After urpc_server_free. */
void urpc_jwt_free(urpc_jwt *j);
/* Keys: a JWKS document ({"keys": [...]} or one JWK: RSA 2048 to 4096 bits, EC P-256 and
 * P-384, OKP Ed25519; keys for other uses, algorithms or curves are skipped) or PEM "PUBLIC KEY"
 * blocks; any thread, any time (rotation: calls switch between two calls, without a lock on
 * their path). Returns 0 with a one-line summary in `why` (the keys, what was skipped). Invalid
 * input changes nothing: -EINVAL and one line; a file that cannot be read -errno. */
int urpc_jwt_set_keys(urpc_jwt *j, const char *data, size_t len, char *why, size_t why_len);
int urpc_jwt_load_keys_file(urpc_jwt *j, const char *path, char *why, size_t why_len);

/* Calls so far, summed over the shards (any thread): with a valid token, refused
 * (UNAUTHENTICATED), let through without one (optional); and tokens checked by signature vs
 * found in the per-shard cache. */
typedef struct urpc_jwt_stats {
  uint64_t passed, refused, anonymous;
  uint64_t verified, cache_hits;
} urpc_jwt_stats;
void urpc_jwt_get_stats(const urpc_jwt *j, urpc_jwt_stats *out);

/* What a verified token said, for handlers and the policy. Strings live as long as the call. */
typedef struct urpc_auth_info {
  const char *subject;  /* sub */
  const char *issuer;   /* iss */
  const char *audience; /* the aud value that matched (or the first) */
  int64_t expires_at;   /* exp, seconds since the epoch; 0 if absent */
  const char *claims;   /* the whole payload, JSON text */
} urpc_auth_info;

/* The call's verified token, or NULL (no JWT interceptor, or an optional token absent). On
 * the call's shard thread or its handler. */
const urpc_auth_info *urpc_call_auth(const urpc_call *call);

#ifdef __cplusplus
}
#endif
#endif
