/* Target resolution off the shard threads. A resolver owns one thread that runs getaddrinfo
 * (AF_UNSPEC, SOCK_STREAM) for dns targets, one at a time, and posts each answer back to the
 * shard that asked (io_shard_post). ipv4:, ipv6: and unix: targets need no lookup: their answer
 * is posted to the shard at once, without the thread. Periodic and on-failure re-resolution is
 * the channel's: it calls cli_resolve again.
 *
 * Ownership and lifetimes:
 * - cli_resolve returning 0 promises exactly one callback, on `shard`, never from inside
 *   cli_resolve. `arg` must stay valid until then, and `shard` must not be freed until then: the
 *   shard should be running; a message posted to a shard after its thread ended runs at
 *   io_shard_run_posted, on that caller's thread (io_shard_current() is then NULL).
 * - cli_resolver_free cancels what is outstanding: queued requests and the one being looked up
 *   get their callback with -ECANCELED (posted from cli_resolver_free, so free the resolver
 *   before the shards it answers). It does not wait for a getaddrinfo under way: the thread
 *   finishes it on its own, drops its answer and ends; it does wait for an answer being posted
 *   (io_shard_post), so the shards may be freed once it returns.
 * - The addresses handed to a callback are the callback's (cli_addrs_free).
 * Timeouts are getaddrinfo's own (resolv.conf: `timeout`, `attempts`); they come back as
 * -EAGAIN. */
#ifndef URPC_CLIENT_RESOLVER_H
#define URPC_CLIENT_RESOLVER_H

#include <stddef.h>

#include "client/target.h"
#include "io/shard.h"

typedef struct cli_resolver cli_resolver;

/* A resolution's addresses, in the order to try them (getaddrinfo's, or as written). */
typedef struct cli_addrs {
  unsigned n;
  cli_addr a[];
} cli_addrs;

void cli_addrs_free(cli_addrs *addrs);

/* On the asking shard. Success: err == 0, `addrs` (n >= 1) is the callback's to free, `why` is
 * "". Failure: `addrs` is NULL, `why` one line naming the target and the cause, valid during the
 * call, and `err` one of: -ENOENT (no such host, or no address of a stream family),
 * -EAGAIN (the DNS server did not answer: a timeout or a temporary failure), -ECANCELED (the
 * resolver was freed first), -ENOMEM, -EIO (another getaddrinfo failure). */
typedef void (*cli_resolve_cb)(void *arg, cli_addrs *addrs, int err, const char *why);

typedef struct cli_resolver_config {
  unsigned max_pending; /* dns lookups queued or under way at once; 0: 64 */
} cli_resolver_config;

/* Any thread: starts the resolver's thread. Returns 0 or -errno (-ENOMEM, pthread_create's). */
int cli_resolver_new(const cli_resolver_config *cfg, cli_resolver **out);
/* Any thread, once, after the last cli_resolve returned: see above. NULL is a no-op. */
void cli_resolver_free(cli_resolver *r);

/* Any thread: resolves `target` (copied) and answers `cb(arg, ...)` on `shard`. Returns 0, or
 * -errno with no callback: -EINVAL (a bad target: one line in `why`, which may be NULL),
 * -EAGAIN (max_pending lookups outstanding), -ENOMEM. */
int cli_resolve(cli_resolver *r, io_shard *shard, const char *target, cli_resolve_cb cb, void *arg,
                char *why, size_t why_len);

#endif
