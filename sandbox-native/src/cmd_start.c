#include "commands.h"
#include "state.h"

#include <string.h>

int cmd_start(const struct sn_globals *g, int argc, char **argv)
{
    if (argc != 2) { sn_log("start needs exactly one container id"); return SN_EXIT_FAILED; }
    struct sn_state st;
    struct sn_error e;
    if (state_read(g->root, argv[1], &st, &e) < 0) { sn_error_print(&e); return SN_EXIT_FAILED; }
    const char *status = state_live_status(&st);
    int rc;
    if (strcmp(status, "created") != 0) {
        sn_fail(&e, "start", 0, "container %s is %s, not created: only a created container can be started", argv[1], status);
        sn_error_print(&e);
        rc = SN_EXIT_FAILED;
    } else {
        rc = start_via_monitor(st.dir, argv[1]);
    }
    state_free(&st);
    return rc;
}
