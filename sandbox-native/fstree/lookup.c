/*
 * `fstree lookup ROOT PATH`: what each component of the relative PATH is beneath ROOT, one
 * JSON line per component met, first to last: {"type":T,"rdev":N} plus, for a directory, its
 * xattrs and, for a symlink, its target ("link", hex). It stops after a component that is
 * absent (no line for it), is not a directory, or is the last. No symlink is ever followed:
 * the caller resolves a link's target itself, in its own view of the tree (the engine merges
 * layers, as overlayfs would, to find a container's /etc/passwd). Each directory on the way is
 * held open and the next name opened beneath it (open_child), so a container that swaps a
 * directory with a symlink meanwhile is seen as having that symlink, never followed into
 * what it points at. Exit 0 whether or not PATH exists.
 */
#include "commands.h"
#include "beneath.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* How often one name may change kind under us before the lookup gives up on it. */
#define ATTEMPTS 64

/* Prints `name`'s line. 1: absent, 0: printed (*next is its fd when it is a directory), -1: failed. */
static int describe(int dirfd, const char *name, const char *rel, dev_t dev, int *next)
{
    static char link[PATH_MAX + 1];
    *next = -1;
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) return 1;
            fail("io", rel, errno, "fstatat");
            return -1;
        }
        ssize_t len = -1;
        int fd = -1;
        if (S_ISDIR(st.st_mode)) {
            fd = open_child(dirfd, name, O_RDONLY | O_DIRECTORY);
            if (fd < 0) {
                if (errno == ENOENT) return 1;
                if (errno == ELOOP || errno == ENOTDIR) continue; /* swapped */
                fail(errno == EXDEV ? "xdev" : "io", rel, errno, "open");
                return -1;
            }
            if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
                close(fd);
                continue;
            }
        } else if (S_ISLNK(st.st_mode)) {
            len = readlinkat(dirfd, name, link, PATH_MAX);
            if (len < 0) {
                if (errno == ENOENT) return 1;
                if (errno == EINVAL) continue; /* no longer a symlink */
                fail("io", rel, errno, "readlinkat");
                return -1;
            }
        }
        if (st.st_dev != dev) {
            if (fd >= 0) close(fd);
            fail("xdev", rel, EXDEV, "another filesystem");
            return -1;
        }
        printf("{\"type\":\"%c\",\"rdev\":%llu", json_type(st.st_mode), (unsigned long long)st.st_rdev);
        if (len >= 0) {
            printf(",\"link\":\"");
            json_hex(link, (size_t)len);
            putchar('"');
        }
        if (fd >= 0) {
            printf(",\"xattrs\":{");
            if (json_xattrs(fd, rel) < 0) {
                close(fd);
                return -1;
            }
            putchar('}');
        }
        printf("}\n");
        *next = fd;
        return 0;
    }
    fail("changed", rel, EAGAIN, "kept changing while it was looked up");
    return -1;
}

int cmd_lookup(int argc, char **argv)
{
    if (argc != 3) return usage();
    int dir = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dir < 0) {
        fail(errno == ENOENT ? "notfound" : "io", "", errno, "open root");
        return 1;
    }
    struct stat root;
    if (fstat(dir, &root) < 0) {
        fail("io", "", errno, "fstat root");
        return 1;
    }
    char rel[PATH_MAX];
    if (snprintf(rel, sizeof rel, "%s", argv[2]) >= (int)sizeof rel) {
        fail("io", "", ENAMETOOLONG, "path");
        return 1;
    }
    /* Walk the components; `rel` is cut at each '/' as it goes, for error messages. */
    char *name = rel;
    int rc = 0;
    while (*name == '/') name++;
    while (*name) {
        char *slash = strchr(name, '/');
        if (slash) *slash = 0;
        int next = -1;
        int got = strcmp(name, ".") && strcmp(name, "..") ? describe(dir, name, rel, root.st_dev, &next) : (fail("io", rel, EINVAL, "a . or .. component"), -1);
        if (got != 0) {
            rc = got < 0 ? 1 : 0;
            break;
        }
        if (next < 0 || !slash) {
            if (next >= 0) close(next);
            break;
        }
        close(dir);
        dir = next;
        *slash = '/';
        name = slash + 1;
        while (*name == '/') name++;
    }
    close(dir);
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
