#include "commands.h"
#include "rootfs.h"
#include "state.h"

#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>

/* Give a live monitor the chance to record the exit before the state goes. */
static void wait_for_monitor(const struct sn_state *st, int ms)
{
    if (!pid_alive(st->monitor_pid, st->monitor_start) || st->monitor_pid == getpid()) return;
    int fd = (int)syscall(SYS_pidfd_open, st->monitor_pid, 0);
    if (fd < 0) return;
    struct pollfd p = { fd, POLLIN, 0 };
    poll(&p, 1, ms);
    close(fd);
}

int cmd_delete(const struct sn_globals *g, int argc, char **argv)
{
    bool force = false;
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-f") == 0 || strcmp(argv[i], "--force") == 0) force = true;
        else { sn_log("delete: unknown option %s", argv[i]); return SN_EXIT_FAILED; }
    }
    if (i != argc - 1) { sn_log("usage: delete [-f] ID"); return SN_EXIT_FAILED; }
    struct sn_state st;
    struct sn_error e;
    if (state_read(g->root, argv[i], &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    const char *status = state_live_status(&st);
    if (strcmp(status, "stopped") != 0) {
        if (!force) {
            sn_log("container %s is %s: stop it first or use --force", st.id, status);
            state_free(&st);
            return SN_EXIT_FAILED;
        }
        cgroup_kill_all(&st.cg);
        if (st.pid > 0 && pid_alive(st.pid, st.pid_start)) kill(st.pid, SIGKILL);
        if (strcmp(status, "paused") == 0) cgroup_freeze(&st.cg, false, &e);
    }
    wait_for_monitor(&st, 5000);
    /* Whatever the monitor did not get to (it may have been killed): the cgroup, the overlay's
     * dir beside a plain rootfs, the state. The wait for the killed processes to leave the
     * cgroup is long: on a busy host (a CI run, after a SIGKILLed launcher) two seconds were
     * not always enough, and the cgroup stayed behind. */
    if (st.cg.version) {
        cgroup_kill_all(&st.cg);
        if (cgroup_destroy(&st.cg, 10000) < 0) sn_log("could not remove the cgroup of %s: %s", st.id, strerror(errno));
    }
    if (rootfs_release(st.rootfs, st.id) < 0) sn_log("could not remove the overlay's dir beside %s: %s", st.rootfs, strerror(errno));
    int rc = state_remove(st.dir) < 0 && errno != ENOENT ? SN_EXIT_FAILED : 0;
    state_free(&st);
    return rc;
}
