/* Free list: a pop or a push on the hot path, the allocator only when the list is dry. */
#include <stdlib.h>
#include <sys/mman.h>

#include "core/pool.h"

/* Objects of at least this size (output blocks) are mapped one by one: "frees the rest" then
 * really gives the pages back. From malloc's heap they would stay resident, and a burst (a
 * thousand new connections flushing their SETTINGS in one loop turn, each holding a 16 KiB
 * block until its send completes) would cost ~4 KiB of RSS per connection ever after. */
#define POOL_MAP_MIN ((size_t)16 * 1024)

static void *obj_alloc(const core_pool *p) {
  if (p->obj_size < POOL_MAP_MIN) return malloc(p->obj_size);
  void *obj = mmap(NULL, p->obj_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return obj == MAP_FAILED ? NULL : obj;
}

static void obj_free(const core_pool *p, void *obj) {
  if (p->obj_size < POOL_MAP_MIN)
    free(obj);
  else
    munmap(obj, p->obj_size);
}

void core_pool_init(core_pool *p, size_t obj_size, size_t max_free) {
  p->free_list = NULL;
  p->obj_size = obj_size < sizeof(void *) ? sizeof(void *) : obj_size;
  p->nfree = 0;
  p->max_free = max_free;
  p->live = 0;
}

void *core_pool_get(core_pool *p) {
  void *obj = p->free_list;
  if (obj) {
    p->free_list = *(void **)obj;
    p->nfree--;
  } else {
    obj = obj_alloc(p);
    if (!obj) return NULL;
  }
  p->live++;
  return obj;
}

void core_pool_put(core_pool *p, void *obj) {
  if (!obj) return;
  p->live--;
  if (p->nfree >= p->max_free) {
    obj_free(p, obj);
    return;
  }
  *(void **)obj = p->free_list;
  p->free_list = obj;
  p->nfree++;
}

void core_pool_dispose(core_pool *p) {
  while (p->free_list) {
    void *next = *(void **)p->free_list;
    obj_free(p, p->free_list);
    p->free_list = next;
  }
  p->nfree = 0;
}
