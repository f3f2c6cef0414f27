/* The client's per-thread slab (alloc.h). */
#include "client/alloc.h"

#include <pthread.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define USE_MALLOC 1
#else
#define USE_MALLOC 0
#endif

static pthread_key_t slab_key;
static pthread_once_t slab_once = PTHREAD_ONCE_INIT;
static __thread core_slab *thread_slab;

/* A slab still holding objects at thread exit is left alone: something outlived its thread. */
static void slab_thread_end(void *p) {
  core_slab *s = p;
  if (s->bytes) return;
  core_slab_dispose(s);
  free(s);
}

static void make_key(void) {
  pthread_key_create(&slab_key, slab_thread_end);
}

core_slab *cli_thread_slab(void) {
  if (thread_slab) return thread_slab;
  pthread_once(&slab_once, make_key);
  core_slab *s = malloc(sizeof(*s));
  if (!s) return NULL;
  core_slab_init(s);
  pthread_setspecific(slab_key, s);
  return thread_slab = s;
}

void *cli_alloc(core_slab *s, size_t size) {
  if (USE_MALLOC) return malloc(size ? size : 1);
  return core_slab_alloc(s, size);
}

void *cli_calloc(core_slab *s, size_t size) {
  if (USE_MALLOC) return calloc(1, size ? size : 1);
  return core_slab_calloc(s, 1, size);
}

void cli_free(core_slab *s, void *p) {
  if (USE_MALLOC)
    free(p);
  else
    core_slab_free(s, p);
}

static void *h2_malloc(size_t size, void *ud) {
  return cli_alloc(ud, size);
}

static void h2_free(void *p, void *ud) {
  cli_free(ud, p);
}

static void *h2_calloc(size_t n, size_t size, void *ud) {
  if (USE_MALLOC) return calloc(n, size);
  return core_slab_calloc(ud, n, size);
}

static void *h2_realloc(void *p, size_t size, void *ud) {
  if (USE_MALLOC) return realloc(p, size);
  return core_slab_realloc(ud, p, size);
}

void cli_h2_mem(core_slab *s, nghttp2_mem *out) {
  *out = (nghttp2_mem){s, h2_malloc, h2_free, h2_calloc, h2_realloc};
}
