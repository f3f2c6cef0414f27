/* The registry built from protoc-c descriptors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "example.pb-c.h"
#include "helloworld.pb-c.h"
#include "rpc/registry.h"

static void handler(urpc_call *call, const ProtobufCMessage *req, void *user) {
  (void)call, (void)req, (void)user;
}

static const rpc_method *find(const rpc_registry *r, const char *path) {
  return rpc_registry_find(r, path, strlen(path));
}

Test(registry, lookup_by_path) {
  rpc_registry r;
  rpc_registry_init(&r);
  static int tag = 7;
  urpc_method m[] = {{.name = "SayHello", .handler = handler, .user = &tag}};
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, m, 1), 0);
  urpc_method d[] = {
      {.name = "BlockingHello", .handler = handler, .user = NULL, .flags = URPC_METHOD_BLOCKING},
      {.name = "AsyncHello", .handler = handler, .user = NULL}};
  cr_assert_eq(rpc_registry_add(&r, &urpc__example__demo__descriptor, d, 2), 0);

  const rpc_method *hit = find(&r, "/helloworld.Greeter/SayHello");
  cr_assert_not_null(hit);
  cr_assert_eq(hit->user, &tag);
  cr_assert_eq(hit->desc->input, &helloworld__hello_request__descriptor);
  cr_assert_not_null(find(&r, "/urpc.example.Demo/AsyncHello"));
  cr_assert_eq(find(&r, "/urpc.example.Demo/BlockingHello")->flags, URPC_METHOD_BLOCKING);
  cr_assert_null(find(&r, "/helloworld.Greeter/Sayhello"));
  cr_assert_null(find(&r, "/helloworld.Greeter/SayHello/"));
  cr_assert_null(find(&r, "/helloworld.Greeter"));
  cr_assert_null(find(&r, ""));
  cr_assert(rpc_registry_has_service(&r, "helloworld.Greeter", 18));
  cr_assert_not(rpc_registry_has_service(&r, "helloworld.Greete", 17));
  rpc_registry_dispose(&r);
}

Test(registry, rejects_bad_registrations) {
  rpc_registry r;
  rpc_registry_init(&r);
  urpc_method unknown[] = {{.name = "NoSuchMethod", .handler = handler, .user = NULL}};
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, unknown, 1), -EINVAL);
  urpc_method nohandler[] = {{.name = "SayHello", .handler = NULL, .user = NULL}};
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, nohandler, 1), -EINVAL);
  urpc_method ok[] = {{.name = "SayHello", .handler = handler, .user = NULL}};
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, ok, 1), 0);
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, ok, 1), -EEXIST);
  cr_assert_eq(rpc_registry_add(&r, NULL, ok, 1), -EINVAL);
  rpc_registry_dispose(&r);
}

Test(registry, service_with_no_methods_is_known_but_routes_nothing) {
  rpc_registry r;
  rpc_registry_init(&r);
  cr_assert_eq(rpc_registry_add(&r, &helloworld__greeter__descriptor, NULL, 0), 0);
  cr_assert(rpc_registry_has_service(&r, "helloworld.Greeter", 18));
  cr_assert_null(find(&r, "/helloworld.Greeter/SayHello"));
  rpc_registry_dispose(&r);
}

#include "grpc/health/v1/health.pb-c.h"

Test(registry, start_refuses_a_method_registered_with_the_wrong_kind) {
  /* Health/Watch is server-streaming in health.proto (built into the reflection set). */
  urpc_server_options o;
  urpc_server_options_init(&o);
  o.listen = "127.0.0.1:0";
  o.shards = 1;
  o.health = false; /* the application brings its own Health service */
  urpc_server *s;
  cr_assert_eq(urpc_server_new(&o, &s), 0);
  urpc_method m[] = {{.name = "Watch", .handler = handler}};
  cr_assert_eq(urpc_server_add_service(s, &grpc__health__v1__health__descriptor, m, 1), 0);
  char why[512] = "";
  cr_assert_eq(urpc_server_start(s, why, sizeof(why)), -EINVAL);
  cr_assert(strstr(why, "/grpc.health.v1.Health/Watch") && strstr(why, "server-streaming"),
            "why: %s", why);
  urpc_server_free(s);

  /* Registered right, it starts. */
  cr_assert_eq(urpc_server_new(&o, &s), 0);
  urpc_method ok[] = {{.name = "Watch", .handler = handler, .flags = URPC_METHOD_SERVER_STREAMING}};
  cr_assert_eq(urpc_server_add_service(s, &grpc__health__v1__health__descriptor, ok, 1), 0);
  cr_assert_eq(urpc_server_start(s, why, sizeof(why)), 0, "%s", why);
  urpc_server_stop(s);
  urpc_server_wait(s);
  urpc_server_free(s);
}
