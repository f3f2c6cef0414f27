/* grpc-timeout: 1 to 8 ASCII digits, then one unit of H M S m u n. */
#ifndef URPC_RPC_TIMEOUT_H
#define URPC_RPC_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

/* Parses the header value; returns 0 and the timeout in nanoseconds (saturated at INT64_MAX),
 * or -EINVAL for anything malformed. */
int rpc_timeout_parse(const char *v, size_t n, int64_t *ns);

#define RPC_TIMEOUT_MAX_LEN 9 /* 8 digits and the unit */
/* The header value for `ns` (> 0) in the finest unit whose 8 digits hold it, rounded up (a
 * deadline sent may be later than asked by less than a unit, never earlier). Writes at most
 * RPC_TIMEOUT_MAX_LEN bytes, no NUL; returns how many. */
size_t rpc_timeout_format(int64_t ns, char out[RPC_TIMEOUT_MAX_LEN]);

#endif
