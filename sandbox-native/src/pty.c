#include "pty.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <termios.h>

void pty_set_size(int master, unsigned short rows, unsigned short cols)
{
    if (!rows || !cols) return;
    struct winsize ws = { .ws_row = rows, .ws_col = cols };
    ioctl(master, TIOCSWINSZ, &ws);
}

int pty_open_in_container(unsigned short rows, unsigned short cols, struct sn_error *e)
{
    int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (master < 0) return sn_fail(e, "pty", errno, "opening /dev/ptmx");
    int unlock = 0;
    if (ioctl(master, TIOCSPTLCK, &unlock) < 0) { int s = errno; close(master); return sn_fail(e, "pty", s, "unlocking the pty"); }
    /* TIOCGPTPEER opens the peer through the master: no path lookup another process could race. */
    int peer = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
    if (peer < 0) { int s = errno; close(master); return sn_fail(e, "pty", s, "opening the pty's terminal side"); }
    pty_set_size(master, rows ? rows : 24, cols ? cols : 80);
    if (setsid() < 0 || ioctl(peer, TIOCSCTTY, 0) < 0) {
        int s = errno;
        close(master);
        close(peer);
        return sn_fail(e, "pty", s, "making the pty the controlling terminal");
    }
    for (int fd = 0; fd < 3; fd++)
        if (dup2(peer, fd) < 0) { int s = errno; close(master); close(peer); return sn_fail(e, "pty", s, "dup2"); }
    if (peer > 2) close(peer);
    return master;
}
