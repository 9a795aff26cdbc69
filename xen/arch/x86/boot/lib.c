/*
 * The C string primitives the module sources (and the compiler) use.
 * String instructions: short, and quick in both emulators.
 */
#include <xen/lib.h>

void *memset(void *s, int c, size_t n)
{
    void *d = s;

    if ( !((uintptr_t)s & 7) && !(n & 7) )
    {
        uint64_t v = 0x0101010101010101ull * (uint8_t)c;
        size_t q = n / 8;

        asm volatile ( "rep stosq" : "+D" (d), "+c" (q) : "a" (v)
                       : "memory" );
    }
    else
        asm volatile ( "rep stosb" : "+D" (d), "+c" (n) : "a" (c)
                       : "memory" );
    return s;
}

void *memcpy(void *d, const void *s, size_t n)
{
    void *r = d;

    if ( !(((uintptr_t)d | (uintptr_t)s | n) & 7) )
    {
        size_t q = n / 8;

        asm volatile ( "rep movsq" : "+D" (d), "+S" (s), "+c" (q)
                       :: "memory" );
    }
    else
        asm volatile ( "rep movsb" : "+D" (d), "+S" (s), "+c" (n)
                       :: "memory" );
    return r;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const unsigned char *x = a, *y = b;

    for ( ; n; n--, x++, y++ )
        if ( *x != *y )
            return *x < *y ? -1 : 1;
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while ( s[n] )
        n++;
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for ( ; n; n--, a++, b++ )
        if ( *a != *b || !*a )
            return (unsigned char)*a - (unsigned char)*b;
    return 0;
}

char *strstr(const char *hay, const char *needle)
{
    size_t n = strlen(needle);

    for ( ; *hay; hay++ )
        if ( !strncmp(hay, needle, n) )
            return (char *)hay;
    return n ? NULL : (char *)hay;
}

void *memchr(const void *s, int c, size_t n)
{
    const unsigned char *p = s;

    for ( ; n; n--, p++ )
        if ( *p == (unsigned char)c )
            return (void *)p;
    return NULL;
}
