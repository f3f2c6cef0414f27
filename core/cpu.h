/* CPU discovery: which CPUs this process may run on, and how many its cgroup lets it use. */
#ifndef URPC_CORE_CPU_H
#define URPC_CORE_CPU_H

/* Writes the CPUs in this process's affinity mask (ascending) to `cpus`, at most `max`.
 * Returns how many, or -errno. */
int core_cpu_affinity(int *cpus, int max);

/* The CPU limit that the cgroup quota imposes, rounded up: ceil(quota / period), the smallest
 * over the process's cgroup and its ancestors. Returns 0 when there is no quota.
 * `proc_cgroup` is the /proc/self/cgroup to read and `cgroup_root` the cgroup mount (normally
 * "/proc/self/cgroup" and "/sys/fs/cgroup"); both v2 (cpu.max) and v1 (cpu.cfs_quota_us and
 * cpu.cfs_period_us under the cpu controller's mount) are understood. */
int core_cgroup_cpu_limit(const char *proc_cgroup, const char *cgroup_root);

/* Default shard count: the CPUs in the affinity mask, limited by the cgroup quota. */
int core_cpu_default_count(void);

#endif
