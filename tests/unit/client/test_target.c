/* gRPC target names (client/target.h): a table of good targets with everything they parse to,
 * and bad ones with the words their error line must hold. */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "client/target.h"

/* "127.0.0.1:1", "[::1]:443", "unix:/tmp/x", "unix-abstract:name". */
static void addr_str(const cli_addr *a, char *out, size_t len) {
  char ip[INET6_ADDRSTRLEN];
  if (a->ss.ss_family == AF_INET) {
    const struct sockaddr_in *s = (const struct sockaddr_in *)&a->ss;
    cr_assert_eq(a->len, sizeof(*s));
    inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
    snprintf(out, len, "%s:%u", ip, ntohs(s->sin_port));
  } else if (a->ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)&a->ss;
    cr_assert_eq(a->len, sizeof(*s));
    inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
    snprintf(out, len, "[%s]:%u", ip, ntohs(s->sin6_port));
  } else if (a->ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *s = (const struct sockaddr_un *)&a->ss;
    size_t n = a->len - offsetof(struct sockaddr_un, sun_path) - 1;
    if (s->sun_path[0] == '\0')
      snprintf(out, len, "unix-abstract:%.*s", (int)n, s->sun_path + 1);
    else {
      cr_assert_eq(strlen(s->sun_path), n, "a path's length counts its NUL");
      snprintf(out, len, "unix:%s", s->sun_path);
    }
  } else {
    snprintf(out, len, "family %d", a->ss.ss_family);
  }
}

typedef struct good {
  const char *target;
  cli_target_kind kind;
  const char *host; /* dns */
  unsigned port;    /* dns */
  const char *authority;
  const char *addrs[3]; /* others, as addr_str writes them */
} good;

static const good goods[] = {
    {"dns:///greeter:50051", CLI_TARGET_DNS, "greeter", 50051, "greeter:50051", {0}},
    {"dns:greeter:50051", CLI_TARGET_DNS, "greeter", 50051, "greeter:50051", {0}},
    {"dns:/greeter:50051", CLI_TARGET_DNS, "greeter", 50051, "greeter:50051", {0}},
    {"dns:///greeter", CLI_TARGET_DNS, "greeter", 443, "greeter", {0}},
    {"dns:greeter.svc.cluster.local",
     CLI_TARGET_DNS,
     "greeter.svc.cluster.local",
     443,
     "greeter.svc.cluster.local",
     {0}},
    {"greeter:50051", CLI_TARGET_DNS, "greeter", 50051, "greeter:50051", {0}},
    {"localhost:1", CLI_TARGET_DNS, "localhost", 1, "localhost:1", {0}},
    {"greeter", CLI_TARGET_DNS, "greeter", 443, "greeter", {0}},
    {"my_host-1.example.com:65535",
     CLI_TARGET_DNS,
     "my_host-1.example.com",
     65535,
     "my_host-1.example.com:65535",
     {0}},
    {"127.0.0.1:50051", CLI_TARGET_DNS, "127.0.0.1", 50051, "127.0.0.1:50051", {0}},
    {"[::1]:50051", CLI_TARGET_DNS, "::1", 50051, "[::1]:50051", {0}},
    {"dns:///[::1]:8080", CLI_TARGET_DNS, "::1", 8080, "[::1]:8080", {0}},
    {"dns:///[fe80::1]", CLI_TARGET_DNS, "fe80::1", 443, "[fe80::1]", {0}},
    {"::1", CLI_TARGET_DNS, "::1", 443, "::1", {0}},
    {"ipv4:127.0.0.1:1", CLI_TARGET_IPV4, "", 0, "127.0.0.1:1", {"127.0.0.1:1"}},
    {"ipv4:127.0.0.1:1,127.0.0.2:2",
     CLI_TARGET_IPV4,
     "",
     0,
     "127.0.0.1:1",
     {"127.0.0.1:1", "127.0.0.2:2"}},
    {"ipv4:10.0.0.1", CLI_TARGET_IPV4, "", 0, "10.0.0.1", {"10.0.0.1:443"}},
    {"ipv4:10.0.0.1,10.0.0.2:80,10.0.0.3",
     CLI_TARGET_IPV4,
     "",
     0,
     "10.0.0.1",
     {"10.0.0.1:443", "10.0.0.2:80", "10.0.0.3:443"}},
    {"ipv6:[::1]:50051", CLI_TARGET_IPV6, "", 0, "[::1]:50051", {"[::1]:50051"}},
    {"ipv6:[2607:f8b0:400e:c00::ef]:443,[::]:1234",
     CLI_TARGET_IPV6,
     "",
     0,
     "[2607:f8b0:400e:c00::ef]:443",
     {"[2607:f8b0:400e:c00::ef]:443", "[::]:1234"}},
    {"ipv6:::1", CLI_TARGET_IPV6, "", 0, "::1", {"[::1]:443"}},
    {"ipv6:[::1]", CLI_TARGET_IPV6, "", 0, "[::1]", {"[::1]:443"}},
    {"ipv6:fe80::2,[::1]:7", CLI_TARGET_IPV6, "", 0, "fe80::2", {"[fe80::2]:443", "[::1]:7"}},
    {"unix:/tmp/x", CLI_TARGET_UNIX, "", 0, "localhost", {"unix:/tmp/x"}},
    {"unix:relative/sock", CLI_TARGET_UNIX, "", 0, "localhost", {"unix:relative/sock"}},
    {"unix:///var/run/grpc.sock", CLI_TARGET_UNIX, "", 0, "localhost", {"unix:/var/run/grpc.sock"}},
    {"unix:/tmp/with%20percent", CLI_TARGET_UNIX, "", 0, "localhost", {"unix:/tmp/with%20percent"}},
    {"unix-abstract:grpc-test", CLI_TARGET_UNIX, "", 0, "localhost", {"unix-abstract:grpc-test"}},
};

typedef struct bad {
  const char *target;
  const char *why; /* a part of the error line */
} bad;

static const bad bads[] = {
    {"", "empty"},
    {"dns:///", "empty host"},
    {"dns:", "empty host"},
    {"dns://8.8.8.8/greeter:50051", "a DNS server (\"8.8.8.8\") is not supported"},
    {"dns://greeter:50051", "no host after the authority"},
    {"greeter:", "empty port"},
    {"greeter:http", "port \"http\" is not a number"},
    {"greeter:65536", "above 65535"},
    {"greeter:0", "port 0"},
    {"greeter:99999999999", "above 65535"},
    {"gr eeter:1", "' ' in host name"},
    {"gree/ter:1", "'/' in host name"},
    {":50051", "empty host"},
    {"[::1:50051", "'[' without ']'"},
    {"[::1]x", "after ']'"},
    {"[nothex]:1", "not an IPv6 address"},
    {"1::2::3", "not an IPv6 address"},
    {"http://greeter:80", "unknown scheme \"http\""},
    {"ipv4:", "no address"},
    {"ipv4:1.2.3", "\"1.2.3\" is not an IPv4 address"},
    {"ipv4:1.2.3.4:5,", "empty address"},
    {"ipv4:1.2.3.4,,1.2.3.5", "empty address"},
    {"ipv4:[::1]:1", "not an IPv4 address"},
    {"ipv4:256.1.1.1:1", "not an IPv4 address"},
    {"ipv4:1.2.3.4:x", "not a number"},
    {"ipv4:1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5,1.1.1.6,1.1.1.7,1.1.1.8,1.1.1.9,1.1.1.10,"
     "1.1.1.11,1.1.1.12,1.1.1.13,1.1.1.14,1.1.1.15,1.1.1.16,1.1.1.17",
     "more than 16 addresses"},
    {"ipv6:::1:50051x", "not an IPv6 address"},
    {"ipv6:127.0.0.1:1", "not an IPv6 address"},
    {"ipv6:[::1]:", "empty port"},
    {"unix:", "empty socket path"},
    {"unix://relative", "absolute path"},
    {"unix-abstract:", "empty abstract socket name"},
    {"unix:/"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
     "longer than 107 bytes"},
};

Test(target, good_names) {
  for (size_t i = 0; i < sizeof(goods) / sizeof(goods[0]); i++) {
    const good *g = &goods[i];
    cli_target t;
    char why[256];
    int rc = cli_target_parse(g->target, &t, why, sizeof(why));
    cr_assert_eq(rc, 0, "%s: %s", g->target, why);
    cr_expect_eq(t.kind, g->kind, "%s: kind %d", g->target, t.kind);
    cr_expect_str_eq(t.authority, g->authority, "%s: authority", g->target);
    if (g->kind == CLI_TARGET_DNS) {
      cr_expect_str_eq(t.host, g->host, "%s: host", g->target);
      cr_expect_eq(t.port, g->port, "%s: port %u", g->target, t.port);
      cr_expect_eq(t.naddrs, 0);
      continue;
    }
    unsigned want = 0;
    while (want < 3 && g->addrs[want]) want++;
    cr_assert_eq(t.naddrs, want, "%s: %u addresses", g->target, t.naddrs);
    for (unsigned k = 0; k < want; k++) {
      char s[160];
      addr_str(&t.addrs[k], s, sizeof(s));
      cr_expect_str_eq(s, g->addrs[k], "%s: address %u", g->target, k);
    }
  }
}

Test(target, bad_names) {
  for (size_t i = 0; i < sizeof(bads) / sizeof(bads[0]); i++) {
    const bad *b = &bads[i];
    cli_target t;
    char why[256];
    int rc = cli_target_parse(b->target, &t, why, sizeof(why));
    cr_expect_eq(rc, -EINVAL, "%s: parsed", b->target);
    cr_expect(strstr(why, b->why) != NULL, "%s: \"%s\" lacks \"%s\"", b->target, why, b->why);
    cr_expect(strstr(why, "target \"") == why, "%s: \"%s\" names no target", b->target, why);
    cr_expect(!strchr(why, '\n'), "one line");
  }
}

Test(target, null_why_and_small_why) {
  cli_target t;
  cr_assert_eq(cli_target_parse("greeter:x", &t, NULL, 0), -EINVAL);
  cr_assert_eq(cli_target_parse(NULL, &t, NULL, 0), -EINVAL);
  char why[8];
  cr_assert_eq(cli_target_parse("greeter:x", &t, why, sizeof(why)), -EINVAL);
  cr_assert_eq(strlen(why), sizeof(why) - 1, "cut, terminated");
}

Test(target, abstract_length_has_no_nul) {
  cli_target t;
  cr_assert_eq(cli_target_parse("unix-abstract:ab", &t, NULL, 0), 0);
  cr_assert_eq(t.addrs[0].len, offsetof(struct sockaddr_un, sun_path) + 3, "NUL + \"ab\"");
  cr_assert_eq(cli_target_parse("unix:ab", &t, NULL, 0), 0);
  cr_assert_eq(t.addrs[0].len, offsetof(struct sockaddr_un, sun_path) + 3, "\"ab\" + NUL");
}
