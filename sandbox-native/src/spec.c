#include "spec.h"
#include "caps.h"
#include "devfilter.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>

#define MAX_CONFIG_BYTES (4u << 20)

static const char *str_field(json_object *o, const char *key)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string)) return NULL;
    return json_object_get_string(v);
}

static json_object *obj_field(json_object *o, const char *key, json_type type)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type)) return NULL;
    return v;
}

static bool int_field(json_object *o, const char *key, int64_t *out)
{
    json_object *v;
    if (!o || !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int)) return false;
    *out = json_object_get_int64(v);
    return true;
}

/* NULL-terminated array of the strings in a JSON array; NULL entries are refused. */
static int str_array(json_object *arr, char ***out, const char *what, struct sn_error *e)
{
    size_t n = arr ? json_object_array_length(arr) : 0;
    char **v = calloc(n + 1, sizeof *v);
    if (!v) return sn_fail(e, "spec", ENOMEM, "%s", what);
    for (size_t i = 0; i < n; i++) {
        json_object *it = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(it, json_type_string)) {
            free(v);
            return sn_fail(e, "spec", 0, "%s[%zu] is not a string", what, i);
        }
        v[i] = (char *)json_object_get_string(it);
    }
    *out = v;
    return 0;
}

/* A path a mount or check may use: absolute, normalised enough that ".." cannot climb. */
static bool path_ok(const char *p)
{
    if (!p || p[0] != '/' || strlen(p) >= PATH_MAX) return false;
    for (const char *c = p; (c = strstr(c, "..")); c += 2)
        if ((c == p || c[-1] == '/') && (c[2] == 0 || c[2] == '/')) return false;
    return true;
}

static bool under(const char *p, const char *dir)
{
    size_t n = strlen(dir);
    return strncmp(p, dir, n) == 0 && (p[n] == 0 || p[n] == '/');
}

/* `checked`: a set the container may get, so only the short list; the others are dropped
 * whole and need only name real capabilities. */
static int parse_caps(json_object *caps, const char *set, bool checked, uint64_t *out, struct sn_error *e)
{
    *out = 0;
    json_object *arr = obj_field(caps, set, json_type_array);
    if (!arr) return 0;
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        const char *name = json_object_get_string(json_object_array_get_idx(arr, i));
        int c = name ? caps_from_name(name) : -1;
        if (c < 0) return sn_fail(e, "spec", 0, "process.capabilities.%s: unknown capability %s", set, name ? name : "?");
        if (checked && !(caps_allowed & (1ULL << c)))
            return sn_fail(e, "spec", 0, "process.capabilities.%s: %s is not allowed in a Layercake container", set, name);
        *out |= 1ULL << c;
    }
    return 0;
}

static const struct { const char *name; int res; } rlimit_names[] = {
    { "RLIMIT_AS", RLIMIT_AS }, { "RLIMIT_CORE", RLIMIT_CORE }, { "RLIMIT_CPU", RLIMIT_CPU },
    { "RLIMIT_DATA", RLIMIT_DATA }, { "RLIMIT_FSIZE", RLIMIT_FSIZE }, { "RLIMIT_LOCKS", RLIMIT_LOCKS },
    { "RLIMIT_MEMLOCK", RLIMIT_MEMLOCK }, { "RLIMIT_MSGQUEUE", RLIMIT_MSGQUEUE },
    { "RLIMIT_NICE", RLIMIT_NICE }, { "RLIMIT_NOFILE", RLIMIT_NOFILE }, { "RLIMIT_NPROC", RLIMIT_NPROC },
    { "RLIMIT_RSS", RLIMIT_RSS }, { "RLIMIT_RTPRIO", RLIMIT_RTPRIO }, { "RLIMIT_RTTIME", RLIMIT_RTTIME },
    { "RLIMIT_SIGPENDING", RLIMIT_SIGPENDING }, { "RLIMIT_STACK", RLIMIT_STACK },
};

static void set_rlimit(struct sn_process *p, int res, uint64_t soft, uint64_t hard, bool override)
{
    for (int i = 0; i < p->n_rlimits; i++) {
        if (p->rlimits[i].resource != res) continue;
        if (override) { p->rlimits[i].soft = soft; p->rlimits[i].hard = hard; }
        return;
    }
    if (p->n_rlimits < SN_MAX_RLIMITS)
        p->rlimits[p->n_rlimits++] = (struct sn_rlimit){ res, soft, hard };
}

int spec_parse_process(json_object *p, struct sn_process *proc, const struct sn_spec *s, struct sn_error *e)
{
    memset(proc, 0, sizeof *proc);
    if (!p) return sn_fail(e, "spec", 0, "process is missing");
    json_object *v;
    proc->terminal = json_object_object_get_ex(p, "terminal", &v) && json_object_get_boolean(v);
    json_object *cs = obj_field(p, "consoleSize", json_type_object);
    int64_t h = 0, w = 0;
    if (cs && int_field(cs, "height", &h) && int_field(cs, "width", &w) && h > 0 && w > 0 && h < 65536 && w < 65536) {
        proc->rows = (unsigned short)h;
        proc->cols = (unsigned short)w;
    }

    json_object *user = obj_field(p, "user", json_type_object);
    int64_t uid = 0, gid = 0;
    int_field(user, "uid", &uid);
    int_field(user, "gid", &gid);
    if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX) return sn_fail(e, "spec", 0, "process.user is out of range");
    proc->uid = (uint32_t)uid;
    proc->gid = (uint32_t)gid;
    /* Supplementary groups (the image's /etc/group, looked up by the engine): each must be
     * mapped, so a container can only ever hold gids of its own range. */
    json_object *extra = obj_field(user, "additionalGids", json_type_array);
    size_t n_extra = extra ? json_object_array_length(extra) : 0;
    if (n_extra > SN_MAX_GROUPS) return sn_fail(e, "spec", 0, "process.user.additionalGids: at most %d groups", SN_MAX_GROUPS);
    for (size_t i = 0; i < n_extra; i++) {
        json_object *g = json_object_array_get_idx(extra, i);
        int64_t id = json_object_is_type(g, json_type_int) ? json_object_get_int64(g) : -1;
        if (id < 0 || id > UINT32_MAX) return sn_fail(e, "spec", 0, "process.user.additionalGids[%zu] is not a group id", i);
        if (s && spec_map_id(s->gid_maps, s->n_gid_maps, (uint32_t)id) < 0)
            return sn_fail(e, "spec", 0, "process.user.additionalGids: gid %lld is not mapped by linux.gidMappings", (long long)id);
        proc->additional_gids[proc->n_additional_gids++] = (uint32_t)id;
    }
    if (s && spec_map_id(s->uid_maps, s->n_uid_maps, proc->uid) < 0)
        return sn_fail(e, "spec", 0, "process.user.uid %u is not mapped by linux.uidMappings", proc->uid);
    if (s && spec_map_id(s->gid_maps, s->n_gid_maps, proc->gid) < 0)
        return sn_fail(e, "spec", 0, "process.user.gid %u is not mapped by linux.gidMappings", proc->gid);

    if (str_array(obj_field(p, "args", json_type_array), &proc->args, "process.args", e) < 0) return -1;
    if (!proc->args[0] || !proc->args[0][0]) return sn_fail(e, "spec", 0, "process.args is empty: nothing to run");
    if (str_array(obj_field(p, "env", json_type_array), &proc->env, "process.env", e) < 0) return -1;
    proc->cwd = str_field(p, "cwd");
    if (!proc->cwd) proc->cwd = "/";
    if (!path_ok(proc->cwd)) return sn_fail(e, "spec", 0, "process.cwd must be an absolute path without '..': %s", proc->cwd);

    json_object *caps = obj_field(p, "capabilities", json_type_object);
    uint64_t inh = 0, amb = 0;
    if (parse_caps(caps, "bounding", true, &proc->cap_bounding, e) < 0 ||
        parse_caps(caps, "effective", true, &proc->cap_effective, e) < 0 ||
        parse_caps(caps, "permitted", true, &proc->cap_permitted, e) < 0 ||
        parse_caps(caps, "inheritable", false, &inh, e) < 0 || parse_caps(caps, "ambient", false, &amb, e) < 0)
        return -1;
    /* Inheritable and ambient stay empty: they would carry capabilities across execve of
     * programs the learner controls (CVE-2022-24769: Docker and runc stopped filling the
     * inheritable set). Dropping them is safe, so a spec that asks (runc spec's default does)
     * runs, with a note. */
    if (inh | amb)
        sn_log("note: process.capabilities: the inheritable and ambient sets are dropped; a container gets neither "
               "(as Docker since CVE-2022-24769)");
    proc->cap_permitted &= proc->cap_bounding;
    proc->cap_effective &= proc->cap_permitted;

    json_object *rl = obj_field(p, "rlimits", json_type_array);
    for (size_t i = 0; rl && i < json_object_array_length(rl); i++) {
        json_object *it = json_object_array_get_idx(rl, i);
        const char *type = str_field(it, "type");
        int64_t soft = 0, hard = 0;
        int res = -1;
        for (size_t k = 0; type && k < sizeof rlimit_names / sizeof rlimit_names[0]; k++)
            if (strcmp(type, rlimit_names[k].name) == 0) res = rlimit_names[k].res;
        if (res < 0) return sn_fail(e, "spec", 0, "process.rlimits[%zu]: unknown type %s", i, type ? type : "?");
        if (!int_field(it, "soft", &soft) || !int_field(it, "hard", &hard) || soft < 0 || hard < 0 || soft > hard)
            return sn_fail(e, "spec", 0, "process.rlimits[%zu] (%s): soft and hard must be numbers with soft <= hard", i, type);
        set_rlimit(proc, res, (uint64_t)soft, (uint64_t)hard, true);
    }
    /* Core dumps would write host-side files and leak memory contents: always off. */
    set_rlimit(proc, RLIMIT_CORE, 0, 0, true);
    set_rlimit(proc, RLIMIT_NOFILE, 1024, 1024, false);
    set_rlimit(proc, RLIMIT_FSIZE, 1ULL << 30, 1ULL << 30, false);
    return 0;
}

static const struct { const char *opt; unsigned long set, clear; } mount_opts[] = {
    { "ro", MS_RDONLY, 0 }, { "rw", 0, MS_RDONLY }, { "nosuid", MS_NOSUID, 0 }, { "suid", 0, MS_NOSUID },
    { "nodev", MS_NODEV, 0 }, { "dev", 0, MS_NODEV }, { "noexec", MS_NOEXEC, 0 }, { "exec", 0, MS_NOEXEC },
    { "noatime", MS_NOATIME, 0 }, { "relatime", MS_RELATIME, 0 }, { "strictatime", MS_STRICTATIME, 0 },
    { "nodiratime", MS_NODIRATIME, 0 }, { "sync", MS_SYNCHRONOUS, 0 }, { "async", 0, MS_SYNCHRONOUS },
    /* Propagation options are accepted and ignored: every container mount is private to the
     * container's namespace. */
    { "private", 0, 0 }, { "rprivate", 0, 0 }, { "slave", 0, 0 }, { "rslave", 0, 0 },
    { "shared", 0, 0 }, { "rshared", 0, 0 },
};

static int parse_mount(json_object *m, size_t i, struct sn_mount *out, struct sn_error *e)
{
    memset(out, 0, sizeof *out);
    out->destination = str_field(m, "destination");
    out->type = str_field(m, "type");
    out->source = str_field(m, "source");
    if (!path_ok(out->destination))
        return sn_fail(e, "spec", 0, "mounts[%zu].destination must be an absolute path without '..'", i);
    json_object *opts = obj_field(m, "options", json_type_array);
    size_t cap = 1;
    for (size_t k = 0; opts && k < json_object_array_length(opts); k++)
        cap += strlen(json_object_get_string(json_object_array_get_idx(opts, k)) ?: "") + 1;
    out->data = calloc(1, cap);
    if (!out->data) return sn_fail(e, "spec", ENOMEM, "mounts");
    for (size_t k = 0; opts && k < json_object_array_length(opts); k++) {
        const char *o = json_object_get_string(json_object_array_get_idx(opts, k));
        if (!o) continue;
        if (strcmp(o, "bind") == 0) { out->bind = true; continue; }
        if (strcmp(o, "rbind") == 0) { out->bind = out->recursive = true; continue; }
        /* OCI runtime-spec 1.1's idmapped mount, with the container's own mappings (no per-mount ones). */
        if (strcmp(o, "idmap") == 0) { out->idmap = true; continue; }
        bool known = false;
        for (size_t j = 0; j < sizeof mount_opts / sizeof mount_opts[0]; j++) {
            if (strcmp(o, mount_opts[j].opt) != 0) continue;
            out->flags = (out->flags | mount_opts[j].set) & ~mount_opts[j].clear;
            out->clear_flags |= mount_opts[j].clear;
            known = true;
        }
        if (known) continue;
        if (out->data[0]) strcat(out->data, ",");
        strcat(out->data, o);
    }
    if (out->type && strcmp(out->type, "bind") == 0) out->bind = true;
    if (!out->type && !out->bind) return sn_fail(e, "spec", 0, "mounts[%zu] (%s) has no type", i, out->destination);

    static const char *const allowed[] = { "proc", "sysfs", "tmpfs", "devpts", "mqueue", "cgroup", "cgroup2" };
    if (out->bind) {
        if (!path_ok(out->source))
            return sn_fail(e, "spec", 0, "mounts[%zu] (%s): bind source must be an absolute path", i, out->destination);
        /* Host pseudo-filesystems and the host root would hand the container the host. */
        if (strcmp(out->source, "/") == 0 || under(out->source, "/proc") || under(out->source, "/sys") ||
            under(out->source, "/dev"))
            return sn_fail(e, "spec", 0, "mounts[%zu]: binding host %s into a container is refused", i, out->source);
    } else {
        bool ok = false;
        for (size_t j = 0; j < sizeof allowed / sizeof allowed[0]; j++)
            if (strcmp(out->type, allowed[j]) == 0) ok = true;
        if (!ok) return sn_fail(e, "spec", 0, "mounts[%zu] (%s): filesystem type %s is not allowed", i, out->destination, out->type);
    }
    /* Over-mounting inside /proc is how CVE-2019-16884 and CVE-2019-19921 disabled
     * protections; only /proc itself may be mounted. */
    if (under(out->destination, "/proc") && strcmp(out->destination, "/proc") != 0)
        return sn_fail(e, "spec", 0, "mounts[%zu]: mounting over %s is refused", i, out->destination);
    if (strcmp(out->destination, "/proc") == 0 && (out->bind || strcmp(out->type, "proc") != 0))
        return sn_fail(e, "spec", 0, "mounts[%zu]: /proc must be a proc mount", i);
    if (strcmp(out->destination, "/dev") == 0 && (out->bind || strcmp(out->type, "tmpfs") != 0))
        return sn_fail(e, "spec", 0, "mounts[%zu]: /dev must be a tmpfs", i);
    if (strcmp(out->destination, "/sys") == 0 && (out->bind || strcmp(out->type, "sysfs") != 0))
        return sn_fail(e, "spec", 0, "mounts[%zu]: /sys must be a sysfs mount", i);
    if (!out->bind && strcmp(out->type, "sysfs") == 0) out->flags |= MS_RDONLY;   /* /sys is read-only, always */
    /* A cgroup mount is the container's own cgroup, read-only whatever the options say: a
     * writable one would let it raise its own limits. Either type gets the host's kind. */
    out->cgroup = !out->bind && (strcmp(out->type, "cgroup") == 0 || strcmp(out->type, "cgroup2") == 0);
    if (out->cgroup) out->flags |= MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
    return 0;
}

static int parse_idmaps(json_object *arr, const char *what, struct sn_idmap *maps, int *n, struct sn_error *e)
{
    *n = 0;
    if (!arr || json_object_array_length(arr) == 0)
        return sn_fail(e, "spec", 0, "linux.%s is required: container root must map to an unprivileged host range", what);
    if (json_object_array_length(arr) > SN_MAX_IDMAPS) return sn_fail(e, "spec", 0, "linux.%s: at most %d ranges", what, SN_MAX_IDMAPS);
    for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *m = json_object_array_get_idx(arr, i);
        int64_t c, h, sz;
        if (!int_field(m, "containerID", &c) || !int_field(m, "hostID", &h) || !int_field(m, "size", &sz) ||
            c < 0 || h < 0 || sz <= 0 || c + sz > UINT32_MAX || h + sz > UINT32_MAX)
            return sn_fail(e, "spec", 0, "linux.%s[%zu] needs containerID, hostID and size in range", what, i);
        if (h == 0) return sn_fail(e, "spec", 0, "linux.%s[%zu] maps to host id 0: refused", what, i);
        maps[(*n)++] = (struct sn_idmap){ (uint32_t)c, (uint32_t)h, (uint32_t)sz };
    }
    return 0;
}

int64_t spec_map_id(const struct sn_idmap *maps, int n, uint32_t id)
{
    for (int i = 0; i < n; i++)
        if (id >= maps[i].container && id - maps[i].container < maps[i].size)
            return (int64_t)maps[i].host + (id - maps[i].container);
    return -1;
}

static int parse_paths(json_object *arr, const char ***out, size_t *n, const char *what, struct sn_error *e)
{
    *n = arr ? json_object_array_length(arr) : 0;
    *out = calloc(*n + 1, sizeof **out);
    if (!*out) return sn_fail(e, "spec", ENOMEM, "%s", what);
    for (size_t i = 0; i < *n; i++) {
        const char *p = json_object_get_string(json_object_array_get_idx(arr, i));
        if (!path_ok(p)) return sn_fail(e, "spec", 0, "linux.%s[%zu] must be an absolute path", what, i);
        (*out)[i] = p;
    }
    return 0;
}

static int parse_resources(json_object *r, struct sn_resources *res, struct sn_error *e)
{
    res->memory_limit = res->memory_swap = res->pids_limit = res->cpu_quota = -1;
    json_object *mem = obj_field(r, "memory", json_type_object);
    int64_t v;
    if (int_field(mem, "limit", &v) && v > 0) res->memory_limit = v;
    if (int_field(mem, "swap", &v) && v > 0) res->memory_swap = v;
    if (res->memory_swap >= 0 && res->memory_limit >= 0 && res->memory_swap < res->memory_limit)
        return sn_fail(e, "spec", 0, "linux.resources.memory.swap (memory+swap) is below the memory limit");
    json_object *pids = obj_field(r, "pids", json_type_object);
    if (int_field(pids, "limit", &v) && v > 0) res->pids_limit = v;
    json_object *cpu = obj_field(r, "cpu", json_type_object);
    if (int_field(cpu, "quota", &v) && v > 0) res->cpu_quota = v;
    if (int_field(cpu, "period", &v) && v > 0) res->cpu_period = (uint64_t)v;
    if (int_field(cpu, "shares", &v) && v > 0) res->cpu_shares = (uint64_t)v;
    json_object *devs = obj_field(r, "devices", json_type_array);
    for (size_t i = 0; devs && i < json_object_array_length(devs); i++) {
        if (res->n_devices >= SN_MAX_DEVICE_RULES) return sn_fail(e, "spec", 0, "linux.resources.devices: too many rules");
        json_object *d = json_object_array_get_idx(devs, i);
        struct sn_device_rule *rule = &res->devices[res->n_devices++];
        json_object *allow;
        rule->allow = json_object_object_get_ex(d, "allow", &allow) && json_object_get_boolean(allow);
        const char *type = str_field(d, "type");
        rule->type = type && (type[0] == 'c' || type[0] == 'b') ? type[0] : 'a';
        rule->major = int_field(d, "major", &v) ? v : -1;
        rule->minor = int_field(d, "minor", &v) ? v : -1;
        const char *acc = str_field(d, "access");
        snprintf(rule->access, sizeof rule->access, "%s", acc && strspn(acc, "rwm") == strlen(acc) && acc[0] ? acc : "rwm");
    }
    /* runc appends its default devices after the spec's rules (the last match wins), so a
     * spec that denies everything, as runc spec's does, still has /dev/null and a terminal.
     * The floor, what /dev holds, is appended the same way. */
    for (int i = 0; res->n_devices > 0 && i < devfilter_floor_n; i++) {
        if (res->n_devices >= SN_MAX_DEVICE_RULES) return sn_fail(e, "spec", 0, "linux.resources.devices: too many rules");
        res->devices[res->n_devices++] = devfilter_floor[i];
    }
    return 0;
}

int spec_load(const char *bundle, struct sn_spec *s, struct sn_error *e)
{
    memset(s, 0, sizeof *s);
    s->bundle = realpath(bundle, NULL);
    if (!s->bundle) return sn_fail(e, "spec", errno, "bundle %s", bundle);
    s->config_path = sn_strdup_printf("%s/config.json", s->bundle);
    int fd = open(s->config_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return sn_fail(e, "spec", errno, "opening %s", s->config_path);
    size_t len;
    char *text = sn_read_all(fd, &len, MAX_CONFIG_BYTES);
    int saved = errno;
    close(fd);
    if (!text) return sn_fail(e, "spec", saved, "reading %s", s->config_path);
    json_tokener *tok = json_tokener_new();
    s->json = json_tokener_parse_ex(tok, text, (int)len);
    enum json_tokener_error jerr = json_tokener_get_error(tok);
    json_tokener_free(tok);
    free(text);
    if (!s->json || jerr != json_tokener_success || !json_object_is_type(s->json, json_type_object))
        return sn_fail(e, "spec", 0, "%s is not valid JSON (%s)", s->config_path, json_tokener_error_desc(jerr));

    s->oci_version = str_field(s->json, "ociVersion");
    if (!s->oci_version) return sn_fail(e, "spec", 0, "ociVersion is missing");

    json_object *root = obj_field(s->json, "root", json_type_object);
    const char *rp = str_field(root, "path");
    if (!rp) return sn_fail(e, "spec", 0, "root.path is missing");
    json_object *ro;
    s->rootfs_readonly = root && json_object_object_get_ex(root, "readonly", &ro) && json_object_get_boolean(ro);
    char *joined = rp[0] == '/' ? strdup(rp) : sn_strdup_printf("%s/%s", s->bundle, rp);
    s->rootfs = realpath(joined, NULL);
    free(joined);
    if (!s->rootfs) return sn_fail(e, "spec", errno, "root.path %s", rp);
    struct stat st;
    if (stat(s->rootfs, &st) < 0 || !S_ISDIR(st.st_mode)) return sn_fail(e, "spec", ENOTDIR, "root.path %s", s->rootfs);

    json_object *linux_ = obj_field(s->json, "linux", json_type_object);
    if (!linux_) return sn_fail(e, "spec", 0, "linux section is missing");
    if (parse_idmaps(obj_field(linux_, "uidMappings", json_type_array), "uidMappings", s->uid_maps, &s->n_uid_maps, e) < 0 ||
        parse_idmaps(obj_field(linux_, "gidMappings", json_type_array), "gidMappings", s->gid_maps, &s->n_gid_maps, e) < 0)
        return -1;
    if (spec_map_id(s->uid_maps, s->n_uid_maps, 0) < 0 || spec_map_id(s->gid_maps, s->n_gid_maps, 0) < 0)
        return sn_fail(e, "spec", 0, "linux.uidMappings/gidMappings must map container id 0");

    /* Every namespace is always created; joining an existing one (a `path`) would share
     * the host's or another container's. */
    json_object *nss = obj_field(linux_, "namespaces", json_type_array);
    for (size_t i = 0; nss && i < json_object_array_length(nss); i++) {
        json_object *ns = json_object_array_get_idx(nss, i);
        const char *path = str_field(ns, "path");
        if (path && path[0]) return sn_fail(e, "spec", 0, "linux.namespaces[%zu]: joining an existing namespace is refused", i);
    }

    if (spec_parse_process(obj_field(s->json, "process", json_type_object), &s->process, s, e) < 0) return -1;
    s->hostname = str_field(s->json, "hostname");
    if (s->hostname && strlen(s->hostname) > 64) return sn_fail(e, "spec", 0, "hostname is longer than 64 bytes");

    json_object *mounts = obj_field(s->json, "mounts", json_type_array);
    s->n_mounts = mounts ? json_object_array_length(mounts) : 0;
    if (s->n_mounts > 63) return sn_fail(e, "spec", 0, "mounts: at most 63 entries");
    s->mounts = calloc(s->n_mounts + 1, sizeof *s->mounts);
    for (size_t i = 0; i < s->n_mounts; i++)
        if (parse_mount(json_object_array_get_idx(mounts, i), i, &s->mounts[i], e) < 0) return -1;
        else if (s->mounts[i].cgroup) s->has_cgroup_mount = true;

    if (parse_paths(obj_field(linux_, "maskedPaths", json_type_array), &s->masked_paths, &s->n_masked, "maskedPaths", e) < 0 ||
        parse_paths(obj_field(linux_, "readonlyPaths", json_type_array), &s->readonly_paths, &s->n_readonly, "readonlyPaths", e) < 0)
        return -1;

    s->cgroups_path = str_field(linux_, "cgroupsPath");
    if (s->cgroups_path && (strstr(s->cgroups_path, "..") || strchr(s->cgroups_path, ':')))
        return sn_fail(e, "spec", 0, "linux.cgroupsPath must be a plain path (no '..', no systemd slice syntax)");
    if (parse_resources(obj_field(linux_, "resources", json_type_object), &s->res, e) < 0) return -1;

    s->seccomp = obj_field(linux_, "seccomp", json_type_object);
    if (s->seccomp && str_field(s->seccomp, "listenerPath"))
        return sn_fail(e, "spec", 0, "linux.seccomp.listenerPath (user notification) is not supported");

    s->annotations = obj_field(s->json, "annotations", json_type_object);
    const char *timeout = str_field(s->annotations, "io.layercake.timeout-ms");
    if (timeout) {
        char *end;
        errno = 0;
        unsigned long long t = strtoull(timeout, &end, 10);
        if (errno || *end || t == 0) return sn_fail(e, "spec", 0, "annotation io.layercake.timeout-ms must be a positive integer");
        s->timeout_ms = t;
    }
    s->layers = str_field(s->annotations, "io.layercake.rootfs.layers");
    s->upper = str_field(s->annotations, "io.layercake.rootfs.upper");
    if (s->upper && !s->layers) return sn_fail(e, "spec", 0, "annotation io.layercake.rootfs.upper needs io.layercake.rootfs.layers");
    if (s->upper && !path_ok(s->upper)) return sn_fail(e, "spec", 0, "annotation io.layercake.rootfs.upper must be an absolute path");
    return 0;
}

void spec_process_free(struct sn_process *p)
{
    free(p->args);
    free(p->env);
    p->args = p->env = NULL;
}

void spec_free(struct sn_spec *s)
{
    for (size_t i = 0; i < s->n_mounts; i++) free(s->mounts[i].data);
    free(s->mounts);
    free(s->masked_paths);
    free(s->readonly_paths);
    spec_process_free(&s->process);
    free(s->bundle);
    free(s->config_path);
    free(s->rootfs);
    if (s->json) json_object_put(s->json);
    memset(s, 0, sizeof *s);
}
