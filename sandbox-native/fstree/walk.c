/*
 * The walk: each directory is held open while its children are visited; each child is looked
 * at with fstatat(AT_SYMLINK_NOFOLLOW) and, if it is a directory or a regular file, opened with
 * open_child() (no symlink, no mount) and described by fstat of that fd. If the entry changed
 * kind between the two (a racing container swapped it), it is looked at again; it is never
 * followed. Device nodes, fifos and sockets are never opened.
 */
#include "walk.h"
#include "beneath.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* How often one name may change kind under us before the walk gives up on it. */
#define ATTEMPTS 64

struct walk {
    const struct visitor *v;
    dev_t dev;
    unsigned long entries, max_entries;
};

static char *join_rel(const char *rel, const char *name)
{
    size_t a = strlen(rel), b = strlen(name);
    char *out = malloc(a + b + 2);
    if (!out) return NULL;
    if (a) {
        memcpy(out, rel, a);
        out[a++] = '/';
    }
    memcpy(out + a, name, b + 1);
    return out;
}

/* Fills n for `name` in dirfd. 1: gone (skip it), 0: done, -1: failed. */
static int look(int dirfd, const char *name, const char *rel, dev_t dev, struct node *n, char *linkbuf)
{
    for (int attempt = 0; attempt < ATTEMPTS; attempt++) {
        struct stat st;
        if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            if (errno == ENOENT) return 1;
            fail("io", rel, errno, "fstatat");
            return -1;
        }
        n->fd = -1;
        n->link = NULL;
        n->link_len = 0;
        if (S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)) {
            int flags = S_ISDIR(st.st_mode) ? O_RDONLY | O_DIRECTORY : O_RDONLY | O_NONBLOCK | O_NOCTTY;
            int fd = open_child(dirfd, name, flags);
            if (fd < 0) {
                if (errno == ENOENT) return 1;
                if (errno == ELOOP || errno == ENOTDIR || errno == ENXIO || errno == ENODEV) continue; /* swapped */
                fail(errno == EXDEV ? "xdev" : "io", rel, errno, "open");
                return -1;
            }
            if (fstat(fd, &n->st) < 0 || (n->st.st_mode & S_IFMT) != (st.st_mode & S_IFMT)) {
                close(fd);
                continue;
            }
            n->fd = fd;
        } else if (S_ISLNK(st.st_mode)) {
            ssize_t len = readlinkat(dirfd, name, linkbuf, PATH_MAX);
            if (len < 0) {
                if (errno == ENOENT) return 1;
                if (errno == EINVAL) continue; /* no longer a symlink */
                fail("io", rel, errno, "readlinkat");
                return -1;
            }
            n->st = st;
            n->link = linkbuf;
            n->link_len = (size_t)len;
        } else {
            n->st = st;
        }
        if (n->st.st_dev != dev) {
            /* An upper holds no mounts; a tree that does is not walked into another filesystem. */
            if (n->fd >= 0) close(n->fd);
            fail("xdev", rel, EXDEV, "another filesystem");
            return -1;
        }
        return 0;
    }
    fail("changed", rel, EAGAIN, "kept changing while it was read");
    return -1;
}

static int walk_dir(struct walk *w, const struct node *dir, void *cookie)
{
    char **names = NULL;
    size_t count = 0;
    if (sorted_names(dir->fd, &names, &count) < 0) {
        fail("io", dir->rel, errno, "readdir");
        return -1;
    }
    static char linkbuf[PATH_MAX + 1];
    int rc = 0;
    for (size_t i = 0; i < count && rc == 0; i++) {
        if (++w->entries > w->max_entries) {
            fail("limit", dir->rel, E2BIG, "too many entries");
            rc = -1;
            break;
        }
        char *rel = join_rel(dir->rel, names[i]);
        if (!rel) {
            fail("io", dir->rel, ENOMEM, "malloc");
            rc = -1;
            break;
        }
        struct node n = { .rel = rel, .name = names[i] };
        int looked = look(dir->fd, names[i], rel, w->dev, &n, linkbuf);
        if (looked < 0) rc = -1;
        if (looked == 0) {
            void *child = NULL;
            rc = w->v->visit(w->v->ctx, &n, cookie, &child);
            if (rc == 0 && S_ISDIR(n.st.st_mode)) {
                rc = walk_dir(w, &n, child);
                if (w->v->leave && w->v->leave(w->v->ctx, &n, child) != 0 && rc == 0) rc = -1;
            }
            if (n.fd >= 0) close(n.fd);
        }
        free(rel);
    }
    free_names(names, count);
    return rc;
}

int walk_tree(int rootfd, const struct visitor *v, unsigned long max_entries)
{
    struct walk w = { .v = v, .max_entries = max_entries };
    struct node root = { .rel = "", .name = "", .fd = rootfd };
    if (fstat(rootfd, &root.st) < 0 || !S_ISDIR(root.st.st_mode)) {
        fail("io", "", errno ? errno : ENOTDIR, "root");
        return -1;
    }
    w.dev = root.st.st_dev;
    void *cookie = NULL;
    if (v->visit(v->ctx, &root, NULL, &cookie) != 0) return -1;
    int rc = walk_dir(&w, &root, cookie);
    if (v->leave && v->leave(v->ctx, &root, cookie) != 0 && rc == 0) rc = -1;
    return rc;
}
