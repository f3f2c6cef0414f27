/* Session-ticket keys shared by every shard and every context of the process (so a ticket
 * from one shard resumes on any other, and survives a certificate reload), and rotated: a
 * ticket is sealed with the current key (ChaCha20-Poly1305) and accepted under the current
 * or the previous one; each key serves one lifetime for new tickets and one more for
 * resumption. Tickets are a handshake affair, not the request path: a mutex is fine here. */
#include <pthread.h>
#include <string.h>
#include <time.h>

#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/random.h>

#include "core/log.h"
#include "tls/tls_impl.h"

typedef struct ticket_key {
  uint8_t name[WOLFSSL_TICKET_NAME_SZ];
  uint8_t key[CHACHA20_POLY1305_AEAD_KEYSIZE];
  uint64_t born_s;
} ticket_key;

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static ticket_key g_keys[2]; /* [0] current, [1] previous */
static int g_n;
static unsigned g_lifetime_s = 3600;
static WC_RNG g_rng;
static bool g_rng_ok;

void tls_tickets_set_lifetime(unsigned seconds) {
  pthread_mutex_lock(&g_mu);
  g_lifetime_s = seconds ? seconds : 1;
  pthread_mutex_unlock(&g_mu);
}

unsigned tls_tickets_lifetime(void) {
  pthread_mutex_lock(&g_mu);
  unsigned s = g_lifetime_s;
  pthread_mutex_unlock(&g_mu);
  return s;
}

static uint64_t now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec;
}

static int fresh_key(ticket_key *k, uint64_t now) {
  if (!g_rng_ok) g_rng_ok = wc_InitRng(&g_rng) == 0;
  if (!g_rng_ok || wc_RNG_GenerateBlock(&g_rng, k->name, sizeof(k->name)) != 0 ||
      wc_RNG_GenerateBlock(&g_rng, k->key, sizeof(k->key)) != 0)
    return -1;
  k->born_s = now;
  return 0;
}

/* Under g_mu: a key older than a lifetime becomes the previous one; older than two, gone. */
static int rotate(uint64_t now) {
  if (g_n && now - g_keys[0].born_s < g_lifetime_s) return 0;
  if (g_n && now - g_keys[0].born_s < 2ull * g_lifetime_s) {
    g_keys[1] = g_keys[0];
    g_n = 2;
  } else {
    g_n = 1; /* everything expired */
  }
  if (fresh_key(&g_keys[0], now) < 0) {
    g_n = 0;
    return -1;
  }
  return 0;
}

int tls_ticket_cb(WOLFSSL *ssl, unsigned char key_name[WOLFSSL_TICKET_NAME_SZ],
                  unsigned char iv[WOLFSSL_TICKET_IV_SZ], unsigned char mac[WOLFSSL_TICKET_MAC_SZ],
                  int enc, unsigned char *ticket, int len, int *out_len, void *ud) {
  (void)ud;
  int ret = WOLFSSL_TICKET_RET_REJECT;
  /* A resumption without h2 is refused: the full handshake it falls back to answers it with
   * no_application_protocol (tls_require_h2) rather than a close after the handshake. */
  if (!enc && !tls_offered_h2(ssl)) return ret;
  pthread_mutex_lock(&g_mu);
  if (rotate(now_s()) < 0) {
    pthread_mutex_unlock(&g_mu);
    LOG_WARN("TLS tickets: no random key; sessions will not resume");
    return enc ? WOLFSSL_TICKET_RET_FATAL : WOLFSSL_TICKET_RET_REJECT;
  }
  if (enc) {
    memcpy(key_name, g_keys[0].name, WOLFSSL_TICKET_NAME_SZ);
    memset(mac, 0, WOLFSSL_TICKET_MAC_SZ);
    if (wc_RNG_GenerateBlock(&g_rng, iv, WOLFSSL_TICKET_IV_SZ) == 0 &&
        wc_ChaCha20Poly1305_Encrypt(g_keys[0].key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
                                    (word32)len, ticket, mac) == 0) {
      *out_len = len;
      ret = WOLFSSL_TICKET_RET_OK;
    } else {
      ret = WOLFSSL_TICKET_RET_FATAL;
    }
  } else {
    for (int i = 0; i < g_n; i++) {
      if (memcmp(key_name, g_keys[i].name, WOLFSSL_TICKET_NAME_SZ) != 0) continue;
      if (wc_ChaCha20Poly1305_Decrypt(g_keys[i].key, iv, key_name, WOLFSSL_TICKET_NAME_SZ, ticket,
                                      (word32)len, mac, ticket) == 0) {
        *out_len = len;
        /* Under the previous key: resume, and hand out a ticket under the current one. */
        ret = i == 0 ? WOLFSSL_TICKET_RET_OK : WOLFSSL_TICKET_RET_CREATE;
      }
      break;
    }
  }
  pthread_mutex_unlock(&g_mu);
  return ret;
}
