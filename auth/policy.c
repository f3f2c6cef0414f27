/* grpc's authorization policy JSON (gRFC A43; audit options from A59), read with Debian's cJSON
 * and checked as grpc's translator checks it: every field known, every type right, rule lists
 * not empty, header keys that may be matched only; errors worded as grpc words them, with the
 * path to the offending field ("allow_rules 1: \"headers\" 0: Unsupported \"key\" host.").
 * The compiled policy is flat arrays in one arena, shared read-only by every shard. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "auth/policy.h"

typedef struct parser {
  core_arena *mem;
  char *why;
  size_t why_len;
  char where[160]; /* the path to what is being read, for errors */
} parser;

__attribute__((format(printf, 2, 3))) static int fail(parser *p, const char *fmt, ...) {
  char msg[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  snprintf(p->why, p->why_len, "%s%s", p->where, msg);
  return -EINVAL;
}

/* Appends to the error path for the duration of a nested parse; returns the old length. */
__attribute__((format(printf, 2, 3))) static size_t enter(parser *p, const char *fmt, ...) {
  size_t at = strlen(p->where);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->where + at, sizeof(p->where) - at, fmt, ap);
  va_end(ap);
  return at;
}
static void leave(parser *p, size_t at) {
  p->where[at] = 0;
}

static const char *copy(parser *p, const char *s, size_t n) {
  char *c = core_arena_alloc(p->mem, n + 1);
  if (!c) return NULL;
  memcpy(c, s, n);
  c[n] = 0;
  return c;
}

/* Every key of `obj` is one of `known` (NULL-terminated) and appears once. */
static int known_fields(parser *p, const cJSON *obj, const char *const *known, const char *in) {
  for (const cJSON *c = obj->child; c; c = c->next) {
    bool ok = false;
    for (const char *const *k = known; *k && !ok; k++) ok = strcmp(c->string, *k) == 0;
    if (!ok)
      return in ? fail(p, "policy contains unknown field \"%s\" in \"%s\".", c->string, in)
                : fail(p, "policy contains unknown field \"%s\".", c->string);
    for (const cJSON *d = c->next; d; d = d->next)
      if (strcmp(c->string, d->string) == 0) return fail(p, "duplicate field \"%s\".", c->string);
  }
  return 0;
}

static int matcher(parser *p, const char *v, auth_matcher *m) {
  size_t n = strlen(v);
  if (strcmp(v, "*") == 0) {
    *m = (auth_matcher){AUTH_MATCH_PRESENT, 0, ""};
    return 0;
  }
  if (n && v[0] == '*') {
    m->kind = AUTH_MATCH_SUFFIX;
    v++, n--;
  } else if (n && v[n - 1] == '*') {
    m->kind = AUTH_MATCH_PREFIX;
    n--;
  } else {
    m->kind = AUTH_MATCH_EXACT;
  }
  m->len = n;
  m->s = copy(p, v, n);
  return m->s ? 0 : -ENOMEM;
}

/* An array of pattern strings named `what` ("principals", "paths", "values"). */
static int patterns(parser *p, const cJSON *arr, const char *what, const auth_matcher **out,
                    size_t *n_out) {
  if (!cJSON_IsArray(arr)) return fail(p, "\"%s\" is not an array.", what);
  size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
  auth_matcher *m = n ? core_arena_alloc(p->mem, n * sizeof(*m)) : NULL;
  if (n && !m) return -ENOMEM;
  for (const cJSON *c = arr->child; c; c = c->next, i++) {
    size_t at = enter(p, "\"%s\" %zu: ", what, i);
    if (!cJSON_IsString(c)) return fail(p, "is not a string.");
    int err = matcher(p, c->valuestring, &m[i]);
    if (err) return err;
    leave(p, at);
  }
  *out = m;
  *n_out = n;
  return 0;
}

/* Header keys grpc refuses to match: pseudo-headers, grpc's own, and hop-by-hop ones; and
 * content-type, which this server checks itself and does not keep as metadata (a rule on it
 * could never match). */
static bool unsupported_header(const char *k) {
  static const char *const names[] = {
      "content-type",        "host", "connection", "keep-alive",        "proxy-authenticate",
      "proxy-authorization", "te",   "trailer",    "transfer-encoding", "upgrade"};
  if (k[0] == ':' || strncasecmp(k, "grpc-", 5) == 0) return true;
  for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
    if (strcasecmp(k, names[i]) == 0) return true;
  return false;
}

static int header_rule(parser *p, const cJSON *obj, auth_header_rule *h) {
  static const char *const known[] = {"key", "values", NULL};
  if (!cJSON_IsObject(obj)) return fail(p, "is not an object.");
  int err = known_fields(p, obj, known, NULL);
  if (err) return err;
  const cJSON *key = cJSON_GetObjectItemCaseSensitive(obj, "key");
  const cJSON *values = cJSON_GetObjectItemCaseSensitive(obj, "values");
  if (!key) return fail(p, "\"key\" is not present.");
  if (!cJSON_IsString(key)) return fail(p, "\"key\" is not a string.");
  if (!key->valuestring[0] || unsupported_header(key->valuestring))
    return fail(p, "Unsupported \"key\" %s.", key->valuestring);
  if (!values) return fail(p, "\"values\" is not present.");
  if ((err = patterns(p, values, "values", &h->values, &h->n_values))) return err;
  if (!h->n_values) return fail(p, "\"values\" list is empty.");
  char *k = (char *)copy(p, key->valuestring, strlen(key->valuestring));
  if (!k) return -ENOMEM;
  for (char *c = k; *c; c++)
    if (*c >= 'A' && *c <= 'Z') *c = (char)(*c - 'A' + 'a'); /* metadata keys are lowercase */
  h->key = k;
  return 0;
}

static int request(parser *p, const cJSON *obj, auth_rule *r) {
  static const char *const known[] = {"paths", "headers", NULL};
  if (!cJSON_IsObject(obj)) return fail(p, "\"request\" is not an object.");
  int err = known_fields(p, obj, known, "request");
  if (err) return err;
  const cJSON *paths = cJSON_GetObjectItemCaseSensitive(obj, "paths");
  if (paths && (err = patterns(p, paths, "paths", &r->paths, &r->n_paths))) return err;
  const cJSON *headers = cJSON_GetObjectItemCaseSensitive(obj, "headers");
  if (!headers) return 0;
  if (!cJSON_IsArray(headers)) return fail(p, "\"headers\" is not an array.");
  size_t n = (size_t)cJSON_GetArraySize(headers), i = 0;
  auth_header_rule *h = n ? core_arena_alloc(p->mem, n * sizeof(*h)) : NULL;
  if (n && !h) return -ENOMEM;
  for (const cJSON *c = headers->child; c; c = c->next, i++) {
    size_t at = enter(p, "\"headers\" %zu: ", i);
    if ((err = header_rule(p, c, &h[i]))) return err;
    leave(p, at);
  }
  r->headers = h;
  r->n_headers = n;
  return 0;
}

static int rule(parser *p, const cJSON *obj, auth_rule *r) {
  static const char *const known[] = {"name", "source", "request", NULL};
  static const char *const source_known[] = {"principals", NULL};
  if (!cJSON_IsObject(obj)) return fail(p, "is not an object.");
  int err = known_fields(p, obj, known, "rule");
  if (err) return err;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(obj, "name");
  if (!name || (cJSON_IsString(name) && !name->valuestring[0]))
    return fail(p, "\"name\" is not present.");
  if (!cJSON_IsString(name)) return fail(p, "\"name\" is not a string.");
  if (!(r->name = copy(p, name->valuestring, strlen(name->valuestring)))) return -ENOMEM;
  const cJSON *source = cJSON_GetObjectItemCaseSensitive(obj, "source");
  if (source) {
    if (!cJSON_IsObject(source)) return fail(p, "\"source\" is not an object.");
    if ((err = known_fields(p, source, source_known, "source"))) return err;
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(source, "principals");
    if (pr && (err = patterns(p, pr, "principals", &r->principals, &r->n_principals))) return err;
  }
  const cJSON *req = cJSON_GetObjectItemCaseSensitive(obj, "request");
  return req ? request(p, req, r) : 0;
}

static int rules(parser *p, const cJSON *arr, const char *which, const auth_rule **out,
                 size_t *n_out) {
  char what[32];
  snprintf(what, sizeof(what), "%s_rules", which);
  if (!cJSON_IsArray(arr)) return fail(p, "\"%s\" is not an array.", what);
  size_t n = (size_t)cJSON_GetArraySize(arr), i = 0;
  if (!n) return fail(p, "%s is empty.", what);
  auth_rule *r = core_arena_alloc(p->mem, n * sizeof(*r));
  if (!r) return -ENOMEM;
  memset(r, 0, n * sizeof(*r));
  for (const cJSON *c = arr->child; c; c = c->next, i++) {
    size_t at = enter(p, "%s %zu: ", what, i);
    int err = rule(p, c, &r[i]);
    if (err) return err;
    leave(p, at);
  }
  *out = r;
  *n_out = n;
  return 0;
}

/* audit_logging_options (gRFC A59): a condition, and loggers of which this server has grpc's
 * built-in stdout_logger; an unknown one is an error unless it says is_optional. */
static int audit_options(parser *p, const cJSON *obj, auth_policy *pol) {
  static const char *const known[] = {"audit_condition", "audit_loggers", NULL};
  static const char *const logger_known[] = {"name", "is_optional", "config", NULL};
  static const char *const conditions[] = {"NONE", "ON_DENY", "ON_ALLOW", "ON_DENY_AND_ALLOW"};
  if (!cJSON_IsObject(obj)) return fail(p, "\"audit_logging_options\" is not an object.");
  int err = known_fields(p, obj, known, "audit_logging_options");
  if (err) return err;
  const cJSON *cond = cJSON_GetObjectItemCaseSensitive(obj, "audit_condition");
  if (cond) {
    if (!cJSON_IsString(cond)) return fail(p, "\"audit_condition\" is not a string.");
    size_t i = 0;
    while (i < 4 && strcmp(cond->valuestring, conditions[i]) != 0) i++;
    if (i == 4) return fail(p, "Unsupported \"audit_condition\" value %s.", cond->valuestring);
    pol->audit = (auth_audit)i;
  }
  const cJSON *loggers = cJSON_GetObjectItemCaseSensitive(obj, "audit_loggers");
  if (!loggers) return 0;
  if (!cJSON_IsArray(loggers)) return fail(p, "\"audit_loggers\" is not an array.");
  size_t i = 0;
  for (const cJSON *l = loggers->child; l; l = l->next, i++) {
    size_t at = enter(p, "\"audit_loggers[%zu]\": ", i);
    if (!cJSON_IsObject(l)) return fail(p, "is not an object.");
    if ((err = known_fields(p, l, logger_known, NULL))) return err;
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(l, "name");
    const cJSON *opt = cJSON_GetObjectItemCaseSensitive(l, "is_optional");
    const cJSON *config = cJSON_GetObjectItemCaseSensitive(l, "config");
    if (!name) return fail(p, "\"name\" is required.");
    if (!cJSON_IsString(name)) return fail(p, "\"name\" is not a string.");
    if (opt && !cJSON_IsBool(opt)) return fail(p, "\"is_optional\" is not a boolean.");
    if (config && !cJSON_IsObject(config)) return fail(p, "\"config\" is not an object.");
    if (strcmp(name->valuestring, "stdout_logger") == 0)
      pol->audit_stdout = true;
    else if (!cJSON_IsTrue(opt))
      return fail(p, "\"name\" %s is not supported natively or registered.", name->valuestring);
    leave(p, at);
  }
  return 0;
}

static int policy(parser *p, const cJSON *root, auth_policy *pol) {
  static const char *const known[] = {"name", "deny_rules", "allow_rules", "audit_logging_options",
                                      NULL};
  if (!cJSON_IsObject(root)) return fail(p, "SDK authorization policy is not an object.");
  int err = known_fields(p, root, known, NULL);
  if (err) return err;
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(root, "name");
  if (!name) return fail(p, "\"name\" field is not present.");
  if (!cJSON_IsString(name)) return fail(p, "\"name\" is not a string.");
  if (!(pol->name = copy(p, name->valuestring, strlen(name->valuestring)))) return -ENOMEM;
  const cJSON *deny = cJSON_GetObjectItemCaseSensitive(root, "deny_rules");
  if (deny && (err = rules(p, deny, "deny", &pol->deny, &pol->n_deny))) return err;
  const cJSON *allow = cJSON_GetObjectItemCaseSensitive(root, "allow_rules");
  if (!allow) return fail(p, "\"allow_rules\" is not present.");
  if ((err = rules(p, allow, "allow", &pol->allow, &pol->n_allow))) return err;
  const cJSON *audit = cJSON_GetObjectItemCaseSensitive(root, "audit_logging_options");
  return audit ? audit_options(p, audit, pol) : 0;
}

int auth_policy_parse(const char *json, size_t len, auth_policy **out, char *why, size_t why_len) {
  cJSON *root = cJSON_ParseWithLength(json, len);
  if (!root) {
    const char *at = cJSON_GetErrorPtr();
    size_t off = at && at >= json && at <= json + len ? (size_t)(at - json) : 0;
    snprintf(why, why_len, "Failed to parse SDK authorization policy: not JSON (at byte %zu).",
             off);
    return -EINVAL;
  }
  auth_policy *pol = calloc(1, sizeof(*pol));
  if (!pol) {
    cJSON_Delete(root);
    snprintf(why, why_len, "out of memory");
    return -ENOMEM;
  }
  core_arena_init(&pol->mem, NULL, 0);
  parser p = {&pol->mem, why, why_len, ""};
  int err = policy(&p, root, pol);
  cJSON_Delete(root);
  if (err) {
    if (err == -ENOMEM) snprintf(why, why_len, "out of memory");
    core_arena_dispose(&pol->mem);
    free(pol);
    return err;
  }
  atomic_init(&pol->refs, 1);
  *out = pol;
  return 0;
}

void auth_policy_ref(auth_policy *p) {
  atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
}

void auth_policy_unref(auth_policy *p) {
  if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1) return;
  core_arena_dispose(&p->mem);
  free(p);
}

/* ---- evaluation ---- */

/* The last byte first: paths of one service share their prefix, so they differ at the end. */
static bool same(const char *a, const char *b, size_t n) {
  return n == 0 || (a[n - 1] == b[n - 1] && memcmp(a, b, n - 1) == 0);
}

static bool matches(const auth_matcher *m, const char *v, size_t n) {
  switch (m->kind) {
  case AUTH_MATCH_EXACT:
    return n == m->len && same(v, m->s, n);
  case AUTH_MATCH_PREFIX:
    return n >= m->len && same(v, m->s, m->len);
  case AUTH_MATCH_SUFFIX:
    return n >= m->len && same(v + n - m->len, m->s, m->len);
  case AUTH_MATCH_PRESENT:
    return n > 0;
  }
  return false;
}

static bool any_matches(const auth_matcher *m, size_t n_m, const char *v, size_t n) {
  for (size_t i = 0; i < n_m; i++)
    if (matches(&m[i], v, n)) return true;
  return false;
}

static bool principal_matches(const auth_rule *rule, const auth_request *r) {
  if (!rule->n_principals) return true;
  if (!r->authenticated) return false;
  for (size_t i = 0; i < r->n_principals; i++)
    if (r->principals[i] && any_matches(rule->principals, rule->n_principals, r->principals[i],
                                        strlen(r->principals[i])))
      return true;
  return false;
}

/* Everything but the path (known to match when a rule comes from a method's index). */
static bool rule_matches_but_path(const auth_rule *rule, const auth_request *r) {
  for (size_t i = 0; i < rule->n_headers; i++) {
    const auth_header_rule *h = &rule->headers[i];
    size_t len = 0;
    const char *v = r->header ? r->header(r->header_ctx, h->key, &len) : NULL;
    if (!v || !any_matches(h->values, h->n_values, v, len)) return false;
  }
  return principal_matches(rule, r);
}

static bool path_matches(const auth_rule *rule, const char *path, size_t len) {
  return !rule->n_paths || any_matches(rule->paths, rule->n_paths, path, len);
}

static bool rule_matches(const auth_rule *rule, const auth_request *r) {
  return path_matches(rule, r->path, r->path_len) && rule_matches_but_path(rule, r);
}

bool auth_policy_allows(const auth_policy *p, const auth_request *r, const char **rule) {
  for (size_t i = 0; i < p->n_deny; i++) {
    if (rule_matches(&p->deny[i], r)) {
      *rule = p->deny[i].name;
      return false;
    }
  }
  for (size_t i = 0; i < p->n_allow; i++) {
    if (rule_matches(&p->allow[i], r)) {
      *rule = p->allow[i].name;
      return true;
    }
  }
  *rule = NULL;
  return false;
}

/* The indexes of the rules in `rules` that `path` can match. */
static size_t *candidates(core_arena *mem, const auth_rule *rules, size_t n, const char *path,
                          size_t *n_out) {
  size_t len = strlen(path), k = 0;
  size_t *out = core_arena_alloc(mem, (n ? n : 1) * sizeof(*out));
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++)
    if (path_matches(&rules[i], path, len)) out[k++] = i;
  *n_out = k;
  return out;
}

int auth_policy_index(auth_policy *p, size_t n_methods, const char *(*path)(void *ctx, size_t i),
                      void *ctx) {
  if (p->by_method || !n_methods) return 0;
  auth_method_rules *m = core_arena_alloc(&p->mem, n_methods * sizeof(*m));
  if (!m) return -ENOMEM;
  for (size_t i = 0; i < n_methods; i++) {
    const char *pth = path(ctx, i + 1);
    if (!pth) pth = "";
    m[i].deny = candidates(&p->mem, p->deny, p->n_deny, pth, &m[i].n_deny);
    m[i].allow = candidates(&p->mem, p->allow, p->n_allow, pth, &m[i].n_allow);
    if (!m[i].deny || !m[i].allow) return -ENOMEM;
  }
  p->n_methods = n_methods;
  p->by_method = m;
  return 0;
}

bool auth_policy_allows_method(const auth_policy *p, size_t method, const auth_request *r,
                               const char **rule) {
  if (!p->by_method || method == 0 || method > p->n_methods) return auth_policy_allows(p, r, rule);
  const auth_method_rules *m = &p->by_method[method - 1];
  for (size_t i = 0; i < m->n_deny; i++) {
    if (rule_matches_but_path(&p->deny[m->deny[i]], r)) {
      *rule = p->deny[m->deny[i]].name;
      return false;
    }
  }
  for (size_t i = 0; i < m->n_allow; i++) {
    if (rule_matches_but_path(&p->allow[m->allow[i]], r)) {
      *rule = p->allow[m->allow[i]].name;
      return true;
    }
  }
  *rule = NULL;
  return false;
}
