/* Bump allocation: alloc is a pointer bump in the common case; reset is O(blocks). */
#include <errno.h>
#include <stdalign.h>
#include <stdlib.h>

#include "core/arena.h"

#define ARENA_ALIGN   alignof(max_align_t)
#define ARENA_MIN_CAP 1024

static size_t align_up(size_t n) {
  return (n + ARENA_ALIGN - 1) & ~(ARENA_ALIGN - 1);
}

void core_arena_init(core_arena *a, void *first, size_t first_cap) {
  a->first = first;
  a->first_cap = first ? first_cap : 0;
  a->blocks = NULL;
  a->cleanups = NULL;
  core_arena_reset(a);
}

#define ARENA_MAX_CAP (64 * 1024) /* blocks stop growing here */
#define ARENA_BIG     4096        /* allocations above this and half a block get their own */

static void *new_block(core_arena *a, size_t cap) {
  size_t hdr = align_up(sizeof(core_arena_block));
  if (cap > SIZE_MAX - hdr) return NULL;
  core_arena_block *b = malloc(hdr + cap);
  if (!b) return NULL;
  b->cap = cap;
  b->next = a->blocks;
  a->blocks = b;
  a->heap += hdr + cap;
  return (uint8_t *)b + hdr;
}

static void *alloc_slow(core_arena *a, size_t size) {
  /* A big allocation (a request or response message) gets a block of exactly its size, and the
   * current block goes on serving small ones: rounding it up to a doubled block would waste up
   * to half of it, and that memory counts against the call's budget. */
  if (size > ARENA_BIG && size > a->next_cap / 2) return new_block(a, size);
  size_t cap = a->next_cap;
  while (cap < size) cap *= 2; /* size <= ARENA_BIG here: no overflow */
  uint8_t *base = new_block(a, cap);
  if (!base) return NULL;
  a->next_cap = cap * 2 < ARENA_MAX_CAP ? cap * 2 : ARENA_MAX_CAP;
  a->pos = base + size;
  a->end = base + cap;
  return base;
}

void *core_arena_alloc(core_arena *a, size_t size) {
  if (size > SIZE_MAX / 2) return NULL; /* no malloc could give it; align_up would wrap */
  size = align_up(size ? size : 1);
  if ((size_t)(a->end - a->pos) >= size) {
    void *p = a->pos;
    a->pos += size;
    return p;
  }
  return alloc_slow(a, size);
}

void *core_arena_alloc_cb(void *arena, size_t size) {
  return core_arena_alloc(arena, size);
}

int core_arena_defer(core_arena *a, void (*fn)(void *arg), void *arg) {
  core_arena_cleanup *c = core_arena_alloc(a, sizeof(*c));
  if (!c) return -ENOMEM;
  c->fn = fn;
  c->arg = arg;
  c->next = a->cleanups;
  a->cleanups = c;
  return 0;
}

void core_arena_reset(core_arena *a) {
  /* Hooks may live in the blocks being freed: run them all first. */
  for (core_arena_cleanup *c = a->cleanups; c; c = c->next) c->fn(c->arg);
  a->cleanups = NULL;
  while (a->blocks) {
    core_arena_block *next = a->blocks->next;
    free(a->blocks);
    a->blocks = next;
  }
  a->heap = 0;
  a->next_cap = a->first_cap * 2 > ARENA_MIN_CAP ? a->first_cap * 2 : ARENA_MIN_CAP;
  /* The embedded block may not be aligned to ARENA_ALIGN: start at the first aligned byte. */
  uintptr_t p = a->first ? (uintptr_t)a->first : 0;
  uintptr_t aligned = (p + ARENA_ALIGN - 1) & ~(uintptr_t)(ARENA_ALIGN - 1);
  size_t lost = (size_t)(aligned - p);
  if (!a->first || a->first_cap <= lost) {
    a->pos = a->end = NULL;
  } else {
    a->pos = (uint8_t *)aligned;
    a->end = (uint8_t *)a->first + a->first_cap;
  }
}

void core_arena_dispose(core_arena *a) {
  core_arena_reset(a);
}
