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

static void jwt_poll(auth_setup *a, bool force) {
  char why[512];
  long long now[3];
  if (!a->jwt_verifier) return;
  file_stamp(a->jwt_keys_file, now);
  if (!force && memcmp(now, a->jwt_stamp, sizeof(now)) == 0) return;
  memcpy(a->jwt_stamp, now, sizeof(now));
  if (urpc_jwt_load_keys_file(a->jwt_verifier, a->jwt_keys_file, why, sizeof(why)) < 0)
    fprintf(stderr, "uringrpc-server: JWT keys reload failed, keeping the current keys: %s\n", why);
  else
    fprintf(stderr, "uringrpc-server: JWT keys reloaded: %s\n", why);
}

void auth_setup_poll(auth_setup *a, bool force) {
  jwt_poll(a, force);
  if (!a->authz) return;
  long long now[3];
  file_stamp(a->policy_file, now);
  if (!force && memcmp(now, a->stamp, sizeof(now)) == 0) return;
  memcpy(a->stamp, now, sizeof(now));
  char why[512];
  if (urpc_authz_load_file(a->authz, a->policy_file, why, sizeof(why)) < 0)
    fprintf(stderr, "uringrpc-server: authz policy reload failed, keeping the current policy: %s\n",
            why);
  else
    fprintf(stderr, "uringrpc-server: authz policy reloaded from %s\n", a->policy_file);
}

void auth_setup_free(auth_setup *a) {
  urpc_authz_free(a->authz);
  urpc_jwt_free(a->jwt_verifier);
  a->authz = NULL;
  a->jwt_verifier = NULL;
}
