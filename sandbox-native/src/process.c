#include "process.h"
#include "caps.h"
#include "sync.h"
#include "trace.h"

#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>

int process_become_ns_root(struct sn_error *e)
{
    if (setresgid(0, 0, 0) < 0) return sn_fail(e, "user", errno, "setresgid(0) in the user namespace");
    if (setresuid(0, 0, 0) < 0) return sn_fail(e, "user", errno, "setresuid(0) in the user namespace");
    /* The launcher's supplementary groups (host root's) are dropped before any container code
     * runs: setgroups is allowed in the namespace (idmap.c), so what a learner could drop must
     * be nothing, and what it can take is only gids mapped into its own range.
     * EPERM: an exec into a container started by an older launcher, whose namespace denies
     * setgroups (and so lets nothing be dropped either). */
    if (setgroups(0, NULL) < 0 && errno != EPERM) return sn_fail(e, "user", errno, "setgroups([]) in the user namespace");
    return 0;
}

void process_make_cwd(const struct sn_process *p)
{
    struct stat st;
    if (stat(p->cwd, &st) < 0 && errno == ENOENT) sn_mkdir_p(p->cwd, 0755);
}

static int apply_rlimits(const struct sn_process *p, struct sn_error *e)
{
    for (int i = 0; i < p->n_rlimits; i++) {
        struct rlimit rl = { p->rlimits[i].soft, p->rlimits[i].hard };
        if (setrlimit(p->rlimits[i].resource, &rl) < 0)
            return sn_fail(e, "rlimits", errno, "setting rlimit %d to %llu/%llu (above the launcher's own?)",
                           p->rlimits[i].resource, (unsigned long long)rl.rlim_cur, (unsigned long long)rl.rlim_max);
    }
    return 0;
}

static int switch_user(const struct sn_process *p, struct sn_error *e)
{
    /* Bounding set first, while we hold CAP_SETPCAP; permitted capabilities are kept across
     * the uid change (KEEPCAPS), then set to exactly what the spec lists. */
    if (caps_drop_bounding(p->cap_bounding, e) < 0) return -1;
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return sn_fail(e, "user", errno, "PR_SET_KEEPCAPS");
    /* Supplementary groups while we are still the namespace's root (CAP_SETGID); none unless
     * listed (process_become_ns_root dropped the launcher's). */
    gid_t groups[SN_MAX_GROUPS];
    for (int i = 0; i < p->n_additional_gids; i++) groups[i] = (gid_t)p->additional_gids[i];
    if (p->n_additional_gids > 0 && setgroups((size_t)p->n_additional_gids, groups) < 0)
        return sn_fail(e, "user", errno, "setgroups (%d supplementary groups)", p->n_additional_gids);
    if (setresgid(p->gid, p->gid, p->gid) < 0) return sn_fail(e, "user", errno, "setresgid(%u)", p->gid);
    if (setresuid(p->uid, p->uid, p->uid) < 0) return sn_fail(e, "user", errno, "setresuid(%u)", p->uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return sn_fail(e, "user", errno, "PR_SET_KEEPCAPS");
    return caps_set(p->cap_permitted, p->cap_effective, e);
}

/* Close every fd above 2 except `keep` (close-on-exec, gone at execve anyway). */
static void close_fds(int keep1, int keep2)
{
    int keep[2] = { keep1 < keep2 ? keep1 : keep2, keep1 < keep2 ? keep2 : keep1 };
    unsigned int from = 3;
    for (int i = 0; i < 2; i++) {
        if (keep[i] < (int)from) continue;
        if ((unsigned)keep[i] > from) close_range(from, (unsigned)keep[i] - 1, 0);
        from = (unsigned)keep[i] + 1;
    }
    close_range(from, ~0U, 0);
}

static int enter_cwd(const char *cwd, struct sn_error *e)
{
    if (chdir(cwd) < 0) return sn_fail(e, "cwd", errno, "working directory %s", cwd);
    /* The cwd must lie inside our root. A directory reached through a leaked host fd
     * (CVE-2024-21626: WORKDIR /proc/self/fd/N) makes getcwd report "(unreachable)". */
    char buf[PATH_MAX];
    if (!getcwd(buf, sizeof buf) || buf[0] != '/')
        return sn_fail(e, "cwd", EPERM, "working directory %s is outside the container's root", cwd);
    return 0;
}

static const char *env_get(char *const *env, const char *key)
{
    size_t n = strlen(key);
    for (; env && *env; env++)
        if (strncmp(*env, key, n) == 0 && (*env)[n] == '=') return *env + n + 1;
    return NULL;
}

/* execvpe() searches the launcher's PATH; the container's own PATH is the one that counts. */
static int exec_in_path(char *const *args, char *const *env)
{
    const char *file = args[0];
    if (strchr(file, '/')) return execve(file, args, env);
    const char *path = env_get(env, "PATH");
    if (!path) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    int err = ENOENT;
    for (const char *p = path;; ) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        char full[PATH_MAX];
        if (snprintf(full, sizeof full, "%.*s/%s", (int)len, len ? p : ".", file) < (int)sizeof full) {
            execve(full, args, env);
            if (errno == EACCES) err = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR) err = errno;
        }
        if (!colon) break;
        p = colon + 1;
    }
    errno = err;
    return -1;
}

int process_exec(const struct sn_process *p, const struct sn_bpf *bpf, const struct sn_exec_opts *o, struct sn_error *e)
{
    double t = sn_now_ms();
    if (apply_rlimits(p, e) < 0 || switch_user(p, e) < 0) return -1;
    /* no_new_privs: setuid binaries and file capabilities grant nothing, and it allows
     * installing the seccomp filter without CAP_SYS_ADMIN. */
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return sn_fail(e, "no_new_privs", errno, "prctl");
    t = trace_step("credentials", t);
    close_fds(o->sync, trace_fd());
    if (enter_cwd(p->cwd, e) < 0) return -1;
    /* After the last credential change: changing credentials clears the parent-death signal. */
    if (o->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return sn_fail(e, "pdeathsig", errno, "prctl");
    /* Signals blocked or ignored by the launcher must not stay so for the container. */
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) signal(sig, SIG_DFL);
    t = trace_step("fds_cwd", t);
    if (o->send_ready && sync_send(o->sync, SYNC_READY, NULL, -1) < 0) return sn_fail(e, "sync", errno, "reporting ready");
    if (o->wait_go) {
        struct sn_sync_msg msg;
        /* End of stream here means the launcher died: give up rather than run unsupervised. */
        if (sync_recv(o->sync, &msg, NULL) != 0 || msg.type != SYNC_GO) return sn_fail(e, "sync", 0, "launcher went away");
        t = sn_now_ms();
    }
    /* Seccomp last: everything above needed syscalls the filter refuses. */
    if (seccomp_install(bpf, e) < 0) return -1;
    trace_step("seccomp_load", t);
    trace_step_kv("exec", t, NULL);
    exec_in_path(p->args, p->env);
    return sn_fail(e, "exec", errno, errno == ENOENT ? "%s: executable file not found in $PATH" : "%s", p->args[0]);
}
