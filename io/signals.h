/* Process signals: blocked in every thread and read synchronously by the main thread. */
#ifndef URPC_IO_SIGNALS_H
#define URPC_IO_SIGNALS_H

/* Blocks SIGINT, SIGTERM and SIGHUP in the calling thread (and the threads it starts later)
 * and ignores SIGPIPE. Call before starting shards. Returns a signalfd, or -errno. */
int io_signals_open(void);
/* Waits for one of them; returns its number, or -errno. */
int io_signals_wait(int sfd);
/* The same for at most `timeout_ms`; returns 0 when none came. */
int io_signals_wait_timeout(int sfd, int timeout_ms);

#endif
