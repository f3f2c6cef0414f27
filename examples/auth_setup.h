/* The example server's authorization: --authz-policy FILE (re-read when the file changes and on
 * SIGHUP; a bad new file keeps the old policy, saying why in one line) and --authz-dry-run,
 * with its decisions in the metrics. */
#ifndef URPC_EXAMPLES_AUTH_SETUP_H
#define URPC_EXAMPLES_AUTH_SETUP_H

#include <stdbool.h>

#include "urpc_auth.h"
#include "urpc_metrics.h"

typedef struct auth_setup {
  const char *policy_file; /* NULL: no authorization */
  bool dry_run;
  urpc_authz *authz;
  long long stamp[3]; /* the policy file's size, mtime and inode when last read */
} auth_setup;

/* Before urpc_server_start: adds the interceptor and loads the policy. 0, or -1 after printing
 * one line (the server must not start with a policy it could not read). */
int auth_setup_start(auth_setup *a, urpc_server *s, urpc_metrics *m);
/* Re-reads the policy if `force` (SIGHUP) or the file changed since it was last read. */
void auth_setup_poll(auth_setup *a, bool force);
void auth_setup_free(auth_setup *a);

#endif
