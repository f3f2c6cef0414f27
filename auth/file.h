/* Private to auth/: reading a policy or keys file whole, bounded. */
#ifndef URPC_AUTH_FILE_H
#define URPC_AUTH_FILE_H

#include <stddef.h>

/* Reads `path` into a fresh buffer (*out, to free) of *len bytes. A file over `max` bytes is
 * not one of ours: -EINVAL. Returns 0 or -errno, with one line in `why` naming the file. */
int auth_read_file(const char *path, size_t max, char **out, size_t *len, char *why,
                   size_t why_len);

#endif
