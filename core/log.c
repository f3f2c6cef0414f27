/* The level is read once from the environment; after that it is a relaxed atomic load. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"

static _Atomic int g_level = -1;
static _Thread_local const char *t_tag = "main";

static int level_from_env(void) {
  const char *e = getenv("URPC_LOG_LEVEL");
  static const char *names[] = {"debug", "info", "warn", "error", "off"};
  for (int i = 0; e && i < 5; i++)
    if (strcmp(e, names[i]) == 0) return i;
  return CORE_LOG_INFO;
}

enum core_log_level core_log_level(void) {
  int l = atomic_load_explicit(&g_level, memory_order_relaxed);
  if (l < 0) {
    l = level_from_env();
    atomic_store_explicit(&g_level, l, memory_order_relaxed);
  }
  return (enum core_log_level)l;
}

void core_log_set_level(enum core_log_level level) {
  atomic_store_explicit(&g_level, (int)level, memory_order_relaxed);
}

void core_log_set_tag(const char *tag) {
  t_tag = tag;
}

void core_log(enum core_log_level level, const char *fmt, ...) {
  static const char letters[] = "DIWE";
  if (level >= CORE_LOG_OFF) return;
  char line[1024];
  struct timeval tv;
  gettimeofday(&tv, NULL);
  struct tm tm;
  gmtime_r(&tv.tv_sec, &tm);
  int n = snprintf(line, sizeof(line), "%02d:%02d:%02d.%03ld %c [%s] ", tm.tm_hour, tm.tm_min,
                   tm.tm_sec, (long)tv.tv_usec / 1000, letters[level], t_tag);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
  va_end(ap);
  size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
  if (len > sizeof(line) - 2) len = sizeof(line) - 2;
  line[len++] = '\n';
  ssize_t w = write(STDERR_FILENO, line, len);
  (void)w; /* nowhere to report a failed log write */
}
