/* Access log internals shared by access_log.c (the interceptor, on shard threads),
 * access_log_write.c (the writer thread) and access_log_format.c (one record -> one JSON line).
 * Private to obs/. */
#ifndef URPC_OBS_ACCESS_LOG_IMPL_H
#define URPC_OBS_ACCESS_LOG_IMPL_H

#include <netinet/in.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/counter.h"
#include "obs/handoff.h"
#include "obs/urpc_access_log.h"

/* The client's socket address as urpc_call_peer_address gave it (sa_family AF_UNSPEC: none). */
typedef union access_addr {
  struct sockaddr sa;
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
} access_addr;

/* A string from the network, cut at URPC_ACCESS_LOG_FIELD_MAX bytes, not escaped yet. */
typedef struct access_str {
  bool present;
  uint16_t len;
  char bytes[URPC_ACCESS_LOG_FIELD_MAX];
} access_str;

/* What a shard hands the writer for one line: copied, so it outlives the call. */
typedef struct access_record {
  uint64_t start_unix_us, duration_us;
  uint64_t bytes_in, bytes_out, msgs_in, msgs_out;
  urpc_status_code status;
  bool cancelled, has_trace;
  uint8_t trace_id[16];
  access_addr peer;
  access_str method, authority, user_agent, spiffe_id;
} access_record;

/* Writes `r` as one JSON object and a newline into `out` (at least URPC_ACCESS_LOG_LINE_MAX
 * bytes). Returns the line's length. Any thread. */
size_t access_log_format(const access_record *r, char *out);
/* The name of a gRPC status code ("NOT_FOUND"); "UNKNOWN" for codes grpc does not define. */
const char *access_log_code_name(urpc_status_code code);

struct urpc_access_log {
  urpc_server *server;
  char *path;        /* owned; "-" is standard output */
  unsigned sample;   /* >= 1 */
  uint64_t flush_ns; /* the longest a line waits in `buf` */
  /* records from the shards; each lane's local state is its sampling counter (uint64_t) */
  obs_handoff handoff;
  _Atomic uint64_t reopen_req; /* bumped by urpc_access_log_reopen */

  /* the writer thread's (counters: it is their one writer) */
  int fd;
  bool to_stdout; /* fd is standard output: never closed or reopened */
  uint64_t reopen_done;
  char *buf;
  size_t buf_len, buf_lines;
  uint64_t buf_first_ns;  /* when the oldest buffered line came */
  bool failing;           /* the last write failed: the next success says so */
  bool torn;              /* a failed write left a partial line: start with "\n" */
  uint64_t failed_writes; /* in the current run of failures */
  core_ctr lines, lost, write_errors;
};

#define ACCESS_LOG_BUF (64 * 1024) /* the writer's buffer: several lines per write(2) */

/* access_log_write.c */
int access_log_writer_open(urpc_access_log *l);
/* The writer thread's turn (obs_handoff's step). */
void access_log_writer_step(void *arg, bool urgent);
void access_log_writer_close(urpc_access_log *l);

#endif
