/* Per-shard free list of fixed-size objects: connections, calls, send ops, output blocks.
 *
 * get pops a cached object or mallocs one; put caches up to `max_free` objects and frees the
 * rest, so memory taken by a burst is given back. Single thread: each shard owns its pools. */
#ifndef URPC_CORE_POOL_H
#define URPC_CORE_POOL_H

#include <stddef.h>

typedef struct core_pool {
  void *free_list; /* singly linked through each object's first word */
  size_t obj_size;
  size_t nfree, max_free;
  size_t live; /* objects handed out and not yet put back */
} core_pool;

/* `obj_size` is raised to hold a pointer. */
void core_pool_init(core_pool *p, size_t obj_size, size_t max_free);
/* Returns an uninitialised object, or NULL if malloc failed. */
void *core_pool_get(core_pool *p);
void core_pool_put(core_pool *p, void *obj);
/* Frees the cached objects; objects still live are the caller's leak. */
void core_pool_dispose(core_pool *p);

#endif
