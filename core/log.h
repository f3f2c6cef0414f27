/* Logging: one line per event on stderr, "<time> <level> <tag> message". The tag names the
 * thread (e.g. "shard 3"); lines are written with one write(2) so threads do not interleave. */
#ifndef URPC_CORE_LOG_H
#define URPC_CORE_LOG_H

enum core_log_level { CORE_LOG_DEBUG, CORE_LOG_INFO, CORE_LOG_WARN, CORE_LOG_ERROR, CORE_LOG_OFF };

/* Process-wide threshold; lines below it are dropped. Default INFO, or $URPC_LOG_LEVEL
 * (debug|info|warn|error|off) read at the first call. */
void core_log_set_level(enum core_log_level level);
enum core_log_level core_log_level(void);
/* This thread's tag; `tag` must stay valid while the thread logs. */
void core_log_set_tag(const char *tag);
void core_log(enum core_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define CORE_LOG(lvl, ...)                                                                         \
  do {                                                                                             \
    if ((lvl) >= core_log_level()) core_log((lvl), __VA_ARGS__);                                   \
  } while (0)
#define LOG_DEBUG(...) CORE_LOG(CORE_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...)  CORE_LOG(CORE_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...)  CORE_LOG(CORE_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) CORE_LOG(CORE_LOG_ERROR, __VA_ARGS__)

#endif
