/*
 * `fstree list SRC`: one JSON line per entry below SRC, parents first, names in byte order
 * (the order layer tars and `docker diff` use), with what lstat says and, for directories and
 * regular files, their xattrs. Read through walk.c only, so the listing names nothing outside
 * SRC however SRC changes meanwhile. Names, link targets and xattrs are hex: they may be any bytes.
 */
#include "commands.h"
#include "beneath.h"
#include "walk.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int visit(void *ctx, const struct node *n, void *parent, void **cookie)
{
    if (!parent) {
        *cookie = (void *)1; /* the root is not an entry of the listing */
        return 0;
    }
    *cookie = (void *)1;
    const struct stat *st = &n->st;
    printf("{\"path\":\"");
    json_hex(n->rel, strlen(n->rel));
    printf("\",\"type\":\"%c\",\"mode\":%u,\"uid\":%u,\"gid\":%u,\"size\":%lld,\"mtimeSec\":%lld,\"mtimeNsec\":%ld,"
           "\"nlink\":%lu,\"dev\":%llu,\"ino\":%llu,\"rdev\":%llu",
           json_type(st->st_mode), (unsigned)(st->st_mode & 07777), (unsigned)st->st_uid, (unsigned)st->st_gid,
           (long long)st->st_size, (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (unsigned long)st->st_nlink,
           (unsigned long long)st->st_dev, (unsigned long long)st->st_ino, (unsigned long long)st->st_rdev);
    if (n->link) {
        printf(",\"link\":\"");
        json_hex(n->link, n->link_len);
        putchar('"');
    }
    if (n->fd >= 0) {
        printf(",\"xattrs\":{");
        if (json_xattrs(n->fd, n->rel) < 0) return -1;
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
