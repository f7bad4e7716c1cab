#include "attach.h"
#include "pty.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#define LOG_ROTATE_BYTES (8 << 20)
#define CLIENT_BACKLOG_BYTES (256 << 10)

int attach_open(struct sn_attach *a, const char *socket_path, const char *log_path, struct sn_error *e)
{
    memset(a, 0, sizeof *a);
    a->pty_master = a->stdin_fd = a->stdout_fd = a->stderr_fd = -1;
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++) a->clients[i].fd = -1;
    snprintf(a->log_path, sizeof a->log_path, "%s", log_path);
    a->log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (a->log_fd < 0) return sn_fail(e, "attach", errno, "opening output log %s", log_path);
    struct stat st;
    if (fstat(a->log_fd, &st) == 0) a->log_size = st.st_size;
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if (strlen(socket_path) >= sizeof addr.sun_path) return sn_fail(e, "attach", ENAMETOOLONG, "%s", socket_path);
    strcpy(addr.sun_path, socket_path);
    a->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (a->listen_fd < 0 || bind(a->listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
        chmod(socket_path, 0600) < 0 || listen(a->listen_fd, SN_ATTACH_CLIENTS) < 0)
        return sn_fail(e, "attach", errno, "attach socket %s", socket_path);
    return 0;
}

static void drop_client(struct sn_attach_client *c)
{
    close(c->fd);
    c->fd = -1;
    free(c->out);
    c->out = NULL;
    c->out_len = c->in_len = 0;
}

static void client_send(struct sn_attach_client *c, char type, const void *data, size_t len)
{
    if (c->fd < 0) return;
    if (c->out_len + len + 5 > CLIENT_BACKLOG_BYTES) { drop_client(c); return; }
    char *grown = realloc(c->out, c->out_len + len + 5);
    if (!grown) { drop_client(c); return; }
    c->out = grown;
    unsigned char hdr[5] = { (unsigned char)type, (unsigned char)(len >> 24), (unsigned char)(len >> 16),
                             (unsigned char)(len >> 8), (unsigned char)len };
    memcpy(c->out + c->out_len, hdr, 5);
    memcpy(c->out + c->out_len + 5, data, len);
    c->out_len += len + 5;
}

static void log_output(struct sn_attach *a, const char *data, size_t len)
{
    if (a->log_fd < 0) return;
    /* Keep the log bounded: the previous 8 MiB stay as <log>.1. */
    if (a->log_size + (off_t)len > LOG_ROTATE_BYTES) {
        char old[4200];
        snprintf(old, sizeof old, "%s.1", a->log_path);
        rename(a->log_path, old);
        close(a->log_fd);
        a->log_fd = open(a->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        a->log_size = 0;
        if (a->log_fd < 0) return;
    }
    if (sn_write_all(a->log_fd, data, len) == 0) a->log_size += (off_t)len;
}

static void broadcast(struct sn_attach *a, char type, const char *data, size_t len)
{
    log_output(a, data, len);
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++) client_send(&a->clients[i], type, data, len);
}

/* Read what the container wrote on `*fd`; mark it closed at end of stream. */
static void pump_output(struct sn_attach *a, int *fd, char type)
{
    char buf[16384];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) { broadcast(a, type, buf, (size_t)n); return; }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    /* EOF, or EIO from a terminal whose last writer is gone. The master stays open for
     * resizes until the end; pipes close now. */
    if (*fd != a->pty_master) close(*fd);
    *fd = -1;
}

static void client_frames(struct sn_attach *a, struct sn_attach_client *c)
{
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        drop_client(c);
        return;
    }
    c->in_len += (size_t)n;
    while (c->in_len >= 5) {
        size_t len = ((size_t)c->in[1] << 24) | ((size_t)c->in[2] << 16) | ((size_t)c->in[3] << 8) | c->in[4];
        if (len > sizeof c->in - 5) { drop_client(c); return; }   /* a frame we could never hold */
        if (c->in_len < 5 + len) break;
        unsigned char type = c->in[0];
        const char *payload = (const char *)c->in + 5;
        int input = a->pty_master >= 0 ? a->pty_master : a->stdin_fd;
        if (type == 'i' && input >= 0) {
            size_t room = sizeof a->to_container - a->to_container_len;
            size_t take = len < room ? len : room;   /* a flood past our buffer is dropped */
            memcpy(a->to_container + a->to_container_len, payload, take);
            a->to_container_len += take;
        } else if (type == 'r' && a->pty_master >= 0) {
            char text[32];
            unsigned rows, cols;
            snprintf(text, sizeof text, "%.*s", (int)(len < 31 ? len : 31), payload);
            if (sscanf(text, "%u %u", &rows, &cols) == 2 && rows && cols && rows < 65536 && cols < 65536)
                pty_set_size(a->pty_master, (unsigned short)rows, (unsigned short)cols);
        } else if (type == 'c' && a->stdin_fd >= 0) {
            close(a->stdin_fd);
            a->stdin_fd = -1;
            a->to_container_len = 0;
        }
        memmove(c->in, c->in + 5 + len, c->in_len - 5 - len);
        c->in_len -= 5 + len;
    }
}

int attach_pollfds(struct sn_attach *a, struct pollfd *p, int max)
{
    int n = 0;
    if (n < max && a->listen_fd >= 0) p[n++] = (struct pollfd){ a->listen_fd, POLLIN, 0 };
    if (a->pty_master >= 0 && n < max) {
        p[n++] = (struct pollfd){ a->pty_master, (short)(POLLIN | (a->to_container_len ? POLLOUT : 0)), 0 };
    } else {
        if (a->stdout_fd >= 0 && n < max) p[n++] = (struct pollfd){ a->stdout_fd, POLLIN, 0 };
        if (a->stderr_fd >= 0 && n < max) p[n++] = (struct pollfd){ a->stderr_fd, POLLIN, 0 };
        if (a->stdin_fd >= 0 && a->to_container_len && n < max) p[n++] = (struct pollfd){ a->stdin_fd, POLLOUT, 0 };
    }
    for (int i = 0; i < SN_ATTACH_CLIENTS && n < max; i++) {
        struct sn_attach_client *c = &a->clients[i];
        if (c->fd < 0) continue;
        p[n++] = (struct pollfd){ c->fd, (short)(POLLIN | (c->out_len ? POLLOUT : 0)), 0 };
    }
    return n;
}

static void flush_to_container(struct sn_attach *a, int fd)
{
    ssize_t w = write(fd, a->to_container, a->to_container_len);
    if (w > 0) {
        memmove(a->to_container, a->to_container + w, a->to_container_len - (size_t)w);
        a->to_container_len -= (size_t)w;
    } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
        a->to_container_len = 0;   /* nobody reads the container's stdin any more */
    }
}

void attach_handle(struct sn_attach *a, const struct pollfd *p, int n)
{
    for (int k = 0; k < n; k++) {
        if (!p[k].revents) continue;
        int fd = p[k].fd;
        if (fd == a->listen_fd) {
            int c = accept4(a->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (c < 0) continue;
            int slot = -1;
            for (int i = 0; i < SN_ATTACH_CLIENTS; i++)
                if (a->clients[i].fd < 0) { slot = i; break; }
            if (slot < 0) { close(c); continue; }
            a->clients[slot].fd = c;
            continue;
        }
        if (fd == a->pty_master) {
            if (p[k].revents & POLLOUT) flush_to_container(a, fd);
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) pump_output(a, &a->pty_master, 'o');
            continue;
        }
        if (fd == a->stdout_fd) { pump_output(a, &a->stdout_fd, 'o'); continue; }
        if (fd == a->stderr_fd) { pump_output(a, &a->stderr_fd, 'e'); continue; }
        if (fd == a->stdin_fd) { flush_to_container(a, fd); continue; }
        for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
            struct sn_attach_client *c = &a->clients[i];
            if (c->fd != fd) continue;
            if (p[k].revents & POLLOUT && c->out_len) {
                ssize_t w = write(c->fd, c->out, c->out_len);
                if (w > 0) {
                    memmove(c->out, c->out + w, c->out_len - (size_t)w);
                    c->out_len -= (size_t)w;
                } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
                    drop_client(c);
                    continue;
                }
            }
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) client_frames(a, c);
        }
    }
}

void attach_finish(struct sn_attach *a, int exit_status)
{
    /* Whatever the container wrote before it died is still in the pipes or the terminal. */
    int *outs[] = { &a->pty_master, &a->stdout_fd, &a->stderr_fd };
    for (int i = 0; i < 3; i++) {
        int *fd = outs[i];
        if (*fd < 0) continue;
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
        int guard = 0;
        while (*fd >= 0 && guard++ < 4096) {
            char buf[16384];
            ssize_t n = read(*fd, buf, sizeof buf);
            if (n <= 0) break;
            broadcast(a, i == 2 ? 'e' : 'o', buf, (size_t)n);
        }
    }
    char code[16];
    int len = snprintf(code, sizeof code, "%d", exit_status);
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
        struct sn_attach_client *c = &a->clients[i];
        if (c->fd < 0) continue;
        client_send(c, 'x', code, (size_t)len);
        if (c->fd < 0) continue;
        /* Best effort, bounded: a client that does not read gets what fit. */
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) & ~O_NONBLOCK);
        struct timeval tv = { 1, 0 };
        setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        sn_write_all(c->fd, c->out, c->out_len);
        drop_client(c);
    }
    for (int i = 0; i < 3; i++)
        if (*outs[i] >= 0) { close(*outs[i]); *outs[i] = -1; }
    if (a->stdin_fd >= 0) close(a->stdin_fd);
    if (a->listen_fd >= 0) close(a->listen_fd);
    if (a->log_fd >= 0) close(a->log_fd);
    a->stdin_fd = a->listen_fd = a->log_fd = -1;
}
