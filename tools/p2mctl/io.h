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

#endif /* P2MCTL_IO_H */
