/*
 * Opening the files p2mctl reads: the script, the scenario file and the
 * trace.  fopen(dir, "r") succeeds on Linux and only the first read fails,
 * far from the name, so a directory is refused at open.
 */
#ifndef P2MCTL_IO_H
#define P2MCTL_IO_H

#include <stdio.h>

/* fopen(path, "r") that is not a directory; NULL with errno set (EISDIR). */
FILE *open_input(const char *path);

/* The longest line read_line takes: /dev/zero must not fill the memory. */
#define IO_MAX_LINE 65536

/*
 * getline, bounded: the next line of f (with its '\n', NUL-terminated) in
 * buf, of IO_MAX_LINE + 1 bytes.  Returns its length (which a NUL inside
 * makes larger than strlen), -1 at the end of f or on a read error (ferror
 * tells), or IO_TOO_LONG after reading a line longer than IO_MAX_LINE (the
 * rest of that line is not read).
 */
#define IO_TOO_LONG (-2)
long read_line(FILE *f, char *buf);

#endif /* P2MCTL_IO_H */
