/* FNV-1a over the path; the table stays at most half full so probes are short. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/registry.h"

static uint64_t hash(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
  return h;
}

void rpc_registry_init(rpc_registry *r) {
  memset(r, 0, sizeof(*r));
}

void rpc_registry_dispose(rpc_registry *r) {
  for (size_t i = 0; i < r->cap; i++) {
    if (!r->slots[i]) continue;
    free(r->slots[i]->path);
    free(r->slots[i]);
  }
  free(r->slots);
  free(r->services);
  free(r->by_index);
  rpc_registry_init(r);
}

static void insert(rpc_method **slots, size_t cap, rpc_method *m) {
  size_t i = hash(m->path, m->path_len) & (cap - 1);
  while (slots[i]) i = (i + 1) & (cap - 1);
  slots[i] = m;
}

static int reserve(rpc_registry *r, size_t more) {
  if ((r->count + more) * 2 <= r->cap) return 0;
  size_t cap = r->cap ? r->cap : 16;
  while ((r->count + more) * 2 > cap) cap *= 2;
  rpc_method **slots = calloc(cap, sizeof(*slots));
  if (!slots) return -ENOMEM;
  for (size_t i = 0; i < r->cap; i++)
    if (r->slots[i]) insert(slots, cap, r->slots[i]);
  free(r->slots);
  r->slots = slots;
  r->cap = cap;
  return 0;
}

const rpc_method *rpc_registry_find(const rpc_registry *r, const char *path, size_t len) {
  if (!r->cap) return NULL;
  for (size_t i = hash(path, len) & (r->cap - 1); r->slots[i]; i = (i + 1) & (r->cap - 1)) {
    const rpc_method *m = r->slots[i];
    if (m->path_len == len && memcmp(m->path, path, len) == 0) return m;
  }
  return NULL;
}

const rpc_method *rpc_registry_at(const rpc_registry *r, uint32_t index) {
  return index >= 1 && index <= r->count ? r->by_index[index - 1] : NULL;
}

bool rpc_registry_has_service(const rpc_registry *r, const char *name, size_t len) {
  for (size_t i = 0; i < r->n_services; i++)
    if (strlen(r->services[i]->name) == len && memcmp(r->services[i]->name, name, len) == 0)
      return true;
  return false;
}

static const ProtobufCMethodDescriptor *find_desc(const ProtobufCServiceDescriptor *svc,
                                                  const char *name) {
  for (unsigned i = 0; i < svc->n_methods; i++)
    if (strcmp(svc->methods[i].name, name) == 0) return &svc->methods[i];
  return NULL;
}

/* Unary and server streaming take the request in `handler`; client streaming and bidi need
 * `stream` callbacks and run on the shard (never BLOCKING). */
static bool valid_method(const ProtobufCServiceDescriptor *service, const urpc_method *m) {
  if (!m->name || !find_desc(service, m->name)) return false;
  if (m->flags & ~(unsigned)(URPC_METHOD_BLOCKING | URPC_METHOD_CLIENT_STREAMING |
                             URPC_METHOD_SERVER_STREAMING))
    return false;
  if (m->flags & URPC_METHOD_CLIENT_STREAMING)
    return m->stream && !(m->flags & URPC_METHOD_BLOCKING);
  return m->handler != NULL;
}

int rpc_registry_add(rpc_registry *r, const ProtobufCServiceDescriptor *service,
                     const urpc_method *methods, size_t n) {
  if (!service || service->magic != PROTOBUF_C__SERVICE_DESCRIPTOR_MAGIC) return -EINVAL;
  if (rpc_registry_has_service(r, service->name, strlen(service->name))) return -EEXIST;
  for (size_t i = 0; i < n; i++)
    if (!valid_method(service, &methods[i])) return -EINVAL;
  const ProtobufCServiceDescriptor **svcs =
      realloc(r->services, (r->n_services + 1) * sizeof(*svcs));
  if (!svcs) return -ENOMEM;
  r->services = svcs;
  rpc_method **by_index = realloc(r->by_index, (r->count + n) * sizeof(*by_index));
  if (!by_index) return -ENOMEM;
  r->by_index = by_index;
  if (reserve(r, n) < 0) return -ENOMEM;
  for (size_t i = 0; i < n; i++) {
    rpc_method *m = calloc(1, sizeof(*m));
    int len = m ? snprintf(NULL, 0, "/%s/%s", service->name, methods[i].name) : -1;
    char *path = len > 0 ? malloc((size_t)len + 1) : NULL;
    if (!path) {
      free(m);
      return -ENOMEM; /* methods added so far stay; the server is unusable anyway */
    }
    snprintf(path, (size_t)len + 1, "/%s/%s", service->name, methods[i].name);
    *m = (rpc_method){path,
                      (size_t)len,
                      service,
                      find_desc(service, methods[i].name),
                      methods[i].handler,
                      methods[i].user,
                      methods[i].flags,
                      methods[i].stream,
                      0};
    if (rpc_registry_find(r, path, (size_t)len)) {
      free(path);
      free(m);
      return -EEXIST;
    }
    insert(r->slots, r->cap, m);
    r->by_index[r->count++] = m;
    m->index = (uint32_t)r->count;
  }
  r->services[r->n_services++] = service;
  return 0;
}
