#include "idmap.h"

#include <fcntl.h>
#include <stdio.h>
#include <string.h>

static int write_map(int procfd, const char *file, const struct sn_idmap *m, int n, struct sn_error *e)
{
    char buf[512];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%u %u %u\n", m[i].container, m[i].host, m[i].size);
    if (sn_write_file_at(procfd, file, buf) < 0) return sn_fail(e, "idmap", errno, "writing %s", file);
    return 0;
}

int idmap_write(pid_t pid, const struct sn_idmap *uids, int nu, const struct sn_idmap *gids, int ng,
                struct sn_error *e)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    int procfd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (procfd < 0) return sn_fail(e, "idmap", errno, "opening %s", path);
    /* setgroups stays allowed (the kernel's default): we write gid_map holding CAP_SETGID in
     * the parent namespace, so the kernel does not require "deny", and apt (and every image's
     * su, sudo, setpriv) drops to its own user with setgroups(2). The process holds no
     * supplementary group by then (process_become_ns_root), so none can be shed. */
    int rc = write_map(procfd, "uid_map", uids, nu, e);
    if (rc == 0) rc = write_map(procfd, "gid_map", gids, ng, e);
    close(procfd);
    return rc;
}
