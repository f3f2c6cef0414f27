/* A shard's counts (tally.h). Error texts are kept in order of first sight, so a report lists
 * them the way they came. */
#include "bench/load/tally.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int load_tally_init(load_tally *t) {
  memset(t, 0, sizeof(*t));
  t->ok = core_hdr_hist_new(LOAD_TALLY_DIGITS);
  return t->ok ? 0 : -ENOMEM;
}

void load_tally_dispose(load_tally *t) {
  for (size_t i = 0; i < t->n_errors; i++) free((char *)t->errors[i].name);
  free(t->errors);
  core_hdr_hist_free(t->ok);
  memset(t, 0, sizeof(*t));
}

void load_error_text(int status, const char *message, char *out, size_t len) {
  snprintf(out, len, "rpc error: code = %s desc = %s", load_status_name(status),
           message ? message : "");
}

/* Adds n calls under `name`, keeping a new name if there is room. */
static int add_error(load_tally *t, const char *name, uint64_t n) {
  for (size_t i = 0; i < t->n_errors; i++) {
    if (!strcmp(t->errors[i].name, name)) {
      t->errors[i].n += n;
      return 0;
    }
  }
  int rc = 0;
  if (t->n_errors >= LOAD_TALLY_MAX_ERRORS && strcmp(name, LOAD_TALLY_OTHER_ERRORS)) {
    return add_error(t, LOAD_TALLY_OTHER_ERRORS, n);
  }
  if (t->n_errors == t->cap_errors) {
    size_t cap = t->cap_errors ? t->cap_errors * 2 : 8;
    load_count *e = realloc(t->errors, cap * sizeof(*e));
    if (!e)
      rc = -ENOMEM;
    else {
      t->errors = e;
      t->cap_errors = cap;
    }
  }
  char *copy = rc ? NULL : strdup(name);
  if (!copy) {
    /* Counted anyway, under the catch-all if that one is already kept. */
    for (size_t i = 0; i < t->n_errors; i++) {
      if (!strcmp(t->errors[i].name, LOAD_TALLY_OTHER_ERRORS)) t->errors[i].n += n;
    }
    return -ENOMEM;
  }
  t->errors[t->n_errors].name = copy;
  t->errors[t->n_errors].n = n;
  t->n_errors++;
  return 0;
}

int load_tally_record(load_tally *t, int status, const char *message, uint64_t latency_ns) {
  if (status < 0 || status >= LOAD_STATUS_CODES) status = 2; /* UNKNOWN */
  t->count++;
  t->status[status]++;
  if (status == 0) {
    core_hdr_hist_record(t->ok, latency_ns);
    return 0;
  }
  char text[512];
  load_error_text(status, message, text, sizeof(text));
  return add_error(t, text, 1);
}

int load_tally_merge(load_tally *into, const load_tally *from) {
  int rc = core_hdr_hist_merge(into->ok, from->ok);
  if (rc) return rc;
  into->count += from->count;
  for (int c = 0; c < LOAD_STATUS_CODES; c++) into->status[c] += from->status[c];
  for (size_t i = 0; i < from->n_errors; i++) {
    rc = add_error(into, from->errors[i].name, from->errors[i].n);
    if (rc) return rc;
  }
  return 0;
}
