/* Per-call bump allocator with cleanup hooks.
 *
 * The first block is embedded by the owner (no malloc for small calls); further blocks are
 * malloc'd, each twice the previous up to 64 KiB; an allocation of more than 4 KiB that would
 * not fit half a block gets a block of its own, of exactly its size. Nothing is freed
 * individually: reset frees the extra blocks and runs the cleanup hooks in reverse order of
 * registration. Single thread. */
#ifndef URPC_CORE_ARENA_H
#define URPC_CORE_ARENA_H

#include <stddef.h>
#include <stdint.h>

typedef struct core_arena_block {
  struct core_arena_block *next;
  size_t cap;
} core_arena_block;

typedef struct core_arena_cleanup {
  struct core_arena_cleanup *next;
  void (*fn)(void *arg);
  void *arg;
} core_arena_cleanup;

typedef struct core_arena {
  uint8_t *pos, *end; /* free space in the current block */
  uint8_t *first;     /* the embedded block, owned by the caller */
  size_t first_cap;
  core_arena_block *blocks; /* malloc'd blocks, newest first */
  size_t next_cap;          /* size of the next block to malloc */
  size_t heap;              /* bytes malloc'd for blocks (what the arena costs beyond `first`) */
  core_arena_cleanup *cleanups;
} core_arena;

/* `first` (may be NULL with `first_cap` 0) stays owned by the caller and must outlive the
 * arena. */
void core_arena_init(core_arena *a, void *first, size_t first_cap);
/* Returns memory aligned for any type, or NULL if malloc failed. `size` 0 returns a valid
 * pointer. */
void *core_arena_alloc(core_arena *a, size_t size);
/* core_arena_alloc in the shape of an allocation callback: `arena` is the core_arena. For
 * protobuf-c's allocator, zlib output buffers and the like. */
void *core_arena_alloc_cb(void *arena, size_t size);
/* Runs `fn(arg)` at the next reset or dispose. Returns 0 or -ENOMEM. */
int core_arena_defer(core_arena *a, void (*fn)(void *arg), void *arg);
/* Releases everything allocated; the arena is ready for reuse. */
void core_arena_reset(core_arena *a);
void core_arena_dispose(core_arena *a);

#endif
