/* HTTP/1.1 on the admin endpoint, parsed by the packaged http-parser: keep-alive, pipelined
 * requests answered in order, and Upgrade: h2c handed to admin_h2.c.
 *
 * Parsing pauses (http_parser_pause) after a request whose answer left more than ADMIN_OUT_CAP
 * unsent; what was read after it stays in c->in until the output drains. A request the parser
 * refuses (bad syntax, a head over http-parser's 80 KiB) gets 400 and a close. Header names and
 * the values looked at may arrive in pieces (a read can end anywhere): they are gathered in
 * small fixed buffers, and a value longer than its buffer is ignored. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "obs/admin_impl.h"

static bool field_is(const admin_http1 *h, const char *name) {
  return h->field_len == strlen(name) && !memcmp(h->field, name, h->field_len);
}

/* The header's value names `token` in its comma-separated list (case-insensitive). */
static bool has_token(const char *v, size_t n, const char *token) {
  size_t tl = strlen(token);
  for (size_t i = 0; i < n;) {
    while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) i++;
    size_t start = i;
    while (i < n && v[i] != ',' && v[i] != ' ' && v[i] != '\t') i++;
    if (i - start == tl && !strncasecmp(v + start, token, tl)) return true;
  }
  return false;
}

/* The header whose name and value were read is complete. */
static void finish_header(admin_http1 *h) {
  if (!h->in_value) return;
  if (!h->value_cut) {
    if (field_is(h, "accept")) {
      admin_request_accept(&h->rq, h->value, h->value_len);
    } else if (field_is(h, "upgrade")) {
      h->upgrade_h2c = has_token(h->value, h->value_len, "h2c");
    } else if (field_is(h, "http2-settings")) {
      memcpy(h->settings, h->value, h->value_len);
      h->settings_len = h->value_len;
      h->have_settings = true;
    }
  }
  h->field_len = h->value_len = 0;
  h->in_value = h->value_cut = false;
}

static int on_message_begin(http_parser *p) {
  admin_client *c = p->data;
  admin_http1 *h = &c->h1;
  admin_request_reset(&h->rq);
  h->field_len = h->value_len = h->settings_len = 0;
  h->in_value = h->value_cut = h->upgrade_h2c = h->have_settings = false;
  if (!c->req_ms) c->req_ms = admin_now_ms();
  return 0;
}

static int on_url(http_parser *p, const char *at, size_t n) {
  admin_client *c = p->data;
  admin_request_add_path(&c->h1.rq, at, n);
  return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n) {
  admin_http1 *h = &((admin_client *)p->data)->h1;
  finish_header(h);
  for (size_t i = 0; i < n; i++) {
    if (h->field_len == sizeof(h->field)) break; /* too long for any name we look at */
    char ch = at[i];
    h->field[h->field_len++] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
  }
  return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n) {
  admin_http1 *h = &((admin_client *)p->data)->h1;
  h->in_value = true;
  if (!field_is(h, "accept") && !field_is(h, "upgrade") && !field_is(h, "http2-settings")) return 0;
  if (h->value_cut || h->value_len + n > sizeof(h->value)) {
    h->value_cut = true;
    return 0;
  }
  memcpy(h->value + h->value_len, at, n);
  h->value_len += n;
  return 0;
}

static int on_headers_complete(http_parser *p) {
  admin_http1 *h = &((admin_client *)p->data)->h1;
  finish_header(h);
  h->rq.head = p->method == HTTP_HEAD;
  h->rq.get = p->method == HTTP_GET || h->rq.head;
  return 0;
}

static int b64url_value(char ch) {
  if (ch >= 'A' && ch <= 'Z') return ch - 'A';
  if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
  if (ch >= '0' && ch <= '9') return ch - '0' + 52;
  if (ch == '-') return 62;
  if (ch == '_') return 63;
  return -1;
}

/* HTTP2-Settings is base64url (RFC 4648 section 5), padding optional. Returns the decoded
 * length, or -1 if it is not base64url or longer than `cap`. */
static int base64url_decode(const char *s, size_t n, uint8_t *out, size_t cap) {
  while (n && s[n - 1] == '=') n--;
  if (n % 4 == 1) return -1;
  uint32_t acc = 0;
  int bits = 0;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    int v = b64url_value(s[i]);
    if (v < 0) return -1;
    acc = (acc << 6 | (uint32_t)v) & 0xffffff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      if (o == cap) return -1;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  return (int)o;
}

/* An h2c upgrade (RFC 7540 section 3.2) of a GET that asked for one, answered on stream 1 with
 * `r`. False leaves the client on HTTP/1.1 and `r` to the caller. */
static bool upgrade(admin_client *c, admin_response *r) {
  admin_http1 *h = &c->h1;
  uint8_t settings[sizeof(h->settings) * 3 / 4];
  if (!h->upgrade_h2c || !h->have_settings || !h->rq.get || c->close_after) return false;
  int n = base64url_decode(h->settings, h->settings_len, settings, sizeof(settings));
  if (n < 0 || admin_h2_upgrade(c, settings, (size_t)n, r) < 0) return false;
  static const char head[] =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n";
  admin_out_append(c, head, sizeof(head) - 1); /* before any frame: the session sends later */
  return true;
}

static void respond(admin_client *c, const admin_response *r) {
  char head[384];
  int n = snprintf(
      head, sizeof(head), "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s%s\r\n",
      r->status, r->reason, r->type, r->len, r->allow_get ? "Allow: GET, HEAD\r\n" : "",
      c->close_after ? "Connection: close\r\n" : "");
  if (admin_out_append(c, head, (size_t)n) && !c->h1.rq.head) admin_out_append(c, r->body, r->len);
}

static int on_message_complete(http_parser *p) {
  admin_client *c = p->data;
  c->req_ms = 0;
  c->last_ms = admin_now_ms();
  if (!http_should_keep_alive(p)) c->close_after = true;
  admin_response r;
  admin_route(c->admin, &c->h1.rq, &r);
  if (p->upgrade && upgrade(c, &r)) return 0; /* http-parser stops after an upgrade */
  respond(c, &r);
  admin_response_dispose(&r);
  if (c->close_after || admin_out_pending(c) > ADMIN_OUT_CAP) http_parser_pause(p, 1);
  return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_message_complete = on_message_complete,
};

void admin_http1_init(admin_client *c) {
  http_parser_init(&c->h1.parser, HTTP_REQUEST);
  c->h1.parser.data = c;
}

static void bad_request(admin_client *c) {
  admin_response r;
  c->close_after = true;
  admin_response_text(&r, 400, "Bad Request", "bad request\n");
  respond(c, &r);
}

void admin_http1_process(admin_client *c) {
  http_parser *p = &c->h1.parser;
  while (c->in_off < c->in_len && c->proto == ADMIN_PROTO_HTTP1 && !c->close_after && !c->dead) {
    if (HTTP_PARSER_ERRNO(p) == HPE_PAUSED) {
      if (admin_out_pending(c) > ADMIN_OUT_CAP) return; /* resumed once the output drains */
      http_parser_pause(p, 0);
    }
    size_t used = http_parser_execute(p, &settings, c->in + c->in_off, c->in_len - c->in_off);
    c->in_off += used;
    enum http_errno err = HTTP_PARSER_ERRNO(p);
    if (err == HPE_PAUSED) continue;
    /* Short of an error, the parser stops early only after an upgrade request: if it was not
     * taken (not h2c, or Upgrade: websocket), the next request follows on HTTP/1.1. */
    if (err != HPE_OK || used == 0) bad_request(c);
  }
  if (c->close_after || c->dead) c->in_off = c->in_len; /* the rest is not read */
}
