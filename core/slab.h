/* A per-shard size-class allocator (for nghttp2, through nghttp2_mem).
 *
 * Objects of one size class live in 256 KiB chunks aligned to their size, so free() finds an
 * object's chunk by masking its address. Chunks come from mmap and are touched only where
 * objects are written: a slot that was never used is still the kernel's zero page, so calloc
 * of a fresh slot skips the memset, and an idle connection's large, mostly unused buffers
 * (nghttp2's 16 KiB frame buffer, its stream map) cost only the pages really written. A chunk
 * whose objects are all free is unmapped, except one per class kept for the next burst.
 *
 * Larger objects get a mapping of their own. Single thread: each shard owns one. */
#ifndef URPC_CORE_SLAB_H
#define URPC_CORE_SLAB_H

#include <stddef.h>

#define CORE_SLAB_CLASSES 22

typedef struct core_slab_chunk core_slab_chunk;

typedef struct core_slab {
  core_slab_chunk *partial[CORE_SLAB_CLASSES]; /* chunks with a free or fresh slot */
  core_slab_chunk *spare[CORE_SLAB_CLASSES];   /* an empty chunk kept (still in partial) */
  size_t bytes;  /* bytes handed out (slot sizes, and large objects' lengths) */
  size_t chunks; /* chunks and large mappings alive, spares included */
} core_slab;

void core_slab_init(core_slab *s);
/* Unmaps everything; objects still allocated are gone with it. */
void core_slab_dispose(core_slab *s);
/* 16-byte aligned, or NULL when the kernel gives no memory. */
void *core_slab_alloc(core_slab *s, size_t size);
void *core_slab_calloc(core_slab *s, size_t n, size_t size);
void *core_slab_realloc(core_slab *s, void *p, size_t size);
void core_slab_free(core_slab *s, void *p);
/* The usable size of an object from this slab. */
size_t core_slab_size(const void *p);

#endif
