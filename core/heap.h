/* What the process's malloc does with memory a burst freed. glibc keeps it: big blocks come from
 * mmap only below a threshold that rises to the largest block ever freed, and free pages inside
 * its arenas go back to the kernel only when they sit at the top. A long-running server must
 * return to its baseline after a burst: these two calls make it. Without glibc they do nothing. */
#ifndef URPC_CORE_HEAP_H
#define URPC_CORE_HEAP_H

/* Blocks of 128 KiB and more are mmap'd one by one (and unmapped when freed), whatever was
 * freed before; process-wide, once at start. */
void core_heap_configure(void);
/* Gives the free pages of every malloc arena back to the kernel. Process-wide; takes each
 * arena's lock in turn, so call it rarely (after a burst, off the request path). */
void core_heap_trim(void);

#endif
