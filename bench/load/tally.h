/* What one shard of uringrpc-load counts: the latencies of the calls that ended OK (an HDR
 * histogram), calls per status code, and calls per error text in ghz's form
 * ("rpc error: code = Unavailable desc = ..."). One tally per shard, touched only by its shard
 * thread during the run (no locks, no atomics), merged into one when every shard is done.
 *
 * Recording an OK call is the histogram's O(1) record; a failed call formats its text on the
 * stack and finds it among the distinct texts seen so far (a few, in practice); only a new text
 * allocates. At most LOAD_TALLY_MAX_ERRORS distinct texts are kept; later new ones are counted
 * under LOAD_TALLY_OTHER_ERRORS. */
#ifndef URPC_LOAD_TALLY_H
#define URPC_LOAD_TALLY_H

#include <stddef.h>
#include <stdint.h>

#include "bench/load/summary.h"
#include "core/hdr_hist.h"

#define LOAD_TALLY_MAX_ERRORS   256
#define LOAD_TALLY_OTHER_ERRORS "(more distinct error messages than uringrpc-load keeps)"
#define LOAD_TALLY_DIGITS       3 /* significant digits of the latency histograms */

typedef struct load_tally {
  core_hdr_hist *ok;                  /* owned */
  uint64_t count;                     /* calls recorded */
  uint64_t status[LOAD_STATUS_CODES]; /* per final status (codes above 16 as UNKNOWN) */
  load_count *errors;                 /* owned, names too; n_errors entries */
  size_t n_errors, cap_errors;
} load_tally;

/* 0 or -ENOMEM. */
int load_tally_init(load_tally *t);
void load_tally_dispose(load_tally *t);

/* One call's end. `message` may be NULL. Returns 0, or -ENOMEM when a new error text could not
 * be kept (the call is still counted, under the status code and LOAD_TALLY_OTHER_ERRORS). */
int load_tally_record(load_tally *t, int status, const char *message, uint64_t latency_ns);

/* Adds `from` into `into`: 0 or -ENOMEM. */
int load_tally_merge(load_tally *into, const load_tally *from);

/* ghz's text of a failed call: "rpc error: code = <ghz name> desc = <message>". */
void load_error_text(int status, const char *message, char *out, size_t len);

#endif
