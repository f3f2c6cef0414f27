/* core/cpu.h: the cgroup CPU limit, read from a fake /proc/self/cgroup and cgroup tree built in
 * a temporary directory (v2 cpu.max, v1 cfs quota/period, ancestors, missing files), and the
 * affinity list checked against sched_getaffinity. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "core/cpu.h"

TestSuite(cpu);

/* snprintf into a PATH_MAX buffer, failing the test rather than truncating. */
#define PATHF(buf, ...)                                                                            \
  do {                                                                                             \
    int n_ = snprintf((buf), sizeof(buf), __VA_ARGS__);                                            \
    cr_assert(n_ >= 0 && (size_t)n_ < sizeof(buf), "path too long");                               \
  } while (0)

static char root[PATH_MAX];        /* the fake cgroup mount */
static char proc_cgroup[PATH_MAX]; /* the fake /proc/self/cgroup */

static void mkdir_p(const char *dir) {
  char tmp[PATH_MAX];
  PATHF(tmp, "%s", dir);
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    cr_assert(mkdir(tmp, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", tmp, strerror(errno));
    *p = '/';
  }
  cr_assert(mkdir(tmp, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", tmp, strerror(errno));
}

/* Writes `content` to <root>/<rel>, creating directories on the way. */
static void put(const char *rel, const char *content) {
  char path[PATH_MAX];
  PATHF(path, "%s/%s", root, rel);
  char *slash = strrchr(path, '/');
  *slash = 0;
  mkdir_p(path);
  *slash = '/';
  FILE *f = fopen(path, "w");
  cr_assert_not_null(f, "fopen %s: %s", path, strerror(errno));
  fputs(content, f);
  fclose(f);
}

static void put_proc(const char *content) {
  FILE *f = fopen(proc_cgroup, "w");
  cr_assert_not_null(f);
  fputs(content, f);
  fclose(f);
}

static int limit(void) {
  return core_cgroup_cpu_limit(proc_cgroup, root);
}

static char tmpdir[PATH_MAX];

static void setup(void) {
  PATHF(tmpdir, "/tmp/urpc-test-cpu-XXXXXX");
  cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
  PATHF(root, "%s/cgroup", tmpdir);
  PATHF(proc_cgroup, "%s/proc-self-cgroup", tmpdir);
  mkdir_p(root);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path);
}

static void teardown(void) {
  nftw(tmpdir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- cgroup v2 ---- */

Test(cpu, v2_quota_rounds_up, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n");
  put("a/b/cpu.max", "150000 100000\n");
  cr_expect_eq(limit(), 2);
  put("a/b/cpu.max", "200000 100000\n");
  cr_expect_eq(limit(), 2);
  put("a/b/cpu.max", "50000 100000\n");
  cr_expect_eq(limit(), 1);
  put("a/b/cpu.max", "1 100000\n");
  cr_expect_eq(limit(), 1);
  put("a/b/cpu.max", "800000 100000"); /* no newline */
  cr_expect_eq(limit(), 8);
}

Test(cpu, v2_max_means_no_limit, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n");
  put("a/b/cpu.max", "max 100000\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, v2_lower_parent_limit_wins, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n");
  put("a/b/cpu.max", "400000 100000\n");
  put("a/cpu.max", "150000 100000\n");
  cr_expect_eq(limit(), 2);
}

Test(cpu, v2_lower_child_limit_wins, .init = setup, .fini = teardown) {
  put_proc("0::/a/b/c\n");
  put("a/cpu.max", "400000 100000\n");
  put("a/b/cpu.max", "max 100000\n");
  put("a/b/c/cpu.max", "100000 100000\n");
  cr_expect_eq(limit(), 1);
}

Test(cpu, v2_only_an_ancestor_has_a_limit, .init = setup, .fini = teardown) {
  put_proc("0::/a/b/c\n");
  put("a/cpu.max", "300000 100000\n");
  put("a/b/cpu.max", "max 100000\n");
  cr_expect_eq(limit(), 3);
}

Test(cpu, v2_siblings_and_lookalikes_are_ignored, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n");
  put("a/b2/cpu.max", "100000 100000\n"); /* sibling, not an ancestor */
  put("a/bb/cpu.max", "100000 100000\n");
  put("ab/cpu.max", "100000 100000\n");
  put("a/b/cpu.max", "500000 100000\n");
  cr_expect_eq(limit(), 5);
}

Test(cpu, v2_root_cgroup, .init = setup, .fini = teardown) {
  put_proc("0::/\n");
  cr_expect_eq(limit(), 0);
  put("cpu.max", "250000 100000\n");
  cr_expect_eq(limit(), 3);
}

Test(cpu, v2_unreadable_or_garbage_cpu_max, .init = setup, .fini = teardown) {
  put_proc("0::/a\n");
  put("a/cpu.max", "");
  cr_expect_eq(limit(), 0);
  put("a/cpu.max", "garbage\n");
  cr_expect_eq(limit(), 0);
  put("a/cpu.max", "100000\n");
  cr_expect_eq(limit(), 0);
  put("a/cpu.max", "-1 100000\n");
  cr_expect_eq(limit(), 0);
  put("a/cpu.max", "100000 0\n");
  cr_expect_eq(limit(), 0);
}

/* ---- cgroup v1 ---- */

Test(cpu, v1_quota, .init = setup, .fini = teardown) {
  put_proc("12:memory:/docker/x\n"
           "4:cpu,cpuacct:/docker/x\n"
           "1:name=systemd:/docker/x\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "50000\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
  cr_expect_eq(limit(), 1);
  put("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "350000\n");
  cr_expect_eq(limit(), 4);
}

Test(cpu, v1_quota_minus_one_means_no_limit, .init = setup, .fini = teardown) {
  put_proc("4:cpu,cpuacct:/docker/x\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "-1\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, v1_lower_parent_limit_wins, .init = setup, .fini = teardown) {
  put_proc("4:cpu,cpuacct:/docker/x\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "-1\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_period_us", "100000\n");
  put("cpu,cpuacct/docker/cpu.cfs_quota_us", "200000\n");
  put("cpu,cpuacct/docker/cpu.cfs_period_us", "100000\n");
  cr_expect_eq(limit(), 2);
}

Test(cpu, v1_cpu_mount_fallback, .init = setup, .fini = teardown) {
  /* Controllers listed as "cpuacct,cpu" but mounted (or symlinked) as "cpu". */
  put_proc("4:cpuacct,cpu:/job\n");
  put("cpu/job/cpu.cfs_quota_us", "120000\n");
  put("cpu/job/cpu.cfs_period_us", "100000\n");
  cr_expect_eq(limit(), 2);
}

Test(cpu, v1_other_controllers_are_ignored, .init = setup, .fini = teardown) {
  put_proc("3:cpuset:/x\n"
           "5:cpuacct:/x\n");
  put("cpuset/x/cpu.cfs_quota_us", "100000\n");
  put("cpuset/x/cpu.cfs_period_us", "100000\n");
  put("cpuacct/x/cpu.cfs_quota_us", "100000\n");
  put("cpuacct/x/cpu.cfs_period_us", "100000\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, v1_missing_period_means_no_limit, .init = setup, .fini = teardown) {
  put_proc("4:cpu,cpuacct:/docker/x\n");
  put("cpu,cpuacct/docker/x/cpu.cfs_quota_us", "50000\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, hybrid_smallest_of_v1_and_v2, .init = setup, .fini = teardown) {
  put_proc("4:cpu,cpuacct:/svc\n"
           "0::/svc\n");
  put("cpu,cpuacct/svc/cpu.cfs_quota_us", "300000\n");
  put("cpu,cpuacct/svc/cpu.cfs_period_us", "100000\n");
  put("svc/cpu.max", "200000 100000\n");
  cr_expect_eq(limit(), 2);
}

/* ---- missing files ---- */

Test(cpu, missing_proc_cgroup, .init = setup, .fini = teardown) {
  cr_expect_eq(limit(), 0); /* proc_cgroup was never written */
}

Test(cpu, missing_cgroup_files, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n");
  cr_expect_eq(limit(), 0);
  put_proc("4:cpu,cpuacct:/docker/x\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, missing_cgroup_root, .init = setup, .fini = teardown) {
  put_proc("0::/a/b\n4:cpu,cpuacct:/docker/x\n");
  cr_expect_eq(core_cgroup_cpu_limit(proc_cgroup, "/nonexistent/urpc-cgroup-root"), 0);
}

Test(cpu, empty_and_malformed_proc_cgroup, .init = setup, .fini = teardown) {
  put("a/cpu.max", "100000 100000\n");
  put_proc("");
  cr_expect_eq(limit(), 0);
  put_proc("no colons here\n\n:\n0:/a\n");
  cr_expect_eq(limit(), 0);
}

Test(cpu, real_system_does_not_crash) {
  int l = core_cgroup_cpu_limit("/proc/self/cgroup", "/sys/fs/cgroup");
  cr_expect_geq(l, 0);
}

/* ---- affinity ---- */

Test(cpu, affinity_matches_sched_getaffinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
  int want = CPU_COUNT(&set);
  static int cpus[CPU_SETSIZE];
  int n = core_cpu_affinity(cpus, CPU_SETSIZE);
  cr_assert_geq(n, 1);
  cr_expect_eq(n, want, "core_cpu_affinity %d, sched_getaffinity %d", n, want);
  for (int i = 0; i < n; i++) {
    cr_expect(CPU_ISSET(cpus[i], &set), "cpu %d not in the mask", cpus[i]);
    if (i > 0) cr_expect_lt(cpus[i - 1], cpus[i], "not ascending");
  }
}

Test(cpu, affinity_respects_max) {
  int cpus[1] = {-1};
  cr_expect_eq(core_cpu_affinity(cpus, 1), 1);
  cr_expect_geq(cpus[0], 0);
  cr_expect_eq(core_cpu_affinity(cpus, 0), 0);
}

Test(cpu, default_count_is_within_affinity) {
  static int cpus[CPU_SETSIZE];
  int n = core_cpu_affinity(cpus, CPU_SETSIZE);
  int d = core_cpu_default_count();
  cr_expect_geq(d, 1);
  cr_expect_leq(d, n);
}
