#include "commands.h"
#include "state.h"

#include <string.h>

static int freeze(const struct sn_globals *g, int argc, char **argv, bool frozen)
{
    if (argc != 2) { sn_log("%s needs exactly one container id", argv[0]); return SN_EXIT_FAILED; }
    struct sn_state st;
    struct sn_error e;
    if (state_read(g->root, argv[1], &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    const char *status = state_live_status(&st);
    int rc = 0;
    if (strcmp(status, frozen ? "running" : "paused") != 0) {
        sn_log("container %s is %s: cannot %s it", argv[1], status, argv[0]);
        rc = SN_EXIT_FAILED;
    } else if (cgroup_freeze(&st.cg, frozen, &e) < 0) {
        sn_error_print(&e);
        rc = SN_EXIT_FAILED;
    }
    state_free(&st);
    return rc;
}

int cmd_pause(const struct sn_globals *g, int argc, char **argv) { return freeze(g, argc, argv, true); }
int cmd_resume(const struct sn_globals *g, int argc, char **argv) { return freeze(g, argc, argv, false); }
