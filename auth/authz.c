/* The authorization interceptor: each call's path, headers and caller against the policy,
 * before the handler runs; denied calls end PERMISSION_DENIED with grpc's message.
 *
 * Switching policies without a lock on the call path: the policy in force is `current` with a
 * generation number. Each shard keeps its own reference and the generation it took it at; a
 * call compares generations (one relaxed load of a line written only by a reload) and only
 * when they differ takes the new policy under the mutex, once per shard per reload. A shard
 * evaluates every call with one policy, whole: the switch happens between calls. The last
 * reference (the setter's or a shard's) frees the old policy. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth/file.h"
#include "auth/jwt.h"
#include "auth/policy.h"
#include "auth/urpc_auth.h"
#include "core/clock.h"
#include "core/counter.h"
#include "core/log.h"

#define MAX_SHARDS        1024
#define DRY_RUN_LOG_PER_S 10 /* dry-run lines a shard writes per second; the rest are counted */

typedef struct authz_slot {
  auth_policy *policy; /* this shard's reference */
  unsigned gen;
  core_ctr allowed, denied, dry_run_denied;
  uint64_t log_second;
  unsigned logged, suppressed;
} __attribute__((aligned(64))) authz_slot;

struct urpc_authz {
  urpc_server *server;
  bool dry_run;
  pthread_mutex_t mu;
  auth_policy *current; /* guarded by mu; NULL: allow everything */
  atomic_uint gen;
  core_ctr loaded, rejected; /* written under mu */
  authz_slot *slots;         /* [MAX_SHARDS], each written by its shard only */
};

static authz_slot *slot_of(urpc_authz *a, urpc_call *call) {
  int i = urpc_call_shard(call);
  return i >= 0 && i < MAX_SHARDS ? &a->slots[i] : NULL;
}

/* The shard's policy, brought up to date if a reload happened since its last call. */
static const char *method_path(void *server, size_t i) {
  const char *path = NULL;
  return urpc_server_method_info(server, (uint32_t)i, &path, NULL) == 0 ? path : NULL;
}

static auth_policy *policy_of(urpc_authz *a, authz_slot *s) {
  unsigned gen = atomic_load_explicit(&a->gen, memory_order_acquire);
  if (gen == s->gen) return s->policy;
  pthread_mutex_lock(&a->mu);
  auth_policy *p = a->current;
  /* Indexed by the first shard that takes it (the server has started: its methods are final),
   * under the mutex, before any shard holds it. */
  if (p && !p->by_method)
    auth_policy_index(p, urpc_server_method_count(a->server), method_path, a->server);
  if (p) auth_policy_ref(p);
  s->gen = atomic_load_explicit(&a->gen, memory_order_relaxed);
  pthread_mutex_unlock(&a->mu);
  auth_policy_unref(s->policy);
  s->policy = p;
  return p;
}

static const char *header_of(void *ctx, const char *key, size_t *len) {
  return (const char *)urpc_call_metadata(ctx, key, len);
}

/* The caller's principal names (urpc_auth.h says which, in which order). */
static void fill_principals(urpc_call *call, auth_request *r, char *jwt, size_t jwt_len) {
  urpc_peer peer;
  urpc_call_peer(call, &peer);
  if (peer.verified) {
    r->authenticated = true;
    if (peer.spiffe_id) r->principals[r->n_principals++] = peer.spiffe_id;
    if (peer.dns_name) r->principals[r->n_principals++] = peer.dns_name;
    if (peer.subject) r->principals[r->n_principals++] = peer.subject;
  }
  const urpc_auth_info *tok = urpc_call_auth(call);
  if (tok && tok->subject) {
    r->authenticated = true;
    snprintf(jwt, jwt_len, "jwt:%s", tok->subject);
    r->principals[r->n_principals++] = jwt;
  }
}

/* A JSON string's content (no quotes), escaped; cut short rather than overflow. */
static void json_escape(char *out, size_t cap, const char *s) {
  size_t o = 0;
  for (; s && *s && o + 7 < cap; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      out[o++] = '\\';
      out[o++] = (char)c;
    } else if (c < 0x20) {
      o += (size_t)snprintf(out + o, cap - o, "\\u%04x", c);
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = 0;
}

/* grpc's stdout_logger line (gRFC A59), one JSON object per audited decision. */
static void audit_stdout(const auth_policy *p, const auth_request *r, const char *rule,
                         bool allowed) {
  char path[512], principal[512], rule_e[256], name[256], ts[40];
  json_escape(path, sizeof(path), r->path);
  json_escape(principal, sizeof(principal), r->n_principals ? r->principals[0] : "");
  json_escape(rule_e, sizeof(rule_e), rule ? rule : "");
  json_escape(name, sizeof(name), p->name);
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  struct tm tm;
  gmtime_r(&now.tv_sec, &tm);
  strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
  printf("{\"grpc_audit_log\":{\"timestamp\":\"%s.%09ldZ\",\"rpc_method\":\"%s\","
         "\"principal\":\"%s\",\"policy_name\":\"%s\",\"matched_rule\":\"%s\","
         "\"authorized\":%s}}\n",
         ts, now.tv_nsec, path, principal, name, rule_e, allowed ? "true" : "false");
  fflush(stdout);
}

static void audit(const auth_policy *p, const auth_request *r, const char *rule, bool allowed) {
  bool want = p->audit == AUTH_AUDIT_ON_DENY_AND_ALLOW ||
              (allowed ? p->audit == AUTH_AUDIT_ON_ALLOW : p->audit == AUTH_AUDIT_ON_DENY);
  if (want && p->audit_stdout) audit_stdout(p, r, rule, allowed);
}

/* Dry run: one line per call the policy denies, at most DRY_RUN_LOG_PER_S a second per shard. */
static void log_dry_run(authz_slot *s, const auth_policy *p, const auth_request *r,
                        const char *rule) {
  uint64_t sec = core_now_ms() / 1000;
  if (sec != s->log_second) {
    if (s->suppressed)
      LOG_WARN("authz dry run: %u more calls would have been denied", s->suppressed);
    s->log_second = sec;
    s->logged = s->suppressed = 0;
  }
  if (s->logged++ >= DRY_RUN_LOG_PER_S) {
    s->suppressed++;
    return;
  }
  LOG_WARN("authz dry run: would deny %.*s from %s (%s%s%s of policy \"%s\")", (int)r->path_len,
           r->path, r->n_principals ? r->principals[0] : "an unauthenticated caller",
           rule ? "deny rule \"" : "no allow rule", rule ? rule : "", rule ? "\"" : "", p->name);
}

static urpc_status_code on_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)state;
  urpc_authz *a = user;
  authz_slot *s = slot_of(a, call);
  auth_policy *p = s ? policy_of(a, s) : NULL;
  if (!p) return URPC_STATUS_OK;
  const char *path = urpc_call_path(call);
  char jwt[JWT_MAX_SUBJECT + 8]; /* "jwt:" + a subject the verifier bounded */
  auth_request r = {
      .path = path, .path_len = strlen(path), .header = header_of, .header_ctx = call};
  fill_principals(call, &r, jwt, sizeof(jwt));
  const char *rule;
  bool allowed = auth_policy_allows_method(p, urpc_call_method_index(call), &r, &rule);
  if (p->audit != AUTH_AUDIT_NONE) audit(p, &r, rule, allowed);
  if (allowed) {
    core_ctr_inc(&s->allowed);
    return URPC_STATUS_OK;
  }
  if (a->dry_run) {
    core_ctr_inc(&s->dry_run_denied);
    log_dry_run(s, p, &r, rule);
    return URPC_STATUS_OK;
  }
  core_ctr_inc(&s->denied);
  *msg = "Unauthorized RPC request rejected.";
  return URPC_STATUS_PERMISSION_DENIED;
}

int urpc_authz_new(urpc_server *s, const urpc_authz_options *o, urpc_authz **out) {
  urpc_authz *a = calloc(1, sizeof(*a));
  if (!a) return -ENOMEM;
  a->slots = aligned_alloc(64, MAX_SHARDS * sizeof(authz_slot));
  if (!a->slots) {
    free(a);
    return -ENOMEM;
  }
  memset(a->slots, 0, MAX_SHARDS * sizeof(authz_slot));
  a->server = s;
  a->dry_run = o && o->dry_run;
  pthread_mutex_init(&a->mu, NULL);
  urpc_interceptor ic = {.on_start = on_start, .user = a, .no_duration = true};
  int err = urpc_server_add_interceptor(s, &ic);
  if (err < 0) {
    urpc_authz_free(a);
    return err;
  }
  *out = a;
  return 0;
}

void urpc_authz_free(urpc_authz *a) {
  if (!a) return;
  for (size_t i = 0; i < MAX_SHARDS; i++) auth_policy_unref(a->slots[i].policy);
  auth_policy_unref(a->current);
  pthread_mutex_destroy(&a->mu);
  free(a->slots);
  free(a);
}

int urpc_authz_set_policy(urpc_authz *a, const char *json, size_t len, char *why, size_t why_len) {
  auth_policy *p;
  int err = auth_policy_parse(json, len, &p, why, why_len);
  pthread_mutex_lock(&a->mu);
  if (err < 0) {
    core_ctr_inc(&a->rejected);
    pthread_mutex_unlock(&a->mu);
    return err;
  }
  auth_policy *old = a->current;
  a->current = p;
  atomic_fetch_add_explicit(&a->gen, 1, memory_order_release);
  core_ctr_inc(&a->loaded);
  pthread_mutex_unlock(&a->mu);
  auth_policy_unref(old);
  return 0;
}

/* Policies are small: a file over this is not one. */
#define POLICY_FILE_MAX (4u << 20)

int urpc_authz_load_file(urpc_authz *a, const char *path, char *why, size_t why_len) {
  char *buf;
  size_t n;
  int err = auth_read_file(path, POLICY_FILE_MAX, &buf, &n, why, why_len);
  if (err < 0) {
    pthread_mutex_lock(&a->mu);
    core_ctr_inc(&a->rejected);
    pthread_mutex_unlock(&a->mu);
    return err;
  }
  err = urpc_authz_set_policy(a, buf, n, why, why_len);
  free(buf);
  return err;
}

void urpc_authz_get_stats(const urpc_authz *a, urpc_authz_stats *out) {
  memset(out, 0, sizeof(*out));
  for (size_t i = 0; i < MAX_SHARDS; i++) {
    out->allowed += core_ctr_get(&a->slots[i].allowed);
    out->denied += core_ctr_get(&a->slots[i].denied);
    out->dry_run_denied += core_ctr_get(&a->slots[i].dry_run_denied);
  }
  out->policies_loaded = core_ctr_get(&a->loaded);
  out->policies_rejected = core_ctr_get(&a->rejected);
}
