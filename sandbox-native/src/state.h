/* Per-container state under --root: <root>/<id>/state.json, written atomically, read by every
 * command after create. Public fields follow runc's `state`; the rest is what later commands
 * (exec, kill, pause, delete) need to find the container again. */
#ifndef SN_STATE_H
#define SN_STATE_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <sys/types.h>
#include "cgroup.h"
#include "spec.h"

#define SN_ID_MAX 128

struct sn_state {
    char id[SN_ID_MAX + 1];
    char dir[PATH_MAX];
    char status[16];            /* creating, created, running, paused, stopped */
    pid_t pid;                  /* the container's init, as seen from the host */
    unsigned long long pid_start;   /* its start time, to tell it from a reused pid */
    pid_t monitor_pid;
    unsigned long long monitor_start;
    char bundle[PATH_MAX], rootfs[PATH_MAX];
    char created[64], finished[64];
    struct sn_cgroup cg;
    struct sn_idmap uid_maps[SN_MAX_IDMAPS], gid_maps[SN_MAX_IDMAPS];
    int n_uid_maps, n_gid_maps;
    int exit_code;              /* -1 while unknown */
    int signal;                 /* killing signal, 0 if none */
    bool oom_killed, timed_out;
    json_object *annotations;   /* owned */
};

bool state_id_ok(const char *id);
int state_lock_root(const char *root, struct sn_error *e);     /* returns a locked fd */
/* Create <root>/<id> exclusively. */
int state_create_dir(const char *root, const char *id, char *dir_out, struct sn_error *e);
int state_write(const struct sn_state *st, struct sn_error *e);
int state_read(const char *root, const char *id, struct sn_state *st, struct sn_error *e);
void state_free(struct sn_state *st);
int state_remove(const char *dir);
/* The status a reader should believe: "stopped" when init is gone, "paused" when frozen. */
const char *state_live_status(const struct sn_state *st);
json_object *state_public_json(const struct sn_state *st);
/* Is another live container under `root` using host ids that overlap these maps? */
int state_check_id_overlap(const char *root, const char *self_id, const struct sn_spec *s, struct sn_error *e);

unsigned long long proc_start_time(pid_t pid);     /* 0 if the process does not exist */
bool pid_alive(pid_t pid, unsigned long long start);

#endif
