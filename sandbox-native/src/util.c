#include "util.h"

#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int sn_debug;
static int log_fd = STDERR_FILENO;

void sn_set_log_fd(int fd) { log_fd = fd; }

void sn_log(const char *fmt, ...)
{
    /* One write per line, so a reader sharing the pipe never sees it split. */
    char buf[1040] = "sandbox-native: ";
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + 16, sizeof buf - 17, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    if ((size_t)n > sizeof buf - 18) n = sizeof buf - 18;
    n += 16;
    buf[n++] = '\n';
    sn_write_all(log_fd, buf, (size_t)n);
}

int sn_fail(struct sn_error *e, const char *step, int err, const char *fmt, ...)
{
    memset(e, 0, sizeof *e);
    snprintf(e->step, sizeof e->step, "%s", step);
    e->err = err;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

int sn_error_status(const struct sn_error *e)
{
    if (strcmp(e->step, "exec") == 0 && e->err) return e->err == ENOENT ? 127 : 126;
    if (strcmp(e->step, "cwd") == 0) return 126;
    return 125;
}

void sn_error_print(const struct sn_error *e)
{
    if (e->err)
        sn_log("%s: %s: %s", e->step, e->message, strerror(e->err));
    else
        sn_log("%s: %s", e->step, e->message);
    /* The record goes to stderr even with --log: it is the engine's channel, the log a human's. */
    json_object *r = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(r, "step", json_object_new_string(e->step));
    json_object_object_add(r, "errno", json_object_new_int(e->err));
    json_object_object_add(r, "errnoName", json_object_new_string(e->err ? (strerrorname_np(e->err) ?: "") : ""));
    json_object_object_add(r, "message", json_object_new_string(e->message));
    json_object_object_add(r, "exitStatus", json_object_new_int(sn_error_status(e)));
    json_object_object_add(o, "launcherError", r);
    char *line = sn_strdup_printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    if (line) sn_write_all(STDERR_FILENO, line, strlen(line));
    free(line);
    json_object_put(o);
}

int sn_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int sn_write_file_at(int dirfd, const char *name, const char *data)
{
    int fd = openat(dirfd, name, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return -1;
    /* Kernel control files take one write; a short write is an error. */
    ssize_t n = write(fd, data, strlen(data));
    int saved = errno;
    close(fd);
    if (n < 0) { errno = saved; return -1; }
    return 0;
}

int sn_write_file(const char *path, const char *data)
{
    return sn_write_file_at(AT_FDCWD, path, data);
}

ssize_t sn_read_file_at(int dirfd, const char *name, char *buf, size_t size)
{
    int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off + 1 < size) {
        ssize_t n = read(fd, buf + off, size - 1 - off);
        if (n < 0) { if (errno == EINTR) continue; int s = errno; close(fd); errno = s; return -1; }
        if (n == 0) break;
        off += (size_t)n;
    }
    buf[off] = 0;
    close(fd);
    return (ssize_t)off;
}

ssize_t sn_read_file(const char *path, char *buf, size_t size)
{
    return sn_read_file_at(AT_FDCWD, path, buf, size);
}

char *sn_read_all(int fd, size_t *len, size_t max)
{
    size_t cap = 16384, off = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (off + 1 >= cap) {
            if (cap >= max) { free(buf); errno = EFBIG; return NULL; }
            cap *= 2;
            char *nb = realloc(buf, cap);
            if (!nb) { free(buf); return NULL; }
            buf = nb;
        }
        ssize_t n = read(fd, buf + off, cap - 1 - off);
        if (n < 0) { if (errno == EINTR) continue; int s = errno; free(buf); errno = s; return NULL; }
        if (n == 0) break;
        off += (size_t)n;
    }
    buf[off] = 0;
    if (len) *len = off;
    return buf;
}

int sn_mkdir_p(const char *path, mode_t mode)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) { errno = ENAMETOOLONG; return -1; }
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    return 0;
}

char *sn_strdup_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&s, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : s;
}

double sn_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void sn_rfc3339(char *buf, size_t size)
{
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf, size, "%s.%09ldZ", base, ts.tv_nsec);
}
