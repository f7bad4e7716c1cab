#include "commands.h"
#include "state.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>

static int parse_signal(const char *s)
{
    char *end;
    long n = strtol(s, &end, 10);
    if (!*end) return n > 0 && n < NSIG ? (int)n : -1;
    if (strncasecmp(s, "SIG", 3) == 0) s += 3;
    for (int sig = 1; sig < NSIG; sig++) {
        const char *abbrev = sigabbrev_np(sig);
        if (abbrev && strcasecmp(abbrev, s) == 0) return sig;
    }
    return -1;
}

int cmd_kill(const struct sn_globals *g, int argc, char **argv)
{
    bool all = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
        if (strcmp(argv[i], "-a") == 0 || strcmp(argv[i], "--all") == 0) all = true;
        else { sn_log("kill: unknown option %s", argv[i]); return SN_EXIT_FAILED; }
    }
    if (i >= argc || argc - i > 2) { sn_log("usage: kill [-a] ID [SIGNAL]"); return SN_EXIT_FAILED; }
    const char *id = argv[i];
    int sig = i + 1 < argc ? parse_signal(argv[i + 1]) : SIGTERM;
    if (sig < 0) { sn_log("kill: unknown signal %s", argv[i + 1]); return SN_EXIT_FAILED; }

    struct sn_state st;
    struct sn_error e;
    if (state_read(g->root, id, &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    int rc = 0;
    const char *status = state_live_status(&st);
    if (strcmp(status, "stopped") == 0 || strcmp(status, "creating") == 0) {
        sn_log("container %s is %s: nothing to signal", id, status);
        rc = SN_EXIT_FAILED;
    } else if (all && sig == SIGKILL) {
        cgroup_kill_all(&st.cg);
        kill(st.pid, SIGKILL);
    } else {
        if (all) {
            char path[PATH_MAX + 32], buf[65536];
            snprintf(path, sizeof path, "%s/cgroup.procs", st.cg.dirs[CG_PIDS]);
            if (sn_read_file(path, buf, sizeof buf) > 0)
                for (char *t = strtok(buf, "\n"); t; t = strtok(NULL, "\n")) kill((pid_t)atoi(t), sig);
        }
        /* Through a pidfd checked against the recorded start time, never a reused pid. */
        int pidfd = (int)syscall(SYS_pidfd_open, st.pid, 0);
        if (pidfd < 0 || !pid_alive(st.pid, st.pid_start) || syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0) < 0) {
            sn_log("signalling container %s: %s", id, strerror(errno));
            rc = SN_EXIT_FAILED;
        }
        if (pidfd >= 0) close(pidfd);
    }
    /* A frozen process only acts on SIGKILL once thawed. */
    if (rc == 0 && sig == SIGKILL && strcmp(status, "paused") == 0) cgroup_freeze(&st.cg, false, &e);
    state_free(&st);
    return rc;
}
