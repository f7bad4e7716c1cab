/* The device filter of cgroup v2: an eBPF BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
 * container's cgroup, which the kernel asks before every open or mknod of a device node by a
 * process in it (v2 has no devices.allow files). It allows a device only if both the
 * launcher's floor (null, zero, full, random, urandom, tty, ptmx, pts/N) and the spec's
 * linux.resources.devices (last matching rule wins; none means the floor alone) allow it. The
 * spec's rules end with the floor's (spec.c), so they can narrow nothing in it. */
#ifndef SN_DEVFILTER_H
#define SN_DEVFILTER_H

#include "spec.h"

/* The floor, as allow rules. */
extern const struct sn_device_rule devfilter_floor[];
extern const int devfilter_floor_n;

int devfilter_attach(const char *cgroup_dir, const struct sn_resources *res, struct sn_error *e);

#endif
