/* The launcher's life while its container runs: wait for it, relay its terminal, forward
 * signals, apply resizes, enforce the wall-clock limit, and (for create) wait for `start`. */
#ifndef SN_MONITOR_H
#define SN_MONITOR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include "attach.h"
#include "cgroup.h"

struct sn_monitor {
    pid_t pid;                  /* the process we wait for */
    const struct sn_cgroup *cg; /* killed whole at the time limit; may be NULL */
    uint64_t timeout_ms;        /* 0 = none */
    int pty_master;             /* -1 = no terminal to relay */
    int in_fd, out_fd;          /* relay ends: the launcher's stdin and stdout */
    int control_fd;             /* -1, or text lines "resize ROWS COLS" */
    int listen_fd;              /* -1, or the control socket waiting for `start` */
    int (*on_start)(void *arg, struct sn_error *reply);   /* fills reply on failure */
    void *arg;
    struct sn_attach *attach;   /* detached stdio (--output), or NULL */
};

/* Block the signals the monitor handles; call before creating the container so none is lost. */
void monitor_block_signals(sigset_t *old);
/* Returns 0 with the wait status, or -1 if waiting failed. */
int monitor_run(struct sn_monitor *m, int *wstatus, bool *timed_out);

#endif
