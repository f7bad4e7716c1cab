#include "commands.h"
#include "container.h"
#include "monitor.h"
#include "trace.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>

/* Die with `parent`; -1 if it is already gone. */
static int arm_parent_death(pid_t parent)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    return getppid() == parent ? 0 : -1;
}

int cmd_run(const struct sn_globals *g, int argc, char **argv)
{
    struct sn_create_args a = { .bundle = "." };
    bool detach = false, keep = false, die_with_parent = false;
    int control_fd = -1;
    static const struct option opts[] = {
        { "bundle", required_argument, NULL, 'b' }, { "detach", no_argument, NULL, 'd' },
        { "keep", no_argument, NULL, 'k' }, { "console-socket", required_argument, NULL, 'c' },
        { "pid-file", required_argument, NULL, 'p' }, { "control-fd", required_argument, NULL, 'C' },
        { "die-with-parent", no_argument, NULL, 'P' }, { "output", required_argument, NULL, 'o' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    while ((c = getopt_long(argc, argv, "+b:d", opts, NULL)) != -1) {
        switch (c) {
        case 'b': a.bundle = optarg; break;
        case 'd': detach = true; break;
        case 'k': keep = true; break;
        case 'c': a.console_socket = optarg; break;
        case 'p': a.pid_file = optarg; break;
        case 'C': control_fd = atoi(optarg); break;
        case 'P': die_with_parent = true; break;
        case 'o': a.output = optarg; break;
        default: return SN_EXIT_FAILED;
        }
    }
    if (optind != argc - 1) { sn_log("run needs exactly one container id"); return SN_EXIT_FAILED; }
    a.id = argv[optind];
    if (a.output && !detach) { sn_log("--output is for detached containers (run -d, create)"); return SN_EXIT_FAILED; }
    if (detach) {
        a.start = true;
        return create_detached(g, &a);
    }
    pid_t parent = getppid();
    if (die_with_parent && arm_parent_death(parent) < 0) return SN_EXIT_FAILED;

    sigset_t old;
    monitor_block_signals(&old);
    struct sn_container ct = { .root = g->root, .id = a.id, .console_socket = a.console_socket, .pid_file = a.pid_file,
                             .foreground = true };
    struct sn_error e;
    double t0 = sn_now_ms();
    if (spec_load(a.bundle, &ct.spec, &e) < 0) {
        sn_error_print(&e);
        spec_free(&ct.spec);
        return sn_error_status(&e);
    }
    trace_step("spec", t0);
    int rc = container_create(&ct, &e);
    /* Mounting the overlay changed our fsuid for a moment, and any fsuid change makes the
     * kernel forget the parent-death signal: arm it again (and catch a parent that died). */
    if (rc == 0 && die_with_parent && arm_parent_death(parent) < 0)
        rc = sn_fail(&e, "run", 0, "the launcher's parent exited");
    if (rc < 0 || container_start(&ct, &e) < 0) {
        sn_error_print(&e);
        container_abort(&ct);
        spec_free(&ct.spec);
        return sn_error_status(&e);
    }
    struct sn_monitor m = {
        .pid = ct.st.pid, .cg = &ct.st.cg, .timeout_ms = ct.spec.timeout_ms, .pty_master = ct.pty_master,
        .in_fd = 0, .out_fd = 1, .control_fd = control_fd, .listen_fd = -1,
    };
    int ws = 0;
    bool timed_out = false;
    double t = sn_now_ms();
    int mrc = monitor_run(&m, &ws, &timed_out);
    trace_step("running", t);
    if (mrc < 0) {
        sn_log("lost track of container %s: %s", a.id, strerror(errno));
        container_abort(&ct);
        spec_free(&ct.spec);
        return SN_EXIT_FAILED;
    }
    container_finish(&ct, ws, timed_out, keep);
    spec_free(&ct.spec);
    return container_exit_status(ws);
}
