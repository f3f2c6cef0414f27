/* See auth_setup.h. */
#include "auth_setup.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void file_stamp(const char *path, long long st[3]) {
  struct stat sb;
  memset(st, 0, 3 * sizeof(*st));
  if (stat(path, &sb) < 0) return;
  st[0] = (long long)sb.st_size;
  st[1] = (long long)sb.st_mtim.tv_sec * 1000000000LL + sb.st_mtim.tv_nsec;
  st[2] = (long long)sb.st_ino; /* a file replaced by rename within the same second */
}

/* Copies up to `cap` of the `n` samples in `s` to `out`. */
static size_t samples(urpc_metrics_sample *out, size_t cap, const urpc_metrics_sample *s,
                      size_t n) {
  if (n > cap) n = cap;
  memcpy(out, s, n * sizeof(*s));
  return n;
}

static size_t decisions(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_authz_stats st;
  urpc_authz_get_stats(arg, &st);
  urpc_metrics_sample s[] = {
      {"allowed", st.allowed}, {"denied", st.denied}, {"dry_run_denied", st.dry_run_denied}};
  return samples(out, cap, s, 3);
}

static size_t loads(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_authz_stats st;
  urpc_authz_get_stats(arg, &st);
  urpc_metrics_sample s[] = {{"ok", st.policies_loaded}, {"rejected", st.policies_rejected}};
  return samples(out, cap, s, 2);
}

static size_t jwt_calls(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_jwt_stats st;
  urpc_jwt_get_stats(arg, &st);
  urpc_metrics_sample s[] = {
      {"passed", st.passed}, {"refused", st.refused}, {"anonymous", st.anonymous}};
  return samples(out, cap, s, 3);
}

static size_t jwt_checks(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_jwt_stats st;
  urpc_jwt_get_stats(arg, &st);
  urpc_metrics_sample s[] = {{"signature", st.verified}, {"cache", st.cache_hits}};
  return samples(out, cap, s, 2);
}

static int jwt_start(auth_setup *a, urpc_server *s, urpc_metrics *m) {
  char why[512];
  if (!a->jwt_keys_file) return 0;
  if (urpc_jwt_new(s, &a->jwt, &a->jwt_verifier) < 0) {
    fprintf(stderr, "uringrpc-server: cannot set up JWT verification\n");
    return -1;
  }
  file_stamp(a->jwt_keys_file, a->jwt_stamp);
  if (urpc_jwt_load_keys_file(a->jwt_verifier, a->jwt_keys_file, why, sizeof(why)) < 0) {
    fprintf(stderr, "uringrpc-server: --jwt-jwks %s: %s\n", a->jwt_keys_file, why);
    return -1;
  }
  if (m && (urpc_metrics_add_family(m, "uringrpc_jwt_calls_total", "counter",
                                    "Calls by their bearer token: passed (valid), refused "
                                    "(UNAUTHENTICATED), anonymous (none, --jwt-optional).",
                                    "result", jwt_calls, a->jwt_verifier) < 0 ||
            urpc_metrics_add_family(m, "uringrpc_jwt_checks_total", "counter",
                                    "Valid tokens by how they were checked: signature, or found "
                                    "in the shard's cache.",
                                    "by", jwt_checks, a->jwt_verifier) < 0)) {
    fprintf(stderr, "uringrpc-server: cannot add the JWT metrics\n");
    return -1;
  }
  return 0;
}

int auth_setup_start(auth_setup *a, urpc_server *s, urpc_metrics *m) {
  if (jwt_start(a, s, m) < 0) return -1;
  if (!a->policy_file) return 0;
  urpc_authz_options o = {.dry_run = a->dry_run};
  char why[512];
  if (urpc_authz_new(s, &o, &a->authz) < 0) {
    fprintf(stderr, "uringrpc-server: cannot set up authorization\n");
    return -1;
  }
  file_stamp(a->policy_file, a->stamp);
  if (urpc_authz_load_file(a->authz, a->policy_file, why, sizeof(why)) < 0) {
    fprintf(stderr, "uringrpc-server: --authz-policy %s: %s\n", a->policy_file, why);
    return -1;
  }
  if (m && (urpc_metrics_add_family(m, "uringrpc_authz_decisions_total", "counter",
                                    "Calls the authorization policy allowed or denied (and, in a "
                                    "dry run, would have denied).",
                                    "decision", decisions, a->authz) < 0 ||
            urpc_metrics_add_family(m, "uringrpc_authz_policy_loads_total", "counter",
                                    "Authorization policies loaded, and rejected (the one in "
                                    "force stayed).",
                                    "result", loads, a->authz) < 0)) {
    fprintf(stderr, "uringrpc-server: cannot add the authorization metrics\n");
    return -1;
  }
  return 0;
}

/* Re-reads `path` with `load` when `force`d or when its stamp moved since the last read; a file
 * that does not load leaves what is in force, saying so in one line. */
static void reload_if_changed(const char *path, long long stamp[3], bool force,
                              int (*load)(void *obj, const char *path, char *why, size_t len),
                              void *obj, const char *what, const char *current) {
  long long now[3];
  file_stamp(path, now);
  if (!force && memcmp(now, stamp, sizeof(now)) == 0) return;
  memcpy(stamp, now, 3 * sizeof(*now));
  char why[512] = "";
  if (load(obj, path, why, sizeof(why)) < 0)
    fprintf(stderr, "uringrpc-server: %s reload failed, keeping the current %s: %s\n", what,
            current, why);
  else if (why[0]) /* the loader's summary, e.g. how many keys */
    fprintf(stderr, "uringrpc-server: %s reloaded: %s\n", what, why);
  else
    fprintf(stderr, "uringrpc-server: %s reloaded from %s\n", what, path);
}

static int load_keys(void *jwt, const char *path, char *why, size_t len) {
  return urpc_jwt_load_keys_file(jwt, path, why, len);
}

static int load_policy(void *authz, const char *path, char *why, size_t len) {
  return urpc_authz_load_file(authz, path, why, len);
}

void auth_setup_poll(auth_setup *a, bool force) {
  if (a->jwt_verifier)
    reload_if_changed(a->jwt_keys_file, a->jwt_stamp, force, load_keys, a->jwt_verifier, "JWT keys",
                      "keys");
  if (a->authz)
    reload_if_changed(a->policy_file, a->stamp, force, load_policy, a->authz, "authz policy",
                      "policy");
}

void auth_setup_free(auth_setup *a) {
  urpc_authz_free(a->authz);
  urpc_jwt_free(a->jwt_verifier);
  a->authz = NULL;
  a->jwt_verifier = NULL;
}
