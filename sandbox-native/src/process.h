/* The last steps before execve, shared by a container's init and by `exec`: limits, identity,
 * capabilities, no_new_privs, fds, cwd, parent-death signal, seccomp. */
#ifndef SN_PROCESS_H
#define SN_PROCESS_H

#include <stdbool.h>
#include "seccomp.h"
#include "spec.h"

struct sn_exec_opts {
    int sync;            /* kept open (close-on-exec) to report failure or success */
    bool send_ready;     /* send SYNC_READY once set up */
    bool wait_go;        /* then wait for SYNC_GO before execve (create/start) */
    bool die_with_parent;/* PDEATHSIG=SIGKILL */
    bool terminal;       /* the PTY was set up already (no extra setsid) */
};

/* Only returns on failure. Runs as root of the container's user namespace. */
int process_exec(const struct sn_process *p, const struct sn_bpf *bpf, const struct sn_exec_opts *o, struct sn_error *e);
/* Become root of the user namespace we were created in or joined. */
int process_become_ns_root(struct sn_error *e);
/* Create the working directory if missing (as the container's root, before the user switch). */
void process_make_cwd(const struct sn_process *p);

#endif
