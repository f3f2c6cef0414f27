/* Fails the current test if memory leaked so far, when built with AddressSanitizer.
 *
 * Criterion (2.4) runs each test in a child process and ignores LeakSanitizer's report at that
 * child's exit; it also ignores assertions made in a `.fini` hook, which runs after the result
 * is reported. So call this as the last statement of a test body. Without ASan the weak symbol
 * is NULL and this does nothing. Pointers still on the stack count as reachable: it catches
 * memory the code under test dropped, not everything. */
#ifndef URPC_TESTS_UNIT_CORE_LEAK_CHECK_H
#define URPC_TESTS_UNIT_CORE_LEAK_CHECK_H

#include <criterion/criterion.h>

int __lsan_do_recoverable_leak_check(void) __attribute__((weak));

static inline void check_no_leaks(void) {
  if (__lsan_do_recoverable_leak_check)
    cr_expect_eq(__lsan_do_recoverable_leak_check(), 0, "memory leaked: see the LSan report");
}

#endif
