/* gRPC target names (grpc's doc/naming.md) parsed into what a channel connects to. Pure: no
 * I/O, no allocation, any thread.
 *
 *   dns:[//authority/]host[:port]   a name to resolve (client/resolver.h); port 443 if absent.
 *                                   The DNS-server authority ("dns://8.8.8.8/host") is refused:
 *                                   getaddrinfo asks the system's resolver only. "dns:///h:p"
 *                                   (empty authority) and "dns:h:p" are the same target.
 *   host[:port]                     no scheme, or one that is not below: dns, as grpc does
 *                                   ("localhost:50051" is dns:///localhost:50051).
 *   ipv4:a.b.c.d[:port][,...]       addresses as written, in order; port 443 if absent.
 *   ipv6:addr or [addr][:port][,...] brackets required with a port, allowed without.
 *   unix:path, unix:///abs/path     a socket path (relative or absolute; "unix://x" must be
 *                                   absolute, i.e. three slashes).
 *   unix-abstract:name              a name in the abstract namespace (no NUL inside).
 *
 * Percent-encoding is not decoded (a '%' is refused in host names and kept in paths).
 * The authority to send as :authority is grpc's default: the host[:port] as written for dns,
 * the first address as written for ipv4/ipv6, "localhost" for unix and unix-abstract. */
#ifndef URPC_CLIENT_TARGET_H
#define URPC_CLIENT_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CLI_TARGET_MAX_ADDRS    16  /* ipv4:/ipv6: addresses in one target */
#define CLI_TARGET_HOST_MAX     253 /* a DNS name's longest textual form */
#define CLI_TARGET_DEFAULT_PORT 443

typedef enum cli_target_kind {
  CLI_TARGET_DNS,  /* `host` and `port` to resolve */
  CLI_TARGET_IPV4, /* `addrs` */
  CLI_TARGET_IPV6, /* `addrs` */
  CLI_TARGET_UNIX, /* one AF_UNIX address in `addrs` (a path, or an abstract name) */
} cli_target_kind;

/* One address to connect to, ready for io_connect_req. */
typedef struct cli_addr {
  struct sockaddr_storage ss;
  socklen_t len;
} cli_addr;

typedef struct cli_target {
  cli_target_kind kind;
  char host[CLI_TARGET_HOST_MAX + 1];      /* dns: the name, or an IP literal without brackets */
  uint16_t port;                           /* dns: the port (443 if none was written) */
  char authority[CLI_TARGET_HOST_MAX + 8]; /* :authority (see above) */
  unsigned naddrs;                         /* ipv4, ipv6, unix: the addresses, in order */
  cli_addr addrs[CLI_TARGET_MAX_ADDRS];
} cli_target;

/* Parses `s` into `*out` (caller's memory; nothing to dispose). Returns 0, or -EINVAL with one
 * line in `why` naming the target and what is wrong with it (`why` may be NULL). */
int cli_target_parse(const char *s, cli_target *out, char *why, size_t why_len);

#endif
