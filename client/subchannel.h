/* A subchannel: one server address on one shard, carried by one outbound HTTP/2 connection at a
 * time (io_shard_connect + cli_conn), and the calls made on it, which may start before the
 * connection is up.
 *
 * States as grpc's connectivity states: IDLE (no connection, none wanted) → CONNECTING (a
 * connection is being made: TCP, then TLS) → READY (calls start on it) or TRANSIENT_FAILURE
 * (it failed: wait out the backoff of grpc's doc/connection-backoff.md, then IDLE again, and
 * CONNECTING at once if calls wait). A GOAWAY from the server, or the connection closing, takes
 * a READY subchannel back to IDLE (CONNECTING if calls wait); calls in flight on a connection
 * told GOAWAY finish there while new ones go to a new connection.
 *
 * A call (cli_subchannel_call) may be made in any state. Until a connection can take it, it
 * waits in a bounded queue with its request messages buffered. A connection failure ends the
 * waiting calls UNAVAILABLE with the failure's reason, and a call made in TRANSIENT_FAILURE
 * ends so at once, unless it was made with wait_for_ready: then it waits for a later connection
 * until its deadline (DEADLINE_EXCEEDED). on_close never runs from inside cli_subchannel_call
 * or the functions below other than cli_sub_call_cancel and cli_subchannel_free.
 *
 * Shard thread only, everything: the subchannel, its calls and their callbacks belong to the
 * shard it was made on. Internal to client/ until the public client API. */
#ifndef URPC_CLIENT_SUBCHANNEL_H
#define URPC_CLIENT_SUBCHANNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "client/h2_client.h"
#include "client/target.h"
#include "io/shard.h"
#include "tls/tls.h"

typedef struct cli_subchannel cli_subchannel;
typedef struct cli_sub_call cli_sub_call;

typedef enum cli_sub_state {
  CLI_SUB_IDLE,
  CLI_SUB_CONNECTING,
  CLI_SUB_READY,
  CLI_SUB_TRANSIENT_FAILURE,
  CLI_SUB_SHUTDOWN,
} cli_sub_state;

typedef struct cli_subchannel_config {
  const char *authority;     /* :authority, e.g. "greeter:50051" (copied); required */
  tls_ctx *tls;              /* a client context (tls_client_ctx_new), or NULL for plaintext;
                                the subchannel takes a reference */
  const char *server_name;   /* with `tls`: SNI and the name the certificate must carry */
  uint32_t max_recv_message; /* 0: cli_conn's default (4 MiB) */
  const char *user_agent;    /* NULL: cli_conn's default; must outlive the subchannel */
  uint32_t send_buffer;      /* request bytes a call may hold before send says -EAGAIN, also
                                while it waits; 0: 64 KiB */
  uint32_t max_pending;      /* calls that may wait for a connection; 0: 1024 */
  /* connection-backoff.md, in milliseconds; 0: its defaults (1000, 1.6, 0.2, 120000, 20000) */
  uint32_t initial_backoff_ms;
  double multiplier;
  double jitter;
  uint32_t max_backoff_ms;
  uint32_t min_connect_timeout_ms;
  uint32_t keepalive_time_ms;    /* a PING after this long while calls are open; 0: none */
  uint32_t keepalive_timeout_ms; /* its ACK not in by then: the connection closes; 0: 20 s */
  /* Every address failed (the subchannel enters TRANSIENT_FAILURE): the channel's cue to
   * resolve again. May be NULL. */
  void (*on_failure)(cli_subchannel *sub, void *arg);
  void *arg;
} cli_subchannel_config;

typedef struct cli_sub_handlers {
  /* As cli_call_handlers (h2_client.h), for a subchannel call. on_close comes exactly once;
   * the call is freed after it. */
  void (*on_metadata)(cli_sub_call *call, const char *key, const uint8_t *value, size_t len,
                      bool trailer, void *user);
  void (*on_message)(cli_sub_call *call, const uint8_t *msg, size_t len, void *user);
  void (*on_close)(cli_sub_call *call, urpc_status_code status, const char *message, void *user);
  void (*on_writable)(cli_sub_call *call, void *user);
} cli_sub_handlers;

typedef struct cli_sub_call_opts {
  cli_call_opts call;  /* timeout (also the deadline while waiting), metadata, encoding */
  bool wait_for_ready; /* wait through connection failures instead of failing UNAVAILABLE */
  size_t extra;        /* bytes the caller wants allocated with the call (cli_sub_call_extra),
                          zeroed, freed with it after on_close */
} cli_sub_call_opts;

/* Shard thread of `shard`. `addrs` (copied) are tried in order until one connects (pick_first
 * within the subchannel); with none, calls wait until cli_subchannel_set_addrs gives some.
 * Nothing connects until the first call. Returns 0, -EINVAL (no authority, TLS without a
 * server name), -ENOMEM. */
int cli_subchannel_new(io_shard *shard, const cli_addr *addrs, unsigned n,
                       const cli_subchannel_config *cfg, cli_subchannel **out);
/* New addresses (a resolver's answer), for the next connection; a connection up stays. */
int cli_subchannel_set_addrs(cli_subchannel *sub, const cli_addr *addrs, unsigned n);
/* Resolution failed: the waiting calls that do not wait for ready end UNAVAILABLE with `why`. */
void cli_subchannel_fail_waiting(cli_subchannel *sub, const char *why);
/* Whether calls wait or run on it. */
bool cli_subchannel_busy(const cli_subchannel *sub);
/* Ends every call (waiting ones CANCELLED, started ones as cli_call_cancel does: CANCELLED),
 * closes the connections and frees the subchannel; a connection still being made is dropped
 * when it opens or fails. Not from inside one of the subchannel's callbacks. */
void cli_subchannel_free(cli_subchannel *sub);
cli_sub_state cli_subchannel_state(const cli_subchannel *sub);
/* Calls waiting for a connection (or for a stream slot on it). */
uint32_t cli_subchannel_waiting(const cli_subchannel *sub);
/* The last connection failure's one-line reason ("" if none yet). Valid until the next. */
const char *cli_subchannel_last_error(const cli_subchannel *sub);

/* Makes a call of `path` (`o` may be NULL). Returns it, or NULL with *err: -EINVAL (a bad path
 * or encoding), -EAGAIN (max_pending calls already wait: RESOURCE_EXHAUSTED), -ESHUTDOWN,
 * -ENOMEM, or cli_call_start's codes when it starts at once. */
cli_sub_call *cli_subchannel_call(cli_subchannel *sub, const char *path, const cli_sub_call_opts *o,
                                  const cli_sub_handlers *h, void *user, int *err);
/* As cli_call_send: copied; -EAGAIN when the call holds send_buffer bytes (on_writable
 * follows); -EPIPE after close_send or once the call ends. */
int cli_sub_call_send(cli_sub_call *call, const uint8_t *msg, size_t len, unsigned flags);
/* Inside on_message: whether that message came compressed on the wire. */
bool cli_sub_call_message_compressed(const cli_sub_call *call);
int cli_sub_call_close_send(cli_sub_call *call);
/* Ends the call CANCELLED (on_close before this returns), whatever its state. */
void cli_sub_call_cancel(cli_sub_call *call);
/* The call's `extra` bytes (max_align_t-aligned). */
void *cli_sub_call_extra(cli_sub_call *call);
/* Ends the call as its deadline would: DEADLINE_EXCEEDED (on_close before this returns). */
void cli_sub_call_expire(cli_sub_call *call);
/* Connects now if IDLE with addresses, with no call waiting (round_robin's eager connect). */
void cli_subchannel_connect(cli_subchannel *sub);
/* The addresses it connects to. */
const cli_addr *cli_subchannel_addrs(const cli_subchannel *sub, unsigned *n);

#endif
