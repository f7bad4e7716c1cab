/* config.json: parse and validate the whole OCI runtime spec before anything changes, so a bad
 * config fails with a clear message and no side effects. */
#ifndef SN_SPEC_H
#define SN_SPEC_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/resource.h>
#include "util.h"

#define SN_MAX_IDMAPS 5
#define SN_MAX_RLIMITS 16
#define SN_MAX_GROUPS 32
#define SN_MAX_DEVICE_RULES 64

struct sn_idmap { uint32_t container, host, size; };

struct sn_mount {
    const char *destination, *type, *source;
    char *data;                /* comma-joined fs options; malloc'd */
    unsigned long flags;       /* MS_* */
    unsigned long clear_flags; /* flags an option turned off explicitly (rw, dev, exec...) */
    bool bind, recursive;
    bool idmap;                /* option "idmap": the bind is idmapped with the container's user namespace */
    bool cgroup;               /* type cgroup or cgroup2: the container's own cgroup, read-only (cgroupfs.c) */
};

struct sn_rlimit { int resource; uint64_t soft, hard; };

struct sn_process {
    bool terminal;
    unsigned short rows, cols;
    uint32_t uid, gid;
    uint32_t additional_gids[SN_MAX_GROUPS]; /* supplementary groups, container ids */
    int n_additional_gids;
    char **args, **env;        /* NULL-terminated; pointers into the JSON, array malloc'd */
    const char *cwd;
    uint64_t cap_bounding, cap_effective, cap_permitted;
    struct sn_rlimit rlimits[SN_MAX_RLIMITS];
    int n_rlimits;
};

struct sn_device_rule { bool allow; char type; int64_t major, minor; char access[4]; };

struct sn_resources {
    int64_t memory_limit, memory_swap;   /* bytes; -1 when unset */
    int64_t pids_limit;                  /* -1 when unset */
    int64_t cpu_quota;                   /* microseconds per period; -1 when unset */
    uint64_t cpu_period, cpu_shares;     /* 0 when unset */
    struct sn_device_rule devices[SN_MAX_DEVICE_RULES];
    int n_devices;
};

struct sn_spec {
    json_object *json;          /* owns every const char * below */
    char *bundle, *config_path, *rootfs;
    const char *oci_version;
    bool rootfs_readonly;
    struct sn_process process;
    const char *hostname;
    struct sn_mount *mounts;
    size_t n_mounts;
    struct sn_idmap uid_maps[SN_MAX_IDMAPS], gid_maps[SN_MAX_IDMAPS];
    int n_uid_maps, n_gid_maps;
    const char **masked_paths, **readonly_paths;
    size_t n_masked, n_readonly;
    const char *cgroups_path;   /* NULL → /sandbox-native/<id> */
    struct sn_resources res;
    json_object *seccomp;       /* NULL → built-in default profile */
    json_object *annotations;
    /* Layercake extensions, from annotations */
    uint64_t timeout_ms;
    const char *layers, *upper;
    bool has_cgroup_mount;
};

int spec_load(const char *bundle, struct sn_spec *s, struct sn_error *e);
/* Parse a `process` object (config.json's, or `exec --process FILE`). */
int spec_parse_process(json_object *p, struct sn_process *proc, const struct sn_spec *s, struct sn_error *e);
void spec_process_free(struct sn_process *p);
void spec_free(struct sn_spec *s);

/* Host id that container id `id` maps to, or -1. */
int64_t spec_map_id(const struct sn_idmap *maps, int n, uint32_t id);
/* Host uid/gid of the container's root. */
static inline uint32_t spec_root_uid(const struct sn_spec *s) { return (uint32_t)spec_map_id(s->uid_maps, s->n_uid_maps, 0); }
static inline uint32_t spec_root_gid(const struct sn_spec *s) { return (uint32_t)spec_map_id(s->gid_maps, s->n_gid_maps, 0); }

#endif
