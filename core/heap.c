/* glibc's malloc tuning, behind a libc-only interface. */
#include <stdlib.h> /* defines __GLIBC__ where it applies */

#include "core/heap.h"

#ifdef __GLIBC__
#include <malloc.h>

#define MMAP_THRESHOLD (128 * 1024) /* glibc's starting value, now kept */

void core_heap_configure(void) {
  /* Setting the threshold turns off its dynamic raise (mallopt(3)). */
  mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD);
}

void core_heap_trim(void) {
  malloc_trim(0);
}
#else
void core_heap_configure(void) {}
void core_heap_trim(void) {}
#endif
