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
