/* Creating and starting one container: the parent's steps (state, cgroup, clone, id maps,
 * rootfs) and the child's (child_setup), which meet over the sync socket. */
#ifndef SN_CONTAINER_H
#define SN_CONTAINER_H

#include <stdbool.h>
#include "cgroup.h"
#include "seccomp.h"
#include "spec.h"
#include "state.h"

struct sn_container {
    const char *root, *id;
    struct sn_spec spec;
    struct sn_state st;
    struct sn_bpf bpf;
    int sync;              /* parent end of the sync socket */
    int pty_master;        /* -1 unless relaying a terminal */
    int lock;              /* the state root's lock while our state is not yet written */
    bool created_dir;      /* we own <root>/<id> and must remove it on failure */
    const char *console_socket, *pid_file;
    bool foreground;       /* `run` without --detach: started at once by this process */
    struct sn_cg_host cg_host;  /* the host's cgroup kind, when the spec mounts a cgroup view */
};

/* Everything up to "created": the process waits just before execve. */
int container_create(struct sn_container *c, struct sn_error *e);
/* Let it execve; returns once it did (or failed to). */
int container_start(struct sn_container *c, struct sn_error *e);
/* Record how it ended, remove its cgroup; remove the state too unless `keep`. */
void container_finish(struct sn_container *c, int wstatus, bool timed_out, bool keep);
/* Undo a failed create. */
void container_abort(struct sn_container *c);
/* Exit status for a wait status, runc's convention: the code, or 128 + signal. */
int container_exit_status(int wstatus);

#endif
