/*
 * fstree: the engine's only way to read (and copy out of) a directory tree that a container or
 * a learner controls. Node has no openat2 and no fd-relative directory walk; this small static
 * program has both. See sandbox-native/README.md, "fstree".
 */
#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
} commands[] = {
    { "copy", cmd_copy }, /* copy [--max-bytes N] SRC DST */
    { "list", cmd_list }, /* list SRC */
    { "lookup", cmd_lookup }, /* lookup ROOT PATH */
    { "read", cmd_read }, /* read [--max BYTES] [--no-symlinks] ROOT PATH */
};

int usage(void)
{
    fprintf(stderr, "usage: fstree copy [--max-bytes N] SRC DST | list SRC | lookup ROOT PATH | read [--max BYTES] [--no-symlinks] ROOT PATH\n");
    return 2;
}

unsigned long max_entries(void)
{
    const char *env = getenv("FSTREE_MAX_ENTRIES");
    unsigned long n = env ? strtoul(env, NULL, 10) : 0;
    return n ? n : 10UL * 1000 * 1000;
}

int main(int argc, char **argv)
{
    /* The walk holds one fd per directory level: let a deep tree use all the process may. */
    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        setrlimit(RLIMIT_NOFILE, &lim);
    }
    if (argc < 2) return usage();
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    }
    return usage();
}
