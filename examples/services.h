/* The example services that uringrpc-server registers. */
#ifndef URPC_EXAMPLES_SERVICES_H
#define URPC_EXAMPLES_SERVICES_H

#include "uringrpc.h"

/* helloworld.Greeter/SayHello on the shard thread. */
int greeter_register(urpc_server *s);
/* urpc.example.Demo: BlockingHello on a worker thread, AsyncHello answered later from another
 * thread. demo_start/demo_stop run that thread; stop answers what is pending before it ends. */
int demo_register(urpc_server *s);
/* fgrpc.PingServer/Ping, what `fortio load -grpc -ping` calls. */
int ping_register(urpc_server *s);
/* grpc.testing.TestService: grpc's interop test server. */
int interop_register(urpc_server *s);
int demo_start(void);
void demo_stop(void);

#endif
