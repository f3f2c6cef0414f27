/* Address parsing goes through getaddrinfo (numeric or names); errors name the address. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "io/listener.h"

#define LISTEN_BACKLOG 4096

static int split_host_port(const char *addr, char *host, size_t host_len, char *port,
                           size_t port_len) {
  const char *colon = strrchr(addr, ':');
  if (!colon || colon[1] == 0) return -EINVAL;
  const char *h = addr;
  size_t hl = (size_t)(colon - addr);
  if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
    h++;
    hl -= 2;
  } else if (memchr(h, ':', hl)) {
    return -EINVAL; /* a bare IPv6 address needs brackets */
  }
  if (hl == 0) {
    h = "::";
    hl = 2;
  }
  if (hl >= host_len || strlen(colon + 1) >= port_len) return -EINVAL;
  memcpy(host, h, hl);
  host[hl] = 0;
  strcpy(port, colon + 1);
  for (const char *p = port; *p; p++)
    if (*p < '0' || *p > '9') return -EINVAL;
  if (atol(port) > 65535) return -EINVAL;
  return 0;
}

static int open_one(const struct addrinfo *ai, char *why, size_t why_len, const char *addr) {
  int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    snprintf(why, why_len, "cannot listen on %s: socket: %s", addr, strerror(errno));
    return -errno;
  }
  int one = 1, zero = 0;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  if (ai->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
  if (bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0) {
    int err = errno;
    close(fd);
    if (err == EADDRINUSE)
      snprintf(why, why_len,
               "cannot listen on %s: address already in use; stop the other "
               "server or choose another port with --listen",
               addr);
    else if (err == EADDRNOTAVAIL)
      snprintf(why, why_len,
               "cannot listen on %s: no such local address; use an address of "
               "this host, or [::] for all",
               addr);
    else if (err == EACCES)
      snprintf(why, why_len,
               "cannot listen on %s: permission denied; ports below 1024 need "
               "CAP_NET_BIND_SERVICE",
               addr);
    else
      snprintf(why, why_len, "cannot listen on %s: %s", addr, strerror(err));
    return -err;
  }
  return fd;
}

static void format_bound(int fd, char *out, size_t len) {
  struct sockaddr_storage ss;
  socklen_t sl = sizeof(ss);
  char host[INET6_ADDRSTRLEN] = "?";
  int port = 0;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6) {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
      inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof(host));
      port = ntohs(a->sin6_port);
      snprintf(out, len, "[%s]:%d", host, port);
      return;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof(host));
    port = ntohs(a->sin_port);
  }
  snprintf(out, len, "%s:%d", host, port);
}

static void set_port(struct addrinfo *ai, int port) {
  if (ai->ai_family == AF_INET6)
    ((struct sockaddr_in6 *)ai->ai_addr)->sin6_port = htons(port);
  else
    ((struct sockaddr_in *)ai->ai_addr)->sin_port = htons(port);
}

int io_listen_group(const char *addr, int n, int *fds, char *bound, size_t bound_len, char *why,
                    size_t why_len) {
  char host[256], port[16];
  if (split_host_port(addr, host, sizeof(host), port, sizeof(port)) < 0) {
    snprintf(why, why_len,
             "bad listen address '%s': expected HOST:PORT, e.g. 127.0.0.1:50051 "
             "or [::]:50051",
             addr);
    return -EINVAL;
  }
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int gai = getaddrinfo(host, port, &hints, &res);
  if (gai != 0) {
    snprintf(why, why_len, "bad listen address '%s': %s", addr, gai_strerror(gai));
    return -EINVAL;
  }
  int i, err = 0;
  for (i = 0; i < n; i++) {
    int fd = open_one(res, why, why_len, addr);
    if (fd < 0) {
      err = fd;
      break;
    }
    fds[i] = fd;
    if (i == 0) {
      format_bound(fd, bound, bound_len);
      /* Port 0: every other shard must join the port the kernel gave the first one. */
      const char *c = strrchr(bound, ':');
      set_port(res, atoi(c + 1));
    }
  }
  freeaddrinfo(res);
  if (err < 0)
    while (i-- > 0) close(fds[i]);
  return err;
}
