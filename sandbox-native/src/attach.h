/* A detached container's stdio, held by its monitor: output goes to a log file and to any
 * attached clients; clients send input and resizes. Clients connect to <state>/attach.sock.
 *
 * Frames in both directions: 1 byte type, 4 bytes big-endian length, payload.
 *   client → monitor: 'i' input bytes, 'r' resize "ROWS COLS", 'c' close the container's stdin,
 *                     'w' watch only: send no output, only the exit
 *   monitor → client: 'o' output (the terminal, or stdout), 'e' stderr, 'x' exit "CODE"
 * The log holds the same 'o'/'e' frames, so it keeps stdout and stderr apart.
 *
 * No output is dropped: while an attached reader (not a watcher) has more than a high
 * watermark of output queued, the monitor stops reading the container's output, so the
 * container blocks in write() until the reader catches up (Docker's attach does the same). */
#ifndef SN_ATTACH_H
#define SN_ATTACH_H

#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include "util.h"

#define SN_ATTACH_CLIENTS 8

struct sn_attach_client {
    int fd;
    bool watcher;          /* wants only the exit: gets no output and holds nothing back */
    unsigned char in[8192 + 5];
    size_t in_len;
    char *out;             /* frames not yet written: out[out_head, out_len) */
    size_t out_head, out_len, out_cap;
};

struct sn_attach {
    int listen_fd;
    int log_fd;
    char log_path[4096];
    off_t log_size;
    int pty_master;        /* terminal: input, output and resize all go through it */
    int stdin_fd;          /* no terminal: the write end of the container's stdin pipe */
    int stdout_fd, stderr_fd;
    bool held;             /* a reader is behind: the container's output is not read */
    bool stdin_closing;    /* a client sent 'c': close stdin once the input before it is written */
    struct sn_attach_client clients[SN_ATTACH_CLIENTS];
    char to_container[16384];
    size_t to_container_len;
};

/* Listen on `socket_path`, log to `log_path`. The stdio fds are set by the caller. */
int attach_open(struct sn_attach *a, const char *socket_path, const char *log_path, struct sn_error *e);
int attach_pollfds(struct sn_attach *a, struct pollfd *p, int max);
void attach_handle(struct sn_attach *a, const struct pollfd *p, int n);
/* The container is gone: read what is left into the log and the clients' queues, queue the
 * exit frame after it, stop listening and close the container's stdio and the log. */
void attach_finish(struct sn_attach *a, int exit_status);
/* Then give every client what it is owed, and close. A client that reads nothing for
 * SN_ATTACH_LINGER_MS is left behind, so a stuck client cannot keep the monitor alive. */
#define SN_ATTACH_LINGER_MS 30000
void attach_deliver(struct sn_attach *a);

#endif
