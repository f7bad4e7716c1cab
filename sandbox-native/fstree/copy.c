/*
 * `fstree copy [--max-bytes N] SRC DST`: what `cp -a` does (owners, modes, times, every xattr,
 * hard links, device nodes, holes of sparse files), but reading SRC only through walk.c, so a
 * container that keeps changing SRC gets a copy of its own files and nothing else. A container
 * that moves a big file ahead of the walk could have it copied again and again: --max-bytes
 * bounds the data written (code "limit"). DST must not exist;
 * it is created 0700 and given SRC's attributes last, and everything in it is created with
 * O_EXCL / mknodat / symlinkat, relative to directory fds this program made.
 */
#include "commands.h"
#include "beneath.h"
#include "walk.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

struct link_slot {
    dev_t dev;
    ino_t ino;
    char *rel;
};

struct copy {
    int dstroot;
    unsigned long long copied, max_bytes;
    struct link_slot *slots;
    size_t used, cap;
};

/* Hard links: the first path (in DST) of every inode with more than one name. */
static struct link_slot *slot_of(struct copy *c, dev_t dev, ino_t ino)
{
    if (c->used * 2 >= c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 256;
        struct link_slot *grown = calloc(cap, sizeof *grown);
        if (!grown) return NULL;
        for (size_t i = 0; i < c->cap; i++) {
            if (!c->slots[i].rel) continue;
            size_t j = (c->slots[i].ino * 31 + c->slots[i].dev) % cap;
            while (grown[j].rel) j = (j + 1) % cap;
            grown[j] = c->slots[i];
        }
        free(c->slots);
        c->slots = grown;
        c->cap = cap;
    }
    size_t j = (ino * 31 + dev) % c->cap;
    while (c->slots[j].rel && !(c->slots[j].dev == dev && c->slots[j].ino == ino)) j = (j + 1) % c->cap;
    return &c->slots[j];
}

static int copy_xattrs(int from, int to, const char *rel)
{
    char names[65536];
    ssize_t len = flistxattr(from, names, sizeof names);
    if (len < 0) {
        if (errno == ENOTSUP) return 0;
        fail("io", rel, errno, "flistxattr");
        return -1;
    }
    static char value[65536];
    for (char *name = names; name < names + len; name += strlen(name) + 1) {
        ssize_t vlen = fgetxattr(from, name, value, sizeof value);
        if (vlen < 0) {
            if (errno == ENODATA) continue; /* removed meanwhile */
            fail("io", rel, errno, "fgetxattr");
            return -1;
        }
        if (fsetxattr(to, name, value, (size_t)vlen, 0) < 0) {
            fail("io", rel, errno, "fsetxattr");
            return -1;
        }
    }
    return 0;
}

/* Owner, then xattrs (chown drops security.capability), then mode (chown drops setuid). */
static int copy_attrs(const struct node *n, int to)
{
    if (fchown(to, n->st.st_uid, n->st.st_gid) < 0) {
        fail("io", n->rel, errno, "fchown");
        return -1;
    }
    if (copy_xattrs(n->fd, to, n->rel) < 0) return -1;
    if (fchmod(to, n->st.st_mode & 07777) < 0) {
        fail("io", n->rel, errno, "fchmod");
        return -1;
    }
    return 0;
}

static int copy_times(const struct node *n, int to)
{
    struct timespec times[2] = { n->st.st_atim, n->st.st_mtim };
    if (futimens(to, times) < 0) {
        fail("io", n->rel, errno, "futimens");
        return -1;
    }
    return 0;
}

static int copy_range(int from, int to, off_t start, off_t end, const char *rel)
{
    off_t in = start, out = start;
    while (in < end) {
        ssize_t done = copy_file_range(from, &in, to, &out, (size_t)(end - in), 0);
        if (done == 0) return 1; /* shorter than it was: the rest is a hole */
        if (done > 0) continue;
        if (errno != EXDEV && errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP) {
            fail("io", rel, errno, "copy_file_range");
            return -1;
        }
        static char buf[1 << 16];
        size_t want = (size_t)(end - in) < sizeof buf ? (size_t)(end - in) : sizeof buf;
        ssize_t got = pread(from, buf, want, in);
        if (got == 0) return 1;
        if (got < 0 || pwrite(to, buf, (size_t)got, out) != got) {
            fail("io", rel, errno, "read/write");
            return -1;
        }
        in += got;
        out += got;
    }
    return 0;
}

/* The data regions only (SEEK_DATA/SEEK_HOLE), so a sparse file stays sparse. */
static int copy_content(struct copy *c, const struct node *n, int to)
{
    off_t size = n->st.st_size, pos = 0;
    while (pos < size) {
        off_t data = lseek(n->fd, pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO) break; /* only a hole is left */
        if (data < 0) data = pos;               /* no hole support: all data */
        if (data >= size) break;
        off_t hole = lseek(n->fd, data, SEEK_HOLE);
        if (hole < 0 || hole > size) hole = size;
        c->copied += (unsigned long long)(hole - data);
        if (c->copied > c->max_bytes) {
            fail("limit", n->rel, EFBIG, "more data than --max-bytes");
            return -1;
        }
        int rc = copy_range(n->fd, to, data, hole, n->rel);
        if (rc < 0) return -1;
        if (rc > 0) break;
        pos = hole;
    }
    if (ftruncate(to, size) < 0) {
        fail("io", n->rel, errno, "ftruncate");
        return -1;
    }
    return 0;
}

static int visit(void *ctx, const struct node *n, void *parent, void **cookie)
{
    struct copy *c = ctx;
    if (!parent) { /* the root: DST itself, attributes at leave() */
        *cookie = (void *)(intptr_t)c->dstroot;
        return 0;
    }
    int dirfd = (int)(intptr_t)parent;
    mode_t type = n->st.st_mode & S_IFMT;

    if (type == S_IFDIR) {
        if (mkdirat(dirfd, n->name, 0700) < 0) {
            fail("io", n->rel, errno, "mkdirat");
            return -1;
        }
        int fd = open_child(dirfd, n->name, O_RDONLY | O_DIRECTORY);
        if (fd < 0) {
            fail("io", n->rel, errno, "open copy");
            return -1;
        }
        if (copy_attrs(n, fd) < 0) {
            close(fd);
            return -1;
        }
        *cookie = (void *)(intptr_t)fd;
        return 0;
    }

    if (n->st.st_nlink > 1) {
        struct link_slot *slot = slot_of(c, n->st.st_dev, n->st.st_ino);
        if (!slot) {
            fail("io", n->rel, ENOMEM, "malloc");
            return -1;
        }
        if (slot->rel) {
            if (linkat(c->dstroot, slot->rel, dirfd, n->name, 0) < 0) {
                fail("io", n->rel, errno, "linkat");
                return -1;
            }
            return 0;
        }
        slot->dev = n->st.st_dev;
        slot->ino = n->st.st_ino;
        slot->rel = strdup(n->rel);
        c->used++;
    }

    if (type == S_IFREG) {
        int fd = openat(dirfd, n->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0) {
            fail("io", n->rel, errno, "create");
            return -1;
        }
        int rc = copy_content(c, n, fd) < 0 || copy_attrs(n, fd) < 0 || copy_times(n, fd) < 0 ? -1 : 0;
        close(fd);
        return rc;
    }

    if (type == S_IFLNK) {
        char target[n->link_len + 1];
        memcpy(target, n->link, n->link_len);
        target[n->link_len] = '\0';
        if (symlinkat(target, dirfd, n->name) < 0) {
            fail("io", n->rel, errno, "symlinkat");
            return -1;
        }
    } else if (mknodat(dirfd, n->name, n->st.st_mode & (S_IFMT | 07777), n->st.st_rdev) < 0) {
        fail("io", n->rel, errno, "mknodat");
        return -1;
    }
    /* Symlinks, devices, fifos, sockets: no fd to copy xattrs from (none of them carry any
     * that a layer records). Owner first, then the mode, as above. */
    struct timespec times[2] = { n->st.st_atim, n->st.st_mtim };
    if (fchownat(dirfd, n->name, n->st.st_uid, n->st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
        (type != S_IFLNK && fchmodat(dirfd, n->name, n->st.st_mode & 07777, 0) < 0) ||
        utimensat(dirfd, n->name, times, AT_SYMLINK_NOFOLLOW) < 0) {
        fail("io", n->rel, errno, "attributes");
        return -1;
    }
    return 0;
}

static int leave(void *ctx, const struct node *n, void *cookie)
{
    struct copy *c = ctx;
    int fd = (int)(intptr_t)cookie;
    /* A directory's time last: creating its children changed it. */
    int rc = 0;
    if (fd == c->dstroot) rc = copy_attrs(n, fd);
    if (rc == 0) rc = copy_times(n, fd);
    if (fd != c->dstroot) close(fd);
    return rc;
}

int cmd_copy(int argc, char **argv)
{
    unsigned long long max_bytes = ~0ULL;
    if (argc == 5 && !strcmp(argv[1], "--max-bytes")) {
        char *end;
        max_bytes = strtoull(argv[2], &end, 10);
        if (*end) return usage();
        argv += 2;
        argc -= 2;
    }
    if (argc != 3) return usage();
    int src = open(argv[1], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (src < 0) {
        fail(errno == ENOENT ? "notfound" : "io", argv[1], errno, "open source");
        return 1;
    }
    if (mkdir(argv[2], 0700) < 0) {
        fail("io", argv[2], errno, "mkdir destination");
        return 1;
    }
    struct copy c = { .dstroot = open(argv[2], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC), .max_bytes = max_bytes };
    if (c.dstroot < 0) {
        fail("io", argv[2], errno, "open destination");
        return 1;
    }
    struct visitor v = { .visit = visit, .leave = leave, .ctx = &c };
    return walk_tree(src, &v, max_entries()) == 0 ? 0 : 1;
}
