/* The example server's authentication and authorization: --jwt-jwks FILE with --jwt-* (bearer
 * tokens), --authz-policy FILE and --authz-dry-run. Both files are re-read when they change and
 * on SIGHUP (a bad new file keeps what is in force, saying why in one line); decisions go to the
 * metrics. */
#ifndef URPC_EXAMPLES_AUTH_SETUP_H
#define URPC_EXAMPLES_AUTH_SETUP_H

#include <stdbool.h>

#include "urpc_auth.h"
#include "urpc_metrics.h"

typedef struct auth_setup {
  const char *policy_file; /* NULL: no authorization */
  bool dry_run;
  urpc_authz *authz;
  long long stamp[3];        /* the policy file's size, mtime and inode when last read */
  const char *jwt_keys_file; /* NULL: no JWT verification */
  urpc_jwt_options jwt;      /* --jwt-issuer, --jwt-audience, --jwt-leeway, --jwt-optional */
  urpc_jwt *jwt_verifier;
  long long jwt_stamp[3];
} auth_setup;

/* Before urpc_server_start: adds the JWT interceptor, then the policy's (which reads the token's
 * subject), and loads their files. 0, or -1 after printing one line (the server must not start
 * with keys or a policy it could not read). */
int auth_setup_start(auth_setup *a, urpc_server *s, urpc_metrics *m);
/* Re-reads the keys and the policy if `force` (SIGHUP) or their files changed since read. */
void auth_setup_poll(auth_setup *a, bool force);
void auth_setup_free(auth_setup *a);

#endif
