/* Chunk layout: a header in the first cache line, then slots. Page-sized and larger classes
 * start their slots at a page boundary so each object covers as few pages as possible. */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include "core/slab.h"

#define CHUNK      ((size_t)256 * 1024)
#define PAGE       ((size_t)4096)
#define CHUNK_HDR  64
#define LARGE      0xffff
#define SLAB_MAGIC 0x51ab51abu

static const uint32_t class_size[CORE_SLAB_CLASSES] = {
    16,   32,   48,   64,   96,   128,  192,  256,   384,   512,   768,
    1024, 1536, 2048, 3072, 4096, 6144, 8192, 12288, 16384, 24576, 32768};

struct core_slab_chunk {
  uint32_t magic;
  uint16_t cls; /* size class, or LARGE */
  uint16_t pad;
  uint32_t used;                /* live objects */
  uint32_t fresh;               /* offset of the first never-used slot */
  void *free_list;              /* freed slots, linked through their first word */
  core_slab_chunk *next, *prev; /* in the class's partial list */
  size_t map_len;               /* LARGE: the mapping's length */
  uint8_t in_partial;
};

_Static_assert(sizeof(core_slab_chunk) <= CHUNK_HDR, "chunk header fits its cache line");

static int class_of(size_t size) {
  for (int c = 0; c < CORE_SLAB_CLASSES; c++)
    if (size <= class_size[c]) return c;
  return -1;
}

static uint32_t first_slot(int cls) {
  return class_size[cls] >= PAGE ? (uint32_t)PAGE : CHUNK_HDR;
}

static core_slab_chunk *chunk_of(const void *p) {
  return (core_slab_chunk *)((uintptr_t)p & ~(uintptr_t)(CHUNK - 1));
}

/* A CHUNK-aligned mapping of `len` bytes (a multiple of CHUNK). */
static void *map_aligned(size_t len) {
  uint8_t *raw =
      mmap(NULL, len + CHUNK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) return NULL;
  uint8_t *aligned = (uint8_t *)(((uintptr_t)raw + CHUNK - 1) & ~(uintptr_t)(CHUNK - 1));
  if (aligned > raw) munmap(raw, (size_t)(aligned - raw));
  size_t tail = (size_t)(raw + len + CHUNK - (aligned + len));
  if (tail) munmap(aligned + len, tail);
  return aligned;
}

void core_slab_init(core_slab *s) {
  memset(s, 0, sizeof(*s));
}

static void partial_remove(core_slab *s, core_slab_chunk *c) {
  if (!c->in_partial) return;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->partial[c->cls] = c->next;
  if (c->next) c->next->prev = c->prev;
  c->next = c->prev = NULL;
  c->in_partial = 0;
}

static void partial_add(core_slab *s, core_slab_chunk *c) {
  if (c->in_partial) return;
  c->prev = NULL;
  c->next = s->partial[c->cls];
  if (c->next) c->next->prev = c;
  s->partial[c->cls] = c;
  c->in_partial = 1;
}

static core_slab_chunk *new_chunk(core_slab *s, int cls) {
  core_slab_chunk *c = map_aligned(CHUNK);
  if (!c) return NULL;
  s->chunks++;
  c->magic = SLAB_MAGIC;
  c->cls = (uint16_t)cls;
  c->fresh = first_slot(cls);
  partial_add(s, c);
  return c;
}

/* Returns a slot and whether it is fresh (still all zero). */
static void *take_slot(core_slab *s, int cls, int *fresh) {
  core_slab_chunk *c = s->partial[cls];
  if (!c && !(c = new_chunk(s, cls))) return NULL;
  void *p = c->free_list;
  if (p) {
    c->free_list = *(void **)p;
    *fresh = 0;
  } else {
    p = (uint8_t *)c + c->fresh;
    c->fresh += class_size[cls];
    *fresh = 1;
  }
  if (c->used++ == 0 && s->spare[cls] == c) s->spare[cls] = NULL;
  if (!c->free_list && c->fresh + class_size[cls] > CHUNK) partial_remove(s, c);
  s->bytes += class_size[cls];
  return p;
}

static void *alloc_large(core_slab *s, size_t size) {
  size_t len = (CHUNK_HDR + size + CHUNK - 1) & ~(CHUNK - 1);
  if (len < size) return NULL;
  core_slab_chunk *c = map_aligned(len);
  if (!c) return NULL;
  c->magic = SLAB_MAGIC;
  c->cls = LARGE;
  c->map_len = len;
  s->chunks++;
  s->bytes += len;
  return (uint8_t *)c + CHUNK_HDR;
}

static void *alloc_impl(core_slab *s, size_t size, int zero) {
  if (size > SIZE_MAX / 2) return NULL;
  int cls = class_of(size ? size : 1);
  if (cls < 0) return alloc_large(s, size); /* fresh mapping: zero already */
  int fresh;
  void *p = take_slot(s, cls, &fresh);
  if (p && zero && !fresh) memset(p, 0, class_size[cls]);
  return p;
}

void *core_slab_alloc(core_slab *s, size_t size) {
  return alloc_impl(s, size, 0);
}

void *core_slab_calloc(core_slab *s, size_t n, size_t size) {
  if (size && n > SIZE_MAX / size) return NULL;
  return alloc_impl(s, n * size, 1);
}

size_t core_slab_size(const void *p) {
  const core_slab_chunk *c = chunk_of(p);
  return c->cls == LARGE ? c->map_len - CHUNK_HDR : class_size[c->cls];
}

void core_slab_free(core_slab *s, void *p) {
  if (!p) return;
  core_slab_chunk *c = chunk_of(p);
  if (c->cls == LARGE) {
    s->bytes -= c->map_len;
    s->chunks--;
    munmap(c, c->map_len);
    return;
  }
  int cls = c->cls;
  s->bytes -= class_size[cls];
  *(void **)p = c->free_list;
  c->free_list = p;
  if (--c->used > 0) {
    partial_add(s, c);
    return;
  }
  /* Empty: one per class stays (in the partial list, as it is) for the next burst, so a
   * class that hovers around a chunk boundary does not map and unmap; others go back. */
  if (!s->spare[cls]) {
    s->spare[cls] = c;
    return;
  }
  partial_remove(s, c);
  s->chunks--;
  munmap(c, CHUNK);
}

void *core_slab_realloc(core_slab *s, void *p, size_t size) {
  if (!p) return core_slab_alloc(s, size);
  if (size == 0) {
    core_slab_free(s, p);
    return NULL;
  }
  size_t have = core_slab_size(p);
  int cls = class_of(size);
  int cur = chunk_of(p)->cls == LARGE ? -1 : chunk_of(p)->cls;
  if (size <= have && cls == cur) return p; /* same class: nothing to do */
  void *q = core_slab_alloc(s, size);
  if (!q) return NULL;
  memcpy(q, p, have < size ? have : size);
  core_slab_free(s, p);
  return q;
}

void core_slab_dispose(core_slab *s) {
  /* Chunks are only reachable while partial or spare; full ones are the owner's leak. */
  for (int cls = 0; cls < CORE_SLAB_CLASSES; cls++) {
    while (s->partial[cls]) {
      core_slab_chunk *c = s->partial[cls];
      partial_remove(s, c);
      munmap(c, CHUNK);
    }
  }
  memset(s, 0, sizeof(*s));
}
