#include "attach.h"
#include "pty.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>

#define LOG_ROTATE_BYTES (8 << 20)
#define CHUNK 16384
/* Backpressure: the container's output stops being read once a reader has HIGH_WATER bytes
 * queued, and is read again when every reader is down to LOW_WATER. The gap means the
 * container is woken for a run of writes, not for each one. Per client, at most
 * HIGH_WATER + one chunk is ever queued. */
#define HIGH_WATER (256 << 10)
#define LOW_WATER (64 << 10)

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

static void frame_header(unsigned char hdr[5], char type, size_t len)
{
    hdr[0] = (unsigned char)type;
    hdr[1] = (unsigned char)(len >> 24);
    hdr[2] = (unsigned char)(len >> 16);
    hdr[3] = (unsigned char)(len >> 8);
    hdr[4] = (unsigned char)len;
}

static size_t backlog(const struct sn_attach_client *c) { return c->out_len - c->out_head; }

static void drop_client(struct sn_attach_client *c)
{
    close(c->fd);
    free(c->out);
    *c = (struct sn_attach_client){ .fd = -1 };
}

static void client_queue(struct sn_attach_client *c, char type, const void *data, size_t len)
{
    if (c->fd < 0) return;
    size_t need = len + 5;
    if (c->out_cap - c->out_len < need && c->out_head) {
        memmove(c->out, c->out + c->out_head, backlog(c));
        c->out_len -= c->out_head;
        c->out_head = 0;
    }
    if (c->out_cap - c->out_len < need) {
        size_t cap = c->out_cap ? c->out_cap : 64 << 10;
        while (cap - c->out_len < need) cap *= 2;
        char *grown = realloc(c->out, cap);
        if (!grown) { drop_client(c); return; }   /* out of memory: this client cannot be served */
        c->out = grown;
        c->out_cap = cap;
    }
    frame_header((unsigned char *)c->out + c->out_len, type, len);
    memcpy(c->out + c->out_len + 5, data, len);
    c->out_len += need;
}

/* Returns whether the client took anything. */
static bool client_write(struct sn_attach_client *c)
{
    ssize_t w = send(c->fd, c->out + c->out_head, backlog(c), MSG_NOSIGNAL);
    if (w > 0) {
        c->out_head += (size_t)w;
        if (c->out_head == c->out_len) c->out_head = c->out_len = 0;
        return true;
    }
    if (w < 0 && errno != EAGAIN && errno != EINTR) drop_client(c);
    return false;
}

/* Whether the container's output may be read now: no reader is too far behind. Watchers
 * never hold the container back. */
static bool may_read(struct sn_attach *a)
{
    size_t most = 0;
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
        const struct sn_attach_client *c = &a->clients[i];
        if (c->fd >= 0 && !c->watcher && backlog(c) > most) most = backlog(c);
    }
    if (a->held && most <= LOW_WATER) a->held = false;
    else if (!a->held && most >= HIGH_WATER) a->held = true;
    return !a->held;
}

/* The log holds the same frames as the socket, so `logs` can tell stdout from stderr. */
static void log_output(struct sn_attach *a, char type, const char *data, size_t len)
{
    if (a->log_fd < 0) return;
    /* Keep the log bounded: the previous 8 MiB stay as <log>.1. Frames never straddle files. */
    if (a->log_size + (off_t)(len + 5) > LOG_ROTATE_BYTES) {
        char old[4200];
        snprintf(old, sizeof old, "%s.1", a->log_path);
        rename(a->log_path, old);
        close(a->log_fd);
        a->log_fd = open(a->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        a->log_size = 0;
        if (a->log_fd < 0) return;
    }
    unsigned char hdr[5];
    frame_header(hdr, type, len);
    struct iovec iov[2] = { { hdr, 5 }, { (void *)data, len } };
    ssize_t w = writev(a->log_fd, iov, 2);
    if (w == (ssize_t)(len + 5)) a->log_size += w;
    /* Part of a frame (the disk is full): cut it off, or every later frame would be misread. */
    else if (w > 0 && ftruncate(a->log_fd, a->log_size) < 0) { close(a->log_fd); a->log_fd = -1; }
}

static void broadcast(struct sn_attach *a, char type, const char *data, size_t len)
{
    log_output(a, type, data, len);
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++)
        if (!a->clients[i].watcher) client_queue(&a->clients[i], type, data, len);
}

/* Read what the container wrote on `*fd`; close it at end of stream. Returns bytes read. */
static ssize_t pump_output(struct sn_attach *a, int *fd, char type)
{
    char buf[CHUNK];
    ssize_t n = read(*fd, buf, sizeof buf);
    if (n > 0) { broadcast(a, type, buf, (size_t)n); return n; }
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
    /* EOF, or EIO from a terminal whose last writer is gone. */
    close(*fd);
    *fd = -1;
    return 0;
}

static void close_stdin(struct sn_attach *a)
{
    close(a->stdin_fd);
    a->stdin_fd = -1;
    a->to_container_len = 0;
}

/* Act on the complete frames a client sent. Input that does not fit yet stays in the
 * client's buffer (and the client is not read meanwhile): input is held back, not dropped. */
static void client_frames(struct sn_attach *a, struct sn_attach_client *c)
{
    while (c->fd >= 0 && c->in_len >= 5) {
        size_t len = ((size_t)c->in[1] << 24) | ((size_t)c->in[2] << 16) | ((size_t)c->in[3] << 8) | c->in[4];
        if (len > sizeof c->in - 5) { drop_client(c); return; }   /* a frame we could never hold */
        if (c->in_len < 5 + len) return;
        unsigned char type = c->in[0];
        const char *payload = (const char *)c->in + 5;
        int input = a->pty_master >= 0 ? a->pty_master : a->stdin_fd;
        if (type == 'i' && input >= 0 && !a->stdin_closing) {
            if (sizeof a->to_container - a->to_container_len < len) return;
            memcpy(a->to_container + a->to_container_len, payload, len);
            a->to_container_len += len;
        } else if (type == 'r' && a->pty_master >= 0) {
            char text[32];
            unsigned rows, cols;
            snprintf(text, sizeof text, "%.*s", (int)(len < 31 ? len : 31), payload);
            if (sscanf(text, "%u %u", &rows, &cols) == 2 && rows && cols && rows < 65536 && cols < 65536)
                pty_set_size(a->pty_master, (unsigned short)rows, (unsigned short)cols);
        } else if (type == 'c' && a->stdin_fd >= 0) {
            a->stdin_closing = true;
            if (!a->to_container_len) close_stdin(a);
        } else if (type == 'w') {
            c->watcher = true;   /* what was queued before stays queued: frames are never cut */
        }
        memmove(c->in, c->in + 5 + len, c->in_len - 5 - len);
        c->in_len -= 5 + len;
    }
}

static void client_read(struct sn_attach *a, struct sn_attach_client *c, short revents)
{
    if (c->in_len == sizeof c->in) {
        if (revents & (POLLHUP | POLLERR)) drop_client(c);   /* gone, with input nobody took */
        return;
    }
    ssize_t n = read(c->fd, c->in + c->in_len, sizeof c->in - c->in_len);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
        drop_client(c);   /* detached, or gone */
        return;
    }
    c->in_len += (size_t)n;
    client_frames(a, c);
}

int attach_pollfds(struct sn_attach *a, struct pollfd *p, int max)
{
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++)
        if (a->clients[i].fd >= 0) client_frames(a, &a->clients[i]);   /* input that waited for room */
    bool reading = may_read(a);
    int n = 0;
    if (n < max && a->listen_fd >= 0) p[n++] = (struct pollfd){ a->listen_fd, POLLIN, 0 };
    if (a->pty_master >= 0) {
        short ev = (short)((reading ? POLLIN : 0) | (a->to_container_len ? POLLOUT : 0));
        if (ev && n < max) p[n++] = (struct pollfd){ a->pty_master, ev, 0 };
    } else {
        if (reading && a->stdout_fd >= 0 && n < max) p[n++] = (struct pollfd){ a->stdout_fd, POLLIN, 0 };
        if (reading && a->stderr_fd >= 0 && n < max) p[n++] = (struct pollfd){ a->stderr_fd, POLLIN, 0 };
        if (a->stdin_fd >= 0 && a->to_container_len && n < max) p[n++] = (struct pollfd){ a->stdin_fd, POLLOUT, 0 };
    }
    for (int i = 0; i < SN_ATTACH_CLIENTS && n < max; i++) {
        struct sn_attach_client *c = &a->clients[i];
        if (c->fd < 0) continue;
        short ev = (short)((c->in_len < sizeof c->in ? POLLIN : 0) | (backlog(c) ? POLLOUT : 0));
        p[n++] = (struct pollfd){ c->fd, ev, 0 };   /* polled even for nothing, to see a hang-up */
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
    if (!a->to_container_len && a->stdin_closing && fd == a->stdin_fd) close_stdin(a);
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
            if (p[k].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (may_read(a)) pump_output(a, &a->pty_master, 'o');
                else if (p[k].revents & (POLLHUP | POLLERR)) a->to_container_len = 0;   /* no reader of input left */
            }
            continue;
        }
        if (fd == a->stdout_fd) { if (may_read(a)) pump_output(a, &a->stdout_fd, 'o'); continue; }
        if (fd == a->stderr_fd) { if (may_read(a)) pump_output(a, &a->stderr_fd, 'e'); continue; }
        if (fd == a->stdin_fd) { flush_to_container(a, fd); continue; }
        for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
            struct sn_attach_client *c = &a->clients[i];
            if (c->fd != fd) continue;
            if (p[k].revents & POLLOUT && backlog(c)) client_write(c);
            if (c->fd >= 0 && p[k].revents & (POLLIN | POLLHUP | POLLERR)) client_read(a, c, p[k].revents);
        }
    }
}

void attach_finish(struct sn_attach *a, int exit_status)
{
    if (a->listen_fd >= 0) close(a->listen_fd);
    a->listen_fd = -1;
    /* Whatever the container wrote before it died is still in the pipes or the terminal: at
     * most their buffers' worth, as every writer is gone. It goes to the log and the clients
     * regardless of their backlog; attach_deliver hands it over. */
    int *outs[] = { &a->pty_master, &a->stdout_fd, &a->stderr_fd };
    for (int i = 0; i < 3; i++) {
        int *fd = outs[i];
        if (*fd < 0) continue;
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) | O_NONBLOCK);
        for (int guard = 0; *fd >= 0 && guard < 4096; guard++)
            if (pump_output(a, fd, i == 2 ? 'e' : 'o') <= 0) break;
        if (*fd >= 0) close(*fd);
        *fd = -1;
    }
    if (a->stdin_fd >= 0) close(a->stdin_fd);
    if (a->log_fd >= 0) close(a->log_fd);
    a->stdin_fd = a->log_fd = -1;
    /* The exit frame comes after all output, in every client's queue. */
    char code[16];
    int len = snprintf(code, sizeof code, "%d", exit_status);
    for (int i = 0; i < SN_ATTACH_CLIENTS; i++) client_queue(&a->clients[i], 'x', code, (size_t)len);
}

void attach_deliver(struct sn_attach *a)
{
    for (;;) {
        struct pollfd p[SN_ATTACH_CLIENTS];
        int n = 0;
        for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
            struct sn_attach_client *c = &a->clients[i];
            if (c->fd < 0) continue;
            if (!backlog(c)) drop_client(c);
            else p[n++] = (struct pollfd){ c->fd, POLLOUT, 0 };
        }
        if (n == 0) return;
        int r = poll(p, (nfds_t)n, SN_ATTACH_LINGER_MS);
        if (r < 0 && errno == EINTR) continue;
        for (int k = 0; k < n; k++)
            for (int i = 0; i < SN_ATTACH_CLIENTS; i++) {
                struct sn_attach_client *c = &a->clients[i];
                if (c->fd != p[k].fd) continue;
                if (r <= 0) drop_client(c);   /* read nothing for the whole linger time */
                else if (p[k].revents) client_write(c);
            }
    }
}
