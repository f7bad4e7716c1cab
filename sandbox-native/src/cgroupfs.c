#include "cgroupfs.h"
#include "mount.h"
#include "trace.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

/* Read-only, and nothing in it runs, opens a device or honours setuid. */
#define VIEW_FLAGS (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)

static int mount_hierarchy(const char *view, const char *name, const char *type, const char *data, struct sn_error *e)
{
    char path[PATH_MAX];
    if (snprintf(path, sizeof path, "%s/%s", view, name) >= (int)sizeof path)
        return sn_fail(e, "cgroup_mount", ENAMETOOLONG, "%s/%s", view, name);
    if (mkdir(path, 0555) < 0 && errno != EEXIST) return sn_fail(e, "cgroup_mount", errno, "creating %s", path);
    if (mount(type, path, type, VIEW_FLAGS, data) < 0) return sn_fail(e, "cgroup_mount", errno, "mounting %s at %s", type, path);
    return 0;
}

/* v1 (and hybrid), as Docker lays it out: a tmpfs holding one directory per hierarchy, named
 * for its controllers ("cpu,cpuacct", with a symlink per controller), and "unified" for a
 * hybrid host's cgroup2. Only hierarchies where the container has a cgroup of its own: in the
 * others (cpuset, blkio, name=systemd…) its cgroup namespace is rooted at the launcher's
 * cgroup, and mounting one would show the host's tree from there down. */
static int mount_v1(const char *view, const struct sn_cg_host *host, struct sn_error *e)
{
    if (mount("tmpfs", view, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=755,size=64k") < 0)
        return sn_fail(e, "cgroup_mount", errno, "mounting a tmpfs at %s", view);
    /* Our own cgroups, each "/" in our cgroup namespace: "ID:controllers:/". */
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return sn_fail(e, "cgroup_mount", errno, "reading /proc/self/cgroup");
    char line[512];
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;
        if (!b || b == a + 1) continue;   /* "0::/" is the unified hierarchy: below */
        *b = 0;
        const char *ctrls = a + 1;
        if (!cgroup_v1_is_own(ctrls)) continue;
        rc = mount_hierarchy(view, ctrls, "cgroup", ctrls, e);
        if (rc == 0 && strchr(ctrls, ',')) {
            char tmp[256], link[PATH_MAX + 256];
            snprintf(tmp, sizeof tmp, "%s", ctrls);
            for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t && rc == 0; t = strtok_r(NULL, ",", &save)) {
                snprintf(link, sizeof link, "%s/%s", view, t);
                if (symlink(ctrls, link) < 0 && errno != EEXIST) rc = sn_fail(e, "cgroup_mount", errno, "linking %s", link);
            }
        }
    }
    fclose(f);
    if (rc == 0 && host->unified) rc = mount_hierarchy(view, "unified", "cgroup2", NULL, e);
    /* The tmpfs too: nothing may be added beside the hierarchies. */
    if (rc == 0 && mount(NULL, view, NULL, MS_REMOUNT | MS_BIND | VIEW_FLAGS, NULL) < 0)
        rc = sn_fail(e, "cgroup_mount", errno, "making %s read-only", view);
    return rc;
}

int cgroupfs_mount(const struct sn_spec *s, const struct sn_cg_host *host, struct sn_error *e)
{
    double t = sn_now_ms();
    _cleanup_close_ int rootfd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0) return sn_fail(e, "cgroup_mount", errno, "opening /");
    for (size_t i = 0; i < s->n_mounts; i++) {
        if (!s->mounts[i].cgroup) continue;
        /* Nothing of the container runs yet: the resolved path cannot change under us. */
        char view[PATH_MAX];
        if (mount_resolve_dir(rootfd, s->mounts[i].destination, view, e) < 0) return -1;
        /* The mount's root is the root of our cgroup namespace: our own cgroup. */
        int rc = host->pure_v2 ? (mount("cgroup2", view, "cgroup2", VIEW_FLAGS, NULL) < 0
                                      ? sn_fail(e, "cgroup_mount", errno, "mounting cgroup2 at %s", view) : 0)
                               : mount_v1(view, host, e);
        if (rc < 0) return -1;
    }
    trace_step("cgroup_mount", t);
    return 0;
}
