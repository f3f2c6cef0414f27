/* Private to auth/: a gRFC A43 authorization policy, parsed from grpc's JSON and compiled into
 * flat matcher arrays, and its evaluation. No I/O, no threads: the interceptor (authz.c) owns
 * when a policy is used and freed. */
#ifndef URPC_AUTH_POLICY_H
#define URPC_AUTH_POLICY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/arena.h"

/* grpc's string patterns: "exact", "prefix*", "*suffix", "*" (any non-empty value). */
typedef enum auth_match_kind {
  AUTH_MATCH_EXACT,
  AUTH_MATCH_PREFIX,
  AUTH_MATCH_SUFFIX,
  AUTH_MATCH_PRESENT,
} auth_match_kind;

typedef struct auth_matcher {
  auth_match_kind kind;
  size_t len;
  const char *s;
} auth_matcher;

typedef struct auth_header_rule {
  const char *key; /* lowercase */
  size_t n_values;
  const auth_matcher *values; /* any of them */
} auth_header_rule;

typedef struct auth_rule {
  const char *name;
  size_t n_principals; /* 0: anyone, authenticated or not */
  const auth_matcher *principals;
  size_t n_paths; /* 0: any path */
  const auth_matcher *paths;
  size_t n_headers; /* every one must match */
  const auth_header_rule *headers;
} auth_rule;

/* audit_logging_options.audit_condition (gRFC A59). */
typedef enum auth_audit {
  AUTH_AUDIT_NONE,
  AUTH_AUDIT_ON_DENY,
  AUTH_AUDIT_ON_ALLOW,
  AUTH_AUDIT_ON_DENY_AND_ALLOW,
} auth_audit;

/* The rules whose paths can match one registered method's path, in policy order. */
typedef struct auth_method_rules {
  size_t n_deny, n_allow;
  const size_t *deny, *allow; /* indexes into the policy's deny and allow rules */
} auth_method_rules;

typedef struct auth_policy {
  atomic_uint refs;
  const char *name;
  size_t n_deny, n_allow;
  const auth_rule *deny, *allow;
  auth_audit audit;
  bool audit_stdout; /* the stdout_logger is configured */
  /* Made once by auth_policy_index, before the policy is shared; NULL until then. */
  const auth_method_rules *by_method; /* [method index - 1] */
  size_t n_methods;
  core_arena mem; /* everything above */
} auth_policy;

/* Parses and validates `json`. Returns 0 and a policy with one reference, or -EINVAL with one
 * line in `why` (grpc's wording where it has one) or -ENOMEM. */
int auth_policy_parse(const char *json, size_t len, auth_policy **out, char *why, size_t why_len);
void auth_policy_ref(auth_policy *p);
void auth_policy_unref(auth_policy *p);

/* What a call offers to the policy. */
typedef struct auth_request {
  const char *path; /* ":path" */
  size_t path_len;
  bool authenticated;        /* mTLS with a verified certificate, or a verified JWT */
  const char *principals[4]; /* its names (SPIFFE ID, DNS SAN, subject, "jwt:<sub>") */
  size_t n_principals;
  /* A request header's value (lowercase `key`), or NULL. */
  const char *(*header)(void *ctx, const char *key, size_t *len);
  void *header_ctx;
} auth_request;

/* Deny rules first, then allow rules; nothing matched is denied. Returns true if allowed;
 * *rule gets the matching rule's name (NULL when no rule matched). */
bool auth_policy_allows(const auth_policy *p, const auth_request *r, const char **rule);

/* Works out, for each of `n_methods` registered methods (path(ctx, i) for i in 1..n), which
 * rules its path can match, so that a call of a known method tries only those. Before the
 * policy is shared with other threads. 0 or -ENOMEM (the policy then works unindexed). */
int auth_policy_index(auth_policy *p, size_t n_methods, const char *(*path)(void *ctx, size_t i),
                      void *ctx);
/* auth_policy_allows for a call of registered method `method` (its request path is that
 * method's path); method 0, or an unindexed policy, tries every rule. */
bool auth_policy_allows_method(const auth_policy *p, size_t method, const auth_request *r,
                               const char **rule);

#endif
