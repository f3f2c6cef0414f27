/* The method's descriptors over server reflection, with our own client: one
 * ServerReflectionInfo stream on grpc.reflection.v1 (v1alpha when the server answers
 * UNIMPLEMENTED there, as older servers do): file_containing_symbol for the service, then
 * file_by_filename for each dependency the answers did not carry, until every file is in the
 * set. What grpcurl and ghz do before their first call. */
#ifndef URPC_LOAD_REFLECT_H
#define URPC_LOAD_REFLECT_H

#include <stddef.h>

#include "bench/load/descset.h"
#include "bench/load/target.h"

#define LOAD_REFLECT_V1      "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"
#define LOAD_REFLECT_V1ALPHA "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"

/* The service of a call ("pkg.Service/Method" or "pkg.Service.Method", a leading '/' allowed)
 * into `out`: 0, or -EINVAL (no service part, or longer than out_len). */
int load_call_service(const char *call, char *out, size_t out_len);

/* Fetches the files that define `symbol` and their dependencies into `ds`, with a stream on
 * shard 0 of the target's chans[0] (its call options: the metadata, `timeout_ns` as the
 * deadline). The calling thread (not a shard thread) waits for the end. Returns the files
 * added (0 or more); -ENOENT when the server does not know the symbol or a dependency;
 * -EPROTONOSUPPORT when the server has no reflection service (UNIMPLEMENTED on both versions);
 * -EHOSTUNREACH when the server cannot be reached (`err` is the reason alone);
 * -EPROTO when the stream failed otherwise; -EBADMSG for an answer that is no reflection
 * response or descriptor; -ENOMEM. Each failure with one line in `err`. */
int load_reflect(load_target *t, const char *symbol, uint64_t timeout_ns, load_descset *ds,
                 char *err, size_t err_len);

#endif
