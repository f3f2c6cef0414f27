/* The access log interceptor (urpc_access_log.h): at a call's start, the client's address (the
 * connection may be gone by the end); at its end, the sampling decision and a record from the
 * shard's pool, filled with copies of what the line needs, onto the shard's ring. Formatting
 * and writing are the writer thread's (access_log_write.c, access_log_format.c).
 *
 * Shard threads only touch their own lane (obs/handoff.h; its local state the sampling counter)
 * and the call's arena: no lock, no malloc, no formatting per call. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "obs/access_log_impl.h"
#include "obs/urpc_trace.h"

#define POLL_NS 2000000 /* 2 ms: the writer's nap between turns (as tracing's exporter) */

static void take_str(access_str *d, const void *s, size_t len) {
  d->present = s != NULL;
  if (!s) return;
  if (len > URPC_ACCESS_LOG_FIELD_MAX) len = URPC_ACCESS_LOG_FIELD_MAX;
  memcpy(d->bytes, s, len);
  d->len = (uint16_t)len;
}

static void take_cstr(access_str *d, const char *s) {
  take_str(d, s, s ? strnlen(s, URPC_ACCESS_LOG_FIELD_MAX) : 0);
}

static urpc_status_code on_start(urpc_call *call, void *user, void **state, const char **msg) {
  (void)user;
  (void)msg;
  struct sockaddr_storage ss;
  socklen_t len = sizeof(ss);
  if (urpc_call_peer_address(call, &ss, &len) < 0) return URPC_STATUS_OK; /* logged without */
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return URPC_STATUS_OK;
  access_addr *a = urpc_call_alloc(call, sizeof(*a));
  if (!a) return URPC_STATUS_OK;
  memcpy(a, &ss, ss.ss_family == AF_INET ? sizeof(a->in) : sizeof(a->in6));
  *state = a;
  return URPC_STATUS_OK;
}

static uint64_t unix_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void on_end(urpc_call *call, const urpc_call_end *end, void *user, void *state) {
  urpc_access_log *l = user;
  obs_lane *lane = obs_handoff_lane(&l->handoff, urpc_call_shard(call));
  if (!lane) return;
  if (end->status == URPC_STATUS_OK && l->sample > 1) {
    uint64_t *seen = lane->local; /* this shard's OK calls */
    if ((*seen)++ % l->sample) return;
  }
  access_record *r = obs_lane_take(lane);
  if (!r) return; /* counted */
  r->duration_us = end->duration_ns / 1000u;
  r->start_unix_us = unix_now_us() - r->duration_us;
  r->status = end->status;
  r->cancelled = end->cancelled;
  r->bytes_in = end->bytes_in;
  r->bytes_out = end->bytes_out;
  r->msgs_in = end->msgs_in;
  r->msgs_out = end->msgs_out;
  if (state)
    memcpy(&r->peer, state, sizeof(r->peer));
  else
    r->peer.sa.sa_family = AF_UNSPEC;
  const urpc_trace_info *ti = urpc_call_trace(call);
  r->has_trace = ti != NULL;
  if (ti) memcpy(r->trace_id, ti->trace_id, 16);
  urpc_peer peer;
  urpc_call_peer(call, &peer);
  take_cstr(&r->spiffe_id, peer.spiffe_id);
  take_cstr(&r->authority, urpc_call_authority(call));
  take_cstr(&r->method, urpc_call_path(call));
  size_t ua_len = 0;
  const uint8_t *ua = urpc_call_metadata(call, "user-agent", &ua_len);
  take_str(&r->user_agent, ua, ua_len);
  obs_lane_publish(lane, r);
}

/* ---- options, metrics, life ---- */

void urpc_access_log_options_init(urpc_access_log_options *o) {
  memset(o, 0, sizeof(*o));
  o->sample = 1;
  o->flush_interval_ms = 100;
  o->queue_size = 1024;
}

static size_t one_sample(uint64_t v, urpc_metrics_sample *out, size_t cap) {
  if (!cap) return 0;
  out[0] = (urpc_metrics_sample){.label_value = NULL, .value = v};
  return 1;
}

static size_t collect_lines(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_access_log_stats st;
  urpc_access_log_get_stats(arg, &st);
  return one_sample(st.lines, out, cap);
}

static size_t collect_dropped(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_access_log_stats st;
  urpc_access_log_get_stats(arg, &st);
  return one_sample(st.dropped, out, cap);
}

static size_t collect_errors(void *arg, urpc_metrics_sample *out, size_t cap) {
  urpc_access_log_stats st;
  urpc_access_log_get_stats(arg, &st);
  return one_sample(st.write_errors, out, cap);
}

static int add_families(urpc_metrics *m, urpc_access_log *l) {
  static const struct {
    const char *name, *help;
    size_t (*collect)(void *arg, urpc_metrics_sample *out, size_t cap);
  } families[] = {
      {"uringrpc_access_log_lines_total", "Access log lines written.", collect_lines},
      {"uringrpc_access_log_dropped_total",
       "Access log lines lost: the shard's queue was full, or their write failed.",
       collect_dropped},
      {"uringrpc_access_log_write_errors_total", "Access log writes that failed (e.g. disk full).",
       collect_errors},
  };
  for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
    int rc = urpc_metrics_add_family(m, families[i].name, "counter", families[i].help, NULL,
                                     families[i].collect, l);
    if (rc) return rc;
  }
  return 0;
}

static void destroy(urpc_access_log *l) {
  obs_handoff_stop(&l->handoff);
  obs_handoff_dispose(&l->handoff);
  access_log_writer_close(l);
  free(l->buf);
  free(l->path);
  free(l);
}

int urpc_access_log_new(urpc_server *s, const urpc_access_log_options *o, urpc_metrics *m,
                        urpc_access_log **out) {
  if (!o->path || !*o->path || !o->sample || !o->flush_interval_ms || !o->queue_size)
    return -EINVAL;
  urpc_access_log *l = calloc(1, sizeof(*l));
  if (!l) return -ENOMEM;
  l->server = s;
  l->fd = -1;
  l->sample = o->sample;
  l->flush_ns = o->flush_interval_ms * 1000000ull;
  int rc =
      obs_handoff_init(&l->handoff, sizeof(access_record), o->queue_size, sizeof(uint64_t), NULL);
  l->path = strdup(o->path);
  l->buf = malloc(ACCESS_LOG_BUF);
  if (!rc && (!l->path || !l->buf)) rc = -ENOMEM;
  if (!rc) rc = access_log_writer_open(l);
  urpc_interceptor ic = {
      .on_start = on_start, .on_end = on_end, .user = l, .reads_authority = true};
  if (!rc) rc = urpc_server_add_interceptor(s, &ic);
  if (!rc && m) rc = add_families(m, l);
  obs_handoff_thread th = {.step = access_log_writer_step,
                           .arg = l,
                           .poll_ns = POLL_NS,
                           .name = "urpc-access-log",
                           .log_tag = "access log"};
  if (!rc) rc = obs_handoff_start(&l->handoff, &th);
  if (rc) {
    /* an interceptor already added points at l: only when metrics failed after it, and then
     * the caller frees the server, not starts it */
    destroy(l);
    return rc;
  }
  *out = l;
  return 0;
}

void urpc_access_log_reopen(urpc_access_log *l) {
  /* lock-free on every target we build for, so async-signal-safe; relaxed: it orders nothing,
   * the writer only compares counts */
  atomic_fetch_add_explicit(&l->reopen_req, 1, memory_order_relaxed);
}

int urpc_access_log_flush(urpc_access_log *l, unsigned timeout_ms) {
  return obs_handoff_flush(&l->handoff, timeout_ms);
}

void urpc_access_log_free(urpc_access_log *l) {
  if (l) destroy(l);
}

void urpc_access_log_get_stats(urpc_access_log *l, urpc_access_log_stats *out) {
  uint64_t taken, dropped;
  obs_handoff_counts(&l->handoff, &taken, &dropped);
  out->lines = core_ctr_get(&l->lines);
  out->dropped = dropped + core_ctr_get(&l->lost);
  out->write_errors = core_ctr_get(&l->write_errors);
}
