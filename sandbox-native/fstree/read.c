/*
 * `fstree read [--max BYTES] [--no-symlinks] ROOT PATH`: the regular file PATH below ROOT, on
 * stdout. A symlink on the way is followed only while it stays below ROOT (openat2
 * RESOLVE_BENEATH: an absolute target, or a ".." that climbs out, is refused), so a learner's
 * build context cannot hand the builder a host file as its Dockerfile or .dockerignore. With
 * --no-symlinks none is followed at all (a path the caller resolved itself, in a container's
 * upper that may be swapping a symlink in).
 */
#include "commands.h"
#include "beneath.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_read(int argc, char **argv)
{
    unsigned long long max = ~0ULL;
    bool symlinks = true;
    for (;;) {
        if (argc >= 3 && !strcmp(argv[1], "--max")) {
            char *end;
            max = strtoull(argv[2], &end, 10);
            if (*end) return usage();
            argv += 2;
            argc -= 2;
        } else if (argc >= 2 && !strcmp(argv[1], "--no-symlinks")) {
            symlinks = false;
            argv++;
            argc--;
        } else {
            break;
        }
    }
    if (argc != 3) return usage();
    int root = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (root < 0) {
        fail(errno == ENOENT ? "notfound" : "io", "", errno, "open root");
        return 1;
    }
    int fd = open_below(root, argv[2], O_RDONLY | O_NONBLOCK | O_NOCTTY, symlinks);
    if (fd < 0) {
        int err = errno;
        const char *code = err == EXDEV ? "escapes" : err == ENOENT || err == ENOTDIR ? "notfound" : err == ELOOP ? "loop" : "io";
        fail(code, argv[2], err, "open");
        return 1;
    }
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        fail("notfile", argv[2], 0, "not a regular file");
        return 1;
    }
    if ((unsigned long long)st.st_size > max) {
        fprintf(stderr, "{\"error\":\"toolarge\",\"errno\":0,\"size\":%lld,\"message\":\"larger than --max\",\"path\":\"\"}\n",
                (long long)st.st_size);
        return 1;
    }
    static char buf[1 << 16];
    unsigned long long total = 0;
    for (;;) {
        ssize_t got = read(fd, buf, sizeof buf);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            fail("io", argv[2], errno, "read");
            return 1;
        }
        if (got == 0) break;
        total += (unsigned long long)got;
        if (total > max) { /* grew while read */
            fail("toolarge", argv[2], 0, "larger than --max");
            return 1;
        }
        if (fwrite(buf, 1, (size_t)got, stdout) != (size_t)got) {
            fail("io", argv[2], errno, "write");
            return 1;
        }
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
