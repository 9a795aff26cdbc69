/* The guests' small library: hypercalls, console, tags. */
#include "guest.h"

struct hc_result hypercall(uint32_t nr, uint32_t b, uint32_t c, uint32_t d)
{
    struct hc_result r;

    asm volatile ( "call hypercall_insn"
                   : "=a" (r.a), "=b" (r.b), "=c" (r.c), "=d" (r.d),
                     "=S" (r.s)
                   : "a" (nr), "b" (b), "c" (c), "d" (d)
                   : "memory" );
    return r;
}

void *memset(void *s, int c, size_t n)
{
    void *d = s;

    if ( !(((uintptr_t)s | n) & 3) )
    {
        size_t q = n / 4;

        asm volatile ( "rep stosl" : "+D" (d), "+c" (q)
                       : "a" (0x01010101u * (uint8_t)c) : "memory" );
    }
    else
        asm volatile ( "rep stosb" : "+D" (d), "+c" (n) : "a" (c)
                       : "memory" );
    return s;
}

void port_puts(const char *s)
{
    for ( ; *s; s++ )
        asm volatile ( "outb %0, $0xe9" :: "a" (*s) );
}

struct buf { char b[256]; uint32_t n; };

static void put(struct buf *o, char c)
{
    if ( o->n < sizeof(o->b) )
        o->b[o->n++] = c;
}

static void put_u32(struct buf *o, uint32_t v, uint32_t base, int width)
{
    char t[12];
    int n = 0;

    do
        t[n++] = "0123456789abcdef"[v % base];
    while ( (v /= base) != 0 );
    for ( ; width > n; width-- )
        put(o, base == 16 ? '0' : ' ');
    while ( n )
        put(o, t[--n]);
}

/* %u %d %x %s %c, with an optional width; enough for progress lines. */
void gprintf(const char *fmt, ...)
{
    struct buf o = { .n = 0 };
    va_list ap;
    int32_t s;

    va_start(ap, fmt);
    for ( ; *fmt; fmt++ )
    {
        int width = 0;

        if ( *fmt != '%' )
        {
            put(&o, *fmt);
            continue;
        }
        for ( fmt++; *fmt >= '0' && *fmt <= '9'; fmt++ )
            width = width * 10 + (*fmt - '0');
        switch ( *fmt )
        {
        case 'u': put_u32(&o, va_arg(ap, uint32_t), 10, width); break;
        case 'x': put_u32(&o, va_arg(ap, uint32_t), 16, width); break;
        case 'd':
            s = va_arg(ap, int32_t);
            if ( s < 0 )
                put(&o, '-');
            put_u32(&o, s < 0 ? -(uint32_t)s : (uint32_t)s, 10, width);
            break;
        case 'c': put(&o, (char)va_arg(ap, int)); break;
        case 's':
            for ( const char *p = va_arg(ap, const char *); *p; p++ )
                put(&o, *p);
            break;
        default: put(&o, *fmt); break;
        }
    }
    va_end(ap);
    hypercall(HC_CONSOLE, (uint32_t)(uintptr_t)o.b, o.n, 0);
}

void tag_page(uint32_t gfn, uint32_t r)
{
    volatile uint32_t *p = page_ptr(gfn);
    uint32_t t = page_tag(gfn, r);

    p[0] = t;
    p[1 + gfn % 1023] = ~t;
}

int check_page(uint32_t gfn, uint32_t r)
{
    volatile uint32_t *p = page_ptr(gfn);
    uint32_t t = page_tag(gfn, r);
    uint32_t w0 = p[0], w1 = p[1 + gfn % 1023];

    if ( w0 == t && w1 == ~t )
        return 0;
    gprintf("  BAD page %x: %x %x, want %x %x\n", gfn, w0, w1, t, ~t);
    return 1;
}

void tag_range(uint32_t gfn, uint32_t nr, uint32_t r)
{
    for ( uint32_t i = 0; i < nr; i++ )
        tag_page(gfn + i, r);
}

uint32_t check_range(uint32_t gfn, uint32_t nr, uint32_t r)
{
    uint32_t bad = 0;

    for ( uint32_t i = 0; i < nr; i++ )
        if ( check_page(gfn + i, r) && ++bad > 8 )
            break;
    return bad;
}
