/* uringrpc-server --print-config: the effective options, one `key=value` line each. */
#ifndef URPC_EXAMPLES_PRINT_CONFIG_H
#define URPC_EXAMPLES_PRINT_CONFIG_H

#include <stdbool.h>
#include <stdio.h>

#include "auth_setup.h"
#include "uringrpc.h"

/* Takes --print-config out of argv (argc shrinks), before the other flags are parsed; returns
 * whether it was there. */
bool print_config_take_flag(int *argc, char **argv);

/* Writes one `key=value` line per option, keys named as the flags (without the dashes), in
 * --help's order; values in the flags' units, with what the server resolves from a default
 * (shards, calls per connection) resolved. Returns 0, or 1 if writing failed. */
int print_config(FILE *f, const urpc_server_options *o, long grace_s, const char *admin_listen,
                 const auth_setup *auth);

#endif
