/* Channels (urpc_client.h): a target, resolved, and on each shard of the runtime the
 * subchannels the LB policy spreads calls over.
 *
 * Every shard keeps its own part (ch_shard), made at the first call made on it: its
 * subchannels, its lookups (a dns target is resolved by each shard that uses it, at the first
 * call, when every address failed, and every resolve_interval_ms while calls come), and its
 * round-robin position. Nothing of it is shared, so calls take no lock. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/client_impl.h"
#include "core/clock.h"

#define MIN_RESOLVE_GAP_MS    1000u  /* failures ask for a lookup no more often than this */
#define DEFAULT_RESOLVE_EVERY 30000u /* ms */

/* ---- resolution ---- */

static void resolve(ch_shard *cs);

static bool same_addr(const cli_addr *a, const cli_addr *b) {
  return a->len == b->len && !memcmp(&a->ss, &b->ss, a->len);
}

static int new_sub(ch_shard *cs, const cli_addr *addrs, unsigned n, cli_subchannel **out) {
  return cli_subchannel_new(cs->io, addrs, n, &cs->ch->sub_cfg, out);
}

/* round_robin: one subchannel per address; those kept keep their connections, a subchannel
 * still waiting for its first address takes the first new one, the others retire. */
static int apply_round_robin(ch_shard *cs, const cli_addr *a, unsigned n) {
  cli_subchannel **subs = calloc(n, sizeof(*subs));
  if (!subs) return -ENOMEM;
  bool *kept = calloc(cs->n_subs + 1, sizeof(*kept));
  if (!kept) {
    free(subs);
    return -ENOMEM;
  }
  for (unsigned i = 0; i < n; i++)
    for (unsigned j = 0; j < cs->n_subs && !subs[i]; j++) {
      unsigned m;
      const cli_addr *had = cli_subchannel_addrs(cs->subs[j], &m);
      if (!kept[j] && ((m == 1 && same_addr(had, &a[i])) || m == 0)) {
        if (m == 0 && cli_subchannel_set_addrs(cs->subs[j], &a[i], 1)) continue;
        subs[i] = cs->subs[j];
        kept[j] = true;
      }
    }
  int err = 0;
  for (unsigned i = 0; i < n && !err; i++)
    if (!subs[i]) err = new_sub(cs, &a[i], 1, &subs[i]);
  cli_subchannel **retired = realloc(cs->retired, (cs->n_retired + cs->n_subs) * sizeof(*retired));
  if (err || !retired) {
    for (unsigned i = 0; i < n; i++) {
      bool reused = false;
      for (unsigned j = 0; j < cs->n_subs; j++) reused |= subs[i] == cs->subs[j];
      if (!reused) cli_subchannel_free(subs[i]);
    }
    if (retired) cs->retired = retired;
    free(subs);
    free(kept);
    return err ? err : -ENOMEM;
  }
  cs->retired = retired;
  for (unsigned j = 0; j < cs->n_subs; j++)
    if (!kept[j]) cs->retired[cs->n_retired++] = cs->subs[j];
  free(cs->subs);
  free(kept);
  cs->subs = subs;
  cs->n_subs = n;
  for (unsigned i = 0; i < n; i++) cli_subchannel_connect(subs[i]);
  return 0;
}

static void free_idle_retired(ch_shard *cs) {
  unsigned k = 0;
  for (unsigned i = 0; i < cs->n_retired; i++) {
    if (cli_subchannel_busy(cs->retired[i]))
      cs->retired[k++] = cs->retired[i];
    else
      cli_subchannel_free(cs->retired[i]);
  }
  cs->n_retired = k;
}

static void fail_all(ch_shard *cs, const char *why) {
  for (unsigned i = 0; i < cs->n_subs; i++) cli_subchannel_fail_waiting(cs->subs[i], why);
}

static void on_resolved(void *arg, cli_addrs *addrs, int err, const char *why) {
  ch_shard *cs = arg;
  cs->resolving = false;
  if (err == -ECANCELED) return; /* the channel is being freed */
  if (err) {
    fail_all(cs, why);
    return;
  }
  int rc = cs->ch->lb == URPC_LB_ROUND_ROBIN
               ? apply_round_robin(cs, addrs->a, addrs->n)
               : cli_subchannel_set_addrs(cs->subs[0], addrs->a, addrs->n);
  cli_addrs_free(addrs);
  if (rc) fail_all(cs, "out of memory for the resolved addresses");
  free_idle_retired(cs);
}

static void resolve(ch_shard *cs) {
  urpc_channel *ch = cs->ch;
  if (!ch->resolver || cs->resolving) return;
  char why[256];
  cs->resolved_ms = core_now_ms();
  int rc = cli_resolve(ch->resolver, cs->io, ch->target_text, on_resolved, cs, why, sizeof(why));
  if (rc) {
    snprintf(why, sizeof(why), "cannot resolve %s: %s", ch->target_text, strerror(-rc));
    fail_all(cs, why);
    return;
  }
  cs->resolving = true;
}

/* Every address of a subchannel failed: the names may have moved. */
static void on_sub_failure(cli_subchannel *sub, void *arg) {
  (void)sub;
  ch_shard *cs = arg;
  if (core_now_ms() - cs->resolved_ms >= MIN_RESOLVE_GAP_MS) resolve(cs);
}

static void on_reresolve(core_timer *t, void *arg) {
  (void)t;
  ch_shard *cs = arg;
  resolve(cs);
  free_idle_retired(cs);
  core_timer_arm(cs->timers, &cs->reresolve, core_now_ms() + cs->ch->resolve_interval_ms);
}

/* ---- the shard's part ---- */

static int set_up(ch_shard *cs) {
  urpc_channel *ch = cs->ch;
  cs->timers = io_shard_timers(cs->io);
  cli_subchannel_config cfg = ch->sub_cfg;
  cfg.arg = cs;
  const cli_target *t = &ch->target;
  bool dns = t->kind == CLI_TARGET_DNS;
  bool rr = ch->lb == URPC_LB_ROUND_ROBIN && !dns;
  unsigned n = rr ? t->naddrs : 1;
  cs->subs = calloc(n, sizeof(*cs->subs));
  if (!cs->subs) return -ENOMEM;
  for (unsigned i = 0; i < n; i++) {
    const cli_addr *a = dns ? NULL : (rr ? &t->addrs[i] : t->addrs);
    unsigned na = dns ? 0 : (rr ? 1 : t->naddrs);
    int err = cli_subchannel_new(cs->io, a, na, &cfg, &cs->subs[i]);
    if (err) return err; /* the ones made are freed with the channel */
    cs->n_subs = i + 1;
  }
  if (rr)
    for (unsigned i = 0; i < n; i++) cli_subchannel_connect(cs->subs[i]);
  cs->set_up = true;
  if (dns) {
    core_timer_init(&cs->reresolve, on_reresolve, cs);
    core_timer_arm(cs->timers, &cs->reresolve, core_now_ms() + ch->resolve_interval_ms);
    resolve(cs);
  }
  return 0;
}

ch_shard *ch_shard_here(urpc_channel *ch) {
  io_shard *io = io_shard_current();
  if (!io) return NULL;
  int i = io_shard_index(io);
  if (i < 0 || i >= ch->n_shards || ch->shards[i] != io) return NULL;
  ch_shard *cs = &ch->per[i];
  if (!cs->set_up && set_up(cs)) return NULL;
  return cs;
}

cli_subchannel *ch_shard_pick(ch_shard *cs) {
  if (cs->n_subs == 1) return cs->subs[0];
  /* round_robin: the next READY one; else the next that is not failing; else the next */
  unsigned n = cs->n_subs, start = cs->rr++ % n;
  cli_subchannel *fallback = NULL;
  for (unsigned k = 0; k < n; k++) {
    cli_subchannel *sub = cs->subs[(start + k) % n];
    cli_sub_state st = cli_subchannel_state(sub);
    if (st == CLI_SUB_READY) return sub;
    if (!fallback && st != CLI_SUB_TRANSIENT_FAILURE) fallback = sub;
  }
  return fallback ? fallback : cs->subs[start];
}

/* ---- channels ---- */

void urpc_channel_options_init(urpc_channel_options *o) {
  memset(o, 0, sizeof(*o));
  o->lb = URPC_LB_PICK_FIRST;
}

/* The name the server's certificate must carry: the authority's host (no port, no brackets). */
static char *host_of(const char *authority) {
  const char *start = authority, *end;
  if (*start == '[') {
    start++;
    end = strchr(start, ']');
    if (!end) end = start + strlen(start);
  } else {
    end = strrchr(start, ':');
    if (!end || strchr(start, ':') != end) end = start + strlen(start); /* no port, or IPv6 */
  }
  return strndup(start, (size_t)(end - start));
}

static int make_tls(urpc_channel *ch, const urpc_channel_options *o, char *why, size_t why_len) {
  tls_client_config tc = {.ca_file = o->ca_file,
                          .cert_file = o->cert_file,
                          .key_file = o->key_file,
                          .alpn = "h2",
                          .expected_spiffe_id = o->spiffe_id};
  return tls_client_ctx_new(&tc, &ch->tls, why, why_len);
}

static int runtime_shards(urpc_channel *ch, const urpc_channel_options *o, char *why,
                          size_t why_len) {
  if (!o->server == !o->client) {
    snprintf(why, why_len, "a channel needs exactly one runtime: a server or a client");
    return -EINVAL;
  }
  int n = o->server ? urpc_server_shard_count(o->server) : urpc_client_shard_count(o->client);
  ch->shards = calloc(n > 0 ? (size_t)n : 1, sizeof(*ch->shards));
  if (!ch->shards) return -ENOMEM;
  for (int i = 0; i < n; i++) {
    ch->shards[i] = o->server ? rpc_server_shard_io(o->server, i) : o->client->shards[i];
    if (!ch->shards[i]) {
      snprintf(why, why_len, "the server has not started: start it before making channels");
      return -EINVAL;
    }
  }
  ch->n_shards = n;
  return 0;
}

static int fill_config(urpc_channel *ch, const urpc_channel_options *o) {
  ch->authority = strdup(o->authority ? o->authority : ch->target.authority);
  ch->server_name = o->server_name ? strdup(o->server_name) : host_of(ch->authority);
  ch->user_agent = strdup(o->user_agent ? o->user_agent : "uringrpc-client/" URPC_VERSION);
  if (!ch->authority || !ch->server_name || !ch->user_agent) return -ENOMEM;
  ch->sub_cfg = (cli_subchannel_config){
      .authority = ch->authority,
      .tls = ch->tls,
      .server_name = ch->tls ? ch->server_name : NULL,
      .max_recv_message = o->max_recv_message,
      .user_agent = ch->user_agent,
      .send_buffer = o->send_buffer,
      .max_pending = o->max_pending,
      .initial_backoff_ms = o->initial_backoff_ms,
      .max_backoff_ms = o->max_backoff_ms,
      .min_connect_timeout_ms = o->min_connect_timeout_ms,
      .keepalive_time_ms = o->keepalive_time_ms,
      .keepalive_timeout_ms = o->keepalive_timeout_ms,
      .on_failure = on_sub_failure,
  };
  ch->resolve_interval_ms = o->resolve_interval_ms ? o->resolve_interval_ms : DEFAULT_RESOLVE_EVERY;
  return 0;
}

int urpc_channel_new(const char *target, const urpc_channel_options *o, urpc_channel **out,
                     char *why, size_t why_len) {
  urpc_channel *ch = calloc(1, sizeof(*ch));
  if (!ch) return -ENOMEM;
  ch->lb = o->lb;
  int err = runtime_shards(ch, o, why, why_len);
  if (!err) err = cli_target_parse(target, &ch->target, why, why_len);
  if (!err && o->tls) err = make_tls(ch, o, why, why_len);
  if (!err && ch->target.kind == CLI_TARGET_DNS) {
    err = cli_resolver_new(NULL, &ch->resolver);
    if (err) snprintf(why, why_len, "cannot start the resolver: %s", strerror(-err));
  }
  if (!err && !(ch->target_text = strdup(target))) err = -ENOMEM;
  if (!err) err = fill_config(ch, o);
  if (!err) {
    ch->per = aligned_alloc(64, (size_t)ch->n_shards * sizeof(*ch->per));
    if (!ch->per) err = -ENOMEM;
  }
  if (err) {
    if (err == -ENOMEM) snprintf(why, why_len, "out of memory");
    urpc_channel_free(ch);
    return err;
  }
  memset(ch->per, 0, (size_t)ch->n_shards * sizeof(*ch->per));
  for (int i = 0; i < ch->n_shards; i++) {
    ch->per[i].ch = ch;
    ch->per[i].io = ch->shards[i];
  }
  *out = ch;
  return 0;
}

static void tear_down(ch_shard *cs) {
  if (cs->set_up && core_timer_armed(&cs->reresolve)) core_timer_cancel(cs->timers, &cs->reresolve);
  for (unsigned i = 0; i < cs->n_subs; i++) cli_subchannel_free(cs->subs[i]);
  for (unsigned i = 0; i < cs->n_retired; i++) cli_subchannel_free(cs->retired[i]);
  free(cs->subs);
  free(cs->retired);
  cs->subs = cs->retired = NULL;
  cs->n_subs = cs->n_retired = 0;
}

typedef struct teardown_msg {
  io_msg m;
  ch_shard *cs;
  pthread_mutex_t *mu;
  pthread_cond_t *cv;
  int *left;
} teardown_msg;

static void on_teardown(io_msg *m) {
  teardown_msg *t = (teardown_msg *)m;
  tear_down(t->cs);
  pthread_mutex_lock(t->mu);
  if (--*t->left == 0) pthread_cond_signal(t->cv);
  pthread_mutex_unlock(t->mu);
}

void urpc_channel_free(urpc_channel *ch) {
  if (!ch) return;
  if (ch->per && ch_shard_here(ch)) {
    fprintf(stderr, "uringrpc: urpc_channel_free from one of its shards would wait for itself; "
                    "free channels from another thread\n");
    abort();
  }
  /* Lookups under way answer -ECANCELED through the shards' queues, before the teardowns
   * posted after this. */
  cli_resolver_free(ch->resolver);
  if (ch->per) {
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
    int left = ch->n_shards;
    teardown_msg *msgs = calloc((size_t)ch->n_shards, sizeof(*msgs));
    for (int i = 0; msgs && i < ch->n_shards; i++) {
      msgs[i] = (teardown_msg){{on_teardown}, &ch->per[i], &mu, &cv, &left};
      io_shard_post(ch->shards[i], &msgs[i].m);
    }
    pthread_mutex_lock(&mu);
    while (msgs && left) pthread_cond_wait(&cv, &mu);
    pthread_mutex_unlock(&mu);
    free(msgs);
    free(ch->per);
  }
  if (ch->tls) tls_ctx_unref(ch->tls);
  free(ch->shards);
  free(ch->target_text);
  free(ch->authority);
  free(ch->server_name);
  free(ch->user_agent);
  free(ch);
}

typedef struct post_msg {
  io_msg m;
  urpc_channel *ch;
  void (*fn)(urpc_channel *ch, void *arg);
  void *arg;
} post_msg;

static void on_post(io_msg *m) {
  post_msg *p = (post_msg *)m;
  p->fn(p->ch, p->arg);
  free(p);
}

int urpc_channel_post_to(urpc_channel *ch, int shard, void (*fn)(urpc_channel *ch, void *arg),
                         void *arg) {
  if (shard < 0 || shard >= ch->n_shards) return -EINVAL;
  post_msg *p = malloc(sizeof(*p));
  if (!p) return -ENOMEM;
  *p = (post_msg){{on_post}, ch, fn, arg};
  io_shard_post(ch->shards[shard], &p->m);
  return 0;
}

int urpc_channel_post(urpc_channel *ch, void (*fn)(urpc_channel *ch, void *arg), void *arg) {
  unsigned i = atomic_fetch_add_explicit(&ch->post_next, 1, memory_order_relaxed);
  return urpc_channel_post_to(ch, (int)(i % (unsigned)ch->n_shards), fn, arg);
}
