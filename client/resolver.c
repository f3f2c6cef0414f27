/* The resolver: a mutex-guarded FIFO of dns lookups, one detached thread running them. A request
 * is one allocation that travels: cli_resolve fills it, the thread looks it up, io_shard_post
 * carries it to the shard, the delivery frees it after the callback. Whoever takes a request off
 * the queue or out of `running` (under the lock) is the only one who may post it, so it is
 * answered once. The thread frees the resolver when it ends, which it does only after
 * cli_resolver_free: that keeps free from waiting on a getaddrinfo that may take seconds. */
#include "client/resolver.h"

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct req {
  io_msg msg; /* first: the delivery finds the request from it */
  struct req *next;
  io_shard *shard;
  cli_resolve_cb cb;
  void *arg;
  cli_target t;
  /* The answer, filled by whoever posts the request. */
  cli_addrs *addrs;
  int err;
  char why[512];
} req;

struct cli_resolver {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  req *head, *tail; /* waiting lookups, oldest first */
  req *running;     /* the lookup the thread is doing, until it or free takes it back */
  unsigned pending; /* queued + running */
  unsigned max_pending;
  bool stopping; /* cli_resolver_free was called: the thread ends and frees the resolver */
  bool posting;  /* the thread is handing an answer to its shard (io_shard_post), unlocked:
                    cli_resolver_free waits for it, so the shard is not freed under it */
};

void cli_addrs_free(cli_addrs *addrs) {
  free(addrs);
}

static void deliver(io_msg *m) {
  req *q = (req *)m;
  q->cb(q->arg, q->addrs, q->err, q->why);
  free(q);
}

static void answer_error(req *q, int err, const char *cause) {
  q->err = err;
  q->addrs = NULL;
  snprintf(q->why, sizeof(q->why), "resolving %s: %s", q->t.authority, cause);
}

static cli_addrs *addrs_new(unsigned n) {
  cli_addrs *a = calloc(1, sizeof(*a) + (size_t)n * sizeof(a->a[0]));
  if (a) a->n = n;
  return a;
}

/* On the resolver thread, without the lock: fills q's answer. */
static void lookup(req *q, const char *host, uint16_t port) {
  char service[8];
  snprintf(service, sizeof(service), "%u", (unsigned)port);
  struct addrinfo hints = {
      .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
  struct addrinfo *res = NULL;
  int rc = getaddrinfo(host, service, &hints, &res);
  if (rc != 0) {
    int sys = errno;
    char cause[128];
    switch (rc) {
    case EAI_NONAME:
    case EAI_NODATA:
    case EAI_ADDRFAMILY:
      snprintf(cause, sizeof(cause), "no such host (%s)", gai_strerror(rc));
      answer_error(q, -ENOENT, cause);
      break;
    case EAI_AGAIN:
      snprintf(cause, sizeof(cause), "the DNS server did not answer (%s)", gai_strerror(rc));
      answer_error(q, -EAGAIN, cause);
      break;
    case EAI_SYSTEM:
      answer_error(q, sys ? -sys : -EIO, strerror(sys));
      break;
    default:
      answer_error(q, rc == EAI_MEMORY ? -ENOMEM : -EIO, gai_strerror(rc));
      break;
    }
    return;
  }
  unsigned n = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
        ai->ai_addrlen <= sizeof(struct sockaddr_storage))
      n++;
  if (n == 0) {
    answer_error(q, -ENOENT, "no IPv4 or IPv6 address");
  } else if (!(q->addrs = addrs_new(n))) {
    answer_error(q, -ENOMEM, "out of memory");
  } else {
    unsigned i = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
          ai->ai_addrlen > sizeof(struct sockaddr_storage))
        continue;
      memcpy(&q->addrs->a[i].ss, ai->ai_addr, ai->ai_addrlen);
      q->addrs->a[i].len = ai->ai_addrlen;
      i++;
    }
    q->err = 0;
  }
  freeaddrinfo(res);
}

static void *resolver_main(void *arg) {
  cli_resolver *r = arg;
  /* Process signals are the server's signalfd's (io/signals.h), whatever thread made us. */
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  pthread_mutex_lock(&r->mu);
  for (;;) {
    while (!r->head && !r->stopping) pthread_cond_wait(&r->cv, &r->mu);
    if (r->stopping) break;
    req *q = r->head;
    r->head = q->next;
    if (!r->head) r->tail = NULL;
    r->running = q;
    /* The lookup reads its copy of the name: once unlocked, `q` may be cancelled and freed by
     * its shard. */
    req answer = {.err = 0};
    memcpy(answer.t.host, q->t.host, sizeof(answer.t.host));
    memcpy(answer.t.authority, q->t.authority, sizeof(answer.t.authority));
    uint16_t port = q->t.port;
    pthread_mutex_unlock(&r->mu);

    lookup(&answer, answer.t.host, port);

    pthread_mutex_lock(&r->mu);
    if (r->running == q) { /* not cancelled: ours to answer */
      r->running = NULL;
      r->pending--;
      q->addrs = answer.addrs;
      q->err = answer.err;
      memcpy(q->why, answer.why, sizeof(q->why));
      r->posting = true;
      pthread_mutex_unlock(&r->mu);
      io_shard_post(q->shard, &q->msg);
      pthread_mutex_lock(&r->mu);
      r->posting = false;
      pthread_cond_broadcast(&r->cv); /* cli_resolver_free may wait for this */
    } else {
      cli_addrs_free(answer.addrs);
    }
  }
  pthread_mutex_unlock(&r->mu);
  pthread_cond_destroy(&r->cv);
  pthread_mutex_destroy(&r->mu);
  free(r);
  return NULL;
}

int cli_resolver_new(const cli_resolver_config *cfg, cli_resolver **out) {
  cli_resolver *r = calloc(1, sizeof(*r));
  if (!r) return -ENOMEM;
  r->max_pending = cfg && cfg->max_pending ? cfg->max_pending : 64;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t th;
  int err = pthread_create(&th, &attr, resolver_main, r);
  pthread_attr_destroy(&attr);
  if (err) {
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return -err;
  }
  *out = r;
  return 0;
}

void cli_resolver_free(cli_resolver *r) {
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  /* An answer being posted touches its shard: the caller may free the shard once we return. */
  while (r->posting) pthread_cond_wait(&r->cv, &r->mu);
  req *cancelled = r->head;
  if (r->running) { /* taken back: the thread drops its answer */
    r->running->next = cancelled;
    cancelled = r->running;
    r->running = NULL;
  }
  r->head = r->tail = NULL;
  r->pending = 0;
  r->stopping = true;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  /* `r` may be gone from here on. */
  while (cancelled) {
    req *q = cancelled;
    cancelled = q->next;
    answer_error(q, -ECANCELED, "cancelled: the resolver stopped");
    io_shard_post(q->shard, &q->msg);
  }
}

int cli_resolve(cli_resolver *r, io_shard *shard, const char *target, cli_resolve_cb cb, void *arg,
                char *why, size_t why_len) {
  req *q = malloc(sizeof(*q));
  if (!q) return -ENOMEM;
  memset(q, 0, offsetof(req, t));
  q->msg.fn = deliver;
  q->shard = shard;
  q->cb = cb;
  q->arg = arg;
  q->addrs = NULL;
  q->err = 0;
  q->why[0] = '\0';
  int rc = cli_target_parse(target, &q->t, why, why_len);
  if (rc < 0) {
    free(q);
    return rc;
  }
  if (q->t.kind != CLI_TARGET_DNS) { /* the addresses are in the name: answer now */
    if (!(q->addrs = addrs_new(q->t.naddrs))) {
      free(q);
      return -ENOMEM;
    }
    memcpy(q->addrs->a, q->t.addrs, q->t.naddrs * sizeof(q->t.addrs[0]));
    io_shard_post(shard, &q->msg);
    return 0;
  }
  pthread_mutex_lock(&r->mu);
  if (r->pending >= r->max_pending) {
    unsigned max = r->max_pending;
    pthread_mutex_unlock(&r->mu);
    free(q);
    if (why && why_len)
      snprintf(why, why_len, "resolving %.200s: %u lookups outstanding already", target, max);
    return -EAGAIN;
  }
  r->pending++;
  if (r->tail)
    r->tail->next = q;
  else
    r->head = q;
  r->tail = q;
  pthread_cond_signal(&r->cv);
  pthread_mutex_unlock(&r->mu);
  return 0;
}
