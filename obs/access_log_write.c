/* The access log's writer thread (urpc_access_log.h): drains every shard's ring of records,
 * formats each into the buffer (access_log_format.c) and gives the record back, and writes the
 * buffer with write(2) when the next line might not fit, when its oldest line has waited
 * flush_interval_ms, on a flush, before a reopen and at the end.
 *
 * Only this thread touches the file. A failed write (disk full, a closed pipe) loses that
 * batch's lines, counted as dropped and as one write error, never stops the server, and is
 * logged once per run of failures, with one more line when writing works again. A write that
 * failed part-way may leave half a line: the next batch then starts with a newline, so every
 * line after it parses. The lanes and the thread's loop are obs/handoff.c's. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "obs/access_log_impl.h"

static int open_path(const char *path) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
  return fd < 0 ? -errno : fd;
}

int access_log_writer_open(urpc_access_log *l) {
  l->to_stdout = strcmp(l->path, "-") == 0;
  l->fd = l->to_stdout ? STDOUT_FILENO : open_path(l->path);
  return l->fd < 0 ? l->fd : 0;
}

void access_log_writer_close(urpc_access_log *l) {
  if (l->fd >= 0 && !l->to_stdout) close(l->fd);
  l->fd = -1;
}

/* All of p[0..n), or the errno that stopped it (*done: bytes written). */
static int write_all(int fd, const char *p, size_t n, size_t *done) {
  *done = 0;
  while (*done < n) {
    ssize_t w = write(fd, p + *done, n - *done);
    if (w > 0) {
      *done += (size_t)w;
    } else if (w < 0 && errno == EINTR) {
      continue;
    } else {
      return w < 0 ? errno : EIO;
    }
  }
  return 0;
}

static size_t count_lines(const char *p, size_t n) {
  size_t lines = 0;
  for (const char *e = p + n; (p = memchr(p, '\n', (size_t)(e - p))); p++) lines++;
  return lines;
}

static void write_out(urpc_access_log *l) {
  if (!l->buf_len) return;
  size_t done = 0;
  int err = 0;
  if (l->torn) {
    err = write_all(l->fd, "\n", 1, &done);
    if (!err) l->torn = false;
  }
  if (!err) {
    err = write_all(l->fd, l->buf, l->buf_len, &done);
    if (err && done) l->torn = l->buf[done - 1] != '\n';
  }
  size_t written = err ? count_lines(l->buf, done) : l->buf_lines;
  core_ctr_add(&l->lines, written);
  if (err) {
    core_ctr_add(&l->lost, l->buf_lines - written);
    core_ctr_inc(&l->write_errors);
    if (!l->failing)
      LOG_ERROR("access log: cannot write to %s: %s; its lines are dropped (and counted) until "
                "writing works again",
                l->to_stdout ? "standard output" : l->path, strerror(err));
    l->failing = true;
    l->failed_writes++;
  } else if (l->failing) {
    LOG_WARN("access log: writing to %s again, after %llu failed writes",
             l->to_stdout ? "standard output" : l->path, (unsigned long long)l->failed_writes);
    l->failing = false;
    l->failed_writes = 0;
  }
  l->buf_len = l->buf_lines = 0;
}

/* logrotate renamed the file (or not): the same path, opened anew. */
static void reopen(urpc_access_log *l) {
  if (l->to_stdout) return;
  int fd = open_path(l->path);
  if (fd < 0) {
    LOG_ERROR("access log: cannot reopen %s: %s; still writing to the file opened before", l->path,
              strerror(-fd));
    return;
  }
  close(l->fd);
  l->fd = fd;
  l->torn = false;
  LOG_INFO("access log: reopened %s", l->path);
}

/* A record a shard handed over, formatted into the buffer and given back. */
static void take_record(void *arg, obs_lane *lane, void *record) {
  urpc_access_log *l = arg;
  if (ACCESS_LOG_BUF - l->buf_len < URPC_ACCESS_LOG_LINE_MAX) write_out(l);
  if (!l->buf_len) l->buf_first_ns = core_now_ns();
  l->buf_len += access_log_format(record, l->buf + l->buf_len);
  l->buf_lines++;
  obs_lane_give_back(lane, record);
}

void access_log_writer_step(void *arg, bool urgent) {
  urpc_access_log *l = arg;
  uint64_t reopen_req = atomic_load_explicit(&l->reopen_req, memory_order_relaxed);
  obs_handoff_drain(&l->handoff, take_record, l);
  if (reopen_req != l->reopen_done) {
    write_out(l); /* what came before the request goes to the old file */
    reopen(l);
    l->reopen_done = reopen_req;
  } else if (l->buf_len && (urgent || core_now_ns() - l->buf_first_ns >= l->flush_ns)) {
    write_out(l);
  }
}
