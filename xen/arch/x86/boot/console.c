/*
 * The hypervisor console: printk and panic on port 0xE9 (QEMU -debugcon,
 * Bochs port_e9_hack), with a small vsnprintf of our own.
 */
#include <xen/lib.h>

#include "boot.h"

/* Output buffer: format, then one burst of port writes. */
struct out {
    char *buf;
    size_t size, len;          /* len counts every char, even those cut */
};

static void put(struct out *o, char c)
{
    if ( o->len + 1 < o->size )
        o->buf[o->len] = c;
    o->len++;
}

struct spec {
    bool left, zero, alt, plus, space;
    int width, prec;           /* prec -1: none */
    unsigned int size;         /* 0 int, 1 long, 2 long long */
};

static void pad(struct out *o, int n, char c)
{
    while ( n-- > 0 )
        put(o, c);
}

static void put_str(struct out *o, const struct spec *sp, const char *s)
{
    int n = 0;

    if ( !s )
        s = "(null)";
    while ( s[n] && (sp->prec < 0 || n < sp->prec) )
        n++;
    if ( !sp->left )
        pad(o, sp->width - n, ' ');
    for ( int i = 0; i < n; i++ )
        put(o, s[i]);
    if ( sp->left )
        pad(o, sp->width - n, ' ');
}

/* A number in base, with sign/prefix, precision and padding. */
static void put_num(struct out *o, const struct spec *sp, uint64_t v,
                    bool neg, unsigned int base, bool upper)
{
    const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
    char tmp[24], prefix[3] = "";
    int n = 0, zeros, len, plen;

    do
        tmp[n++] = digits[v % base];
    while ( (v /= base) != 0 );
    if ( sp->prec == 0 && n == 1 && tmp[0] == '0' )
        n = 0;
    if ( neg )
        prefix[0] = '-';
    else if ( sp->plus )
        prefix[0] = '+';
    else if ( sp->space )
        prefix[0] = ' ';
    if ( sp->alt && base == 16 && (n > 1 || (n == 1 && tmp[0] != '0')) )
        prefix[0] = '0', prefix[1] = upper ? 'X' : 'x';
    plen = prefix[1] ? 2 : prefix[0] ? 1 : 0;
    zeros = sp->prec > n ? sp->prec - n : 0;
    len = plen + zeros + n;
    if ( sp->zero && !sp->left && sp->prec < 0 && sp->width > len )
        zeros += sp->width - len, len = sp->width;
    if ( !sp->left )
        pad(o, sp->width - len, ' ');
    for ( int i = 0; i < plen; i++ )
        put(o, prefix[i]);
    pad(o, zeros, '0');
    while ( n > 0 )
        put(o, tmp[--n]);
    if ( sp->left )
        pad(o, sp->width - len, ' ');
}

/* Parse flags, width, precision and length; returns the conversion. */
static const char *parse_spec(const char *f, struct spec *sp, va_list *ap)
{
    *sp = (struct spec){ .prec = -1 };
    for ( ;; f++ )
    {
        if ( *f == '-' ) sp->left = true;
        else if ( *f == '0' ) sp->zero = true;
        else if ( *f == '#' ) sp->alt = true;
        else if ( *f == '+' ) sp->plus = true;
        else if ( *f == ' ' ) sp->space = true;
        else break;
    }
    if ( *f == '*' )
        sp->width = va_arg(*ap, int), f++;
    while ( *f >= '0' && *f <= '9' )
        sp->width = sp->width * 10 + (*f++ - '0');
    if ( sp->width < 0 )
        sp->left = true, sp->width = -sp->width;
    if ( *f == '.' )
    {
        f++;
        sp->prec = 0;
        if ( *f == '*' )
            sp->prec = va_arg(*ap, int), f++;
        while ( *f >= '0' && *f <= '9' )
            sp->prec = sp->prec * 10 + (*f++ - '0');
    }
    for ( ; *f == 'l' || *f == 'h' || *f == 'z' || *f == 'j' || *f == 't';
          f++ )
        if ( *f != 'h' && sp->size < 2 )
            sp->size++;
    if ( sp->size && f[-1] != 'l' )
        sp->size = 2;            /* z, j, t: 64-bit here */
    return f;
}

static uint64_t get_unsigned(const struct spec *sp, va_list *ap)
{
    return sp->size ? va_arg(*ap, unsigned long long)
                    : va_arg(*ap, unsigned int);
}

static int64_t get_signed(const struct spec *sp, va_list *ap)
{
    return sp->size ? va_arg(*ap, long long) : va_arg(*ap, int);
}

int vsnprintf(char *buf, size_t size, const char *fmt, va_list ap_in)
{
    struct out o = { buf, size, 0 };
    struct spec sp;
    va_list ap;
    int64_t s;

    va_copy(ap, ap_in);
    for ( ; *fmt; fmt++ )
    {
        if ( *fmt != '%' )
        {
            put(&o, *fmt);
            continue;
        }
        fmt = parse_spec(fmt + 1, &sp, &ap);
        switch ( *fmt )
        {
        case 'd': case 'i':
            s = get_signed(&sp, &ap);
            put_num(&o, &sp, s < 0 ? -(uint64_t)s : (uint64_t)s, s < 0, 10,
                    false);
            break;
        case 'u': put_num(&o, &sp, get_unsigned(&sp, &ap), false, 10, false);
            break;
        case 'x': case 'X':
            put_num(&o, &sp, get_unsigned(&sp, &ap), false, 16, *fmt == 'X');
            break;
        case 'o': put_num(&o, &sp, get_unsigned(&sp, &ap), false, 8, false);
            break;
        case 'p':
            sp.alt = true;
            put_num(&o, &sp, (uintptr_t)va_arg(ap, void *), false, 16, false);
            break;
        case 'c': put(&o, (char)va_arg(ap, int)); break;
        case 's': put_str(&o, &sp, va_arg(ap, const char *)); break;
        case '%': put(&o, '%'); break;
        case '\0': fmt--; break;
        default: put(&o, '%'); put(&o, *fmt); break;
        }
    }
    va_end(ap);
    if ( size )
        buf[o.len < size ? o.len : size - 1] = '\0';
    return (int)o.len;
}

int snprintf(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(buf, size, fmt, ap);
    va_end(ap);
    return n;
}

void console_write(const char *s, size_t n)
{
    asm volatile ( "rep outsb" : "+S" (s), "+c" (n)
                   : "d" ((uint16_t)PORT_E9_CONSOLE) : "memory" );
}

static void vprintk(const char *fmt, va_list ap)
{
    static char buf[1024];
    int n = vsnprintf(buf, sizeof(buf), fmt, ap);

    console_write(buf, n < (int)sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

void printk(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...)
{
    va_list ap;

    printk("\nPANIC: ");
    va_start(ap, fmt);
    vprintk(fmt, ap);
    va_end(ap);
    printk("\n");
    boot_exit(1);
}
