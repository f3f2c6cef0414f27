/* helloworld.Greeter/SayHello: "Hello " + name, built in the call's arena, on the shard. */
#include <stdio.h>
#include <string.h>

#include "helloworld.pb-c.h"
#include "services.h"

static void say_hello(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  const Helloworld__HelloRequest *req = (const Helloworld__HelloRequest *)request;
  const char *name = req->name ? req->name : "";
  size_t len = strlen(name) + sizeof("Hello ");
  char *text = urpc_call_alloc(call, len);
  if (!text) {
    urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  snprintf(text, len, "Hello %s", name);
  Helloworld__HelloReply reply = HELLOWORLD__HELLO_REPLY__INIT;
  reply.message = text;
  urpc_call_reply(call, &reply.base);
}

int greeter_register(urpc_server *s) {
  static const urpc_method methods[] = {{.name = "SayHello", .handler = say_hello, .user = NULL}};
  return urpc_server_add_service(s, &helloworld__greeter__descriptor, methods, 1);
}
