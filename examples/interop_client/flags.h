/* The command line of uringrpc-interop-client: grpc's interop client flags (doc/interop-test-
 * descriptions.md) plus the few this client needs because it embeds nothing (--ca_file). */
#ifndef URPC_INTEROP_CLIENT_FLAGS_H
#define URPC_INTEROP_CLIENT_FLAGS_H

#include <stdbool.h>

#include "uringrpc.h"

typedef struct ic_flags {
  const char *server_host;          /* default "localhost" */
  int server_port;                  /* required */
  const char *server_host_override; /* TLS name and :authority; NULL: server_host */
  const char *test_case;            /* a case name or "all" */
  bool use_tls;
  bool use_test_ca; /* verify against grpc's test CA: --ca_file or $GRPC_TEST_CA_FILE */
  const char *ca_file;
  int rpc_timeout_ms; /* each call's deadline */
  urpc_io_backend io;
} ic_flags;

/* Fills `f` from argv. Returns 0; 1 after printing the usage for --help; -1 after printing one
 * line naming the bad flag. */
int ic_flags_parse(int argc, char **argv, ic_flags *f);

#endif
