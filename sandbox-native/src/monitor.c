#include "monitor.h"
#include "pty.h"
#include "util.h"

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <termios.h>

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2 };

void monitor_block_signals(sigset_t *old)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGWINCH);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&set, forwarded[i]);
    sigprocmask(SIG_BLOCK, &set, old);
    /* A reader that went away must not kill the launcher (and with it the container). */
    signal(SIGPIPE, SIG_IGN);
}

struct buf { char data[16384]; size_t len; };

static void buf_drop(struct buf *b, size_t n)
{
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

static void control_line(struct sn_monitor *m, char *line)
{
    unsigned rows, cols;
    if (sscanf(line, "resize %u %u", &rows, &cols) == 2 && m->pty_master >= 0 && rows < 65536 && cols < 65536)
        pty_set_size(m->pty_master, (unsigned short)rows, (unsigned short)cols);
}

static void follow_tty_size(struct sn_monitor *m)
{
    struct winsize ws;
    if (m->pty_master >= 0 && ioctl(m->in_fd, TIOCGWINSZ, &ws) == 0) pty_set_size(m->pty_master, ws.ws_row, ws.ws_col);
}

static void handle_start(struct sn_monitor *m)
{
    int conn = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) return;
    char req[32] = "";
    struct sn_error reply = { .step = "" };   /* step "" = started */
    ssize_t n = recv(conn, req, sizeof req - 1, 0);
    if (n > 0 && strncmp(req, "start", 5) == 0 && m->on_start) {
        if (m->on_start(m->arg, &reply) == 0) {
            memset(&reply, 0, sizeof reply);
            close(m->listen_fd);
            m->listen_fd = -1;
        }
    } else {
        sn_fail(&reply, "start", 0, "the monitor takes only \"start\"");
    }
    send(conn, &reply, sizeof reply, MSG_NOSIGNAL);
    close(conn);
}

int monitor_run(struct sn_monitor *m, int *wstatus, bool *timed_out)
{
    *timed_out = false;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGWINCH);
    for (size_t i = 0; i < sizeof forwarded / sizeof forwarded[0]; i++) sigaddset(&set, forwarded[i]);
    _cleanup_close_ int sfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0) return -1;
    _cleanup_close_ int tfd = -1;
    if (m->timeout_ms) {
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
        struct itimerspec its = { .it_value = { (time_t)(m->timeout_ms / 1000), (long)(m->timeout_ms % 1000) * 1000000L } };
        if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0) return -1;
    }

    bool relay = m->pty_master >= 0;
    bool in_open = relay && m->in_fd >= 0, master_open = relay;
    struct termios saved_tio;
    bool raw = false;
    if (relay) {
        fcntl(m->pty_master, F_SETFL, fcntl(m->pty_master, F_GETFL) | O_NONBLOCK);
        /* A human at a terminal: pass keys through untouched and follow the window size. */
        if (m->in_fd >= 0 && isatty(m->in_fd) && tcgetattr(m->in_fd, &saved_tio) == 0) {
            struct termios rawt = saved_tio;
            cfmakeraw(&rawt);
            raw = tcsetattr(m->in_fd, TCSANOW, &rawt) == 0;
            follow_tty_size(m);
        }
    }
    static struct buf to_pty, to_out;
    to_pty.len = to_out.len = 0;
    char ctl[512];
    size_t ctl_len = 0;
    int rc = -1;

    for (;;) {
        struct pollfd p[8 + 4 + SN_ATTACH_CLIENTS];
        int n = 0, attach_from = 0, i_sig, i_tim = -1, i_in = -1, i_master = -1, i_out = -1, i_ctl = -1, i_lis = -1;
        p[i_sig = n++] = (struct pollfd){ sfd, POLLIN, 0 };
        if (tfd >= 0) p[i_tim = n++] = (struct pollfd){ tfd, POLLIN, 0 };
        if (in_open && to_pty.len < sizeof to_pty.data) p[i_in = n++] = (struct pollfd){ m->in_fd, POLLIN, 0 };
        if (master_open) {
            short ev = (to_out.len < sizeof to_out.data ? POLLIN : 0) | (to_pty.len ? POLLOUT : 0);
            p[i_master = n++] = (struct pollfd){ m->pty_master, ev, 0 };
        }
        if (to_out.len) p[i_out = n++] = (struct pollfd){ m->out_fd, POLLOUT, 0 };
        if (m->control_fd >= 0) p[i_ctl = n++] = (struct pollfd){ m->control_fd, POLLIN, 0 };
        if (m->listen_fd >= 0) p[i_lis = n++] = (struct pollfd){ m->listen_fd, POLLIN, 0 };
        attach_from = n;
        if (m->attach) n += attach_pollfds(m->attach, p + n, (int)(sizeof p / sizeof p[0]) - n);
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            goto out;
        }

        if (p[i_sig].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo == SIGWINCH) { if (raw) follow_tty_size(m); continue; }
                if (si.ssi_signo != SIGCHLD) { kill(m->pid, (int)si.ssi_signo); continue; }
            }
            pid_t w = waitpid(m->pid, wstatus, WNOHANG);
            if (w == m->pid) {
                /* Output still buffered in the terminal belongs to the learner: drain it. */
                while (master_open) {
                    char b[16384];
                    ssize_t r = read(m->pty_master, b, sizeof b);
                    if (r <= 0) break;
                    if (to_out.len) { sn_write_all(m->out_fd, to_out.data, to_out.len); to_out.len = 0; }
                    sn_write_all(m->out_fd, b, (size_t)r);
                }
                if (to_out.len) sn_write_all(m->out_fd, to_out.data, to_out.len);
                rc = 0;
                goto out;
            }
            while (waitpid(-1, NULL, WNOHANG) > 0) {}   /* anything else we happen to have */
        }
        if (i_tim >= 0 && (p[i_tim].revents & POLLIN)) {
            uint64_t ticks;
            if (read(tfd, &ticks, sizeof ticks) > 0) {
                *timed_out = true;
                if (m->cg) cgroup_kill_all(m->cg);
                kill(m->pid, SIGKILL);
            }
        }
        if (i_in >= 0 && (p[i_in].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = read(m->in_fd, to_pty.data + to_pty.len, sizeof to_pty.data - to_pty.len);
            if (r > 0) to_pty.len += (size_t)r;
            else if (r == 0 || (errno != EAGAIN && errno != EINTR)) in_open = false;
        }
        if (i_master >= 0) {
            if (p[i_master].revents & POLLOUT && to_pty.len) {
                ssize_t w = write(m->pty_master, to_pty.data, to_pty.len);
                if (w > 0) buf_drop(&to_pty, (size_t)w);
            }
            if (p[i_master].revents & (POLLIN | POLLHUP | POLLERR)) {
                ssize_t r = read(m->pty_master, to_out.data + to_out.len, sizeof to_out.data - to_out.len);
                if (r > 0) to_out.len += (size_t)r;
                else if (r == 0 || (errno != EAGAIN && errno != EINTR)) master_open = false;   /* EIO: no writer left */
            }
        }
        if (i_out >= 0 && (p[i_out].revents & (POLLOUT | POLLERR | POLLHUP))) {
            /* At most PIPE_BUF per write: poll's POLLOUT promises that much room in a pipe. */
            ssize_t w = write(m->out_fd, to_out.data, to_out.len < 4096 ? to_out.len : 4096);
            if (w > 0) buf_drop(&to_out, (size_t)w);
            else if (w < 0 && errno != EAGAIN && errno != EINTR) to_out.len = 0;   /* reader gone: discard */
        }
        if (i_ctl >= 0 && (p[i_ctl].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t r = read(m->control_fd, ctl + ctl_len, sizeof ctl - 1 - ctl_len);
            if (r <= 0) { m->control_fd = -1; continue; }
            ctl_len += (size_t)r;
            ctl[ctl_len] = 0;
            char *nl;
            while ((nl = strchr(ctl, '\n'))) {
                *nl = 0;
                control_line(m, ctl);
                ctl_len -= (size_t)(nl + 1 - ctl);
                memmove(ctl, nl + 1, ctl_len + 1);
            }
            if (ctl_len == sizeof ctl - 1) ctl_len = 0;   /* an overlong line: drop it */
        }
        if (i_lis >= 0 && (p[i_lis].revents & POLLIN)) handle_start(m);
        if (m->attach) attach_handle(m->attach, p + attach_from, n - attach_from);
    }
out:
    if (raw) tcsetattr(m->in_fd, TCSANOW, &saved_tio);
    return rc;
}
