#include "trace.h"
#include "util.h"

#include <fcntl.h>
#include <stdio.h>

static int fd = -1;
static double t0;

int trace_open(const char *path)
{
    t0 = sn_now_ms();
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    return fd < 0 ? -1 : 0;
}

int trace_fd(void) { return fd; }

double trace_step_kv(const char *step, double start_ms, const char *extra_json)
{
    double now = sn_now_ms();
    if (fd < 0) return now;
    char line[512];
    /* One write per line: O_APPEND keeps lines whole when the launcher and the container's
     * setup process both write. */
    int n = snprintf(line, sizeof line, "{\"step\":\"%s\",\"ms\":%.3f,\"t\":%.3f,\"pid\":%d%s%s}\n",
                     step, now - start_ms, now - t0, (int)getpid(),
                     extra_json ? "," : "", extra_json ? extra_json : "");
    if (n > 0 && (size_t)n < sizeof line) sn_write_all(fd, line, (size_t)n);
    return now;
}

double trace_step(const char *step, double start_ms) { return trace_step_kv(step, start_ms, NULL); }
