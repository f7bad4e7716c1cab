/*
 * open-watch FILE: prints "ready", then one line ("open" or "access") each time any process
 * opens or reads FILE, until killed. The host-side proof that a lookup never read a host file
 * (inotify sees every open(2) of the inode, whatever path led to it). Built by the test.
 */
#include <stdio.h>
#include <sys/inotify.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: open-watch FILE\n");
        return 2;
    }
    int fd = inotify_init1(IN_CLOEXEC);
    if (fd < 0 || inotify_add_watch(fd, argv[1], IN_OPEN | IN_ACCESS) < 0) {
        perror("open-watch");
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("ready\n");
    char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t len = read(fd, buf, sizeof buf);
        if (len <= 0) return 1;
        for (char *p = buf; p < buf + len;) {
            const struct inotify_event *ev = (const struct inotify_event *)p;
            printf("%s\n", ev->mask & IN_OPEN ? "open" : "access");
            p += sizeof *ev + ev->len;
        }
    }
}
