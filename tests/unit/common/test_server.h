/* uringrpc-server spawned by a Criterion test on 127.0.0.1 (port 0 unless given) with a TLS
 * listener using the test PKI's srv.pem (test_pki.h), one shard, on the backend the test runs
 * (test_shard.h's epoll_backend); its ports come from its startup line. The test defines
 * URPC_SERVER_BIN and includes <criterion/criterion.h> first.
 * Only the PID spawned is signalled; the child dies with the test process. */
#ifndef URPC_TESTS_UNIT_COMMON_TEST_SERVER_H
#define URPC_TESTS_UNIT_COMMON_TEST_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test_pki.h"
#include "test_shard.h"

typedef struct server {
  pid_t pid;
  int port, tls_port;
} server;

/* More flags for the next start_server (NULL-terminated, up to 6). */
static const char *server_extra[7];

/* uringrpc-server on 127.0.0.1:port (0: any) and a TLS listener; its ports from its startup
 * line. */
static inline server start_server(int port) {
  int pipefd[2];
  cr_assert_eq(pipe(pipefd), 0);
  char listen[32];
  snprintf(listen, sizeof(listen), "127.0.0.1:%d", port);
  pid_t pid = fork();
  cr_assert(pid >= 0);
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL); /* a test that fails or crashes leaves no server behind */
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    close(pipefd[1]);
    const char *argv[20] = {URPC_SERVER_BIN,
                            "--listen",
                            listen,
                            "--tls-listen",
                            "127.0.0.1:0",
                            "--tls-cert",
                            test_pki_path("srv.pem"),
                            "--tls-key",
                            test_pki_path("srv.key"),
                            "--shards",
                            "1",
                            "--io",
                            epoll_backend ? "epoll" : "uring"};
    for (int i = 0; server_extra[i]; i++) argv[13 + i] = server_extra[i];
    execv(URPC_SERVER_BIN, (char **)argv);
    _exit(127);
  }
  close(pipefd[1]);
  FILE *f = fdopen(pipefd[0], "r");
  char line[512] = "";
  server srv = {.pid = pid};
  const char *p;
  if (fgets(line, sizeof(line), f)) {
    if ((p = strstr(line, "listening on 127.0.0.1:"))) srv.port = atoi(p + 23);
    if ((p = strstr(line, " tls=127.0.0.1:"))) srv.tls_port = atoi(p + 15);
  }
  fclose(f);
  cr_assert(srv.port > 0 && srv.tls_port > 0, "no startup line from the server: '%s'", line);
  return srv;
}

static inline void kill_server(server *srv, int sig) {
  int status;
  kill(srv->pid, sig);
  cr_expect_eq(waitpid(srv->pid, &status, 0), srv->pid);
  srv->pid = 0;
}

/* A port nobody listens on (bound, then closed). */
static inline int free_port(void) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
  socklen_t len = sizeof(a);
  getsockname(fd, (struct sockaddr *)&a, &len);
  close(fd);
  return ntohs(a.sin_port);
}

#endif
