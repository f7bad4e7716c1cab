#include "json.h"

#include "beneath.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/xattr.h>

void json_hex(const void *data, size_t len)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        putchar(digits[p[i] >> 4]);
        putchar(digits[p[i] & 15]);
    }
}

char json_type(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFDIR: return 'd';
    case S_IFREG: return 'f';
    case S_IFLNK: return 'l';
    case S_IFCHR: return 'c';
    case S_IFBLK: return 'b';
    case S_IFIFO: return 'p';
    default: return 's';
    }
}

int json_xattrs(int fd, const char *rel)
{
    char names[65536];
    ssize_t len = flistxattr(fd, names, sizeof names);
    if (len < 0) {
        if (errno == ENOTSUP) return 0;
        fail("io", rel, errno, "flistxattr");
        return -1;
    }
    static char value[65536];
    int first = 1;
    for (char *name = names; name < names + len; name += strlen(name) + 1) {
        ssize_t vlen = fgetxattr(fd, name, value, sizeof value);
        if (vlen < 0) {
            if (errno == ENODATA) continue;
            fail("io", rel, errno, "fgetxattr");
            return -1;
        }
        printf("%s\"", first ? "" : ",");
        json_hex(name, strlen(name));
        printf("\":\"");
        json_hex(value, (size_t)vlen);
        putchar('"');
        first = 0;
    }
    return 0;
}
