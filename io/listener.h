/* Listening sockets for a shard group: one per shard on the same address, SO_REUSEPORT, so the
 * kernel spreads connections over the shards. */
#ifndef URPC_IO_LISTENER_H
#define URPC_IO_LISTENER_H

#include <stddef.h>

/* Parses "HOST:PORT", "[V6]:PORT" or ":PORT" (= [::]) and opens `n` listening sockets on it,
 * non-blocking, SO_REUSEPORT; [::] also accepts IPv4. With port 0 the first socket picks the
 * port and the others join it. `bound` gets the address actually bound, e.g. "[::1]:41234".
 * Returns 0, or -errno with one line in `why`. */
int io_listen_group(const char *addr, int n, int *fds, char *bound, size_t bound_len, char *why,
                    size_t why_len);

#endif
