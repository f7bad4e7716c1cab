#include "sync.h"

#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

int sync_send_fds(int sock, uint32_t type, const struct sn_error *err, const int *fds, int nfds)
{
    struct sn_sync_msg msg = { .type = type };
    if (err) msg.err = *err;
    if (nfds < 0 || nfds > SN_SYNC_MAX_FDS) { errno = EINVAL; return -1; }
    struct iovec iov = { &msg, sizeof msg };
    union { char buf[CMSG_SPACE(sizeof(int) * SN_SYNC_MAX_FDS)]; struct cmsghdr align; } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
    if (nfds > 0) {
        memset(&u, 0, sizeof u);
        mh.msg_control = u.buf;
        mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    for (;;) {
        ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof msg) return 0;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

int sync_send(int sock, uint32_t type, const struct sn_error *err, int fd)
{
    return sync_send_fds(sock, type, err, &fd, fd >= 0 ? 1 : 0);
}

int sync_recv_fds(int sock, struct sn_sync_msg *msg, int *fds, int max, int *nfds)
{
    *nfds = 0;
    struct iovec iov = { msg, sizeof *msg };
    union { char buf[CMSG_SPACE(sizeof(int) * SN_SYNC_MAX_FDS)]; struct cmsghdr align; } u;
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    ssize_t n;
    do n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
    while (n < 0 && errno == EINTR);
    if (n == 0) return 1;
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < count; i++) {
            int got;
            memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
            if (*nfds < max) fds[(*nfds)++] = got;
            else close(got);
        }
    }
    if (n != (ssize_t)sizeof *msg) { errno = EPROTO; return -1; }
    msg->err.step[sizeof msg->err.step - 1] = 0;
    msg->err.message[sizeof msg->err.message - 1] = 0;
    return 0;
}

int sync_recv(int sock, struct sn_sync_msg *msg, int *fd)
{
    int fds[1], n, rc = sync_recv_fds(sock, msg, fds, fd ? 1 : 0, &n);
    if (fd) *fd = n ? fds[0] : -1;
    return rc;
}

int sync_send_console(const char *socket_path, int fd, struct sn_error *e)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(socket_path) >= sizeof addr.sun_path) return sn_fail(e, "console", ENAMETOOLONG, "%s", socket_path);
    strcpy(addr.sun_path, socket_path);
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return sn_fail(e, "console", errno, "socket");
    if (connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int saved = errno;
        close(s);
        return sn_fail(e, "console", saved, "connecting to --console-socket %s", socket_path);
    }
    /* runc sends the terminal's name as the payload beside the descriptor. */
    static char name[] = "/dev/pts/0";
    struct iovec iov = { name, sizeof name - 1 };
    union { char buf[CMSG_SPACE(sizeof(int))]; struct cmsghdr align; } u;
    memset(&u, 0, sizeof u);
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &fd, sizeof(int));
    ssize_t n = sendmsg(s, &mh, MSG_NOSIGNAL);
    int saved = errno;
    close(s);
    if (n < 0) return sn_fail(e, "console", saved, "sending the terminal to %s", socket_path);
    return 0;
}
