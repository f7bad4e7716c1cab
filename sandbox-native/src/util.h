/* Small helpers shared by every file: errors that travel as values, cleanup attributes,
 * file writes. No function here exits the process: only main decides to exit. */
#ifndef SN_UTIL_H
#define SN_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

/* An error as it crosses function and process boundaries. It is the launcher's one failure
 * record: copied verbatim over every channel (the setup sync socket, the detached monitor's
 * report pipe, the control socket's reply), so it holds no pointers; step "" means success. */
struct sn_error {
    char step[32];      /* setup step that failed, e.g. "pivot_root" */
    int err;            /* errno, or 0 when the failure is not a syscall's */
    char message[400];  /* what and where, for a human */
};

/* Fill *e and return -1, so call sites read `return sn_fail(e, "mount", errno, "...")`. */
int sn_fail(struct sn_error *e, const char *step, int err, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* The exit status a failure implies, as Docker's: 127 the command was not found, 126 it could
 * not be invoked (not executable, or its working directory unusable), 125 the launcher failed. */
int sn_error_status(const struct sn_error *e);
/* Report a failure on stderr: runc's human line, then the record as one JSON line for the
 * engine, {"launcherError":{"step","errno","errnoName","message","exitStatus"}}. */
void sn_error_print(const struct sn_error *e);

static inline void sn_closep(int *fd) { if (*fd >= 0) close(*fd); }
static inline void sn_freep(void *p) { free(*(void **)p); }
#define _cleanup_close_ __attribute__((cleanup(sn_closep)))
#define _cleanup_free_ __attribute__((cleanup(sn_freep)))

/* Hand ownership out of a cleanup variable. */
static inline int sn_steal_fd(int *fd) { int r = *fd; *fd = -1; return r; }

int sn_write_file(const char *path, const char *data);          /* -1 + errno on failure */
int sn_write_file_at(int dirfd, const char *name, const char *data);
ssize_t sn_read_file(const char *path, char *buf, size_t size);  /* NUL-terminated */
ssize_t sn_read_file_at(int dirfd, const char *name, char *buf, size_t size);
char *sn_read_all(int fd, size_t *len, size_t max);             /* malloc'd, NUL-terminated */
int sn_mkdir_p(const char *path, mode_t mode);
int sn_write_all(int fd, const void *buf, size_t len);
char *sn_strdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

double sn_now_ms(void);           /* CLOCK_MONOTONIC in milliseconds */
void sn_rfc3339(char *buf, size_t size);

extern int sn_debug;
void sn_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));   /* human channel */
void sn_set_log_fd(int fd);

#endif
