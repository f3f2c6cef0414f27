/* Two-thread and many-thread stress runs of core/spsc.h and core/mpmc.h, shared by the
 * Criterion tests (test_spsc.c, test_mpmc.c) and the plain executable stress_main.c, which the
 * ThreadSanitizer pass of tests/run.sh runs (Criterion itself crashes under TSan).
 *
 * Each run takes the number of items to move (per producer for mpsc), checks that every item
 * arrived once and in the order its producer pushed it, prints one line to stderr per failed
 * check, and returns the number of failed checks (0: all good). Not reentrant: each run uses a
 * static ring, too large for a stack. */
#ifndef URPC_TESTS_UNIT_CORE_STRESS_H
#define URPC_TESTS_UNIT_CORE_STRESS_H

#include <stdint.h>

/* One producer pushes 1..n, one consumer pops and checks order, sum and sum of squares. */
int stress_spsc(uint64_t n);
/* Three producers push n items each through the MPMC ring to one consumer (completions posted
 * to a shard): per-producer order and checksums. */
int stress_mpsc(uint64_t n_per_producer);
/* One producer pushes 1..n to two consumers (a shard handing work to its workers): each item
 * arrives exactly once, each consumer sees a subsequence of the producer's order. */
int stress_spmc(uint64_t n);

#endif
