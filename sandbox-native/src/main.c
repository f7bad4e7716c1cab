/* sandbox-native: start one Layercake container from an OCI bundle. The command line follows
 * runc's for the verbs below, so runc can run the same bundles for comparison. */
#include "commands.h"
#include "trace.h"
#include "util.h"

#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const struct {
    const char *name;
    int (*fn)(const struct sn_globals *, int, char **);
    const char *usage;
} commands[] = {
    { "run", cmd_run, "run [-b BUNDLE] [-d] [--keep] [--console-socket P] [--pid-file F] [--control-fd N] [--die-with-parent] ID" },
    { "create", cmd_create, "create [-b BUNDLE] [--console-socket P] [--pid-file F] ID" },
    { "start", cmd_start, "start ID" },
    { "exec", cmd_exec, "exec [-t] [-d] [--cwd D] [-e K=V] [-u UID[:GID]] [-p FILE] [--console-socket P] [--pid-file F] [--control-fd N] ID [ARG...]" },
    { "kill", cmd_kill, "kill [-a] ID [SIGNAL]" },
    { "state", cmd_state, "state ID" },
    { "list", cmd_list, "list" },
    { "pause", cmd_pause, "pause ID" },
    { "resume", cmd_resume, "resume ID" },
    { "delete", cmd_delete, "delete [-f] ID" },
};

static void usage(FILE *f)
{
    fprintf(f, "usage: sandbox-native [--root DIR] [--log FILE] [--trace FILE] [--debug] COMMAND ...\n\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) fprintf(f, "  %s\n", commands[i].usage);
}

int main(int argc, char **argv)
{
    struct sn_globals g = { .root = "/run/sandbox-native" };
    static const struct option opts[] = {
        { "root", required_argument, NULL, 'r' }, { "log", required_argument, NULL, 'l' },
        { "trace", required_argument, NULL, 't' }, { "debug", no_argument, NULL, 'd' },
        { "help", no_argument, NULL, 'h' },
        /* accepted for runc compatibility, no effect */
        { "log-format", required_argument, NULL, 'F' }, { "systemd-cgroup", no_argument, NULL, 'S' },
        { NULL, 0, NULL, 0 },
    };
    int c;
    /* '+': stop at the command name; its own options follow it. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        switch (c) {
        case 'r': g.root = optarg; break;
        case 'l': {
            int fd = open(optarg, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0) { perror(optarg); return SN_EXIT_FAILED; }
            sn_set_log_fd(fd);
            break;
        }
        case 't':
            if (trace_open(optarg) < 0) { perror(optarg); return SN_EXIT_FAILED; }
            break;
        case 'd': g.debug = true; sn_debug = 1; break;
        case 'h': usage(stdout); return 0;
        case 'F': case 'S': break;
        default: usage(stderr); return SN_EXIT_FAILED;
        }
    }
    if (optind >= argc) { usage(stderr); return SN_EXIT_FAILED; }
    if (g.root[0] != '/') { sn_log("--root must be an absolute path"); return SN_EXIT_FAILED; }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(argv[optind], commands[i].name) != 0) continue;
        int sub_argc = argc - optind;
        char **sub_argv = argv + optind;
        optind = 1;   /* each command parses its own options */
        return commands[i].fn(&g, sub_argc, sub_argv);
    }
    sn_log("unknown command %s", argv[optind]);
    usage(stderr);
    return SN_EXIT_FAILED;
}
