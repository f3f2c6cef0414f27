/* Reads sched_getaffinity and the cgroup files; never fails hard: no readable quota means no
 * quota. */
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/cpu.h"

int core_cpu_affinity(int *cpus, int max) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) < 0) return -errno;
  int n = 0;
  for (int i = 0; i < CPU_SETSIZE && n < max; i++)
    if (CPU_ISSET(i, &set)) cpus[n++] = i;
  return n;
}

static int read_file(const char *path, char *buf, size_t cap) {
  FILE *f = fopen(path, "re");
  if (!f) return -1;
  size_t n = fread(buf, 1, cap - 1, f);
  fclose(f);
  buf[n] = 0;
  return (int)n;
}

static int limit_of(long long quota, long long period) {
  if (quota <= 0 || period <= 0) return 0;
  long long cpus = (quota + period - 1) / period;
  return cpus > INT_MAX ? INT_MAX : (int)cpus;
}

static int min_limit(int a, int b) {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

/* v2: "<quota|max> <period>" in <dir>/cpu.max */
static int v2_limit(const char *dir) {
  char path[PATH_MAX], buf[128];
  if (snprintf(path, sizeof(path), "%s/cpu.max", dir) >= (int)sizeof(path)) return 0;
  if (read_file(path, buf, sizeof(buf)) <= 0) return 0;
  long long quota, period;
  if (strncmp(buf, "max", 3) == 0 || sscanf(buf, "%lld %lld", &quota, &period) != 2) return 0;
  return limit_of(quota, period);
}

/* v1: cpu.cfs_quota_us (-1 = none) and cpu.cfs_period_us in <dir> */
static int v1_limit(const char *dir) {
  char path[PATH_MAX], buf[64];
  long long quota, period;
  if (snprintf(path, sizeof(path), "%s/cpu.cfs_quota_us", dir) >= (int)sizeof(path)) return 0;
  if (read_file(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%lld", &quota) != 1) return 0;
  if (snprintf(path, sizeof(path), "%s/cpu.cfs_period_us", dir) >= (int)sizeof(path)) return 0;
  if (read_file(path, buf, sizeof(buf)) <= 0 || sscanf(buf, "%lld", &period) != 1) return 0;
  return limit_of(quota, period);
}

/* The smallest limit on `rel` (a cgroup path like "/a/b") and each ancestor under `base`. */
static int walk_up(const char *base, const char *rel, int (*limit)(const char *)) {
  char dir[PATH_MAX];
  int best = 0;
  if (snprintf(dir, sizeof(dir), "%s%s", base, strcmp(rel, "/") == 0 ? "" : rel) >=
      (int)sizeof(dir))
    return 0;
  size_t base_len = strlen(base);
  for (;;) {
    best = min_limit(best, limit(dir));
    char *slash = strrchr(dir, '/');
    if (!slash || (size_t)(slash - dir) < base_len) break;
    *slash = 0;
  }
  return best;
}

/* v1 lines look like "4:cpu,cpuacct:/path"; the controller list must contain "cpu". */
static int has_cpu_controller(const char *list) {
  char tmp[256];
  snprintf(tmp, sizeof(tmp), "%s", list);
  char *save = NULL;
  for (char *c = strtok_r(tmp, ",", &save); c; c = strtok_r(NULL, ",", &save))
    if (strcmp(c, "cpu") == 0) return 1;
  return 0;
}

int core_cgroup_cpu_limit(const char *proc_cgroup, const char *cgroup_root) {
  FILE *f = fopen(proc_cgroup, "re");
  if (!f) return 0;
  char line[PATH_MAX + 64];
  int best = 0;
  while (fgets(line, sizeof(line), f)) {
    line[strcspn(line, "\n")] = 0;
    char *c1 = strchr(line, ':');
    char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
    if (!c2) continue;
    *c1 = *c2 = 0;
    const char *controllers = c1 + 1, *path = c2 + 1;
    char base[PATH_MAX];
    if (strcmp(line, "0") == 0 && *controllers == 0) {
      best = min_limit(best, walk_up(cgroup_root, path, v2_limit));
    } else if (has_cpu_controller(controllers)) {
      /* The cpu controller is mounted as "cpu,cpuacct" (symlinked as "cpu") on most systems. */
      int l = 0;
      if (snprintf(base, sizeof(base), "%s/%s", cgroup_root, controllers) < (int)sizeof(base))
        l = walk_up(base, path, v1_limit);
      if (!l && snprintf(base, sizeof(base), "%s/cpu", cgroup_root) < (int)sizeof(base))
        l = walk_up(base, path, v1_limit);
      best = min_limit(best, l);
    }
  }
  fclose(f);
  return best;
}

int core_cpu_default_count(void) {
  int cpus[CPU_SETSIZE];
  int n = core_cpu_affinity(cpus, CPU_SETSIZE);
  if (n <= 0) n = 1;
  int limit = core_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
  if (limit > 0 && limit < n) n = limit;
  return n;
}
