/* The client's memory for what it makes per call (calls, request and response messages) and
 * for its nghttp2 sessions: a size-class slab per shard thread (core/slab.h), as the server's
 * sessions have, instead of malloc — malloc and free were a quarter of a load generator's CPU.
 * Everything is allocated and freed on the thread that owns the connection, so one slab per
 * thread needs no lock. Built with a sanitizer, it is plain malloc, which ASan and LSan see
 * into. */
#ifndef URPC_CLIENT_ALLOC_H
#define URPC_CLIENT_ALLOC_H

#include <stddef.h>

#include <nghttp2/nghttp2.h>

#include "core/slab.h"

/* This thread's slab, made at the first ask (freed when the thread ends, if empty by then);
 * NULL when out of memory. */
core_slab *cli_thread_slab(void);
void *cli_alloc(core_slab *s, size_t size);
void *cli_calloc(core_slab *s, size_t size);
void cli_free(core_slab *s, void *p);
/* nghttp2's allocator on `s` (nghttp2_session_client_new3 copies it). */
void cli_h2_mem(core_slab *s, nghttp2_mem *out);

#endif
