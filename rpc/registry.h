/* The service registry: "/package.Service/Method" → method, built from protoc-c descriptors
 * before the server starts and read-only after, so every shard reads it without locks. */
#ifndef URPC_RPC_REGISTRY_H
#define URPC_RPC_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rpc/uringrpc.h"

typedef struct rpc_method {
  char *path; /* "/package.Service/Method", owned */
  size_t path_len;
  const ProtobufCServiceDescriptor *service;
  const ProtobufCMethodDescriptor *desc;
  urpc_unary_handler handler;
  void *user;
  unsigned flags;
  const urpc_stream_handler *stream;
  uint32_t index; /* 1..count in registration order (0 means no method: urpc_call_method_index) */
} rpc_method;

typedef struct rpc_registry {
  rpc_method **slots; /* open addressing, linear probing; cap is a power of two */
  size_t cap, count;
  const ProtobufCServiceDescriptor **services;
  size_t n_services;
  rpc_method **by_index; /* [index - 1] */
} rpc_registry;

void rpc_registry_init(rpc_registry *r);
void rpc_registry_dispose(rpc_registry *r);
/* See urpc_server_add_service(). */
int rpc_registry_add(rpc_registry *r, const ProtobufCServiceDescriptor *service,
                     const urpc_method *methods, size_t n);
const rpc_method *rpc_registry_find(const rpc_registry *r, const char *path, size_t len);
/* The method of index 1..count, or NULL. */
const rpc_method *rpc_registry_at(const rpc_registry *r, uint32_t index);
/* Whether a service of that full name ("package.Service") is registered. */
bool rpc_registry_has_service(const rpc_registry *r, const char *name, size_t len);

#endif
