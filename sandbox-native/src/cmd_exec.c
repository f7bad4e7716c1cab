#include "commands.h"
#include "container.h"
#include "monitor.h"
#include "ns.h"
#include "process.h"
#include "pty.h"
#include "seccomp.h"
#include "state.h"
#include "sync.h"
#include "trace.h"

#include <fcntl.h>
#include <getopt.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define MAX_EXTRA_ENV 64

struct exec_args {
    bool tty, detach;
    const char *cwd, *user, *process_file, *console_socket, *pid_file, *console_size;
    const char *env[MAX_EXTRA_ENV];
    int n_env, control_fd;
    uint32_t gids[SN_MAX_GROUPS]; /* --additional-gids, as runc's -g */
    int n_gids;
};

/* Replace or add K=V entries in a NULL-terminated env array (which we own). */
static char **merge_env(char **base, const char *const *extra, int n)
{
    size_t nb = 0;
    while (base && base[nb]) nb++;
    char **out = calloc(nb + (size_t)n + 1, sizeof *out);
    if (!out) return NULL;
    memcpy(out, base, nb * sizeof *out);
    for (int i = 0; i < n; i++) {
        size_t klen = strcspn(extra[i], "=");
        size_t k;
        for (k = 0; k < nb; k++)
            if (strncmp(out[k], extra[i], klen) == 0 && out[k][klen] == '=') break;
        out[k] = (char *)extra[i];
        if (k == nb) nb++;
    }
    return out;
}

static int build_process(const struct exec_args *a, struct sn_spec *s, int argc, char **argv, struct sn_error *e)
{
    struct sn_process *p = &s->process;
    json_object *file_json = NULL;
    if (a->process_file) {
        file_json = json_object_from_file(a->process_file);
        if (!file_json) return sn_fail(e, "exec", 0, "%s is not a readable JSON process", a->process_file);
        spec_process_free(p);
        /* Keep the parsed file alive with the spec: its strings are referenced. */
        json_object_object_add(s->json, "io.layercake.exec-process", file_json);
        if (spec_parse_process(file_json, p, s, e) < 0) return -1;
        return 0;
    }
    if (argc <= 0) return sn_fail(e, "exec", 0, "exec needs a command (or --process FILE)");
    free(p->args);
    p->args = calloc((size_t)argc + 1, sizeof *p->args);
    if (!p->args) return sn_fail(e, "exec", ENOMEM, "args");
    memcpy(p->args, argv, (size_t)argc * sizeof *argv);
    char **env = merge_env(p->env, a->env, a->n_env);
    if (!env) return sn_fail(e, "exec", ENOMEM, "env");
    free(p->env);
    p->env = env;
    if (a->cwd) p->cwd = a->cwd;
    p->terminal = a->tty;
    if (a->console_size) {
        /* The terminal is this size from the process's first instruction: a resize sent after
         * we start would race a program that reads its size at once (`stty size`). */
        unsigned rows, cols;
        char end;
        if (sscanf(a->console_size, "%u,%u%c", &rows, &cols, &end) != 2 || !rows || !cols || rows > 65535 || cols > 65535)
            return sn_fail(e, "exec", 0, "--console-size takes ROWS,COLS (1-65535 each)");
        p->rows = (unsigned short)rows;
        p->cols = (unsigned short)cols;
    }
    if (a->user) {
        unsigned uid, gid;
        int n = sscanf(a->user, "%u:%u", &uid, &gid);
        if (n < 1) return sn_fail(e, "exec", 0, "--user takes UID[:GID] as numbers");
        p->uid = uid;
        p->gid = n == 2 ? gid : uid;
        if (spec_map_id(s->uid_maps, s->n_uid_maps, p->uid) < 0 || spec_map_id(s->gid_maps, s->n_gid_maps, p->gid) < 0)
            return sn_fail(e, "exec", 0, "user %u:%u is not mapped in the container", p->uid, p->gid);
        /* Another user: the container's own supplementary groups are not theirs. */
        p->n_additional_gids = 0;
    }
    if (a->n_gids > 0) {
        for (int i = 0; i < a->n_gids; i++)
            if (spec_map_id(s->gid_maps, s->n_gid_maps, a->gids[i]) < 0)
                return sn_fail(e, "exec", 0, "group %u is not mapped in the container", a->gids[i]);
        memcpy(p->additional_gids, a->gids, (size_t)a->n_gids * sizeof *a->gids);
        p->n_additional_gids = a->n_gids;
    }
    return 0;
}

/* In the forked child: join the container and become the new process. Only returns on failure. */
static int join_and_exec(const struct sn_state *st, const struct sn_spec *s, const struct sn_bpf *bpf, int pidfd,
                         int sync, bool die_with_parent, struct sn_error *e)
{
    /* Not dumpable while we still hold host resources: container processes cannot ptrace us
     * or open /proc/<us>/fd (the kind of window CVE-2016-9962 used). execve resets it. */
    prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
    if (cgroup_enter(&st->cg, getpid(), e) < 0) return -1;
    if (setns(pidfd, SN_JOIN_NS) < 0) return sn_fail(e, "setns", errno, "joining the container's namespaces");
    if (process_become_ns_root(e) < 0) return -1;
    const struct sn_process *p = &s->process;
    if (p->terminal) {
        int master = pty_open_in_container(p->rows, p->cols, e);
        if (master < 0) return -1;
        if (sync_send(sync, SYNC_PTY, NULL, master) < 0) return sn_fail(e, "pty", errno, "sending the terminal");
        close(master);
    } else {
        setsid();
    }
    struct sn_exec_opts o = { .sync = sync, .send_ready = false, .wait_go = false, .die_with_parent = die_with_parent, .terminal = p->terminal };
    return process_exec(p, bpf, &o, e);
}

int cmd_exec(const struct sn_globals *g, int argc, char **argv)
{
    struct exec_args a = { .control_fd = -1 };
    static const struct option opts[] = {
        { "tty", no_argument, NULL, 't' }, { "detach", no_argument, NULL, 'd' },
        { "cwd", required_argument, NULL, 'w' }, { "env", required_argument, NULL, 'e' },
        { "user", required_argument, NULL, 'u' }, { "process", required_argument, NULL, 'p' },
        { "console-socket", required_argument, NULL, 'c' }, { "pid-file", required_argument, NULL, 'P' },
        { "control-fd", required_argument, NULL, 'C' }, { "console-size", required_argument, NULL, 'S' },
        { "additional-gids", required_argument, NULL, 'g' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "+tde:u:p:g:", opts, NULL)) != -1) {
        switch (c) {
        case 't': a.tty = true; break;
        case 'd': a.detach = true; break;
        case 'w': a.cwd = optarg; break;
        case 'e':
            if (a.n_env == MAX_EXTRA_ENV || !strchr(optarg, '=')) { sn_log("--env takes KEY=VALUE (at most %d)", MAX_EXTRA_ENV); return SN_EXIT_FAILED; }
            a.env[a.n_env++] = optarg;
            break;
        case 'u': a.user = optarg; break;
        case 'g': {
            char *end;
            unsigned long gid = strtoul(optarg, &end, 10);
            if (a.n_gids == SN_MAX_GROUPS || *end || end == optarg || gid > UINT32_MAX) {
                sn_log("--additional-gids takes one group id (at most %d of them)", SN_MAX_GROUPS);
                return SN_EXIT_FAILED;
            }
            a.gids[a.n_gids++] = (uint32_t)gid;
            break;
        }
        case 'p': a.process_file = optarg; break;
        case 'c': a.console_socket = optarg; break;
        case 'P': a.pid_file = optarg; break;
        case 'C': a.control_fd = atoi(optarg); break;
        case 'S': a.console_size = optarg; break;
        default: return SN_EXIT_FAILED;
        }
    }
    if (optind >= argc) { sn_log("exec needs a container id"); return SN_EXIT_FAILED; }
    const char *id = argv[optind++];

    struct sn_state st;
    struct sn_spec s;
    struct sn_error e;
    struct sn_bpf bpf = { 0 };
    memset(&s, 0, sizeof s);
    int rc = SN_EXIT_FAILED;
    if (state_read(g->root, id, &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    const char *status = state_live_status(&st);
    if (strcmp(status, "running") != 0) {
        sn_log("container %s is %s: exec needs a running container", id, status);
        goto out;
    }
    if (spec_load(st.bundle, &s, &e) < 0 || build_process(&a, &s, argc - optind, argv + optind, &e) < 0) goto fail;
    if (s.process.terminal && a.detach && !a.console_socket) {
        sn_fail(&e, "exec", 0, "a detached exec with a terminal needs --console-socket");
        goto fail;
    }
    char cache[PATH_MAX];
    snprintf(cache, sizeof cache, "%s/.seccomp-cache", g->root);
    bool hit;
    if (seccomp_prepare(s.seccomp, cache, &bpf, &hit, &e) < 0) goto fail;

    /* A pidfd pins the init we mean: if its pid was reused, the start time check fails. */
    int pidfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
    if (pidfd < 0 || !pid_alive(st.pid, st.pid_start)) {
        sn_log("container %s is not running", id);
        goto out;
    }
    /* Our children are born in the container's pid namespace; we stay in the host's. */
    if (setns(pidfd, CLONE_NEWPID) < 0) { sn_fail(&e, "setns", errno, "joining the pid namespace"); goto fail; }
    sigset_t old;
    monitor_block_signals(&old);
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) { sn_fail(&e, "sync", errno, "socketpair"); goto fail; }
    pid_t pid = fork();
    if (pid < 0) { sn_fail(&e, "fork", errno, "fork"); goto fail; }
    if (pid == 0) {
        close(sv[0]);
        struct sn_error err;
        join_and_exec(&st, &s, &bpf, pidfd, sv[1], !a.detach, &err);
        sync_send(sv[1], SYNC_ERROR, &err, -1);
        _exit(sn_error_status(&err));
    }
    close(sv[1]);
    close(pidfd);
    int master = -1;
    for (;;) {
        struct sn_sync_msg msg;
        int fd;
        int r = sync_recv(sv[0], &msg, &fd);
        if (r != 0) break;   /* end of stream: execve happened */
        if (msg.type == SYNC_ERROR) {
            e = msg.err;
            waitpid(pid, NULL, 0);
            close(sv[0]);
            sn_error_print(&e);
            rc = sn_error_status(&e);
            goto out;
        }
        if (msg.type == SYNC_PTY && fd >= 0) {
            if (a.console_socket) {
                if (sync_send_console(a.console_socket, fd, &e) < 0) sn_error_print(&e);
                close(fd);
            } else {
                master = fd;
            }
        }
    }
    close(sv[0]);
    if (a.pid_file) {
        FILE *f = fopen(a.pid_file, "we");
        if (f) { fprintf(f, "%d", (int)pid); fclose(f); }
    }
    if (a.detach) { rc = 0; goto out; }
    struct sn_monitor m = { .pid = pid, .cg = NULL, .pty_master = master, .in_fd = 0, .out_fd = 1,
                            .control_fd = a.control_fd, .listen_fd = -1 };
    int ws = 0;
    bool timed_out;
    if (monitor_run(&m, &ws, &timed_out) < 0) {
        kill(pid, SIGKILL);
        goto out;
    }
    if (master >= 0) close(master);
    rc = container_exit_status(ws);
    goto out;
fail:
    sn_error_print(&e);
out:
    seccomp_free(&bpf);
    spec_free(&s);
    state_free(&st);
    return rc;
}
