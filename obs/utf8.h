/* UTF-8 well-formedness for strings that came from the network (obs/ private): the access log
 * escapes them into JSON, OTLP must carry them as protobuf strings, which collectors reject
 * (the whole batch) when they are not valid UTF-8. */
#ifndef URPC_OBS_UTF8_H
#define URPC_OBS_UTF8_H

#include <stdbool.h>
#include <stddef.h>

/* The UTF-8 sequence at p[0..n), n >= 1 and p[0] >= 0x80: its length when well-formed
 * (*valid), else the length of its maximal ill-formed subpart, which becomes one U+FFFD (as
 * Unicode recommends, and Python's and WHATWG's decoders do). */
size_t obs_utf8_seq(const unsigned char *p, size_t n, bool *valid);

/* `s` itself when it is valid UTF-8 (the usual case: one pass, nothing copied); else a copy
 * into out[0..cap) with each ill-formed subpart replaced by U+FFFD, cut to fit (whole
 * sequences only) and NUL-terminated. cap >= 4. */
const char *obs_utf8_scrub(const char *s, char *out, size_t cap);

#endif
