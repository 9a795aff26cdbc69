/* Opening the files p2mctl reads (see io.h). */
#include "io.h"

#include <errno.h>
#include <sys/stat.h>

FILE *open_input(const char *path)
{
    FILE *f = fopen(path, "r");
    struct stat st;

    if ( !f )
        return NULL;
    if ( fstat(fileno(f), &st) )
    {
        int e = errno;

        fclose(f);
        errno = e;
        return NULL;
    }
    if ( S_ISDIR(st.st_mode) )
    {
        fclose(f);
        errno = EISDIR;
        return NULL;
    }
    return f;
}

long read_line(FILE *f, char *buf)
{
    size_t n = 0;
    int ch;

    while ( (ch = getc_unlocked(f)) != EOF )
    {
        if ( n == IO_MAX_LINE )
            return IO_TOO_LONG;
        buf[n++] = (char)ch;
        if ( ch == '\n' )
            break;
    }
    buf[n] = '\0';
    return n ? (long)n : -1;
}
