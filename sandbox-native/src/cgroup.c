#include "cgroup.h"
#include "devfilter.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static const char *const ctrl_names[CG_N] = { "memory", "pids", "cpu", "cpuacct", "freezer", "devices", "unified" };

struct hierarchy { char mount[256]; char root[256]; bool found; };

/* Where each controller's hierarchy is mounted, from mountinfo (co-mounted controllers such
 * as cpu,cpuacct share one mount). */
static int find_hierarchies(struct hierarchy h[CG_N], bool *pure_v2)
{
    memset(h, 0, sizeof(struct hierarchy) * CG_N);
    *pure_v2 = false;
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f) return -1;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        /* id parent major:minor root mountpoint options [optional...] - fstype source superopts */
        char root[256], mnt[256];
        if (sscanf(line, "%*d %*d %*s %255s %255s", root, mnt) != 2) continue;
        char *sep = strstr(line, " - ");
        if (!sep) continue;
        char fstype[64], source[256], super[1024] = "";
        if (sscanf(sep + 3, "%63s %255s %1023s", fstype, source, super) < 2) continue;
        if (strcmp(fstype, "cgroup2") == 0) {
            if (strcmp(mnt, "/sys/fs/cgroup") == 0) *pure_v2 = true;
            if (!h[CG_UNIFIED].found || strcmp(mnt, "/sys/fs/cgroup") == 0) {
                snprintf(h[CG_UNIFIED].mount, sizeof h->mount, "%s", mnt);
                snprintf(h[CG_UNIFIED].root, sizeof h->root, "%s", root);
                h[CG_UNIFIED].found = true;
            }
            continue;
        }
        if (strcmp(fstype, "cgroup") != 0) continue;
        for (char *tok = strtok(super, ","); tok; tok = strtok(NULL, ",")) {
            for (int c = 0; c < CG_UNIFIED; c++) {
                if (strcmp(tok, ctrl_names[c]) != 0 || h[c].found) continue;
                snprintf(h[c].mount, sizeof h->mount, "%s", mnt);
                snprintf(h[c].root, sizeof h->root, "%s", root);
                h[c].found = true;
            }
        }
    }
    fclose(f);
    return 0;
}

/* This process's own cgroup in the hierarchy holding `ctrl` ("" for the unified one). */
static void own_cgroup(const char *ctrl, char *out, size_t size)
{
    snprintf(out, size, "/");
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f) return;
    char line[4096];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        char *a = strchr(line, ':');
        char *b = a ? strchr(a + 1, ':') : NULL;
        if (!b) continue;
        *b = 0;
        const char *ctrls = a + 1, *path = b + 1;
        bool match = false;
        if (!ctrl[0]) match = ctrls[0] == 0;
        else {
            char tmp[256];
            snprintf(tmp, sizeof tmp, "%s", ctrls);
            for (char *t = strtok(tmp, ","); t; t = strtok(NULL, ","))
                if (strcmp(t, ctrl) == 0) match = true;
        }
        if (match) { snprintf(out, size, "%s", path); break; }
    }
    fclose(f);
}

/* Directory for `rel` (the container's cgroup path) in a hierarchy: absolute paths start at the
 * hierarchy's root, relative ones under this process's own cgroup, as runc does. */
static int dir_for(const struct hierarchy *h, const char *ctrl, const char *rel, char out[SN_CG_PATH])
{
    char base[SN_CG_PATH] = "/";
    if (rel[0] != '/') own_cgroup(ctrl, base, sizeof base);
    char full[SN_CG_PATH * 2];
    snprintf(full, sizeof full, "%s/%s", strcmp(base, "/") == 0 ? "" : base, rel[0] == '/' ? rel + 1 : rel);
    /* Inside a cgroup namespace the mount's root may not be "/": strip it. */
    const char *tail = full;
    size_t rl = strlen(h->root);
    if (strcmp(h->root, "/") != 0 && strncmp(full, h->root, rl) == 0) tail = full + rl;
    if (snprintf(out, SN_CG_PATH, "%s%s", h->mount, tail) >= SN_CG_PATH) return -1;
    return 0;
}

static int wr(struct sn_error *e, const char *dir, const char *file, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int wr(struct sn_error *e, const char *dir, const char *file, const char *fmt, ...)
{
    char val[128], path[PATH_MAX + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof val, fmt, ap);
    va_end(ap);
    snprintf(path, sizeof path, "%s/%s", dir, file);
    if (sn_write_file(path, val) < 0) return sn_fail(e, "cgroup", errno, "writing %s to %s", val, path);
    return 0;
}

static bool exists(const char *dir, const char *file)
{
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    return access(path, F_OK) == 0;
}

static void dev_rule(char *buf, size_t size, const struct sn_device_rule *r)
{
    char maj[24] = "*", min[24] = "*";
    if (r->major >= 0) snprintf(maj, sizeof maj, "%lld", (long long)r->major);
    if (r->minor >= 0) snprintf(min, sizeof min, "%lld", (long long)r->minor);
    if (r->type == 'a') snprintf(buf, size, "a");
    else snprintf(buf, size, "%c %s:%s %s", r->type, maj, min, r->access);
}

static int limits_v1(const struct sn_cgroup *cg, const struct sn_resources *r, struct sn_error *e)
{
    const char *mem = cg->dirs[CG_MEMORY];
    if (mem[0] && r->memory_limit > 0) {
        if (wr(e, mem, "memory.limit_in_bytes", "%lld", (long long)r->memory_limit) < 0) return -1;
        /* memsw = memory + swap: equal to the limit means no swap at all. The file is absent
         * when the kernel does not account swap, and then there is nothing to limit. */
        int64_t memsw = r->memory_swap > 0 ? r->memory_swap : r->memory_limit;
        if (exists(mem, "memory.memsw.limit_in_bytes") &&
            wr(e, mem, "memory.memsw.limit_in_bytes", "%lld", (long long)memsw) < 0) return -1;
        if (memsw == r->memory_limit && exists(mem, "memory.swappiness")) wr(e, mem, "memory.swappiness", "0");
    }
    if (cg->dirs[CG_PIDS][0] && r->pids_limit > 0 &&
        wr(e, cg->dirs[CG_PIDS], "pids.max", "%lld", (long long)r->pids_limit) < 0) return -1;
    const char *cpu = cg->dirs[CG_CPU];
    if (cpu[0]) {
        if (r->cpu_period && wr(e, cpu, "cpu.cfs_period_us", "%llu", (unsigned long long)r->cpu_period) < 0) return -1;
        if (r->cpu_quota > 0 && wr(e, cpu, "cpu.cfs_quota_us", "%lld", (long long)r->cpu_quota) < 0) return -1;
        if (r->cpu_shares && wr(e, cpu, "cpu.shares", "%llu", (unsigned long long)r->cpu_shares) < 0) return -1;
    }
    const char *dev = cg->dirs[CG_DEVICES];
    for (int i = 0; dev[0] && i < r->n_devices; i++) {
        char rule[64];
        dev_rule(rule, sizeof rule, &r->devices[i]);
        if (wr(e, dev, r->devices[i].allow ? "devices.allow" : "devices.deny", "%s", rule) < 0) return -1;
    }
    return 0;
}

static int limits_v2(const struct sn_cgroup *cg, const struct sn_resources *r, struct sn_error *e)
{
    const char *d = cg->dirs[CG_UNIFIED];
    if (r->memory_limit > 0) {
        if (wr(e, d, "memory.max", "%lld", (long long)r->memory_limit) < 0) return -1;
        int64_t swap = r->memory_swap > 0 ? r->memory_swap - r->memory_limit : 0;
        if (exists(d, "memory.swap.max") && wr(e, d, "memory.swap.max", "%lld", (long long)swap) < 0) return -1;
    }
    if (r->pids_limit > 0 && wr(e, d, "pids.max", "%lld", (long long)r->pids_limit) < 0) return -1;
    if (r->cpu_quota > 0 &&
        wr(e, d, "cpu.max", "%lld %llu", (long long)r->cpu_quota, (unsigned long long)(r->cpu_period ? r->cpu_period : 100000)) < 0)
        return -1;
    if (r->cpu_shares) {
        /* cgroup v2 weight (1..10000) from v1 shares (2..262144), the mapping runc uses. */
        unsigned long long s = r->cpu_shares < 2 ? 2 : r->cpu_shares > 262144 ? 262144 : r->cpu_shares;
        if (wr(e, d, "cpu.weight", "%llu", 1 + ((s - 2) * 9999) / 262142) < 0) return -1;
    }
    /* Device rules on v2 are an eBPF program: see devfilter.h. */
    return devfilter_attach(d, r, e);
}

/* Is `word` one of the space-separated words in `list` ("cpu" is not in "cpuset memory")? */
static bool has_word(const char *list, const char *word)
{
    size_t n = strlen(word);
    for (const char *p = list; (p = strstr(p, word)); p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == 0 || p[n] == ' ' || p[n] == '\n')) return true;
    return false;
}

/* v2: a controller is usable in a child only if every ancestor enables it in subtree_control. */
static int enable_controllers_v2(const char *mount, const char *dir, struct sn_error *e)
{
    static const char *const wanted[] = { "memory", "pids", "cpu" };
    char avail[256];
    char path[PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/cgroup.controllers", mount);
    if (sn_read_file(path, avail, sizeof avail) < 0) return sn_fail(e, "cgroup", errno, "reading %s", path);
    /* Walk from the mount down to the container's parent. */
    char cur[PATH_MAX];
    snprintf(cur, sizeof cur, "%s", mount);
    const char *rest = dir + strlen(mount);
    for (;;) {
        snprintf(path, sizeof path, "%s/cgroup.subtree_control", cur);
        char have[256] = "", want[128] = "";
        sn_read_file(path, have, sizeof have);
        for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
            if (has_word(avail, wanted[i]) && !has_word(have, wanted[i]))
                snprintf(want + strlen(want), sizeof want - strlen(want), "%s+%s", want[0] ? " " : "", wanted[i]);
        if (want[0] && sn_write_file(path, want) < 0 && errno != ENOENT)
            return sn_fail(e, "cgroup", errno, "enabling controllers (%s) in %s", want, path);
        while (*rest == '/') rest++;
        const char *slash = strchr(rest, '/');
        if (!slash) break;   /* cur is now the container's parent */
        size_t n = strlen(cur);
        snprintf(cur + n, sizeof cur - n, "/%.*s", (int)(slash - rest), rest);
        rest = slash;
    }
    return 0;
}

int cgroup_plan(struct sn_cgroup *cg, const char *spec_path, const char *id, struct sn_error *e)
{
    memset(cg, 0, sizeof *cg);
    struct hierarchy h[CG_N];
    bool pure_v2;
    if (find_hierarchies(h, &pure_v2) < 0) return sn_fail(e, "cgroup", errno, "reading mountinfo");
    char rel[SN_CG_PATH];
    snprintf(rel, sizeof rel, "%s", spec_path && spec_path[0] ? spec_path : "");
    if (!rel[0]) snprintf(rel, sizeof rel, "/sandbox-native/%s", id);
    if (pure_v2) {
        if (dir_for(&h[CG_UNIFIED], "", rel, cg->dirs[CG_UNIFIED]) < 0) return sn_fail(e, "cgroup", ENAMETOOLONG, "%s", rel);
        for (int c = 0; c < CG_UNIFIED; c++) snprintf(cg->dirs[c], SN_CG_PATH, "%s", cg->dirs[CG_UNIFIED]);
        cg->version = 2;
        return 0;
    }
    for (int c = 0; c < CG_N; c++) {
        if (!h[c].found) {
            if (c == CG_MEMORY || c == CG_PIDS || c == CG_FREEZER)
                return sn_fail(e, "cgroup", ENOENT, "the %s cgroup controller is not mounted", ctrl_names[c]);
            continue;
        }
        /* cpu and cpuacct may share a mount: one directory serves both. */
        if (dir_for(&h[c], c == CG_UNIFIED ? "" : ctrl_names[c], rel, cg->dirs[c]) < 0)
            return sn_fail(e, "cgroup", ENAMETOOLONG, "%s", rel);
    }
    cg->version = 1;
    return 0;
}

int cgroup_create(struct sn_cgroup *cg, const struct sn_resources *res, struct sn_error *e)
{
    if (cg->version == 2) {
        /* The walk that enables controllers starts at the mount, which the plan does not keep
         * (the struct is copied into the container's setup process: it stays small). */
        struct hierarchy h[CG_N];
        bool pure_v2;
        if (find_hierarchies(h, &pure_v2) < 0) return sn_fail(e, "cgroup", errno, "reading mountinfo");
        if (sn_mkdir_p(cg->dirs[CG_UNIFIED], 0755) < 0) return sn_fail(e, "cgroup", errno, "creating %s", cg->dirs[CG_UNIFIED]);
        if (enable_controllers_v2(h[CG_UNIFIED].mount, cg->dirs[CG_UNIFIED], e) < 0 || limits_v2(cg, res, e) < 0) {
            cgroup_destroy(cg, 0);
            return -1;
        }
        return 0;
    }
    for (int c = 0; c < CG_N; c++) {
        if (!cg->dirs[c][0] || sn_mkdir_p(cg->dirs[c], 0755) == 0) continue;
        int err = errno;
        cgroup_destroy(cg, 0);
        return sn_fail(e, "cgroup", err, "creating %s", cg->dirs[c]);
    }
    /* On a hybrid host the unified cgroup gets the v2 device filter too: it applies the
     * launcher's floor, which the v1 lists (the spec's rules only) cannot. */
    if (limits_v1(cg, res, e) < 0 || (cg->dirs[CG_UNIFIED][0] && devfilter_attach(cg->dirs[CG_UNIFIED], res, e) < 0)) {
        cgroup_destroy(cg, 0);
        return -1;
    }
    return 0;
}

int cgroup_enter(const struct sn_cgroup *cg, pid_t pid, struct sn_error *e)
{
    char val[32];
    snprintf(val, sizeof val, "%d", (int)pid);
    for (int c = 0; c < CG_N; c++) {
        if (!cg->dirs[c][0] || (c > 0 && strcmp(cg->dirs[c], cg->dirs[c - 1]) == 0)) continue;
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/cgroup.procs", cg->dirs[c]);
        if (sn_write_file(path, val) < 0) return sn_fail(e, "cgroup", errno, "adding pid %d to %s", (int)pid, path);
    }
    return 0;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    nanosleep(&ts, NULL);
}

static const char *procs_dir(const struct sn_cgroup *cg)
{
    for (int c = 0; c < CG_N; c++)
        if (cg->dirs[c][0]) return cg->dirs[c];
    return NULL;
}

void cgroup_kill_all(const struct sn_cgroup *cg)
{
    if (cg->dirs[CG_UNIFIED][0] && exists(cg->dirs[CG_UNIFIED], "cgroup.kill")) {
        char path[PATH_MAX + 32];
        snprintf(path, sizeof path, "%s/cgroup.kill", cg->dirs[CG_UNIFIED]);
        if (sn_write_file(path, "1") == 0) return;
    }
    /* v1 without cgroup.kill: freeze so nothing forks while we read the list, kill, thaw. */
    struct sn_error e;
    bool frozen = cg->dirs[CG_FREEZER][0] && cgroup_freeze(cg, true, &e) == 0;
    const char *dir = procs_dir(cg);
    for (int round = 0; dir && round < 20; round++) {
        char path[PATH_MAX + 32], buf[65536];
        snprintf(path, sizeof path, "%s/cgroup.procs", dir);
        if (sn_read_file(path, buf, sizeof buf) <= 0) break;
        for (char *t = strtok(buf, "\n"); t; t = strtok(NULL, "\n")) kill((pid_t)atoi(t), SIGKILL);
        if (frozen) break;
    }
    if (frozen) cgroup_freeze(cg, false, &e);
}

int cgroup_freeze(const struct sn_cgroup *cg, bool frozen, struct sn_error *e)
{
    if (cg->version == 1 && cg->dirs[CG_FREEZER][0]) {
        if (wr(e, cg->dirs[CG_FREEZER], "freezer.state", "%s", frozen ? "FROZEN" : "THAWED") < 0) return -1;
        /* FREEZING means some task has not stopped yet; wait until the state settles. */
        for (int i = 0; frozen && i < 1000; i++) {
            char path[PATH_MAX + 32], st[32];
            snprintf(path, sizeof path, "%s/freezer.state", cg->dirs[CG_FREEZER]);
            if (sn_read_file(path, st, sizeof st) > 0 && strncmp(st, "FROZEN", 6) == 0) return 0;
            sleep_ms(1);
        }
        return frozen ? sn_fail(e, "cgroup", EBUSY, "the container did not freeze") : 0;
    }
    const char *d = cg->dirs[CG_UNIFIED];
    if (!d[0]) return sn_fail(e, "cgroup", ENOTSUP, "no freezer");
    if (wr(e, d, "cgroup.freeze", "%s", frozen ? "1" : "0") < 0) return -1;
    for (int i = 0; frozen && i < 1000; i++) {
        if (cgroup_is_frozen(cg)) return 0;
        sleep_ms(1);
    }
    return frozen ? sn_fail(e, "cgroup", EBUSY, "the container did not freeze") : 0;
}

bool cgroup_is_frozen(const struct sn_cgroup *cg)
{
    char path[PATH_MAX + 32], buf[256];
    if (cg->version == 1 && cg->dirs[CG_FREEZER][0]) {
        snprintf(path, sizeof path, "%s/freezer.state", cg->dirs[CG_FREEZER]);
        return sn_read_file(path, buf, sizeof buf) > 0 && strncmp(buf, "FROZEN", 6) == 0;
    }
    if (!cg->dirs[CG_UNIFIED][0]) return false;
    snprintf(path, sizeof path, "%s/cgroup.events", cg->dirs[CG_UNIFIED]);
    return sn_read_file(path, buf, sizeof buf) > 0 && strstr(buf, "frozen 1");
}

bool cgroup_oom_killed(const struct sn_cgroup *cg)
{
    char path[PATH_MAX + 32], buf[1024];
    const char *d = cg->dirs[CG_MEMORY];
    if (!d[0]) return false;
    snprintf(path, sizeof path, "%s/%s", d, cg->version == 2 ? "memory.events" : "memory.oom_control");
    if (sn_read_file(path, buf, sizeof buf) <= 0) return false;
    char *p = strstr(buf, "oom_kill ");
    return p && atoll(p + 9) > 0;
}

bool cgroup_is_empty(const struct sn_cgroup *cg)
{
    const char *dir = procs_dir(cg);
    if (!dir) return true;
    char path[PATH_MAX + 32], buf[64];
    snprintf(path, sizeof path, "%s/cgroup.procs", dir);
    ssize_t n = sn_read_file(path, buf, sizeof buf);
    return n <= 0;
}

int cgroup_destroy(const struct sn_cgroup *cg, int wait_ms)
{
    int rc = 0;
    for (int c = CG_N - 1; c >= 0; c--) {
        if (!cg->dirs[c][0]) continue;
        bool dup = false;
        for (int k = 0; k < c; k++)
            if (strcmp(cg->dirs[k], cg->dirs[c]) == 0) dup = true;
        if (dup) continue;
        /* A process that was just killed leaves the cgroup a moment after it is reaped. */
        for (int waited = 0;; waited++) {
            if (rmdir(cg->dirs[c]) == 0 || errno == ENOENT) break;
            if (errno != EBUSY || waited >= wait_ms) { rc = -1; break; }
            sleep_ms(1);
        }
    }
    return rc;
}

int cgroup_host(struct sn_cg_host *out, struct sn_error *e)
{
    struct hierarchy h[CG_N];
    if (find_hierarchies(h, &out->pure_v2) < 0) return sn_fail(e, "cgroup", errno, "reading mountinfo");
    out->unified = h[CG_UNIFIED].found;
    return 0;
}

bool cgroup_v1_is_own(const char *ctrls)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s", ctrls);
    for (char *save = NULL, *t = strtok_r(tmp, ",", &save); t; t = strtok_r(NULL, ",", &save))
        for (int c = 0; c < CG_UNIFIED; c++)
            if (strcmp(t, ctrl_names[c]) == 0) return true;
    return false;
}

json_object *cgroup_to_json(const struct sn_cgroup *cg)
{
    json_object *o = json_object_new_object();
    json_object_object_add(o, "version", json_object_new_int(cg->version));
    json_object *dirs = json_object_new_object();
    for (int c = 0; c < CG_N; c++)
        if (cg->dirs[c][0]) json_object_object_add(dirs, ctrl_names[c], json_object_new_string(cg->dirs[c]));
    json_object_object_add(o, "paths", dirs);
    return o;
}

int cgroup_from_json(struct sn_cgroup *cg, json_object *o)
{
    memset(cg, 0, sizeof *cg);
    json_object *v, *dirs;
    if (!o || !json_object_object_get_ex(o, "version", &v)) return -1;
    cg->version = json_object_get_int(v);
    if (!json_object_object_get_ex(o, "paths", &dirs)) return -1;
    for (int c = 0; c < CG_N; c++)
        if (json_object_object_get_ex(dirs, ctrl_names[c], &v))
            snprintf(cg->dirs[c], SN_CG_PATH, "%s", json_object_get_string(v));
    return 0;
}
