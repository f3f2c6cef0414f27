/* --access-log and --access-log-sample for uringrpc-server (access_log_setup.h). */
#include "access_log_setup.h"

#include <errno.h>
#include <string.h>

const char access_log_setup_usage[] =
    "  --access-log PATH|-       one JSON line per call appended to PATH (reopened on SIGHUP), "
    "or - for standard output (default off)\n"
    "  --access-log-sample N     log 1 in N calls that end OK (per shard); calls ending with any "
    "other status are always logged (default 1: every call)\n";

int access_log_setup_check(const access_log_setup *a) {
  if (a->path && !*a->path) {
    fprintf(stderr, "uringrpc-server: --access-log needs a file path, or - for standard output\n");
    return 2;
  }
  if (a->sample && !a->path) {
    fprintf(stderr, "uringrpc-server: --access-log-sample needs --access-log PATH|-\n");
    return 2;
  }
  return 0;
}

int access_log_setup_start(access_log_setup *a, urpc_server *s, urpc_metrics *m) {
  if (!a->path) return 0;
  urpc_access_log_options o;
  urpc_access_log_options_init(&o);
  o.path = a->path;
  if (a->sample) o.sample = (unsigned)a->sample;
  int rc = urpc_access_log_new(s, &o, m, &a->log);
  if (rc == -ENOMEM || rc == -EAGAIN) {
    fprintf(stderr, "uringrpc-server: cannot set up the access log: %s\n", strerror(-rc));
    return 1;
  }
  if (rc < 0) {
    fprintf(stderr, "uringrpc-server: --access-log %s: cannot open it for appending: %s\n", a->path,
            strerror(-rc));
    return 2;
  }
  return 0;
}

int access_log_setup_print(FILE *f, const access_log_setup *a) {
  fprintf(f, "access-log=%s\n", a->path ? a->path : "");
  fprintf(f, "access-log-sample=%ld\n", a->sample ? a->sample : 1);
  return fflush(f) == 0 && !ferror(f) ? 0 : 1;
}

void access_log_setup_reopen(access_log_setup *a) {
  if (a->log) urpc_access_log_reopen(a->log);
}

void access_log_setup_flush(access_log_setup *a) {
  if (a->log && urpc_access_log_flush(a->log, 5000) < 0)
    fprintf(stderr, "uringrpc-server: the access log did not finish writing within 5 s\n");
}

void access_log_setup_free(access_log_setup *a) {
  urpc_access_log_free(a->log);
  a->log = NULL;
}
