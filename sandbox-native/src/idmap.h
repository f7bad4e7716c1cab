/* User namespace id mapping, written by the parent into the child's /proc files. */
#ifndef SN_IDMAP_H
#define SN_IDMAP_H

#include <sys/types.h>
#include "spec.h"

/* Written by the privileged parent, so setgroups stays allowed: the container starts with no
 * supplementary groups (process.c) and can set only gids of its own range. */
int idmap_write(pid_t pid, const struct sn_idmap *uids, int nu, const struct sn_idmap *gids, int ng,
                struct sn_error *e);

#endif
