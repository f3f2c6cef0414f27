/* grpc-timeout: 1 to 8 ASCII digits, then one unit of H M S m u n. */
#ifndef URPC_RPC_TIMEOUT_H
#define URPC_RPC_TIMEOUT_H

#include <stddef.h>
#include <stdint.h>

/* Parses the header value; returns 0 and the timeout in nanoseconds (saturated at INT64_MAX),
 * or -EINVAL for anything malformed. */
int rpc_timeout_parse(const char *v, size_t n, int64_t *ns);

#endif
