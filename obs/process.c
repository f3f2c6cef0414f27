/* The process_* families Prometheus' client libraries export (client_golang's process
 * collector: the same names, types and units), read from /proc/self at each scrape, and
 * uringrpc_build_info. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "obs/metrics_impl.h"

/* utime, stime (clock ticks), starttime (ticks since boot) and rss (pages) from /proc/self/stat. */
static int read_stat(unsigned long long *utime, unsigned long long *stime,
                     unsigned long long *start, long long *rss_pages) {
  FILE *f = fopen("/proc/self/stat", "r");
  if (!f) return -1;
  char buf[1024];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = 0;
  char *p = strrchr(buf, ')'); /* the command name may hold spaces */
  if (!p) return -1;
  /* After ") ": state(3) ... utime is field 14, stime 15, starttime 22, rss 24. */
  int field = 2;
  char *save = NULL;
  for (char *tok = strtok_r(p + 1, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
    field++;
    if (field == 14) *utime = strtoull(tok, NULL, 10);
    if (field == 15) *stime = strtoull(tok, NULL, 10);
    if (field == 22) *start = strtoull(tok, NULL, 10);
    if (field == 24) {
      *rss_pages = strtoll(tok, NULL, 10);
      return 0;
    }
  }
  return -1;
}

static double boot_time(void) {
  FILE *f = fopen("/proc/stat", "r");
  if (!f) return 0;
  char line[256];
  double t = 0;
  while (fgets(line, sizeof(line), f))
    if (strncmp(line, "btime ", 6) == 0) t = strtod(line + 6, NULL);
  fclose(f);
  return t;
}

static unsigned long long open_fds(void) {
  DIR *d = opendir("/proc/self/fd");
  if (!d) return 0;
  unsigned long long n = 0;
  for (struct dirent *e; (e = readdir(d));)
    if (e->d_name[0] != '.') n++;
  closedir(d);
  return n ? n - 1 : 0; /* the directory's own descriptor */
}

int obs_process_write(obs_out *o) {
  unsigned long long utime = 0, stime = 0, start = 0;
  long long rss = 0;
  if (read_stat(&utime, &stime, &start, &rss) < 0) return -1;
  double tick = (double)sysconf(_SC_CLK_TCK), page = (double)sysconf(_SC_PAGESIZE);
  struct rlimit nofile = {0, 0};
  getrlimit(RLIMIT_NOFILE, &nofile);
  int rc = obs_family(o, "process_cpu_seconds_total", "counter",
                      "Total user and system CPU time spent in seconds.");
  if (!rc) rc = obs_sample_f64(o, "process_cpu_seconds_total", "", (double)(utime + stime) / tick);
  if (!rc)
    rc = obs_family(o, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
  if (!rc) rc = obs_sample_f64(o, "process_resident_memory_bytes", "", (double)rss * page);
  if (!rc) rc = obs_family(o, "process_open_fds", "gauge", "Number of open file descriptors.");
  if (!rc) rc = obs_sample_u64(o, "process_open_fds", "", open_fds());
  if (!rc)
    rc = obs_family(o, "process_max_fds", "gauge", "Maximum number of open file descriptors.");
  if (!rc) rc = obs_sample_u64(o, "process_max_fds", "", (uint64_t)nofile.rlim_cur);
  if (!rc)
    rc = obs_family(o, "process_start_time_seconds", "gauge",
                    "Start time of the process since unix epoch in seconds.");
  if (!rc)
    rc = obs_sample_f64(o, "process_start_time_seconds", "", boot_time() + (double)start / tick);
  if (!rc)
    rc = obs_family(o, "uringrpc_build_info", "gauge",
                    "uringrpc's version, as a label; the value is always 1.");
  if (!rc) rc = obs_sample_u64(o, "uringrpc_build_info", "version=\"" URPC_VERSION_STRING "\"", 1);
  return rc;
}
