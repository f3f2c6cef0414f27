/* deny_io_uring PROGRAM [ARGS...]: runs PROGRAM with io_uring_setup(2) failing with ENOSYS, the
 * way container runtimes' default seccomp profiles do, so the server's "io_uring unavailable"
 * path can be tested on a host where io_uring works.
 *
 * Installs a seccomp BPF filter (after PR_SET_NO_NEW_PRIVS, so no privilege is needed), checks
 * that the filter really bites, then execv()s PROGRAM. The filter is inherited across execve
 * and by every thread the program starts. Exit codes: 77 if this kernel cannot install the
 * filter (a test may skip), 126 if it was installed but does not work, 127 if exec failed. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/io_uring.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__x86_64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_AARCH64
#elif defined(__i386__)
#define AUDIT_ARCH_NATIVE AUDIT_ARCH_I386
#else
#error "add this architecture's AUDIT_ARCH_* value"
#endif

#ifndef __NR_io_uring_setup
#define __NR_io_uring_setup 425 /* the same number on every architecture */
#endif

#define SKIP_EXIT 77

static int install_filter(void) {
  struct sock_filter filter[] = {
      /* Another ABI (e.g. 32-bit calls on x86_64): leave it alone. */
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_NATIVE, 1, 0),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_io_uring_setup, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = {
      .len = (unsigned short)(sizeof(filter) / sizeof(filter[0])),
      .filter = filter,
  };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    fprintf(stderr, "deny_io_uring: PR_SET_NO_NEW_PRIVS: %s\n", strerror(errno));
    return -1;
  }
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
    fprintf(stderr, "deny_io_uring: PR_SET_SECCOMP: %s\n", strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: deny_io_uring PROGRAM [ARGS...]\n");
    return 2;
  }
  if (install_filter() < 0) return SKIP_EXIT;
  struct io_uring_params p;
  memset(&p, 0, sizeof(p));
  long fd = syscall(__NR_io_uring_setup, 1, &p);
  if (fd >= 0 || errno != ENOSYS) {
    fprintf(stderr, "deny_io_uring: the filter does not work: io_uring_setup returned %ld (%s)\n",
            fd, fd >= 0 ? "a ring" : strerror(errno));
    if (fd >= 0) close((int)fd);
    return 126;
  }
  execv(argv[1], argv + 1);
  fprintf(stderr, "deny_io_uring: cannot run %s: %s\n", argv[1], strerror(errno));
  return 127;
}
