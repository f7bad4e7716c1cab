/* --trace: one JSON line per setup step with its duration, so learners can see how their
 * container was assembled. The fd is inherited by the container's setup process and closed
 * with every other fd before execve. */
#ifndef SN_TRACE_H
#define SN_TRACE_H

int trace_open(const char *path);   /* 0, or -1 with errno */
int trace_fd(void);
/* Record that `step` ran from `start_ms` (sn_now_ms()) until now; returns now. */
double trace_step(const char *step, double start_ms);
/* The same with an extra JSON fragment, e.g. "\"cache\":\"hit\"". */
double trace_step_kv(const char *step, double start_ms, const char *extra_json);

#endif
