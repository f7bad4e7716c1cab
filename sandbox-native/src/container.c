#include "container.h"
#include "cgroupfs.h"
#include "idmap.h"
#include "mount.h"
#include "ns.h"
#include "process.h"
#include "pty.h"
#include "rootfs.h"
#include "sync.h"
#include "trace.h"

#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

/* The table of contents of container start, in the order the kernel needs. Runs in the
 * child created by ns_clone(); only returns on failure. */
static int child_setup(struct sn_container *c, int sync, struct sn_error *e)
{
    const struct sn_spec *s = &c->spec;
    struct sn_sync_msg msg;
    int fds[SN_SYNC_MAX_FDS], nfds = 0;
    double t = sn_now_ms();

    /* 1. Until the parent writes our id maps we are nobody; it also attaches the idmapped
     *    rootfs in our mount namespace and clones the bind-mount sources for us. */
    if (sync_recv_fds(sync, &msg, fds, SN_SYNC_MAX_FDS, &nfds) != 0 || msg.type != SYNC_MAPPED ||
        nfds != 1 + (int)s->n_mounts)
        return sn_fail(e, "sync", 0, "the launcher did not finish mapping ids");
    t = trace_step("wait_mapped", t);
    /* 2. Root of our user namespace from here: files we create belong to the container's
     *    root, and our fsuid maps through the idmapped rootfs. */
    if (process_become_ns_root(e) < 0) return -1;
    /* 4. The filesystem: rootfs, /proc, /dev, /sys, pivot_root, masks. */
    if (mount_container_fs(s, fds[0], fds + 1, e) < 0) return -1;
    for (int i = 0; i < nfds; i++)
        if (fds[i] >= 0) close(fds[i]);
    t = sn_now_ms();
    /* 5. Machine identity and network, while we still hold CAP_SYS_ADMIN/NET_ADMIN in our
     *    namespaces. */
    if (s->hostname && sethostname(s->hostname, strlen(s->hostname)) < 0)
        return sn_fail(e, "hostname", errno, "sethostname");
    if (ns_loopback_up(e) < 0) return -1;
    ns_allow_ping(s->gid_maps[0].size);
    t = trace_step("hostname_network", t);
    /* 6. The working directory may need creating: as the container's root, before the user
     *    switch, like runc. */
    process_make_cwd(&s->process);
    /* 7. The parent has been creating our cgroup meanwhile. Once we are in it, a cgroup
     *    namespace rooted there. */
    if (sync_recv(sync, &msg, NULL) != 0 || msg.type != SYNC_CGROUP)
        return sn_fail(e, "sync", 0, "the launcher did not finish the cgroup");
    if (unshare(CLONE_NEWCGROUP) < 0) return sn_fail(e, "cgroup_ns", errno, "unshare(CLONE_NEWCGROUP)");
    t = trace_step("cgroup_ns", t);
    /* 7b. The spec's cgroup view: only now, in the namespace, is its root our own cgroup. */
    if (s->has_cgroup_mount && cgroupfs_mount(s, &c->cg_host, e) < 0) return -1;
    t = sn_now_ms();
    /* 8. Terminal: allocated in our devpts (after pivot_root), master sent to the parent. */
    if (s->process.terminal) {
        int master = pty_open_in_container(s->process.rows, s->process.cols, e);
        if (master < 0) return -1;
        if (sync_send(sync, SYNC_PTY, NULL, master) < 0) return sn_fail(e, "pty", errno, "sending the terminal");
        close(master);
        t = trace_step("pty", t);
    } else if (setsid() < 0) {
        return sn_fail(e, "setsid", errno, "setsid");
    }
    /* 9. Limits, credentials, fds, cwd, parent-death signal; wait for start; seccomp; exec. */
    /* A foreground run starts at once: no READY/GO round trip (two cross-CPU wake-ups). */
    struct sn_exec_opts o = { .sync = sync, .send_ready = true, .wait_go = !c->foreground, .die_with_parent = true,
                              .terminal = s->process.terminal };
    return process_exec(&s->process, &c->bpf, &o, e);
}

static int write_pid_file(const char *path, pid_t pid, struct sn_error *e)
{
    char tmp[4200], val[32];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    snprintf(val, sizeof val, "%d", (int)pid);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0 || sn_write_all(fd, val, strlen(val)) < 0 || rename(tmp, path) < 0) {
        int saved = errno;
        if (fd >= 0) close(fd);
        return sn_fail(e, "pid_file", saved, "writing %s", path);
    }
    close(fd);
    return 0;
}

/* When the parent's side fails after the child has failed too (a send gets EPIPE because the
 * child is gone), the child's own report names the real step: prefer it. */
static int child_error_or(struct sn_container *c, int rc, struct sn_error *e)
{
    for (;;) {
        struct sn_sync_msg msg;
        int fd;
        struct pollfd p = { c->sync, POLLIN, 0 };
        if (poll(&p, 1, 0) <= 0 || sync_recv(c->sync, &msg, &fd) != 0) return rc;
        if (fd >= 0) close(fd);
        if (msg.type == SYNC_ERROR) {
            *e = msg.err;
            return -1;
        }
    }
}

int container_create(struct sn_container *c, struct sn_error *e)
{
    struct sn_spec *s = &c->spec;
    c->sync = c->pty_master = c->lock = -1;
    double t = sn_now_ms();

    char cache[PATH_MAX];
    snprintf(cache, sizeof cache, "%s/.seccomp-cache", c->root);
    bool hit;
    if (seccomp_prepare(s->seccomp, cache, &c->bpf, &hit, e) < 0) return -1;
    t = trace_step_kv("seccomp_prepare", t, hit ? "\"cache\":\"hit\"" : "\"cache\":\"miss\"");
    /* Read before the clone, so the child knows how to lay out its cgroup view. */
    if (s->has_cgroup_mount && cgroup_host(&c->cg_host, e) < 0) return -1;

    /* Claim the id and check id ranges under one lock, so two launchers cannot both take
     * overlapping ranges. The lock is held until our state (with our ranges) is written,
     * which happens while the child mounts its filesystem, off the critical path. */
    c->lock = state_lock_root(c->root, e);
    if (c->lock < 0) return -1;
    int rc = state_check_id_overlap(c->root, c->id, s, e);
    if (rc == 0) rc = state_create_dir(c->root, c->id, c->st.dir, e);
    if (rc == 0) {
        c->created_dir = true;
        struct sn_state *st = &c->st;
        snprintf(st->id, sizeof st->id, "%s", c->id);
        snprintf(st->status, sizeof st->status, "creating");
        snprintf(st->bundle, sizeof st->bundle, "%s", s->bundle);
        snprintf(st->rootfs, sizeof st->rootfs, "%s", s->rootfs);
        sn_rfc3339(st->created, sizeof st->created);
        memcpy(st->uid_maps, s->uid_maps, sizeof st->uid_maps);
        memcpy(st->gid_maps, s->gid_maps, sizeof st->gid_maps);
        st->n_uid_maps = s->n_uid_maps;
        st->n_gid_maps = s->n_gid_maps;
        st->exit_code = -1;
        st->monitor_pid = getpid();
        st->monitor_start = proc_start_time(getpid());
        st->annotations = s->annotations ? json_object_get(s->annotations) : NULL;
    }
    if (rc < 0) return -1;

    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) return sn_fail(e, "sync", errno, "socketpair");
    pid_t pid = ns_clone(spec_root_uid(s));
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        return sn_fail(e, "clone", errno, "creating the container's namespaces");
    }
    if (pid == 0) {
        close(sv[0]);
        struct sn_error err;
        child_setup(c, sv[1], &err);
        sync_send(sv[1], SYNC_ERROR, &err, -1);
        _exit(sn_error_status(&err));
    }
    close(sv[1]);
    c->sync = sv[0];
    c->st.pid = pid;
    t = trace_step("clone", t);

    if (idmap_write(pid, s->uid_maps, s->n_uid_maps, s->gid_maps, s->n_gid_maps, e) < 0) return -1;
    int fds[SN_SYNC_MAX_FDS];
    fds[0] = rootfs_build(s, c->id, pid, e);
    if (fds[0] < 0) return -1;
    int nbinds = rootfs_clone_binds(s, pid, fds + 1, SN_SYNC_MAX_FDS - 1, e);
    if (nbinds < 0) { close(fds[0]); return -1; }
    /* Non-bind mounts have no fd: the child counts positions, so send a placeholder. */
    int placeholder = -1;
    for (int i = 0; i < nbinds; i++)
        if (fds[1 + i] < 0) {
            if (placeholder < 0) placeholder = open("/dev/null", O_RDONLY | O_CLOEXEC);
            fds[1 + i] = placeholder;
        }
    rc = sync_send_fds(c->sync, SYNC_MAPPED, NULL, fds, 1 + nbinds);
    for (int i = 0; i <= nbinds; i++)
        if (fds[i] != placeholder) close(fds[i]);
    if (placeholder >= 0) close(placeholder);
    if (rc < 0) return child_error_or(c, sn_fail(e, "sync", errno, "handing over the rootfs"), e);
    t = trace_step(s->layers ? "idmap_overlay" : "idmap_rootfs", t);
    /* The state names the cgroup before it exists: a foreground container may already run
     * (it does not wait for the launcher's "go") when a kill of the launcher ends this. */
    rc = cgroup_plan(&c->st.cg, s->cgroups_path, c->id, e) < 0 ? -1 : state_write(&c->st, e);
    close(c->lock);
    c->lock = -1;
    if (rc < 0) return -1;
    /* The cgroup is made while the child mounts its filesystem: the child only needs to be
     * in it before it creates its cgroup namespace, and nothing it runs before exec matters
     * to the limits. (Measured: ~1 ms off the critical path on a v1 host, where each
     * hierarchy costs a mkdir and a migration.) */
    if (cgroup_create(&c->st.cg, &s->res, e) < 0 || cgroup_enter(&c->st.cg, pid, e) < 0)
        return child_error_or(c, -1, e);
    if (sync_send(c->sync, SYNC_CGROUP, NULL, -1) < 0) return child_error_or(c, sn_fail(e, "sync", errno, "cgroup joined"), e);
    t = trace_step("cgroup", t);

    for (;;) {
        struct sn_sync_msg msg;
        int fd;
        rc = sync_recv(c->sync, &msg, &fd);
        if (rc == 1) return sn_fail(e, "setup", 0, "the container's setup process exited unexpectedly");
        if (rc < 0) return sn_fail(e, "sync", errno, "reading from the container's setup process");
        if (msg.type == SYNC_ERROR) { *e = msg.err; return -1; }
        if (msg.type == SYNC_PTY && fd >= 0) {
            if (c->console_socket) {
                rc = sync_send_console(c->console_socket, fd, e);
                close(fd);
                if (rc < 0) return -1;
            } else {
                c->pty_master = fd;
            }
            continue;
        }
        if (msg.type == SYNC_READY) break;
        if (fd >= 0) close(fd);
    }
    t = trace_step("child_setup", t);
    c->st.pid_start = proc_start_time(pid);
    snprintf(c->st.status, sizeof c->st.status, "created");
    /* A foreground run goes straight on to "running"; one write fewer on the way. */
    if (!c->foreground && state_write(&c->st, e) < 0) return -1;
    if (c->pid_file && write_pid_file(c->pid_file, pid, e) < 0) return -1;
    return 0;
}

int container_start(struct sn_container *c, struct sn_error *e)
{
    double t = sn_now_ms();
    if (!c->foreground && sync_send(c->sync, SYNC_GO, NULL, -1) < 0) return sn_fail(e, "start", errno, "signalling the container");
    /* Record "running" while the child loads seccomp and execs; undone below if it fails. */
    snprintf(c->st.status, sizeof c->st.status, "running");
    int wrc = state_write(&c->st, e);
    struct sn_sync_msg msg;
    /* The child's end is close-on-exec: end of stream means execve succeeded. */
    int rc = sync_recv(c->sync, &msg, NULL);
    close(c->sync);
    c->sync = -1;
    if (rc == 0 && msg.type == SYNC_ERROR) { *e = msg.err; return -1; }
    if (rc < 0) return sn_fail(e, "start", errno, "waiting for the container to start");
    trace_step("start", t);
    return wrc;
}

int container_exit_status(int wstatus)
{
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus)) return 128 + WTERMSIG(wstatus);
    return 255;
}

static void release_cgroup(struct sn_container *c)
{
    /* Init is gone, so the kernel has killed the rest of the pid namespace; the cgroup kill
     * covers anything that escaped it. */
    cgroup_kill_all(&c->st.cg);
    if (cgroup_destroy(&c->st.cg, 2000) < 0) sn_log("could not remove cgroup of %s: %s", c->id, strerror(errno));
}

void container_finish(struct sn_container *c, int wstatus, bool timed_out, bool keep)
{
    double t = sn_now_ms();
    struct sn_state *st = &c->st;
    st->exit_code = container_exit_status(wstatus);
    st->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
    st->oom_killed = cgroup_oom_killed(&st->cg);
    st->timed_out = timed_out;
    sn_rfc3339(st->finished, sizeof st->finished);
    snprintf(st->status, sizeof st->status, "stopped");
    if (st->oom_killed) sn_log("container %s: a process was killed for running out of memory", c->id);
    if (timed_out) sn_log("container %s: killed at its time limit", c->id);
    release_cgroup(c);
    t = trace_step("cgroup_remove", t);
    /* Init is gone and the cgroup empty: nothing uses the overlay of a plain rootfs now. */
    if (!c->spec.layers && rootfs_release(st->rootfs, c->id) < 0)
        sn_log("could not remove the overlay's dir beside %s: %s", st->rootfs, strerror(errno));
    if (!c->spec.layers) t = trace_step("rootfs_release", t);
    struct sn_error e;
    if (keep) {
        if (state_write(st, &e) < 0) sn_error_print(&e);
    } else if (c->created_dir) {
        state_remove(st->dir);
    }
    trace_step("state_final", t);
    if (c->pty_master >= 0) close(c->pty_master);
    c->pty_master = -1;
    seccomp_free(&c->bpf);
}

void container_abort(struct sn_container *c)
{
    if (c->lock >= 0) close(c->lock);
    if (c->st.pid > 0) {
        kill(c->st.pid, SIGKILL);
        waitpid(c->st.pid, NULL, 0);
    }
    if (c->sync >= 0) close(c->sync);
    if (c->pty_master >= 0) close(c->pty_master);
    if (c->st.cg.version) release_cgroup(c);
    if (c->created_dir && !c->spec.layers) rootfs_release(c->st.rootfs, c->id);
    if (c->created_dir) state_remove(c->st.dir);
    seccomp_free(&c->bpf);
}
