#include "commands.h"
#include "container.h"
#include "monitor.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>

static int on_start(void *arg, struct sn_error *reply)
{
    struct sn_container *c = arg;
    return container_start(c, reply);
}

static int listen_ctl(const char *dir, struct sn_error *e)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    if ((size_t)snprintf(addr.sun_path, sizeof addr.sun_path, "%s/ctl.sock", dir) >= sizeof addr.sun_path)
        return sn_fail(e, "create", ENAMETOOLONG, "state directory path is too long for a socket");
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 4) < 0) {
        int saved = errno;
        if (s >= 0) close(s);
        return sn_fail(e, "create", saved, "control socket %s", addr.sun_path);
    }
    return s;
}

/* --output: the container's stdio become pipes the monitor holds (a terminal needs none:
 * its master comes back from the setup process). Our 0-2 are what the container inherits. */
static int stdio_pipes(int ends[3], struct sn_error *e)
{
    int in[2], out[2], err[2];
    if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
        return sn_fail(e, "create", errno, "pipes for the container's stdio");
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0) return sn_fail(e, "create", errno, "dup2");
    close(in[0]);
    close(out[1]);
    close(err[1]);
    ends[0] = in[1];
    ends[1] = out[0];
    ends[2] = err[0];
    for (int i = 0; i < 3; i++) fcntl(ends[i], F_SETFL, fcntl(ends[i], F_GETFL) | O_NONBLOCK);
    return 0;
}

/* The monitor: creates the container, then stays with it until it exits. */
static void monitor_main(const struct sn_globals *g, const struct sn_create_args *a, int report)
{
    setsid();
    sigset_t old;
    monitor_block_signals(&old);
    struct sn_container ct = { .root = g->root, .id = a->id, .console_socket = a->console_socket, .pid_file = a->pid_file };
    struct sn_error e;
    struct sn_attach att;
    int ls = -1, ends[3] = { -1, -1, -1 };
    if (spec_load(a->bundle, &ct.spec, &e) < 0) goto fail_early;
    if (ct.spec.process.terminal && !a->console_socket && !a->output) {
        sn_fail(&e, "create", 0, "a detached container with a terminal needs --console-socket or --output");
        goto fail_early;
    }
    if (a->output && a->console_socket) {
        sn_fail(&e, "create", 0, "--output and --console-socket exclude each other");
        goto fail_early;
    }
    if (a->output && !ct.spec.process.terminal && stdio_pipes(ends, &e) < 0) goto fail_early;
    if (container_create(&ct, &e) < 0 || (ls = listen_ctl(ct.st.dir, &e)) < 0) {
        container_abort(&ct);
        goto fail_early;
    }
    if (a->output) {
        char sock[PATH_MAX + 16];
        snprintf(sock, sizeof sock, "%s/attach.sock", ct.st.dir);
        if (attach_open(&att, sock, a->output, &e) < 0) {
            container_abort(&ct);
            goto fail_early;
        }
        if (ct.pty_master >= 0) {
            att.pty_master = ct.pty_master;   /* the attach side owns it now */
            ct.pty_master = -1;
            fcntl(att.pty_master, F_SETFL, fcntl(att.pty_master, F_GETFL) | O_NONBLOCK);
        }
        att.stdin_fd = ends[0];
        att.stdout_fd = ends[1];
        att.stderr_fd = ends[2];
    }
    /* The container holds its own copies of our stdio; letting go of ours means the caller
     * sees end-of-file when the container closes them, not when we exit. */
    int dn = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3 && dn >= 0; fd++) dup2(dn, fd);
    if (dn > 2) close(dn);
    struct sn_error ok = { .step = "" };
    sn_write_all(report, &ok, sizeof ok);
    close(report);

    struct sn_monitor m = { .pid = ct.st.pid, .cg = &ct.st.cg, .timeout_ms = ct.spec.timeout_ms, .pty_master = -1,
                            .in_fd = -1, .out_fd = -1, .control_fd = -1, .listen_fd = ls,
                            .on_start = on_start, .arg = &ct, .attach = a->output ? &att : NULL };
    int ws = 0;
    bool timed_out = false;
    if (monitor_run(&m, &ws, &timed_out) < 0) {
        container_abort(&ct);
        _exit(1);
    }
    if (a->output) {
        char sock[PATH_MAX + 16];
        snprintf(sock, sizeof sock, "%s/attach.sock", ct.st.dir);
        unlink(sock);
        attach_finish(&att, container_exit_status(ws));
    }
    if (m.listen_fd >= 0) close(m.listen_fd);
    char sock[PATH_MAX + 16];
    snprintf(sock, sizeof sock, "%s/ctl.sock", ct.st.dir);
    unlink(sock);
    container_finish(&ct, ws, timed_out, true);
    /* After the stopped state is written, so a client that got the exit can read it. */
    if (a->output) attach_deliver(&att);
    _exit(0);

fail_early:
    sn_write_all(report, &e, sizeof e);
    _exit(1);
}

/* The control socket's reply is a struct sn_error, step "" when the container started. */
int start_via_monitor(const char *state_dir, const char *id)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf(addr.sun_path, sizeof addr.sun_path, "%s/ctl.sock", state_dir);
    struct sn_error e;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0 || connect(s, (struct sockaddr *)&addr, sizeof addr) < 0) {
        sn_fail(&e, "start", errno, "container %s cannot be started: its monitor is not listening", id);
        if (s >= 0) close(s);
        sn_error_print(&e);
        return sn_error_status(&e);
    }
    ssize_t n = -1;
    if (send(s, "start", 5, MSG_NOSIGNAL) == 5) {
        do n = recv(s, &e, sizeof e, 0);
        while (n < 0 && errno == EINTR);
    }
    close(s);
    if (n != (ssize_t)sizeof e) sn_fail(&e, "start", 0, "starting %s: no reply from its monitor", id);
    e.step[sizeof e.step - 1] = 0;
    e.message[sizeof e.message - 1] = 0;
    if (!e.step[0]) return 0;
    sn_error_print(&e);
    return sn_error_status(&e);
}

/* The monitor's report pipe carries one struct sn_error: step "" once the container exists. */
int create_detached(const struct sn_globals *g, const struct sn_create_args *a)
{
    struct sn_error e;
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) { sn_fail(&e, "create", errno, "pipe"); sn_error_print(&e); return SN_EXIT_FAILED; }
    pid_t pid = fork();
    if (pid < 0) { sn_fail(&e, "create", errno, "fork"); sn_error_print(&e); return SN_EXIT_FAILED; }
    if (pid == 0) {
        close(p[0]);
        monitor_main(g, a, p[1]);
    }
    close(p[1]);
    size_t len = 0;
    ssize_t n;
    while (len < sizeof e && (n = read(p[0], (char *)&e + len, sizeof e - len)) != 0) {
        if (n < 0) { if (errno == EINTR) continue; break; }
        len += (size_t)n;
    }
    close(p[0]);
    if (len != sizeof e) sn_fail(&e, "create", 0, "the monitor process died");
    e.step[sizeof e.step - 1] = 0;
    e.message[sizeof e.message - 1] = 0;
    if (e.step[0]) {
        sn_error_print(&e);
        return sn_error_status(&e);
    }
    if (!a->start) return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/%s", g->root, a->id);
    return start_via_monitor(dir, a->id);
}

int cmd_create(const struct sn_globals *g, int argc, char **argv)
{
    struct sn_create_args a = { .bundle = "." };
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' }, { "console-socket", required_argument, NULL, 'c' },
        { "pid-file", required_argument, NULL, 'p' }, { "output", required_argument, NULL, 'o' }, { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
        switch (c) {
        case 'b': a.bundle = optarg; break;
        case 'c': a.console_socket = optarg; break;
        case 'p': a.pid_file = optarg; break;
        case 'o': a.output = optarg; break;
        default: return SN_EXIT_FAILED;
        }
    }
    if (optind != argc - 1) { sn_log("create needs exactly one container id"); return SN_EXIT_FAILED; }
    a.id = argv[optind];
    return create_detached(g, &a);
}
