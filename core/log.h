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

/* Lines a peer can cause (one per connection it opens) go through a limiter: at most one per
 * `interval_ms`, which then says how many were held back. Owned by one thread. */
typedef struct core_log_limit {
  unsigned long long next_ms, held; /* when the next line may go; lines held back since */
} core_log_limit;

/* True if a line may go now (then *held is how many were held back before it). */
static inline int core_log_limit_pass(core_log_limit *l, unsigned long long now_ms,
                                      unsigned long long interval_ms, unsigned long long *held) {
  if (now_ms < l->next_ms) {
    l->held++;
    return 0;
  }
  *held = l->held;
  l->held = 0;
  l->next_ms = now_ms + interval_ms;
  return 1;
}

#define CORE_LOG(lvl, ...)                                                                         \
  do {                                                                                             \
    if ((lvl) >= core_log_level()) core_log((lvl), __VA_ARGS__);                                   \
  } while (0)
#define LOG_DEBUG(...) CORE_LOG(CORE_LOG_DEBUG, __VA_ARGS__)
#define LOG_INFO(...)  CORE_LOG(CORE_LOG_INFO, __VA_ARGS__)
#define LOG_WARN(...)  CORE_LOG(CORE_LOG_WARN, __VA_ARGS__)
#define LOG_ERROR(...) CORE_LOG(CORE_LOG_ERROR, __VA_ARGS__)

#endif
