/* The parent ↔ container-setup channel: a SOCK_SEQPACKET pair carrying small messages and,
 * with SCM_RIGHTS, file descriptors (the rootfs mount, the PTY master). Errors in the child
 * travel back as a struct sn_error; only the parent decides what to do. */
#ifndef SN_SYNC_H
#define SN_SYNC_H

#include <stdint.h>
#include "util.h"

enum sn_sync_type {
    SYNC_MAPPED = 1,   /* parent → child: ids mapped; carries the attached root (O_PATH) and
                          the detached bind mounts, in the spec's order */
    SYNC_CGROUP,       /* parent → child: moved into the container's cgroup */
    SYNC_PTY,          /* child → parent: carries the PTY master */
    SYNC_READY,        /* child → parent: set up, waiting for SYNC_GO */
    SYNC_GO,           /* parent → child: exec now */
    SYNC_ERROR,        /* child → parent: setup failed, see err */
};

struct sn_sync_msg {
    uint32_t type;
    struct sn_error err;
};

#define SN_SYNC_MAX_FDS 64

int sync_send(int sock, uint32_t type, const struct sn_error *err, int fd);
int sync_send_fds(int sock, uint32_t type, const struct sn_error *err, const int *fds, int nfds);
/* 0 with a message, 1 at end of stream (the peer exec'd or died), -1 on error. *fd gets a
 * passed descriptor or -1; pass NULL to refuse descriptors. */
int sync_recv(int sock, struct sn_sync_msg *msg, int *fd);
/* The same, keeping every descriptor passed (up to `max`; extra ones are closed). */
int sync_recv_fds(int sock, struct sn_sync_msg *msg, int *fds, int max, int *nfds);
/* Send a descriptor over a runc-style --console-socket. */
int sync_send_console(const char *socket_path, int fd, struct sn_error *e);

#endif
