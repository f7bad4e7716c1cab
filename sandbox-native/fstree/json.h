/* What list and lookup print: names and bytes as hex, file types as one letter. */
#ifndef FSTREE_JSON_H
#define FSTREE_JSON_H

#include <stddef.h>
#include <sys/stat.h>

/* `len` bytes as lowercase hex on stdout: a name or a link target may be any bytes. */
void json_hex(const void *data, size_t len);

/* d f l c b p s, as `list` names them. */
char json_type(mode_t mode);

/* The xattrs of the open file `fd` as a JSON object's members (hex names and values).
 * Returns -1 after fail() said why. */
int json_xattrs(int fd, const char *rel);

#endif
