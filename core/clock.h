/* Monotonic time. CLOCK_MONOTONIC is a vDSO call: no syscall. */
#ifndef URPC_CORE_CLOCK_H
#define URPC_CORE_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t core_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t core_now_ms(void) {
  return core_now_ns() / 1000000u;
}

#endif
