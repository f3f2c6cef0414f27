/* Flags are tried from the best to the most portable. SINGLE_ISSUER + DEFER_TASKRUN (6.1+)
 * run completion work only when we ask for events, on our thread: no IPIs, fewer context
 * switches. */
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>
#include <sys/utsname.h>

#include "io/ring.h"
#include "io/shard.h"

static int sysctl_io_uring_disabled(void) {
  FILE *f = fopen("/proc/sys/kernel/io_uring_disabled", "re");
  int v = 0;
  if (!f) return 0;
  if (fscanf(f, "%d", &v) != 1) v = 0;
  fclose(f);
  return v;
}

static void explain(int err, char *why, size_t why_len) {
  if (err == -ENOSYS || err == -EPERM) {
    if (sysctl_io_uring_disabled() > 0) {
      snprintf(why, why_len,
               "io_uring is disabled on this host (kernel.io_uring_disabled=%d): set the sysctl "
               "kernel.io_uring_disabled=0",
               sysctl_io_uring_disabled());
    } else {
      snprintf(why, why_len,
               "io_uring is unavailable (io_uring_setup: %s): a seccomp profile blocks it, as "
               "container runtimes' default profiles do; run with the profile this project "
               "ships (podman/docker --security-opt seccomp=deploy/seccomp.json, or "
               "Kubernetes' seccompProfile Localhost)",
               strerror(-err));
    }
  } else if (err == -ENOMEM) {
    snprintf(why, why_len,
             "io_uring_setup failed: %s; raise the locked-memory limit (ulimit -l) or use "
             "fewer shards",
             strerror(-err));
  } else {
    snprintf(why, why_len, "io_uring_setup failed: %s", strerror(-err));
  }
}

int io_ring_setup(struct io_uring *ring, unsigned entries, unsigned cq_entries, char *why,
                  size_t why_len) {
  static const unsigned flag_sets[] = {
      IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      IORING_SETUP_COOP_TASKRUN | IORING_SETUP_SUBMIT_ALL,
      0,
  };
  int err = -EINVAL;
  for (size_t i = 0; i < sizeof(flag_sets) / sizeof(flag_sets[0]); i++) {
    struct io_uring_params p;
    memset(&p, 0, sizeof(p));
    p.flags = flag_sets[i] | IORING_SETUP_CQSIZE;
    p.cq_entries = cq_entries;
    err = io_uring_queue_init_params(entries, ring, &p);
    if (err == 0) return 0;
    if (err != -EINVAL) break; /* EINVAL: the kernel lacks a flag; anything else is final */
  }
  explain(err, why, why_len);
  return err;
}

/* Multishot recv (IORING_RECV_MULTISHOT) came in 6.0; a ring sets up on older kernels but the
 * backend's first recv would fail, so the release decides. */
static bool kernel_at_least(int major, int minor, char *release, size_t len) {
  struct utsname u;
  if (uname(&u) < 0) return true; /* cannot tell: let the ring decide */
  snprintf(release, len, "%s", u.release);
  int ma = 0, mi = 0;
  if (sscanf(u.release, "%d.%d", &ma, &mi) != 2) return true;
  return ma > major || (ma == major && mi >= minor);
}

int io_ring_probe(char *why, size_t why_len) {
  char release[65] = "";
  if (!kernel_at_least(6, 0, release, sizeof(release))) {
    snprintf(why, why_len,
             "kernel %s is older than 6.0, which the io_uring backend needs (multishot recv): "
             "run on a newer kernel to get io_uring",
             release);
    return -ENOSYS;
  }
  struct io_uring ring;
  int err = io_ring_setup(&ring, 4, 8, why, why_len);
  if (err == 0) io_uring_queue_exit(&ring);
  return err;
}
