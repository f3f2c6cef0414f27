/* fgrpc.PingServer/Ping (fortio's -ping mode): echo the message with `ts` set to the server's
 * clock in nanoseconds, after waiting delayNanos on the shard's timer wheel (never blocking).
 * The delay is the client's choice, so it is capped: a call waiting on it holds memory. If the
 * client goes away meanwhile, the wait ends at once (urpc_call_defer) and the call with it. */
#include <time.h>

#include "ping.pb-c.h"
#include "services.h"

#define MAX_DELAY_NS (60ll * 1000000000) /* a minute */

static int64_t wall_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void pong(urpc_call *call, void *arg) {
  Fgrpc__PingMessage *msg = arg; /* the request, in the call's arena */
  if (urpc_call_cancelled(call)) {
    urpc_call_fail(call, URPC_STATUS_CANCELLED, NULL);
    return;
  }
  msg->ts = wall_ns();
  urpc_call_reply(call, &msg->base);
}

static void ping(urpc_call *call, const ProtobufCMessage *request, void *user) {
  (void)user;
  Fgrpc__PingMessage *msg = (Fgrpc__PingMessage *)request;
  if (msg->delaynanos > 0) {
    int64_t delay = msg->delaynanos < MAX_DELAY_NS ? msg->delaynanos : MAX_DELAY_NS;
    if (urpc_call_defer(call, (uint64_t)delay, pong, msg) < 0)
      urpc_call_fail(call, URPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return;
  }
  pong(call, msg);
}

int ping_register(urpc_server *s) {
  static const urpc_method methods[] = {{.name = "Ping", .handler = ping}};
  return urpc_server_add_service(s, &fgrpc__ping_server__descriptor, methods, 1);
}
