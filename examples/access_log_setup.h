/* The example server's access log: --access-log PATH|- and --access-log-sample N (parsed with
 * the other flags in main.c). Off unless --access-log is given; SIGHUP reopens the file. */
#ifndef URPC_EXAMPLES_ACCESS_LOG_SETUP_H
#define URPC_EXAMPLES_ACCESS_LOG_SETUP_H

#include <stdio.h>

#include "urpc_access_log.h"
#include "urpc_metrics.h"

typedef struct access_log_setup {
  const char *path; /* NULL: off */
  long sample;      /* 0: not given (1) */
  urpc_access_log *log;
} access_log_setup;

/* The help lines of those flags. */
extern const char access_log_setup_usage[];
/* After the flags are parsed: 0, or 2 after printing one line for a bad combination. */
int access_log_setup_check(const access_log_setup *a);
/* Before urpc_server_start, before interceptors that may refuse calls (so refused calls are
 * logged too). 0, or after printing one line 2 (a file that cannot be opened: the exit code of
 * a usage error) or 1. Nothing when off. */
int access_log_setup_start(access_log_setup *a, urpc_server *s, urpc_metrics *m);
/* --print-config's lines for the access log (after tracing's, as in --help). 0, or 1 if
 * writing failed. */
int access_log_setup_print(FILE *f, const access_log_setup *a);
/* SIGHUP: the writer reopens the file. */
void access_log_setup_reopen(access_log_setup *a);
/* After urpc_server_wait: every call's line written (before the exit stats on stdout). */
void access_log_setup_flush(access_log_setup *a);
/* After urpc_server_free. */
void access_log_setup_free(access_log_setup *a);

#endif
