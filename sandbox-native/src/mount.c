#include "mount.h"
#include "trace.h"

#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

/* Docker's lists, applied whatever the spec says (the spec can only add). */
static const char *const default_masked[] = {
    "/proc/asound", "/proc/acpi", "/proc/interrupts" /* GHSA-6fw5-f8r9-fgfm */, "/proc/kcore", "/proc/keys", "/proc/latency_stats", "/proc/timer_list",
    "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap",
    NULL,
};
static const char *const default_readonly[] = {
    "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger", NULL,
};
/* The only device nodes a container gets, bind-mounted from the host (a user namespace
 * cannot create working ones). */
static const char *const devices[] = { "null", "zero", "full", "random", "urandom", "tty", NULL };

static const struct sn_mount default_mounts[] = {
    { .destination = "/proc", .type = "proc", .source = "proc", .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC },
    { .destination = "/dev", .type = "tmpfs", .source = "tmpfs", .flags = MS_NOSUID | MS_STRICTATIME,
      .data = "mode=755,size=65536k" },
    { .destination = "/dev/pts", .type = "devpts", .source = "devpts", .flags = MS_NOSUID | MS_NOEXEC,
      .data = "newinstance,ptmxmode=0666,mode=0620,gid=5" },
    { .destination = "/dev/shm", .type = "tmpfs", .source = "shm", .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC,
      .data = "mode=1777,size=65536k" },
    { .destination = "/dev/mqueue", .type = "mqueue", .source = "mqueue", .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC },
    { .destination = "/sys", .type = "sysfs", .source = "sysfs", .flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY },
};

/* Open `path` inside the rootfs as if the rootfs were "/": symlinks and ".." cannot leave it
 * (the defence against CVE-2021-30465-style symlink tricks in images). */
static int open_in_root(int rootfd, const char *path, int flags)
{
    struct open_how how = { .flags = (uint64_t)(flags | O_CLOEXEC),
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    while (*path == '/') path++;
    if (!*path) path = ".";
    return (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
}

/* Create missing components of `path` inside the rootfs; the last one as a file if `file`. */
static int make_in_root(int rootfd, const char *path, bool file, struct sn_error *e)
{
    char buf[PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    char *p = buf;
    while (*p == '/') p++;
    for (char *slash = p;; slash++) {
        bool last = *slash == 0;
        if (*slash != '/' && !last) continue;
        char saved = *slash;
        *slash = 0;
        int fd = open_in_root(rootfd, buf, O_PATH);
        if (fd >= 0) close(fd);
        else if (errno == ENOENT) {
            char *name = strrchr(buf, '/');
            int parent;
            if (name) { *name = 0; parent = open_in_root(rootfd, buf, O_PATH | O_DIRECTORY); *name = '/'; name++; }
            else { parent = open_in_root(rootfd, "/", O_PATH | O_DIRECTORY); name = buf; }
            if (parent < 0) return sn_fail(e, "mounts", errno, "resolving the parent of %s", path);
            int rc;
            if (last && file) {
                rc = openat(parent, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
                if (rc >= 0) close(rc), rc = 0;
            } else {
                rc = mkdirat(parent, name, 0755);
            }
            int saved_errno = errno;
            close(parent);
            if (rc < 0 && saved_errno != EEXIST) return sn_fail(e, "mounts", saved_errno, "creating %s in the rootfs", path);
        } else {
            return sn_fail(e, "mounts", errno, "resolving %s in the rootfs", path);
        }
        *slash = saved;
        if (last) break;
    }
    return 0;
}

/* The in-root path `path` names once its symlinks are followed (dangling ones too), never
 * leaving the root: a symlink's target is read and joined as if the rootfs were "/". */
static int resolve_in_root(int rootfd, const char *path, char out[PATH_MAX], struct sn_error *e)
{
    char cur[PATH_MAX], rest[PATH_MAX];
    snprintf(cur, PATH_MAX, "/");
    snprintf(rest, PATH_MAX, "%s", path);
    for (int hops = 0; hops < 40; ) {
        char *p = rest;
        while (*p == '/') p++;
        if (!*p) { snprintf(out, PATH_MAX, "%s", cur); return 0; }
        char *slash = strchr(p, '/');
        char name[NAME_MAX + 1];
        snprintf(name, sizeof name, "%.*s", (int)(slash ? slash - p : (long)strlen(p)), p);
        char tail[PATH_MAX];
        snprintf(tail, sizeof tail, "%s", slash ? slash : "");
        if (strcmp(name, ".") == 0) { snprintf(rest, PATH_MAX, "%s", tail); continue; }
        if (strcmp(name, "..") == 0) {
            char *last = strrchr(cur, '/');
            if (last && last != cur) *last = 0; else snprintf(cur, PATH_MAX, "/");
            snprintf(rest, PATH_MAX, "%s", tail);
            continue;
        }
        char next[PATH_MAX];
        if (snprintf(next, PATH_MAX, "%s%s%s", cur, strcmp(cur, "/") ? "/" : "", name) >= PATH_MAX)
            return sn_fail(e, "mounts", ENAMETOOLONG, "%s", path);
        char target[PATH_MAX];
        _cleanup_close_ int dir = open_in_root(rootfd, cur, O_PATH | O_DIRECTORY);
        ssize_t n = dir >= 0 ? readlinkat(dir, name, target, sizeof target - 1) : -1;
        if (n < 0) {   /* not a symlink (or absent): take the name as it is */
            snprintf(cur, PATH_MAX, "%s", next);
            snprintf(rest, PATH_MAX, "%s", tail);
            continue;
        }
        target[n] = 0;
        hops++;
        if (target[0] == '/') snprintf(cur, PATH_MAX, "/");
        if (snprintf(rest, PATH_MAX, "%s%s", target, tail) >= PATH_MAX)
            return sn_fail(e, "mounts", ENAMETOOLONG, "mount point %s", path);
    }
    return sn_fail(e, "mounts", ELOOP, "too many symlinks under mount point %s", path);
}

static unsigned long locked_flags(const char *path)
{
    /* A remount must repeat the flags the kernel locked on the mount, or it fails with EPERM. */
    struct statvfs sv;
    if (statvfs(path, &sv) < 0) return 0;
    unsigned long f = 0;
    if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
    if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
    if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
    if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
    if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
    if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
    return f;
}

int mount_resolve_dir(int rootfd, const char *destination, char out[PATH_MAX], struct sn_error *e)
{
    if (resolve_in_root(rootfd, destination, out, e) < 0 || make_in_root(rootfd, out, false, e) < 0) return -1;
    _cleanup_close_ int fd = open_in_root(rootfd, out, O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (fd < 0) return sn_fail(e, "mounts", errno, "opening mount point %s", destination);
    return 0;
}

static int mount_one(int rootfd, const struct sn_mount *m, int bind_fd, struct sn_error *e)
{
    /* A cgroup view needs the container's cgroup namespace, which comes later (cgroupfs.c);
     * only its mount point is made now, while the root may still be writable. */
    if (m->cgroup) {
        char dir[PATH_MAX];
        return mount_resolve_dir(rootfd, m->destination, dir, e);
    }
    bool file = false;
    if (m->bind) {
        struct stat st;
        if (bind_fd < 0 || fstat(bind_fd, &st) < 0) return sn_fail(e, "mounts", errno, "bind source %s", m->source);
        file = !S_ISDIR(st.st_mode);
    }
    /* A destination that is a symlink in the image is followed, but inside the rootfs only
     * (RESOLVE_IN_ROOT), as runc does: the mount lands where the link leads in the image. */
    char dest[PATH_MAX];
    if (resolve_in_root(rootfd, m->destination, dest, e) < 0) return -1;
    if (make_in_root(rootfd, dest, file, e) < 0) return -1;
    _cleanup_close_ int target = open_in_root(rootfd, dest, O_PATH | O_NOFOLLOW);
    if (target < 0) return sn_fail(e, "mounts", errno, "opening mount point %s", m->destination);
    char at[64];
    snprintf(at, sizeof at, "/proc/self/fd/%d", target);
    if (m->bind) {
        /* The parent cloned the source (we may not be able to reach it) and set its options. */
        if (move_mount(bind_fd, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
            return sn_fail(e, "mounts", errno, "binding %s at %s", m->source, m->destination);
        return 0;
    }
    if (mount(m->source ? m->source : m->type, at, m->type, m->flags, m->data && m->data[0] ? m->data : NULL) < 0)
        return sn_fail(e, "mounts", errno, "mounting %s at %s", m->type, m->destination);
    return 0;
}

static bool spec_has(const struct sn_spec *s, const char *dest)
{
    for (size_t i = 0; i < s->n_mounts; i++)
        if (strcmp(s->mounts[i].destination, dest) == 0) return true;
    return false;
}

static int refuse_symlink(int rootfd, const char *rel, struct sn_error *e)
{
    struct stat st;
    if (fstatat(rootfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode))
        return sn_fail(e, "rootfs", 0, "refusing to start: /%s in the image is a symlink", rel);
    return 0;
}

static int populate_dev(int rootfd, struct sn_error *e)
{
    _cleanup_close_ int dev = open_in_root(rootfd, "/dev", O_PATH | O_DIRECTORY | O_NOFOLLOW);
    if (dev < 0) return sn_fail(e, "dev", errno, "opening /dev");
    for (int i = 0; devices[i]; i++) {
        int fd = openat(dev, devices[i], O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0666);
        if (fd < 0) return sn_fail(e, "dev", errno, "creating /dev/%s", devices[i]);
        close(fd);
        _cleanup_close_ int target = openat(dev, devices[i], O_PATH | O_NOFOLLOW | O_CLOEXEC);
        char host[64], at[64];
        snprintf(host, sizeof host, "/dev/%s", devices[i]);
        snprintf(at, sizeof at, "/proc/self/fd/%d", target);
        if (target < 0 || mount(host, at, NULL, MS_BIND, NULL) < 0)
            return sn_fail(e, "dev", errno, "binding %s", host);
    }
    static const char *const links[][2] = {
        { "/proc/self/fd", "fd" }, { "/proc/self/fd/0", "stdin" }, { "/proc/self/fd/1", "stdout" },
        { "/proc/self/fd/2", "stderr" }, { "pts/ptmx", "ptmx" },
    };
    for (size_t i = 0; i < sizeof links / sizeof links[0]; i++)
        if (symlinkat(links[i][0], dev, links[i][1]) < 0 && errno != EEXIST)
            return sn_fail(e, "dev", errno, "linking /dev/%s", links[i][1]);
    return 0;
}

static bool listed(const char *const *list, const char *path)
{
    for (; *list; list++)
        if (strcmp(*list, path) == 0) return true;
    return false;
}

static int mask_path(const char *path, struct sn_error *e)
{
    struct stat st;
    if (stat(path, &st) < 0) return 0;   /* nothing there to hide */
    int rc = S_ISDIR(st.st_mode) ? mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0,mode=555")
                                 : mount("/dev/null", path, NULL, MS_BIND, NULL);
    if (rc < 0) return sn_fail(e, "masked_paths", errno, "masking %s", path);
    return 0;
}

static int readonly_path(const char *path, struct sn_error *e)
{
    if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
        if (errno == ENOENT) return 0;
        return sn_fail(e, "readonly_paths", errno, "binding %s", path);
    }
    if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags(path), NULL) < 0)
        return sn_fail(e, "readonly_paths", errno, "making %s read-only", path);
    return 0;
}

int mount_container_fs(const struct sn_spec *s, int rootfd, const int *bind_fds, struct sn_error *e)
{
    double t = sn_now_ms();
    if (refuse_symlink(rootfd, "proc", e) < 0 || refuse_symlink(rootfd, "dev", e) < 0 ||
        refuse_symlink(rootfd, "dev/null", e) < 0 || refuse_symlink(rootfd, "sys", e) < 0)
        return -1;
    t = trace_step("rootfs_checks", t);

    /* /proc, /dev, /dev/pts... are always there: defaults where the spec has none. */
    for (size_t i = 0; i < sizeof default_mounts / sizeof default_mounts[0]; i++)
        if (!spec_has(s, default_mounts[i].destination) && mount_one(rootfd, &default_mounts[i], -1, e) < 0) return -1;
    for (size_t i = 0; i < s->n_mounts; i++)
        if (mount_one(rootfd, &s->mounts[i], bind_fds[i], e) < 0) return -1;
    t = trace_step("mounts", t);
    if (populate_dev(rootfd, e) < 0) return -1;
    t = trace_step("dev", t);

    /* pivot_root(".", "."): the old root ends up stacked on the new one; detaching it leaves
     * no path back to the host's filesystem. */
    if (fchdir(rootfd) < 0) return sn_fail(e, "pivot_root", errno, "entering the rootfs");
    if (syscall(SYS_pivot_root, ".", ".") < 0) return sn_fail(e, "pivot_root", errno, "pivot_root");
    if (umount2(".", MNT_DETACH) < 0) return sn_fail(e, "pivot_root", errno, "detaching the old root");
    if (chdir("/") < 0) return sn_fail(e, "pivot_root", errno, "chdir /");
    t = trace_step("pivot_root", t);

    /* The spec's lists usually repeat the defaults (hardenedSpec's are Docker's): each path
     * once, so mountinfo shows one mount per path, as Docker's does. */
    for (int i = 0; default_masked[i]; i++)
        if (mask_path(default_masked[i], e) < 0) return -1;
    for (size_t i = 0; i < s->n_masked; i++)
        if (!listed(default_masked, s->masked_paths[i]) && mask_path(s->masked_paths[i], e) < 0) return -1;
    for (int i = 0; default_readonly[i]; i++)
        if (readonly_path(default_readonly[i], e) < 0) return -1;
    for (size_t i = 0; i < s->n_readonly; i++)
        if (!listed(default_readonly, s->readonly_paths[i]) && readonly_path(s->readonly_paths[i], e) < 0) return -1;
    if (s->rootfs_readonly && mount(NULL, "/", NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | locked_flags("/"), NULL) < 0)
        return sn_fail(e, "rootfs", errno, "making the root read-only");
    trace_step("masked_paths", t);
    return 0;
}
