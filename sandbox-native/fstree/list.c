/*
 * `fstree list SRC`: one JSON line per entry below SRC, parents first, names in byte order
 * (the order layer tars and `docker diff` use), with what lstat says and, for directories and
 * regular files, their xattrs. Read through walk.c only, so the listing names nothing outside
 * SRC however SRC changes meanwhile. Names, link targets and xattrs are hex: they may be any bytes.
 */
#include "commands.h"
#include "beneath.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

static void hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

static char type_of(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR: return 'd';
    case S_IFREG: return 'f';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    default: return 's';
    }
}

static int print_xattrs(const struct node *n)
{
    char names[65536];
    ssize_t len = flistxattr(n->fd, names, sizeof names);
    if (len < 0) {
        if (errno == ENOTSUP) return 0;
        fail("io", n->rel, errno, "flistxattr");
        return -1;
    }
    static char value[65536];
    int first = 1;
    for (char *name = names; name < names + len; name += strlen(name) + 1) {
        ssize_t vlen = fgetxattr(n->fd, name, value, sizeof value);
        if (vlen < 0) {
            if (errno == ENODATA) continue;
            fail("io", n->rel, errno, "fgetxattr");
            return -1;
        }
        printf("%s\"", first ? "" : ",");
        hex(name, strlen(name));
        printf("\":\"");
        hex(value, (size_t)vlen);
        putchar('"');
        first = 0;
    }
    return 0;
}

static int visit(void *ctx, const struct node *n, void *parent, void **cookie)
{
    if (!parent) {
        *cookie = (void *)1; /* the root is not an entry of the listing */
        return 0;
    }
    *cookie = (void *)1;
    const struct stat *st = &n->st;
    printf("{\"path\":\"");
    hex(n->rel, strlen(n->rel));
    printf("\",\"type\":\"%c\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"size\":%lld,\"mtimeSec\":%lld,\"mtimeNsec\":%ld,"
           "\"nlink\":%lu,\"dev\":%llu,\"ino\":%llu,\"rdev\":%llu",
           type_of(st->st_mode), (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
           (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (unsigned long)st->st_nlink,
           (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, (unsigned long long)st->st_rdev);
    if (n->link) {
        printf(",\"link\":\"");
        hex(n->link, n->link_len);
        putchar('"');
    }
    if (n->fd >= 0) {
        printf(",\"xattrs\":{");
        if (print_xattrs(n) < 0) return -1;
        putchar('}');
    }
    printf("}\n");
    return ferror(stdout) ? -1 : 0;
}

int cmd_list(int argc, char **argv)
{
    if (argc != 2) return usage();
    int src = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0) {
        fail(errno == ENOENT ? "notfound" : "io", argv[1], errno, "open source");
        return 1;
    }
    struct visitor v = { .visit = visit, .ctx = NULL };
    int rc = walk_tree(src, &v, max_entries());
    if (fflush(stdout) != 0) rc = -1;
    return rc == 0 ? 0 : 1;
}
