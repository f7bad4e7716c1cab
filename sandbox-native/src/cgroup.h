/* cgroups v1 and v2 behind one interface. On a hybrid host (v1 controllers plus a cgroup2
 * mount without controllers) the container also gets a cgroup in the unified tree, only to
 * use cgroup.kill: one write kills every process, even ones forking as fast as they can. */
#ifndef SN_CGROUP_H
#define SN_CGROUP_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "spec.h"

enum sn_cg_ctrl { CG_MEMORY, CG_PIDS, CG_CPU, CG_CPUACCT, CG_FREEZER, CG_DEVICES, CG_UNIFIED, CG_N };

/* Longest cgroup directory we accept: kept well below PATH_MAX because this struct is copied
 * into the container's setup process, and every page of it costs a fault there. */
#define SN_CG_PATH 512

struct sn_cgroup {
    int version;                /* 1 (v1 or hybrid) or 2 (pure v2) */
    char dirs[CG_N][SN_CG_PATH];/* absolute directory per controller; "" when not used. On v2
                                   every entry names the same directory. */
};

/* Where the container's cgroup(s) will be, without making them: the state records this
 * before they exist, so a launcher killed at any point leaves a delete all it needs to remove
 * them. `spec_path` may be NULL. */
int cgroup_plan(struct sn_cgroup *cg, const char *spec_path, const char *id, struct sn_error *e);
/* Make the planned directories and write the limits. */
int cgroup_create(struct sn_cgroup *cg, const struct sn_resources *res, struct sn_error *e);
int cgroup_enter(const struct sn_cgroup *cg, pid_t pid, struct sn_error *e);
/* SIGKILL every process in the cgroup. */
void cgroup_kill_all(const struct sn_cgroup *cg);
int cgroup_freeze(const struct sn_cgroup *cg, bool frozen, struct sn_error *e);
bool cgroup_is_frozen(const struct sn_cgroup *cg);
bool cgroup_oom_killed(const struct sn_cgroup *cg);
bool cgroup_is_empty(const struct sn_cgroup *cg);
/* Remove the directories, waiting up to `wait_ms` for the last processes to go. */
int cgroup_destroy(const struct sn_cgroup *cg, int wait_ms);

/* What kind of host this is, for the container's view of its cgroup (cgroupfs.c): pure v2, or
 * v1 controllers with (hybrid) or without a cgroup2 mount. cgroup_create() makes the container
 * a cgroup of its own in exactly the hierarchies this names. */
struct sn_cg_host { bool pure_v2, unified; };
int cgroup_host(struct sn_cg_host *h, struct sn_error *e);
/* Does the v1 hierarchy holding `ctrls` ("cpu,cpuacct", "name=systemd") give the container a
 * cgroup of its own? Only those may be shown to it: in the others it sits in the launcher's. */
bool cgroup_v1_is_own(const char *ctrls);

json_object *cgroup_to_json(const struct sn_cgroup *cg);
int cgroup_from_json(struct sn_cgroup *cg, json_object *o);

#endif
