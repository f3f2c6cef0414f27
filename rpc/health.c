/* grpc.health.v1.Health/Check: "" (the whole server) and every registered service are
 * SERVING; any other name is NOT_FOUND. The registry is read-only once serving, so this runs
 * on any shard without locks. */
#include <errno.h>
#include <string.h>

#include "grpc/health/v1/health.pb-c.h"
#include "rpc/rpc_impl.h"

static void health_check(urpc_call *call, const ProtobufCMessage *request, void *user) {
  const urpc_server *s = user;
  const Grpc__Health__V1__HealthCheckRequest *req =
      (const Grpc__Health__V1__HealthCheckRequest *)request;
  const char *name = req->service ? req->service : "";
  if (*name && !rpc_registry_has_service(&s->registry, name, strlen(name))) {
    urpc_call_fail(call, URPC_STATUS_NOT_FOUND, "unknown service");
    return;
  }
  Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
  resp.status = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
  urpc_call_reply(call, &resp.base);
}

int rpc_health_register(urpc_server *s) {
  const ProtobufCServiceDescriptor *d = &grpc__health__v1__health__descriptor;
  if (rpc_registry_has_service(&s->registry, d->name, strlen(d->name))) return 0;
  const urpc_method methods[] = {{"Check", health_check, s, 0}};
  return rpc_registry_add(&s->registry, d, methods, 1);
}
