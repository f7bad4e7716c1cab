/* One function per verb, each in cmd_<verb>.c; main.c dispatches. A command returns the
 * launcher's exit status. */
#ifndef SN_COMMANDS_H
#define SN_COMMANDS_H

#include <stdbool.h>

struct sn_globals {
    const char *root;     /* --root: state directory */
    bool debug;
};

/* Launcher failures use Docker's codes: 125 the runtime failed, 126 the command could not be
 * invoked, 127 it was not found. */
#define SN_EXIT_FAILED 125

int cmd_run(const struct sn_globals *g, int argc, char **argv);
int cmd_create(const struct sn_globals *g, int argc, char **argv);
int cmd_start(const struct sn_globals *g, int argc, char **argv);
int cmd_exec(const struct sn_globals *g, int argc, char **argv);
int cmd_kill(const struct sn_globals *g, int argc, char **argv);
int cmd_state(const struct sn_globals *g, int argc, char **argv);
int cmd_list(const struct sn_globals *g, int argc, char **argv);
int cmd_delete(const struct sn_globals *g, int argc, char **argv);
int cmd_pause(const struct sn_globals *g, int argc, char **argv);
int cmd_resume(const struct sn_globals *g, int argc, char **argv);

/* Shared by create and run --detach: fork a monitor that creates the container and stays
 * with it; optionally start it at once. */
struct sn_create_args {
    const char *bundle, *id, *console_socket, *pid_file;
    const char *output;   /* --output FILE: the monitor holds stdio, logs it, serves attach.sock */
    bool start;
};
int create_detached(const struct sn_globals *g, const struct sn_create_args *a);
/* Ask a detached container's monitor to start it. */
int start_via_monitor(const char *state_dir, const char *id);

#endif
