/* Free list: a pop or a push on the hot path, malloc only when the list is dry. */
#include <stdlib.h>

#include "core/pool.h"

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
    obj = malloc(p->obj_size);
    if (!obj) return NULL;
  }
  p->live++;
  return obj;
}

void core_pool_put(core_pool *p, void *obj) {
  if (!obj) return;
  p->live--;
  if (p->nfree >= p->max_free) {
    free(obj);
    return;
  }
  *(void **)obj = p->free_list;
  p->free_list = obj;
  p->nfree++;
}

void core_pool_dispose(core_pool *p) {
  while (p->free_list) {
    void *next = *(void **)p->free_list;
    free(p->free_list);
    p->free_list = next;
  }
  p->nfree = 0;
}
