/* gRPC target names: a scheme picks the parser; everything but dns ends here with the socket
 * addresses themselves. Errors quote the target (cut at 200 bytes) and name the part at fault. */
#include "client/target.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

typedef struct parse {
  const char *target;
  cli_target *out;
  char *why;
  size_t why_len;
} parse;

__attribute__((format(printf, 2, 3))) static int fail(const parse *p, const char *fmt, ...) {
  if (p->why && p->why_len) {
    int n = snprintf(p->why, p->why_len, "target \"%.200s\": ", p->target);
    if (n >= 0 && (size_t)n < p->why_len) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(p->why + n, p->why_len - (size_t)n, fmt, ap);
      va_end(ap);
    }
  }
  return -EINVAL;
}

/* Decimal 1..65535, the whole of [s, s+n). */
static int parse_port(const parse *p, const char *s, size_t n, uint16_t *port) {
  if (n == 0) return fail(p, "empty port after ':'");
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return fail(p, "port \"%.*s\" is not a number", (int)n, s);
    v = v * 10 + (unsigned)(s[i] - '0');
    if (v > 65535) return fail(p, "port \"%.*s\" is above 65535", (int)n, s);
  }
  if (v == 0) return fail(p, "port 0 cannot be connected to");
  *port = (uint16_t)v;
  return 0;
}

/* host[:port], [v6][:port] or a bare IPv6 literal, in [s, s+n): the host (brackets removed) to
 * `host` (host_len bytes), the port (443 if absent). `v6` says whether the host is bracketed
 * or a bare IPv6 literal. */
static int split_host_port(const parse *p, const char *s, size_t n, char *host, size_t host_len,
                           uint16_t *port, bool *v6) {
  const char *h = s, *ps = NULL;
  size_t hn = n, pn = 0;
  *v6 = false;
  if (n > 0 && s[0] == '[') {
    const char *close = memchr(s, ']', n);
    if (!close) return fail(p, "'[' without ']'");
    h = s + 1;
    hn = (size_t)(close - h);
    size_t rest = n - (size_t)(close + 1 - s);
    if (rest > 0) {
      if (close[1] != ':')
        return fail(p, "\"%.*s\" after ']' (expected :port)", (int)rest, close + 1);
      ps = close + 2;
      pn = rest - 1;
    }
    *v6 = true;
  } else {
    const char *colon = memchr(s, ':', n);
    if (colon && memchr(colon + 1, ':', n - (size_t)(colon + 1 - s))) {
      *v6 = true; /* more than one ':': a bare IPv6 literal, no port */
    } else if (colon) {
      hn = (size_t)(colon - s);
      ps = colon + 1;
      pn = n - hn - 1;
    }
  }
  if (hn == 0) return fail(p, "empty host");
  if (hn >= host_len) return fail(p, "host longer than %zu bytes", host_len - 1);
  memcpy(host, h, hn);
  host[hn] = '\0';
  if (*v6) {
    struct in6_addr a;
    if (inet_pton(AF_INET6, host, &a) != 1)
      return fail(p, "\"%s\" is not an IPv6 address%s", host,
                  s[0] == '[' ? "" : " (write [addr]:port for a port)");
  }
  *port = CLI_TARGET_DEFAULT_PORT;
  return ps ? parse_port(p, ps, pn, port) : 0;
}

static int parse_dns(const parse *p, const char *name) {
  cli_target *t = p->out;
  if (name[0] == '/' && name[1] == '/') {
    const char *slash = strchr(name + 2, '/');
    if (!slash)
      return fail(p, "no host after the authority \"%s\" (a host is written dns:///%s)", name + 2,
                  name + 2);
    if (slash != name + 2)
      return fail(p,
                  "a DNS server (\"%.*s\") is not supported: the system resolver is used; "
                  "write dns:///host:port",
                  (int)(slash - name - 2), name + 2);
    name = slash + 1;
  } else if (name[0] == '/') {
    name++;
  }
  size_t n = strlen(name);
  bool v6;
  int rc = split_host_port(p, name, n, t->host, sizeof(t->host), &t->port, &v6);
  if (rc < 0) return rc;
  if (!v6) {
    for (const char *c = t->host; *c; c++) {
      bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
                *c == '-' || *c == '.' || *c == '_';
      if (!ok) return fail(p, "'%c' in host name \"%s\"", *c, t->host);
    }
  }
  if (n >= sizeof(t->authority))
    return fail(p, "authority longer than %zu bytes", sizeof(t->authority) - 1);
  memcpy(t->authority, name, n + 1);
  t->kind = CLI_TARGET_DNS;
  return 0;
}

/* ipv4:/ipv6: comma-separated address[:port] items. */
static int parse_ip_list(const parse *p, const char *list, int family) {
  cli_target *t = p->out;
  const char *s = list;
  if (!*s) return fail(p, "no address");
  for (;;) {
    const char *comma = strchr(s, ',');
    size_t n = comma ? (size_t)(comma - s) : strlen(s);
    if (n == 0) return fail(p, "empty address in the list");
    if (t->naddrs == CLI_TARGET_MAX_ADDRS)
      return fail(p, "more than %d addresses", CLI_TARGET_MAX_ADDRS);
    char host[INET6_ADDRSTRLEN + 1];
    uint16_t port;
    bool v6;
    int rc = split_host_port(p, s, n, host, sizeof(host), &port, &v6);
    if (rc < 0) return rc;
    cli_addr *a = &t->addrs[t->naddrs];
    memset(a, 0, sizeof(*a));
    if (family == AF_INET) {
      struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
      if (v6 || inet_pton(AF_INET, host, &sin->sin_addr) != 1)
        return fail(p, "\"%s\" is not an IPv4 address (a.b.c.d)", host);
      sin->sin_family = AF_INET;
      sin->sin_port = htons(port);
      a->len = sizeof(*sin);
    } else {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
      if (inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
        return fail(p, "\"%s\" is not an IPv6 address", host);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = htons(port);
      a->len = sizeof(*sin6);
    }
    if (t->naddrs == 0) {
      if (n >= sizeof(t->authority)) return fail(p, "address too long");
      memcpy(t->authority, s, n);
      t->authority[n] = '\0';
    }
    t->naddrs++;
    if (!comma) break;
    s = comma + 1;
  }
  t->kind = family == AF_INET ? CLI_TARGET_IPV4 : CLI_TARGET_IPV6;
  return 0;
}

static int parse_unix(const parse *p, const char *path, bool abstract) {
  cli_target *t = p->out;
  struct sockaddr_un *sun = (struct sockaddr_un *)&t->addrs[0].ss;
  if (!abstract && path[0] == '/' && path[1] == '/') {
    if (path[2] != '/')
      return fail(p, "unix:// takes an absolute path (unix:///abs/path, or unix:relative)");
    path += 2;
  }
  size_t n = strlen(path);
  if (n == 0) return fail(p, "empty %s", abstract ? "abstract socket name" : "socket path");
  size_t room = sizeof(sun->sun_path) - 1; /* a NUL after a path, before an abstract name */
  if (n > room) return fail(p, "socket %s longer than %zu bytes", abstract ? "name" : "path", room);
  memset(&t->addrs[0], 0, sizeof(t->addrs[0]));
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path + (abstract ? 1 : 0), path, n);
  /* Abstract names are exactly their bytes long (no trailing NUL); paths carry one. */
  t->addrs[0].len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
  t->naddrs = 1;
  t->kind = CLI_TARGET_UNIX;
  strcpy(t->authority, "localhost");
  return 0;
}

int cli_target_parse(const char *s, cli_target *out, char *why, size_t why_len) {
  parse p = {.target = s ? s : "", .out = out, .why = why, .why_len = why_len};
  memset(out, 0, offsetof(cli_target, addrs));
  if (why && why_len) why[0] = '\0';
  if (!s || !*s) return fail(&p, "empty");
  /* RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":" */
  size_t i = 0;
  if ((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) {
    i = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.");
    if (s[i] != ':') i = 0;
  }
  if (i > 0) {
    const char *rest = s + i + 1;
    if (i == 3 && !memcmp(s, "dns", 3)) return parse_dns(&p, rest);
    if (i == 4 && !memcmp(s, "ipv4", 4)) return parse_ip_list(&p, rest, AF_INET);
    if (i == 4 && !memcmp(s, "ipv6", 4)) return parse_ip_list(&p, rest, AF_INET6);
    if (i == 4 && !memcmp(s, "unix", 4)) return parse_unix(&p, rest, false);
    if (i == 13 && !memcmp(s, "unix-abstract", 13)) return parse_unix(&p, rest, true);
    /* An unknown scheme: grpc reads the whole target as a dns name ("localhost:50051"). */
    if (rest[0] == '/' && rest[1] == '/')
      return fail(&p, "unknown scheme \"%.*s\" (dns, ipv4, ipv6, unix, unix-abstract)", (int)i, s);
  }
  return parse_dns(&p, s);
}
