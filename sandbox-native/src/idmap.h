/* User namespace id mapping, written by the parent into the child's /proc files. */
#ifndef SN_IDMAP_H
#define SN_IDMAP_H

#include <sys/types.h>
#include "spec.h"

/* setgroups "deny" first: the kernel requires it before an unprivileged gid_map, and it keeps
 * the container from dropping supplementary groups that deny it access on the host. */
int idmap_write(pid_t pid, const struct sn_idmap *uids, int nu, const struct sn_idmap *gids, int ng,
                struct sn_error *e);

#endif
