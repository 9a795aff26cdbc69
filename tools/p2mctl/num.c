/*
 * The number, size and layout grammar of p2mctl (see num.h).  strtoull is
 * not used: with base 0 it reads "010" as octal, and it accepts signs and
 * leading spaces, none of which the documented grammar has.
 */
#include "num.h"

#include <stddef.h>
#include <string.h>

static int digit_value(char ch, unsigned int base)
{
    if ( ch >= '0' && ch <= '9' )
        return ch - '0';
    if ( base == 16 && ch >= 'a' && ch <= 'f' )
        return ch - 'a' + 10;
    if ( base == 16 && ch >= 'A' && ch <= 'F' )
        return ch - 'A' + 10;
    return -1;
}

/* The number at the start of s; the text after it, or NULL. */
static const char *number_prefix(const char *s, uint64_t *v)
{
    unsigned int base = 10;
    const char *first;
    uint64_t n = 0;
    int d;

    if ( s[0] == '0' && (s[1] == 'x' || s[1] == 'X') )
    {
        base = 16;
        s += 2;
    }
    for ( first = s; (d = digit_value(*s, base)) >= 0; s++ )
    {
        if ( n > (UINT64_MAX - (unsigned int)d) / base )
            return NULL;
        n = n * base + (unsigned int)d;
    }
    if ( s == first )
        return NULL;
    *v = n;
    return s;
}

bool num_parse_u64(const char *s, uint64_t *v)
{
    uint64_t n;

    s = number_prefix(s, &n);
    if ( !s || *s )
        return false;
    *v = n;
    return true;
}

/* One term of a size: a number and an optional K/M/G/T. */
static const char *term_prefix(const char *s, uint64_t *v)
{
    unsigned int shift = 0;
    uint64_t n;

    if ( !(s = number_prefix(s, &n)) )
        return NULL;
    switch ( *s )
    {
    case 'K': case 'k': shift = 10; break;
    case 'M': case 'm': shift = 20; break;
    case 'G': case 'g': shift = 30; break;
    case 'T': case 't': shift = 40; break;
    }
    if ( shift )
    {
        s++;
        if ( n >> (64 - shift) )
            return NULL;
    }
    *v = n << shift;
    return s;
}

/* A sum of terms at the start of s, ending at '\0' or one of stop. */
static const char *size_prefix(const char *s, const char *stop, uint64_t *v)
{
    uint64_t total = 0, x;

    for ( ;; )
    {
        if ( !(s = term_prefix(s, &x)) || total + x < total )
            return NULL;
        total += x;
        if ( *s != '+' )
            break;
        s++;
    }
    if ( *s && !strchr(stop, *s) )
        return NULL;
    *v = total;
    return s;
}

bool num_parse_size(const char *s, uint64_t *bytes)
{
    return size_prefix(s, "", bytes) != NULL;
}

/* Add [a, b) in bytes to r[0..*n): checked, joined to a touching range. */
static int add_range(uint64_t a, uint64_t b, struct machine_range *r,
                     unsigned int max, unsigned int *n, const char **why)
{
    if ( (a | b) & ((1ull << PAGE_SHIFT) - 1) )
        return *why = "range not 4K aligned", -1;
    if ( b <= a )
        return *why = "range end not above its start", -1;
    a >>= PAGE_SHIFT;
    b >>= PAGE_SHIFT;
    if ( *n && a < r[*n - 1].end )
        return *why = "ranges overlap or are not ascending", -1;
    if ( *n && a == r[*n - 1].end )
    {
        r[*n - 1].end = b;
        return 0;
    }
    if ( *n == max )
        return *why = "too many ranges", -1;
    r[(*n)++] = (struct machine_range){ a, b };
    return 0;
}

int num_parse_layout(const char *s, struct machine_range *r, unsigned int max,
                     unsigned int *n, const char **why)
{
    uint64_t a, b;

    *n = 0;
    while ( *s )
    {
        if ( !(s = size_prefix(s, "-", &a)) || *s != '-' ||
             !(s = size_prefix(s + 1, ",", &b)) )
            return *why = "range must be <start>-<end>", -1;
        if ( add_range(a, b, r, max, n, why) )
            return -1;
        if ( *s == ',' && !*++s )
            return *why = "range must be <start>-<end>", -1;
    }
    if ( *n == 0 )
        return *why = "no RAM ranges", -1;
    return 0;
}
