/* The container's own cgroup, shown read-only where the spec mounts `cgroup` (Docker's
 * /sys/fs/cgroup with a cgroup namespace), so a learner can read memory.max or
 * memory.limit_in_bytes from inside. */
#ifndef SN_CGROUPFS_H
#define SN_CGROUPFS_H

#include "cgroup.h"
#include "spec.h"

/* After pivot_root and after the cgroup namespace is made: every cgroup mount of the spec. */
int cgroupfs_mount(const struct sn_spec *s, const struct sn_cg_host *host, struct sn_error *e);

#endif
