#include "state.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

bool state_id_ok(const char *id)
{
    size_t n = strlen(id);
    if (n == 0 || n > SN_ID_MAX || id[0] == '.') return false;
    return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

int state_lock_root(const char *root, struct sn_error *e)
{
    if (sn_mkdir_p(root, 0700) < 0) return sn_fail(e, "state", errno, "creating %s", root);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/.lock", root);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) return sn_fail(e, "state", errno, "opening %s", path);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno == EINTR) continue;
        int saved = errno;
        close(fd);
        return sn_fail(e, "state", saved, "locking %s", path);
    }
    return fd;
}

int state_create_dir(const char *root, const char *id, char *dir_out, struct sn_error *e)
{
    if (!state_id_ok(id)) return sn_fail(e, "state", 0, "container id %s: use 1-128 of [A-Za-z0-9_.-], not starting with '.'", id);
    snprintf(dir_out, PATH_MAX, "%s/%s", root, id);
    if (mkdir(dir_out, 0700) < 0) {
        if (errno == EEXIST) return sn_fail(e, "state", 0, "container %s already exists", id);
        return sn_fail(e, "state", errno, "creating %s", dir_out);
    }
    return 0;
}

static json_object *maps_json(const struct sn_idmap *m, int n)
{
    json_object *a = json_object_new_array();
    for (int i = 0; i < n; i++) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "containerID", json_object_new_int64(m[i].container));
        json_object_object_add(o, "hostID", json_object_new_int64(m[i].host));
        json_object_object_add(o, "size", json_object_new_int64(m[i].size));
        json_object_array_add(a, o);
    }
    return a;
}

static int maps_from_json(json_object *a, struct sn_idmap *m, int *n)
{
    *n = 0;
    for (size_t i = 0; a && i < json_object_array_length(a) && i < SN_MAX_IDMAPS; i++) {
        json_object *o = json_object_array_get_idx(a, i), *c, *h, *s;
        if (!json_object_object_get_ex(o, "containerID", &c) || !json_object_object_get_ex(o, "hostID", &h) ||
            !json_object_object_get_ex(o, "size", &s))
            return -1;
        m[(*n)++] = (struct sn_idmap){ (uint32_t)json_object_get_int64(c), (uint32_t)json_object_get_int64(h),
                                       (uint32_t)json_object_get_int64(s) };
    }
    return 0;
}

const char *state_live_status(const struct sn_state *st)
{
    if (strcmp(st->status, "stopped") == 0) return "stopped";
    if (strcmp(st->status, "creating") == 0)
        return pid_alive(st->monitor_pid, st->monitor_start) ? "creating" : "stopped";
    if (!st->pid || !pid_alive(st->pid, st->pid_start)) return "stopped";
    if (cgroup_is_frozen(&st->cg)) return "paused";
    return st->status;
}

json_object *state_public_json(const struct sn_state *st)
{
    json_object *o = json_object_new_object();
    const char *status = state_live_status(st);
    json_object_object_add(o, "ociVersion", json_object_new_string("1.0.2"));
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "pid", json_object_new_int(strcmp(status, "stopped") == 0 ? 0 : st->pid));
    json_object_object_add(o, "status", json_object_new_string(status));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
    json_object_object_add(o, "created", json_object_new_string(st->created));
    json_object_object_add(o, "owner", json_object_new_string(""));
    /* An extension to runc's fields: the monitor that holds the container (0 once it is gone,
     * checked against its start time so a reused pid never shows), for the engine to watch. */
    json_object_object_add(o, "monitorPid", json_object_new_int(pid_alive(st->monitor_pid, st->monitor_start) ? st->monitor_pid : 0));
    if (st->annotations) json_object_object_add(o, "annotations", json_object_get(st->annotations));
    if (strcmp(status, "stopped") == 0) {
        if (st->exit_code >= 0) json_object_object_add(o, "exitCode", json_object_new_int(st->exit_code));
        if (st->signal) json_object_object_add(o, "signal", json_object_new_string(sigabbrev_np(st->signal) ?: "?"));
        json_object_object_add(o, "oomKilled", json_object_new_boolean(st->oom_killed));
        json_object_object_add(o, "timedOut", json_object_new_boolean(st->timed_out));
        if (st->finished[0]) json_object_object_add(o, "finished", json_object_new_string(st->finished));
    }
    json_object_object_add(o, "cgroup", cgroup_to_json(&st->cg));
    return o;
}

int state_write(const struct sn_state *st, struct sn_error *e)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(st->id));
    json_object_object_add(o, "status", json_object_new_string(st->status));
    json_object_object_add(o, "pid", json_object_new_int(st->pid));
    json_object_object_add(o, "pidStart", json_object_new_uint64(st->pid_start));
    json_object_object_add(o, "monitorPid", json_object_new_int(st->monitor_pid));
    json_object_object_add(o, "monitorStart", json_object_new_uint64(st->monitor_start));
    json_object_object_add(o, "bundle", json_object_new_string(st->bundle));
    json_object_object_add(o, "rootfs", json_object_new_string(st->rootfs));
    json_object_object_add(o, "created", json_object_new_string(st->created));
    json_object_object_add(o, "finished", json_object_new_string(st->finished));
    json_object_object_add(o, "cgroup", cgroup_to_json(&st->cg));
    json_object_object_add(o, "uidMappings", maps_json(st->uid_maps, st->n_uid_maps));
    json_object_object_add(o, "gidMappings", maps_json(st->gid_maps, st->n_gid_maps));
    json_object_object_add(o, "exitCode", json_object_new_int(st->exit_code));
    json_object_object_add(o, "signal", json_object_new_int(st->signal));
    json_object_object_add(o, "oomKilled", json_object_new_boolean(st->oom_killed));
    json_object_object_add(o, "timedOut", json_object_new_boolean(st->timed_out));
    if (st->annotations) json_object_object_add(o, "annotations", json_object_get(st->annotations));
    const char *text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
    char tmp[PATH_MAX + 32], path[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s/.state.%d", st->dir, (int)getpid());
    snprintf(path, sizeof path, "%s/state.json", st->dir);
    int rc = 0;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0 || sn_write_all(fd, text, strlen(text)) < 0 || rename(tmp, path) < 0) {
        rc = sn_fail(e, "state", errno, "writing %s", path);
        unlink(tmp);
    }
    if (fd >= 0) close(fd);
    json_object_put(o);
    return rc;
}

static const char *jstr(json_object *o, const char *k)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : "";
}

static int64_t jint(json_object *o, const char *k, int64_t def)
{
    json_object *v;
    return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : def;
}

int state_read(const char *root, const char *id, struct sn_state *st, struct sn_error *e)
{
    memset(st, 0, sizeof *st);
    if (!state_id_ok(id)) return sn_fail(e, "state", 0, "container id %s is not valid", id);
    snprintf(st->dir, sizeof st->dir, "%s/%s", root, id);
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/state.json", st->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return sn_fail(e, "state", ENOENT, "container %s does not exist", id);
        return sn_fail(e, "state", errno, "opening %s", path);
    }
    char *text = sn_read_all(fd, NULL, 1u << 20);
    close(fd);
    json_object *o = text ? json_tokener_parse(text) : NULL;
    free(text);
    if (!o) return sn_fail(e, "state", 0, "%s is damaged", path);
    snprintf(st->id, sizeof st->id, "%s", id);
    snprintf(st->status, sizeof st->status, "%s", jstr(o, "status"));
    st->pid = (pid_t)jint(o, "pid", 0);
    st->pid_start = (unsigned long long)jint(o, "pidStart", 0);
    st->monitor_pid = (pid_t)jint(o, "monitorPid", 0);
    st->monitor_start = (unsigned long long)jint(o, "monitorStart", 0);
    snprintf(st->bundle, sizeof st->bundle, "%s", jstr(o, "bundle"));
    snprintf(st->rootfs, sizeof st->rootfs, "%s", jstr(o, "rootfs"));
    snprintf(st->created, sizeof st->created, "%s", jstr(o, "created"));
    snprintf(st->finished, sizeof st->finished, "%s", jstr(o, "finished"));
    json_object *v;
    if (json_object_object_get_ex(o, "cgroup", &v)) cgroup_from_json(&st->cg, v);
    if (json_object_object_get_ex(o, "uidMappings", &v)) maps_from_json(v, st->uid_maps, &st->n_uid_maps);
    if (json_object_object_get_ex(o, "gidMappings", &v)) maps_from_json(v, st->gid_maps, &st->n_gid_maps);
    st->exit_code = (int)jint(o, "exitCode", -1);
    st->signal = (int)jint(o, "signal", 0);
    st->oom_killed = json_object_object_get_ex(o, "oomKilled", &v) && json_object_get_boolean(v);
    st->timed_out = json_object_object_get_ex(o, "timedOut", &v) && json_object_get_boolean(v);
    if (json_object_object_get_ex(o, "annotations", &v)) st->annotations = json_object_get(v);
    json_object_put(o);
    return 0;
}

void state_free(struct sn_state *st)
{
    if (st->annotations) json_object_put(st->annotations);
    st->annotations = NULL;
}

int state_remove(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)))
            if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")) unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    return rmdir(dir);
}

static bool ranges_overlap(const struct sn_idmap *a, int na, const struct sn_idmap *b, int nb)
{
    for (int i = 0; i < na; i++)
        for (int k = 0; k < nb; k++)
            if ((uint64_t)a[i].host < (uint64_t)b[k].host + b[k].size && (uint64_t)b[k].host < (uint64_t)a[i].host + a[i].size)
                return true;
    return false;
}

int state_check_id_overlap(const char *root, const char *self_id, const struct sn_spec *s, struct sn_error *e)
{
    DIR *d = opendir(root);
    if (!d) return 0;
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (de = readdir(d))) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, self_id) == 0) continue;
        struct sn_state other;
        struct sn_error ignore;
        if (state_read(root, de->d_name, &other, &ignore) < 0) continue;
        if (strcmp(state_live_status(&other), "stopped") != 0 &&
            (ranges_overlap(s->uid_maps, s->n_uid_maps, other.uid_maps, other.n_uid_maps) ||
             ranges_overlap(s->gid_maps, s->n_gid_maps, other.gid_maps, other.n_gid_maps)))
            rc = sn_fail(e, "idmap", 0, "host id range overlaps running container %s: each container needs its own range",
                         other.id);
        state_free(&other);
    }
    closedir(d);
    return rc;
}

unsigned long long proc_start_time(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (sn_read_file(path, buf, sizeof buf) <= 0) return 0;
    /* comm may contain spaces and parentheses: fields resume after the last ')'. */
    char *p = strrchr(buf, ')');
    if (!p) return 0;
    unsigned long long start = 0;
    /* after ")": state(3) ... starttime is field 22 → the 20th token after ')' */
    int field = 2;
    for (char *t = strtok(p + 1, " "); t; t = strtok(NULL, " ")) {
        if (++field == 22) { start = strtoull(t, NULL, 10); break; }
    }
    return start;
}

bool pid_alive(pid_t pid, unsigned long long start)
{
    if (pid <= 0) return false;
    unsigned long long now = proc_start_time(pid);
    if (now == 0) return false;
    /* A zombie still has a stat file; count it as gone. */
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    if (sn_read_file(path, buf, sizeof buf) > 0) {
        char *p = strrchr(buf, ')');
        if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X')) return false;
    }
    return start == 0 || now == start;
}
