/* The example services that uringrpc-server registers. */
#ifndef URPC_EXAMPLES_SERVICES_H
#define URPC_EXAMPLES_SERVICES_H

#include <stdbool.h>
#include <stdio.h>

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
/* urpc.example.Relay: Forward calls the next hop (--upstream) from its handler. */
typedef struct relay_setup {
  const char *upstream; /* --upstream TARGET, or NULL */
  const char *ca_file;  /* --upstream-ca FILE: TLS to the upstream, verified against it */
  bool round_robin;     /* --upstream-lb round_robin */
} relay_setup;
int relay_register(urpc_server *s);
/* After urpc_server_start: the channel to the upstream, if any. 0, or -errno after one line. */
int relay_start(urpc_server *s, const relay_setup *r);
/* Before urpc_server_stop: handlers can no longer reach the upstream. */
void relay_stop(void);
/* --print-config's lines for the --upstream flags. 0, or 1 if writing failed. */
int relay_print(FILE *f, const relay_setup *r);
int demo_start(void);
void demo_stop(void);

#endif
