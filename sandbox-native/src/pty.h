/* Terminals: allocated inside the container's own devpts, so `tty` names /dev/pts/N there. */
#ifndef SN_PTY_H
#define SN_PTY_H

#include "util.h"

/* In the container (after pivot_root): open a PTY, make its terminal our controlling
 * terminal and stdio, and return the master for the parent. Also starts a new session. */
int pty_open_in_container(unsigned short rows, unsigned short cols, struct sn_error *e);
void pty_set_size(int master, unsigned short rows, unsigned short cols);

#endif
