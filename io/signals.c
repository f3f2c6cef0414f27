/* signalfd turns signals into reads: no async-signal-safety rules in the handling code. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <poll.h>
#include <unistd.h>

#include "io/signals.h"

int io_signals_open(void) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  signal(SIGPIPE, SIG_IGN);
  int err = pthread_sigmask(SIG_BLOCK, &set, NULL);
  if (err) return -err;
  int fd = signalfd(-1, &set, SFD_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

int io_signals_wait(int sfd) {
  struct signalfd_siginfo si;
  for (;;) {
    ssize_t n = read(sfd, &si, sizeof(si));
    if (n == (ssize_t)sizeof(si)) return (int)si.ssi_signo;
    if (n < 0 && errno != EINTR) return -errno;
  }
}

int io_signals_wait_timeout(int sfd, int timeout_ms) {
  struct pollfd p = {.fd = sfd, .events = POLLIN};
  int n = poll(&p, 1, timeout_ms);
  if (n < 0) return errno == EINTR ? 0 : -errno;
  return n == 0 ? 0 : io_signals_wait(sfd);
}
